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

/// Makes the registry hold one environment owned by the declarative file, with image `name`
/// (as config-sync would apply it); returns its guid.
pub async fn file_managed(registry: &RegistryProcess, name: &str) -> Result<String> {
    use execenv_proto::environments::v1 as pb;
    use execenv_proto::registry::v1 as reg;
    use execenv_proto::registry::v1::registry_client::RegistryClient;

    let applied = RegistryClient::connect(registry.url.clone())
        .await?
        .apply_managed_set(reg::ApplyManagedSetRequest {
            definitions: vec![pb::EnvironmentSpec {
                name: name.to_owned(),
                ..pb::EnvironmentSpec::default()
            }],
            dry_run: false,
            field_prefix: String::new(),
        })
        .await?
        .into_inner();
    applied
        .created
        .first()
        .map(|c| c.guid.clone())
        .with_context(|| format!("the registry created nothing: {applied:?}"))
}
