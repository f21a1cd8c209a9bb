//! Posit's own clients, pinned, in a virtual environment under the target folder: `posit-sdk`
//! (Python package `posit`) and `rsconnect-python` (the `rsconnect` command); and, in venvs of
//! their own, the OpenAPI tools that check the gateway's contract and schemathesis, which attacks
//! it with requests generated from its document. Installed from the
//! package index on first use, then reused; concurrent test processes build in folders of their
//! own and publish one with an atomic rename of a symlink.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result, ensure};

/// The pinned releases: the newest with execution-environment support.
pub const PACKAGES: [&str; 2] = ["posit-sdk==0.17.0", "rsconnect-python==1.32.0"];

/// The pinned OpenAPI tools the gateway's document and responses are checked with
/// (openapi-core brings openapi-spec-validator).
pub const CONTRACT_PACKAGES: [&str; 1] = ["openapi-core==0.23.1"];

/// The pinned schemathesis that generates requests from the gateway's document
/// (`e2e/tests/gateway_schemathesis.rs`).
pub const SCHEMATHESIS_PACKAGES: [&str; 1] = ["schemathesis==4.32.5"];

/// The virtual environment holding [`PACKAGES`]; its `bin/` has `python` and `rsconnect`.
pub fn venv() -> Result<PathBuf> {
    pinned("connect-clients", &PACKAGES, "bin/rsconnect")
}

/// The virtual environment holding [`CONTRACT_PACKAGES`]; its `bin/` has `python`.
pub fn contract_venv() -> Result<PathBuf> {
    pinned(
        "openapi-tools",
        &CONTRACT_PACKAGES,
        "bin/openapi-spec-validator",
    )
}

/// The virtual environment holding [`SCHEMATHESIS_PACKAGES`]; its `bin/` has `schemathesis`.
pub fn schemathesis_venv() -> Result<PathBuf> {
    pinned("schemathesis", &SCHEMATHESIS_PACKAGES, "bin/schemathesis")
}

/// A virtual environment named after `prefix` and `packages`, holding them; ready once `marker`
/// exists in it.
fn pinned(prefix: &str, packages: &[&str], marker: &str) -> Result<PathBuf> {
    // One install per test process; other processes build in folders of their own.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let target = crate::bin_dir()
        .parent()
        .context("the binaries' folder has no parent")?
        .to_path_buf();
    let name = format!("{prefix}-{}", packages.join("-").replace("==", "-"));
    let ready = target.join(&name);
    if ready.join(marker).exists() {
        return Ok(ready);
    }
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let building = target.join(format!("{name}.building-{unique}"));
    let _ = std::fs::remove_dir_all(&building);
    run(Command::new("python3").arg("-m").arg("venv").arg(&building))?;
    run(Command::new(building.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages))?;
    // A venv's scripts name its folder, so it is used where it was built: publish by renaming
    // would break them. Keep the built folder and point a stable symlink at it instead.
    let link = target.join(format!("{name}.link-{unique}"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&building, &link)?;
    if std::fs::rename(&link, &ready).is_err() || !ready.join(marker).exists() {
        // Someone else published first: theirs is used; ours is dropped.
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir_all(&building);
    }
    ensure!(
        ready.join(marker).exists(),
        "{} has no {marker} after installing {packages:?}",
        ready.display()
    );
    Ok(ready)
}

fn run(command: &mut Command) -> Result<()> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    ensure!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
