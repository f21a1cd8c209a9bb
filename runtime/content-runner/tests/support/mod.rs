//! What the runner's test binaries share: a bundle in a temporary folder, the runner's command
//! line over it, and the signals and deadlines of the runner as a process.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod served;

/// The runner binary under test.
pub const RUNNER: &str = env!("CARGO_BIN_EXE_execenv-content-runner");

/// A temporary folder holding `bundle/` (and, once the runner ran, `work/`, `cache/` and
/// `status.json`).
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A bundle with `manifest` as its manifest.json.
    pub fn new(manifest: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("bundle")).expect("mkdir");
        let fixture = Fixture { dir };
        fixture.write("manifest.json", manifest);
        fixture
    }
    /// `name` inside the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// Writes `text` to `name` inside the bundle.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path("bundle").join(name), text).expect("write");
    }
    /// The runner's `step` (`build` or `run`) over the bundle, with the work folder, the cache
    /// (for `build`) and the status file inside the temporary folder, and no interpreter or
    /// address chosen by the environment.
    pub fn command(&self, step: &str) -> Command {
        let mut command = Command::new(RUNNER);
        command
            .arg(step)
            .arg("--bundle")
            .arg(self.path("bundle"))
            .arg("--work")
            .arg(self.path("work"))
            .arg("--status-file")
            .arg(self.path("status.json"))
            .env_remove("EXECENV_PYTHON")
            .env_remove("EXECENV_R")
            .env_remove("EXECENV_QUARTO")
            .env_remove("EXECENV_CONTENT_PORT")
            .env_remove("EXECENV_CONTENT_HOST")
            .env_remove("EXECENV_CONTENT_BASE_PATH");
        if step == "build" {
            command.arg("--cache").arg(self.path("cache"));
        }
        command
    }
    /// The status file the runner wrote.
    pub fn status(&self) -> Value {
        self.json("status.json")
    }
    /// The build record the runner wrote.
    pub fn record(&self) -> Value {
        self.json("work/build-record.json")
    }
    fn json(&self, name: &str) -> Value {
        let bytes = std::fs::read(self.path(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"))
    }
}

/// Runs `command` to its end.
pub fn output(command: &mut Command) -> Output {
    command.output().expect("runner starts")
}

/// What the runner printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends SIGTERM to `child`, as the launcher does to cancel.
pub fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
}

/// Waits for `child` with a deadline, so a broken forwarder fails the test instead of hanging it.
pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Duration::from_secs(20);
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("the runner did not exit within {deadline:?} of SIGTERM");
        }
        // Polling with a deadline: std offers no wait with a timeout.
        std::thread::sleep(Duration::from_millis(10));
    }
}
