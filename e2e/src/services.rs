//! Starting each execenv service binary — the registry, config-sync, the selector, the launcher,
//! the gateway and the image examiner — on free loopback ports, and waiting until it is ready
//! (`/readyz` 200).

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::process::{StartFailure, wait_answering, with_free_ports};
use crate::{CtlOutput, Process, binary, ctl, free_port, sqlite_url};

/// The variable of a gRPC service's listen address.
const GRPC_ADDR: &str = "EXECENV_SERVER__GRPC_ADDR";

/// A running execenv service; killed when dropped.
pub struct ServiceProcess {
    /// The process.
    pub process: Process,
    /// Its URL: gRPC (for `execenvctl --config-sync` / `--selector` …), or the gateway's REST
    /// API base (`http://127.0.0.1:PORT`; `https://` when started with EXECENV_TLS__CERT_FILE).
    pub url: String,
    /// Admin HTTP address (`/metrics`, `/readyz`).
    pub admin: String,
    /// How it was started, to start it again the same way.
    launch: Launch,
    /// The folder its logs go to.
    dir: PathBuf,
}

impl ServiceProcess {
    /// Starts `execenv-config-sync run` against `registry` with `env` (e.g. EXECENV_SYNC__FILE)
    /// and waits until its startup sync is done (`/readyz` 200).
    pub fn config_sync(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::config_sync(registry, env).start(dir)
    }

    /// Spawns `execenv-config-sync run` without waiting (for a start that is meant to fail).
    pub fn spawn_config_sync(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::config_sync(registry, env).spawn(dir)
    }

    /// Starts `execenv-selector` against `registry` and waits until it holds the catalogue.
    pub fn selector(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::selector(registry, env).start(dir)
    }

    /// Spawns `execenv-selector` against `registry` without waiting for it to be ready.
    pub fn spawn_selector(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::selector(registry, env).spawn(dir)
    }

    /// Starts `execenv-launcher` choosing environments with `selector`, configured by `env`
    /// (its backend, EXECENV_LOCAL__…, EXECENV_KUBERNETES__…), and waits until it is ready.
    pub fn launcher(
        selector: &ServiceProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::launcher(selector, env).start(dir)
    }

    /// Spawns `execenv-launcher` without waiting for it to be ready.
    pub fn spawn_launcher(
        selector: &ServiceProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::launcher(selector, env).spawn(dir)
    }

    /// Starts `execenv-gateway` against `registry` and waits until it is ready; its `url` is the
    /// REST API's base (`http://127.0.0.1:PORT`).
    pub fn gateway(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::gateway(registry, env).start(dir)
    }

    /// Starts `execenv-image-examiner` checking `registry`'s catalogue, configured by `env`
    /// (EXECENV_EXAMINER__…: insecure registries, the Docker config, the check interval), and
    /// waits until it is ready (at once: it serves Examine without the catalogue).
    pub fn image_examiner(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::image_examiner(registry, env).start(dir)
    }

    /// Spawns `execenv-image-examiner` without waiting (for a start that is meant to fail).
    pub fn spawn_image_examiner(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        Launch::image_examiner(registry, env).spawn(dir)
    }

    /// `host:port` of the main listener (the URL without its scheme).
    pub fn address(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
    }

    /// Waits until the process exits by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        self.process.wait_exit(timeout)
    }

    /// Starts it again on the same ports with the same settings after it was stopped or killed,
    /// and waits until it is ready.
    pub fn restart(&mut self) -> Result<()> {
        let label = self.launch.label;
        let mut again =
            self.launch
                .spawn_on(&self.dir, port_of(&self.url)?, port_of(&self.admin)?)?;
        again.wait_ready().map_err(|e| e.on_fixed_ports(label))?;
        *self = again;
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let label = self.launch.label;
        wait_answering(&mut self.process, &self.admin, "/readyz", label)
    }
}

/// A running `execenv-environment-registry`: a [`ServiceProcess`] that `execenvctl` talks to.
pub struct RegistryProcess(ServiceProcess);

impl RegistryProcess {
    /// Starts the registry binary on free loopback ports with `database_url` (and `extra_env`)
    /// and waits until `/readyz` answers 200. A port taken between choosing and binding it is
    /// retried with others.
    pub fn start(
        database_url: &str,
        dir: &Path,
        extra_env: &[(&str, String)],
    ) -> Result<RegistryProcess> {
        Launch::registry(database_url, extra_env)
            .start(dir)
            .map(RegistryProcess)
    }

    /// Starts the registry on a SQLite database of its own in `dir` (`registry.db`).
    pub fn on_sqlite(dir: &Path) -> Result<RegistryProcess> {
        RegistryProcess::start(&sqlite_url(dir), dir, &[])
    }

    /// Runs `execenvctl --registry URL ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Result<CtlOutput> {
        ctl(&["--registry", &self.url], args)
    }

    /// Runs `execenvctl --registry URL -o json ARGS…`, which must succeed; returns what it
    /// printed.
    pub fn ctl_json(&self, args: &[&str]) -> Result<Value> {
        ctl(&["--registry", &self.url, "-o", "json"], args)?
            .ok()?
            .json()
    }

    /// Creates an environment with `execenvctl env create IMAGE ARGS…`; returns it.
    pub fn create_environment(&self, image: &str, args: &[&str]) -> Result<Value> {
        let mut all = vec!["env", "create", image];
        all.extend_from_slice(args);
        self.ctl_json(&all)
    }
}

