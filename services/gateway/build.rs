//! Rebuilds the gateway when the web console is rebuilt: `rust-embed` reads `ui/dist` at
//! compile time, but cargo does not know that, so a new `npm run build` would otherwise be
//! served only after an unrelated change to the gateway.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let ui = Path::new("../../ui");
    if ui.join("dist").exists() {
        println!("cargo:rerun-if-changed=../../ui/dist");
    } else if ui.exists() {
        // dist appearing changes the folder: watch it until then.
        println!("cargo:rerun-if-changed=../../ui");
    }
}
