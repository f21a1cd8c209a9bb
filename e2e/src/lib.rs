//! Harness for end-to-end tests: starts the real execenv binaries on free loopback ports and
//! runs the real `execenvctl` against them. Processes are killed when their guard is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod chart;
pub mod connect_clients;
pub mod dashboards;
pub mod gateway;
pub mod http;
pub mod kube_node;
pub mod launcher;
pub mod openapi;
pub mod otelcol;
pub mod prometheus;
pub mod python;
pub mod stack;

pub use http::{HttpResponse, http_get, http_request};

/// The folder holding the workspace's built binaries: `EXECENV_BIN_DIR` when set (the benchmark
/// uses the release build), else `target/debug` (under CARGO_TARGET_DIR when that is set).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EXECENV_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// The path of a workspace binary; fails with a hint when it has not been built.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir().join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the binaries first (`cargo build --workspace --bins`; `make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// A free TCP port on 127.0.0.1 (the listener is closed again before the port is used).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Why a start failed: the chosen port was taken meanwhile (worth another try) or anything else.
#[derive(Debug)]
pub(crate) enum StartFailure {
    PortTaken,
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for StartFailure {
    fn from(e: E) -> Self {
        StartFailure::Other(e.into())
    }
}

/// Runs `start(grpc_port, admin_port, attempt)` with fresh free ports, again when a port was taken
/// by someone else between choosing it and binding it.
pub(crate) fn with_free_ports<T>(
    mut start: impl FnMut(u16, u16, u32) -> Result<T, StartFailure>,
) -> Result<T> {
    for attempt in 1..=5 {
        match start(free_port()?, free_port()?, attempt) {
            Ok(t) => return Ok(t),
            Err(StartFailure::PortTaken) => continue,
            Err(StartFailure::Other(e)) => return Err(e),
        }
    }
    bail!("five attempts found their free ports taken before the process could bind them")
}

/// Waits until the process answers 200 on `/readyz`, or exits (port taken, or another failure).
fn wait_ready(process: &mut Process, admin: &str, what: &str) -> Result<(), StartFailure> {
    wait_answering(process, admin, "/readyz", what)
}

/// Waits (30 s at most) until the process answers 200 on `path` at `address`, or exits (port
/// taken, or another failure).
pub(crate) fn wait_answering(
    process: &mut Process,
    address: &str,
    path: &str,
    what: &str,
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !process.is_running() {
            let log = process.output();
            if log.to_ascii_lowercase().contains("address already in use") {
                return Err(StartFailure::PortTaken);
            }
            return Err(StartFailure::Other(anyhow::anyhow!(
                "{what} exited before it was ready; its log:\n{log}"
            )));
        }
        if http_get(address, path).is_ok_and(|(status, _)| status == 200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartFailure::Other(anyhow::anyhow!(
                "{what} was not ready within 30 s; its log:\n{}",
                process.output()
            )));
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Waits until `check` holds, polling every 50 ms, failing after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        // Polling interval of a bounded wait, not a synchronisation point.
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// A child process killed (and reaped) on drop; its output goes to a log file kept for debugging.
pub struct Process {
    child: Child,
    /// The log file holding stdout and stderr.
    pub log: PathBuf,
}

impl Process {
    /// Starts `program` with `env`, logging to `log`.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Result<Process> {
        let file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdout(file.try_clone()?)
            .stderr(file)
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Process { child, log })
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a graceful exit; returns the exit status code.
    pub fn terminate(&mut self) -> Result<Option<i32>> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                bail!(
                    "process {pid} did not stop within 10 s of SIGTERM; its log:\n{}",
                    self.output()
                );
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to launch one service binary: its program, arguments and environment; the main (gRPC, or
/// the gateway's HTTP) and admin addresses are added per launch.
struct Launch<'a> {
    binary: &'static str,
    /// The variable naming the main listen address.
    listen: &'static str,
    args: &'a [&'a str],
    env: Vec<(&'a str, String)>,
    label: &'static str,
}

impl Launch<'_> {
    /// Spawns it on the given ports without waiting; returns the process and its URL (gRPC, or
    /// the gateway's HTTP) and admin address.
    fn spawn(&self, dir: &Path, grpc: u16, admin: u16) -> Result<(Process, String, String)> {
        let mut env = vec![
            (self.listen, format!("127.0.0.1:{grpc}")),
            ("EXECENV_SERVER__ADMIN_ADDR", format!("127.0.0.1:{admin}")),
        ];
        env.extend(self.env.iter().cloned());
        let log = dir.join(format!("{}-{grpc}.log", self.binary));
        let process = Process::spawn(&binary(self.binary)?, self.args, &env, log)?;
        Ok((
            process,
            format!("http://127.0.0.1:{grpc}"),
            format!("127.0.0.1:{admin}"),
        ))
    }

    /// Starts it on free ports and waits until `/readyz` answers 200.
    fn start(&self, dir: &Path) -> Result<(Process, String, String)> {
        with_free_ports(|grpc, admin, _| {
            let (mut process, url, admin) = self.spawn(dir, grpc, admin)?;
            wait_ready(&mut process, &admin, self.label)?;
            Ok((process, url, admin))
        })
    }
}

/// The variable of a gRPC service's listen address.
const GRPC_ADDR: &str = "EXECENV_SERVER__GRPC_ADDR";

fn port_of(address: &str) -> Result<u16> {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {address}"))
}

fn registry_launch(database_url: &str, extra_env: &[(&'static str, String)]) -> Launch<'static> {
    let mut env = vec![
        ("EXECENV_DATABASE__URL", database_url.to_owned()),
        ("EXECENV_WATCH__POLL_INTERVAL_MS", "100".to_owned()),
    ];
    env.extend(extra_env.iter().cloned());
    Launch {
        binary: "execenv-environment-registry",
        listen: GRPC_ADDR,
        args: &[],
        env,
        label: "the registry",
    }
}

/// A running `execenv-environment-registry`.
pub struct RegistryProcess {
    /// The process.
    pub process: Process,
    /// gRPC URL for `--registry`.
    pub url: String,
    /// Admin HTTP address (`/metrics`).
    pub admin: String,
}

impl RegistryProcess {
    /// Starts the registry binary on free loopback ports with `database_url` and waits until
    /// `/readyz` answers 200. A port taken between choosing and binding it is retried with others.
    pub fn start(
        database_url: &str,
        dir: &Path,
        extra_env: &[(&'static str, String)],
    ) -> Result<RegistryProcess> {
        let (process, url, admin) = registry_launch(database_url, extra_env).start(dir)?;
        Ok(RegistryProcess {
            process,
            url,
            admin,
        })
    }

    /// Restarts the registry on the same ports and database after it was stopped or killed.
    pub fn restart(&mut self, database_url: &str, dir: &Path) -> Result<()> {
        let (process, _, admin) = registry_launch(database_url, &[]).spawn(
            dir,
            port_of(&self.url)?,
            port_of(&self.admin)?,
        )?;
        self.process = process;
        wait_ready(&mut self.process, &admin, "the restarted registry").map_err(|e| match e {
            StartFailure::PortTaken => {
                anyhow::anyhow!("the registry's port was taken while it was down")
            }
            StartFailure::Other(e) => e,
        })
    }

    /// Runs `execenvctl --registry URL ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Result<CtlOutput> {
        ctl(&["--registry", &self.url], args)
    }
}

/// Runs `execenvctl` with `connection` flags, then `args`.
pub fn ctl(connection: &[&str], args: &[&str]) -> Result<CtlOutput> {
    let out = Command::new(binary("execenvctl")?)
        .args(connection)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    Ok(CtlOutput::from(out))
}

/// A running client service of the registry (`execenv-config-sync`, `execenv-selector`).
pub struct ServiceProcess {
    /// The process.
    pub process: Process,
    /// Its gRPC URL (for `execenvctl --config-sync` / `--selector`).
    pub url: String,
    /// Admin HTTP address (`/metrics`, `/readyz`).
    pub admin: String,
}

/// A running `execenv-config-sync`.
pub type ConfigSyncProcess = ServiceProcess;

fn config_sync_launch<'a>(registry: &RegistryProcess, env: &[(&'a str, String)]) -> Launch<'a> {
    let mut all = vec![
        ("EXECENV_REGISTRY__URL", registry.url.clone()),
        ("EXECENV_SYNC__POLL_INTERVAL_MS", "200".to_owned()),
    ];
    all.extend(env.iter().cloned());
    Launch {
        binary: "execenv-config-sync",
        listen: GRPC_ADDR,
        args: &["run"],
        env: all,
        label: "config-sync",
    }
}

fn selector_launch<'a>(registry: &RegistryProcess, env: &[(&'a str, String)]) -> Launch<'a> {
    let mut all = vec![("EXECENV_REGISTRY__URL", registry.url.clone())];
    all.extend(env.iter().cloned());
    Launch {
        binary: "execenv-selector",
        listen: GRPC_ADDR,
        args: &[],
        env: all,
        label: "the selector",
    }
}

