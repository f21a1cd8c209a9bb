//! Environments owned by the declarative file, made the way a user makes them: a YAML file
//! given to the real `execenv-config-sync`, which applies it to the registry.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{RegistryProcess, ServiceProcess, field};

/// Writes `environments.yaml` in `dir` defining one environment per image of `images` (name
/// only), starts config-sync on it against `registry` and waits until its startup sync is done.
/// Returns config-sync, still running, and the guid the registry gave each image, in order.
pub fn file_managed(
    registry: &RegistryProcess,
    dir: &Path,
    images: &[&str],
) -> Result<(ServiceProcess, Vec<String>)> {
    let file = dir.join("environments.yaml");
    let yaml: String = images.iter().map(|i| format!("- name: {i}\n")).collect();
    std::fs::write(&file, yaml)?;
    let sync = ServiceProcess::config_sync(
        registry,
        dir,
        &[("EXECENV_SYNC__FILE", file.display().to_string())],
    )?;
    let managed = registry.ctl_json(&["env", "list", "--managed", "--all"])?;
    let managed = managed["environments"]
        .as_array()
        .with_context(|| format!("no environments in {managed}"))?;
    let guids = images
        .iter()
        .map(|image| {
            let environment = managed
                .iter()
                .find(|e| e["name"] == *image)
                .with_context(|| format!("config-sync did not apply {image}: {managed:?}"))?;
            field(environment, "guid")
        })
        .collect::<Result<_>>()?;
    Ok((sync, guids))
}
