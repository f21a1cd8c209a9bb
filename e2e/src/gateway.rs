//! The gateway in front of a registry, and users with API keys to call it with.

use std::path::Path;

use anyhow::Result;

use crate::{RegistryProcess, ServiceProcess, field};

/// The registry on SQLite in `dir` and the gateway in front of it, both ready.
pub fn start(dir: &Path) -> Result<(RegistryProcess, ServiceProcess)> {
    let registry = RegistryProcess::on_sqlite(dir)?;
    let gateway = ServiceProcess::gateway(&registry, dir, &[])?;
    Ok((registry, gateway))
}

/// Creates the user `username` with `role` through `execenvctl` and returns a new key of theirs.
pub fn user_key(registry: &RegistryProcess, username: &str, role: &str) -> Result<String> {
    registry
        .ctl(&["users", "create", username, "--role", role])?
        .ok()?;
    let created = registry.ctl_json(&["keys", "create", username, "--name", "e2e"])?;
    field(&created, "key")
}