fn gateway_launch<'a>(registry: &RegistryProcess, env: &[(&'a str, String)]) -> Launch<'a> {
    let mut all = vec![("EXECENV_REGISTRY__URL", registry.url.clone())];
    all.extend(env.iter().cloned());
    Launch {
        binary: "execenv-gateway",
        listen: "EXECENV_SERVER__HTTP_ADDR",
        args: &[],
        env: all,
        label: "the gateway",
    }
}

fn launcher_launch<'a>(selector: &ServiceProcess, env: &[(&'a str, String)]) -> Launch<'a> {
    let mut all = vec![("EXECENV_SELECTOR__URL", selector.url.clone())];
    all.extend(env.iter().cloned());
    Launch {
        binary: "execenv-launcher",
        listen: GRPC_ADDR,
        args: &[],
        env: all,
        label: "the launcher",
    }
}

impl ServiceProcess {
    /// Starts `execenv-launcher` choosing environments with `selector`, configured by `env`
    /// (EXECENV_BACKEND, EXECENV_LOCAL__…, EXECENV_KUBERNETES__…), and waits until it is ready.
    pub fn launcher(
        selector: &ServiceProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) = launcher_launch(selector, env).start(dir)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Spawns `execenv-launcher` without waiting for it to be ready.
    pub fn spawn_launcher(
        selector: &ServiceProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) =
            launcher_launch(selector, env).spawn(dir, free_port()?, free_port()?)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Spawns `execenv-config-sync run` against `registry` with `env` (e.g. EXECENV_SYNC__FILE),
    /// without waiting.
    pub fn spawn(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) =
            config_sync_launch(registry, env).spawn(dir, free_port()?, free_port()?)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Starts config-sync and waits until its startup sync is done (`/readyz` 200).
    pub fn start(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) = config_sync_launch(registry, env).start(dir)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Starts `execenv-selector` against `registry` and waits until it holds the catalogue.
    pub fn selector(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) = selector_launch(registry, env).start(dir)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Spawns `execenv-selector` against `registry` without waiting for it to be ready.
    pub fn spawn_selector(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) =
            selector_launch(registry, env).spawn(dir, free_port()?, free_port()?)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// Starts `execenv-gateway` against `registry` and waits until it is ready; its `url` is the
    /// REST API's base (`http://127.0.0.1:PORT`).
    pub fn gateway(
        registry: &RegistryProcess,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Result<ServiceProcess> {
        let (process, url, admin) = gateway_launch(registry, env).start(dir)?;
        Ok(ServiceProcess {
            process,
            url,
            admin,
        })
    }

    /// `host:port` of the main listener (the URL without its scheme).
    pub fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Waits until the process exits by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                bail!("{} still runs after {timeout:?}", self.url);
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

/// What one `execenvctl` run printed.
#[derive(Debug)]
pub struct CtlOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for CtlOutput {
    fn from(o: Output) -> Self {
        CtlOutput {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl CtlOutput {
    /// Fails unless the run exited 0.
    pub fn ok(self) -> Result<CtlOutput> {
        if self.code != 0 {
            bail!(
                "execenvctl exited {}:\nstdout: {}\nstderr: {}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("execenvctl printed no JSON: {}", self.stdout))
    }
}

/// The PostgreSQL server URL the tests use (`make test` sets it).
pub fn postgres_server_url() -> Result<String> {
    std::env::var("EXECENV_TEST_DATABASE_URL").context(
        "EXECENV_TEST_DATABASE_URL is not set: run `make test`, which starts a PostgreSQL server, or point it at one",
    )
}

/// Replaces the database name of a PostgreSQL URL.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// A fresh, uniquely named database on the test server (created with `psql`); returns its URL.
pub fn fresh_postgres_database() -> Result<String> {
    let server = postgres_server_url()?;
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .arg(&server)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!(
            "cannot create database {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(with_database(&server, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h/p?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
