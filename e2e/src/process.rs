//! Supervising child processes: start one with its output in a log file, wait for it to answer
//! or to exit, stop it gracefully or kill it, and never leave one behind (the guard kills it on
//! drop). Also free loopback ports, and bounded waits for a condition.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http_get;

/// A child process killed (and reaped) on drop — or first asked to stop, when it must stop what it
/// started (see [`Process::stop_gracefully_on_drop`]); its output goes to a log file kept for
/// debugging.
pub struct Process {
    child: Child,
    /// The log file holding stdout and stderr.
    pub log: PathBuf,
    graceful: Option<Duration>,
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
        Ok(Process {
            child,
            log,
            graceful: None,
        })
    }

    /// On drop, send SIGTERM and wait up to `within` for it to exit before SIGKILL: for a
    /// launcher, which then stops the content processes it started (an app serves until it is
    /// stopped, and would outlive a launcher killed outright).
    pub fn stop_gracefully_on_drop(&mut self, within: Duration) {
        self.graceful = Some(within);
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
        self.wait_exit(Duration::from_secs(10))
            .with_context(|| format!("process {pid} was sent SIGTERM"))
    }

    /// Waits until it exits (by itself, or after a signal); returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                bail!(
                    "process {} still runs after {timeout:?}; its log:\n{}",
                    self.child.id(),
                    self.output()
                );
            }
            // Polling interval of a bounded wait, not a synchronisation point.
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(within) = self.graceful
            && matches!(self.child.try_wait(), Ok(None))
        {
            let pid = self.child.id().to_string();
            let asked = Command::new("kill").args(["-TERM", &pid]).status();
            if asked.is_ok_and(|s| s.success()) {
                let _ = self.wait_exit(within);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

impl StartFailure {
    /// As an error, for a start that cannot choose other ports: `what`'s port was taken.
    pub(crate) fn on_fixed_ports(self, what: &str) -> anyhow::Error {
        match self {
            StartFailure::PortTaken => anyhow::anyhow!("{what}'s port was taken while it was down"),
            StartFailure::Other(e) => e,
        }
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

/// How long a started service may take to be ready: 30 s, or `EXECENV_TEST_READY_WAIT_S` (a
/// profiler slows a service down: config-sync is ready after its first sync, which at 100,000
/// environments under heaptrack takes minutes).
pub fn ready_wait() -> Duration {
    let seconds = std::env::var("EXECENV_TEST_READY_WAIT_S")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(30);
    Duration::from_secs(seconds)
}

/// Waits ([`ready_wait`] at most) until the process answers 200 on `path` at `address`, or
/// exits (port taken, or another failure).
pub(crate) fn wait_answering(
    process: &mut Process,
    address: &str,
    path: &str,
    what: &str,
) -> Result<(), StartFailure> {
    let wait = ready_wait();
    let deadline = Instant::now() + wait;
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
                "{what} was not ready within {} s (EXECENV_TEST_READY_WAIT_S); its log:\n{}",
                wait.as_secs(),
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
