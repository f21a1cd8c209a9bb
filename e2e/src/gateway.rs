//! The gateway in front of a registry, and users with API keys to call it with.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{RegistryProcess, ServiceProcess};

/// The registry on SQLite in `dir` and the gateway in front of it, both ready.
pub fn start(dir: &Path) -> Result<(RegistryProcess, ServiceProcess)> {
    let db = dir.join("registry.db");
    let registry = RegistryProcess::start(&format!("sqlite://{}", db.display()), dir, &[])?;
    let gateway = ServiceProcess::gateway(&registry, dir, &[])?;
    Ok((registry, gateway))
}

/// Creates the user `username` with `role` through `execenvctl` and returns a new key of theirs.
pub fn user_key(registry: &RegistryProcess, username: &str, role: &str) -> Result<String> {
    registry
        .ctl(&["users", "create", username, "--role", role])?
        .ok()?;
    let created = registry
        .ctl(&["-o", "json", "keys", "create", username, "--name", "e2e"])?
        .ok()?
        .json()?;
    created["key"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no key in {created}"))
}
