//! The real launcher in tests: a bundle for it to launch, the launcher on local processes with
//! the gateway in front of it, and following its launches.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::selector::v1 as sel;
use serde_json::{Value, json};
use tonic::Streaming;

use crate::python::{host_python, host_python_version};
use crate::{RegistryProcess, ServiceProcess, field};

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
    place_python_bundle(
        data,
        content,
        bundle,
        version,
        "",
        "print('hello from execenv', flush=True)\n",
    )
}

/// Writes a bundle of that shape with its own `requirements.txt` and `app.py` where a local
/// launcher with data folder `data` finds content `content`'s bundle `bundle`.
pub fn place_python_bundle(
    data: &Path,
    content: &str,
    bundle: &str,
    version: &str,
    requirements: &str,
    app: &str,
) -> Result<()> {
    let folder = data.join(format!("content/{content}/{bundle}/bundle"));
    std::fs::create_dir_all(&folder)?;
    std::fs::write(
        folder.join("manifest.json"),
        python_manifest(version).to_string(),
    )?;
    std::fs::write(folder.join("requirements.txt"), requirements)?;
    std::fs::write(folder.join("app.py"), app)?;
    Ok(())
}

/// The environment local launches run in: `local/host-python`, titled "Host Python", for this
/// machine's Python, made with `execenvctl env create`.
pub struct HostPython {
    /// Its guid.
    pub guid: String,
    /// The interpreter's path.
    pub python: String,
    /// The interpreter's version, e.g. `3.11.7`.
    pub version: String,
}

impl HostPython {
    /// Creates it in `registry`.
    pub fn create(registry: &RegistryProcess) -> Result<HostPython> {
        let python = host_python()?;
        let version = host_python_version()?;
        let created = registry.create_environment(
            "local/host-python",
            &[
                "--title",
                "Host Python",
                "--python",
                &format!("{version}={python}"),
            ],
        )?;
        Ok(HostPython {
            guid: field(&created, "guid")?,
            python,
            version,
        })
    }
}

/// A BUILD launch request `id` for content `content`'s bundle `bundle`, needing Python `python`
/// (for the selector to choose an environment with).
pub fn python_build_request(
    id: &str,
    content: &str,
    bundle: &str,
    python: &str,
) -> pb::LaunchRequest {
    pb::LaunchRequest {
        request_id: id.to_owned(),
        kind: pb::Kind::Build as i32,
        content: Some(pb::Content {
            guid: content.to_owned(),
            bundle: bundle.to_owned(),
            requirements: Some(sel::Requirements {
                python_version: Some(python.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Settings of a service, as `EXECENV_…` variables and their values.
pub type Settings<'a> = &'a [(&'a str, String)];

/// Starts the launcher on local processes (data folder `data`, pip offline, and `env`) choosing
/// with `selector`, then the gateway (with `gateway_env`) in front of `registry`, `selector` and
/// it, uploading bundles to the same data folder; both ready.
pub fn local_launcher_and_gateway(
    registry: &RegistryProcess,
    selector: &ServiceProcess,
    dir: &Path,
    data: &Path,
    (env, gateway_env): (Settings, Settings),
) -> Result<(ServiceProcess, ServiceProcess)> {
    let mut all = vec![
        ("EXECENV_LAUNCHER__BACKEND", "local".to_owned()),
        ("EXECENV_LOCAL__DATA_DIR", data.display().to_string()),
        ("PIP_NO_INDEX", "1".to_owned()),
    ];
    all.extend(env.iter().cloned());
    let launcher = ServiceProcess::launcher(selector, dir, &all)?;
    let mut settings = vec![
        ("EXECENV_SELECTOR__URL", selector.url.clone()),
        ("EXECENV_LAUNCHER__URL", launcher.url.clone()),
        ("EXECENV_BUNDLES__DIR", data.display().to_string()),
    ];
    settings.extend(gateway_env.iter().cloned());
    let gateway = ServiceProcess::gateway(registry, dir, &settings)?;
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