impl Deref for RegistryProcess {
    type Target = ServiceProcess;

    fn deref(&self) -> &ServiceProcess {
        &self.0
    }
}

impl DerefMut for RegistryProcess {
    fn deref_mut(&mut self) -> &mut ServiceProcess {
        &mut self.0
    }
}

/// How long a launcher may take to stop on drop: its default cancel grace period (10 s) for the
/// content it runs, and a margin.
const LAUNCHER_STOPS_WITHIN: Duration = Duration::from_secs(15);

/// How to launch one service binary: its program, arguments and environment; the main (gRPC, or
/// the gateway's HTTP) and admin addresses are added per launch.
#[derive(Clone)]
struct Launch {
    binary: &'static str,
    /// The variable naming the main listen address.
    listen: &'static str,
    args: &'static [&'static str],
    env: Vec<(String, String)>,
    /// What it is called in messages.
    label: &'static str,
}

impl Launch {
    fn registry(database_url: &str, env: &[(&str, String)]) -> Launch {
        let base = [
            ("EXECENV_DATABASE__URL", database_url.to_owned()),
            ("EXECENV_WATCH__POLL_INTERVAL_MS", "100".to_owned()),
        ];
        Launch::grpc("execenv-environment-registry", "the registry", &base, env)
    }

    fn config_sync(registry: &RegistryProcess, env: &[(&str, String)]) -> Launch {
        let base = [
            ("EXECENV_REGISTRY__URL", registry.url.clone()),
            ("EXECENV_SYNC__POLL_INTERVAL_MS", "200".to_owned()),
        ];
        Launch {
            args: &["run"],
            ..Launch::grpc("execenv-config-sync", "config-sync", &base, env)
        }
    }

    fn selector(registry: &RegistryProcess, env: &[(&str, String)]) -> Launch {
        let base = [("EXECENV_REGISTRY__URL", registry.url.clone())];
        Launch::grpc("execenv-selector", "the selector", &base, env)
    }

    fn launcher(selector: &ServiceProcess, env: &[(&str, String)]) -> Launch {
        let base = [("EXECENV_SELECTOR__URL", selector.url.clone())];
        Launch::grpc("execenv-launcher", "the launcher", &base, env)
    }

    fn gateway(registry: &RegistryProcess, env: &[(&str, String)]) -> Launch {
        // No image examiner unless a test gives one: never one that happens to listen on the
        // default port of this machine.
        let base = [
            ("EXECENV_REGISTRY__URL", registry.url.clone()),
            ("EXECENV_EXAMINER__URL", String::new()),
        ];
        Launch {
            listen: "EXECENV_SERVER__HTTP_ADDR",
            ..Launch::grpc("execenv-gateway", "the gateway", &base, env)
        }
    }

    fn image_examiner(registry: &RegistryProcess, env: &[(&str, String)]) -> Launch {
        let base = [("EXECENV_REGISTRY__URL", registry.url.clone())];
        Launch::grpc("execenv-image-examiner", "the image examiner", &base, env)
    }

    /// A gRPC service with no arguments: its `base` settings, then `extra` (which win).
    fn grpc(
        binary: &'static str,
        label: &'static str,
        base: &[(&str, String)],
        extra: &[(&str, String)],
    ) -> Launch {
        Launch {
            binary,
            listen: GRPC_ADDR,
            args: &[],
            env: base
                .iter()
                .chain(extra)
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            label,
        }
    }

    /// Spawns it on the given ports without waiting.
    fn spawn_on(&self, dir: &Path, grpc: u16, admin: u16) -> Result<ServiceProcess> {
        let mut env = vec![
            (self.listen, format!("127.0.0.1:{grpc}")),
            ("EXECENV_SERVER__ADMIN_ADDR", format!("127.0.0.1:{admin}")),
        ];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let log = dir.join(format!("{}-{grpc}.log", self.binary));
        let mut process = Process::spawn(&binary(self.binary)?, self.args, &env, log)?;
        if self.binary == "execenv-launcher" {
            // Its shutdown stops the local launches (SIGTERM, the grace period, SIGKILL): an
            // interactive app would otherwise outlive the test.
            process.stop_gracefully_on_drop(LAUNCHER_STOPS_WITHIN);
        }
        // With a certificate it serves TLS only.
        let scheme = if self.env.iter().any(|(k, _)| k == "EXECENV_TLS__CERT_FILE") {
            "https"
        } else {
            "http"
        };
        Ok(ServiceProcess {
            process,
            url: format!("{scheme}://127.0.0.1:{grpc}"),
            admin: format!("127.0.0.1:{admin}"),
            launch: self.clone(),
            dir: dir.to_owned(),
        })
    }

    /// Spawns it on free ports without waiting.
    fn spawn(&self, dir: &Path) -> Result<ServiceProcess> {
        self.spawn_on(dir, free_port()?, free_port()?)
    }

    /// Starts it on free ports and waits until `/readyz` answers 200.
    fn start(&self, dir: &Path) -> Result<ServiceProcess> {
        with_free_ports(|grpc, admin, _| {
            let mut service = self.spawn_on(dir, grpc, admin)?;
            service.wait_ready()?;
            Ok(service)
        })
    }
}

/// The port of `host:port` or `scheme://host:port`.
fn port_of(address: &str) -> Result<u16> {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {address}"))
}
