//! The web console in real headless Chromium against the real services: every spec of `ui/e2e`
//! (sign-in, the environments table and its dialog, access, a publisher and a viewer, explain,
//! following a launch's logs, the audit trail, live updates, sign-out, accessibility, keyboard
//! use, both widths, image checks and Fill from image against the real image examiner), with a
//! screenshot of each page under `target/console-screenshots`.

use anyhow::Result;
use execenv_e2e::console::{Console, screenshots_dir};

#[test]
fn the_console_does_in_chromium_what_each_spec_says() -> Result<()> {
    let console = Console::start()?;
    let output = console.playwright(&[])?;
    execenv_e2e::log_line!("{output}");
    // Every page the README shows was photographed.
    for page in [
        "sign-in",
        "environments",
        "environment-dialog",
        "explain",
        "launches",
        "launch",
        "interactive",
        "interactive-launch",
        "activity",
        "viewer",
        "drift",
        "fill-from-image",
    ] {
        for suffix in ["", "-390"] {
            let shot = screenshots_dir().join(format!("{page}{suffix}.png"));
            anyhow::ensure!(shot.is_file(), "no screenshot {}", shot.display());
        }
    }
    Ok(())
}
