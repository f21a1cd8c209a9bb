//! The real launcher in tests: a bundle for it to launch, the launcher on local processes with
//! the gateway in front of it, and following its launches.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use execenv_proto::launcher::v1 as pb;
use serde_json::{Value, json};
use tonic::Streaming;

use crate::{RegistryProcess, ServiceProcess};

/// The `manifest.json` of a Python script bundle (`app.py`, pip with an empty
/// `requirements.txt`) that asks for Python `version`.
pub fn python_manifest(version: &str) -> Value {
    json!({
        "version": 1,
        "metadata": {"appmode": "python-script", "entrypoint": "app.py"},
        "python": {"version": version, "package_manager": {"name": "pip", "package_file": "requirements.txt"}},
        "files": {"app.py": {"checksum": "x"}, "requirements.txt": {"checksum": "y"}}
    })
}

/// Writes that bundle, whose `app.py` prints a greeting, where a local launcher with data
/// folder `data` finds content `content`'s bundle `bundle`.
pub fn place_bundle(data: &Path, content: &str, bundle: &str, version: &str) -> Result<()> {
    let folder = data.join(format!("content/{content}/{bundle}/bundle"));
    std::fs::create_dir_all(&folder)?;
    std::fs::write(
        folder.join("manifest.json"),
        python_manifest(version).to_string(),
    )?;
    std::fs::write(folder.join("requirements.txt"), "")?;
    std::fs::write(
        folder.join("app.py"),
        "print('hello from execenv', flush=True)\n",
    )?;
    Ok(())
}

/// Starts the launcher on local processes (data folder `data`, pip offline, and `env`) choosing
/// with `selector`, then the gateway in front of `registry`, `selector` and it; both ready.
pub fn local_launcher_and_gateway(
    registry: &RegistryProcess,
    selector: &ServiceProcess,
    dir: &Path,
    data: &Path,
    env: &[(&str, String)],
) -> Result<(ServiceProcess, ServiceProcess)> {
    let mut all = vec![
        ("EXECENV_BACKEND", "local".to_owned()),
        ("EXECENV_LOCAL__DATA_DIR", data.display().to_string()),
        ("PIP_NO_INDEX", "1".to_owned()),
    ];
    all.extend(env.iter().cloned());
    let launcher = ServiceProcess::launcher(selector, dir, &all)?;
    let gateway = ServiceProcess::gateway(
        registry,
        dir,
        &[
            ("EXECENV_SELECTOR__URL", selector.url.clone()),
            ("EXECENV_LAUNCHER__URL", launcher.url.clone()),
        ],
    )?;
    Ok((launcher, gateway))
}

/// Reads a Watch stream of one launch until `want` holds, and returns that launch; fails if the
/// stream ends first (the launch finished in another state) or after `timeout`, naming `what` was
/// waited for and the last state seen.
pub async fn watch_until(
    mut events: Streaming<pb::LaunchEvent>,
    timeout: Duration,
    what: &str,
    want: impl Fn(&pb::Launch) -> bool,
) -> Result<pb::Launch> {
    let mut last = None;
    let found = tokio::time::timeout(timeout, async {
        while let Some(event) = events.message().await? {
            let launch = event.launch.context("an event without a launch")?;
            if want(&launch) {
                return Ok(launch);
            }
            last = Some(launch);
        }
        bail!("the Watch stream ended before {what}")
    })
    .await;
    match found {
        Ok(result) => result.with_context(|| format!("last seen: {last:?}")),
        Err(_) => bail!("no {what} within {timeout:?}; last seen: {last:?}"),
    }
}
