//! Compiles proto/ with protox (no system protoc) and tonic-prost-build.
use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "execenv/environments/v1/environments.proto",
        "execenv/registry/v1/registry.proto",
        "execenv/sync/v1/sync.proto",
        "execenv/selector/v1/selector.proto",
        "execenv/launcher/v1/launcher.proto",
        "execenv/identity/v1/identity.proto",
        "execenv/examiner/v1/examiner.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("execenv_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
