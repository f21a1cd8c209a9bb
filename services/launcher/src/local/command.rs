//! What the local backend runs for a launch, and how it reads the end of it: pure functions over
//! plain data, no I/O except finding the runner.
//!
//! The command line is the Kubernetes Job content container's ([`runner_argv`]), with host paths:
//! `[supervisor] runner build|run --bundle B --work W [--cache C] --status-file S [-- command…]`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::job_spec::{LaunchKind, RunnerFolders, runner_argv, runner_variables};
use crate::launch::{Observation, Plan, State};

/// The runner's program name.
pub const RUNNER_NAME: &str = "execenv-content-runner";

/// The folders a launch's runner works with, on the host.
pub type RunnerPaths = RunnerFolders<PathBuf>;

/// The runner's command line for `plan` with the host's folders, wrapped in `supervisor` when one
/// is set.
pub fn argv(
    plan: &Plan,
    runner: &Path,
    supervisor: Option<&str>,
    paths: &RunnerPaths,
) -> Vec<OsString> {
    let folders = paths.clone().map(PathBuf::into_os_string);
    runner_argv(&plan.request, supervisor, runner.into(), folders)
}

/// The address an interactive app binds on this host: the loopback interface only.
pub const CONTENT_HOST: &str = "127.0.0.1";

/// The process's whole environment: the launcher's own (`inherited`) without its `EXECENV_…`
/// settings — they carry the service token and must not reach content — then the runner's
/// variables (the chosen installations, then the request's), then, for an interactive launch
/// serving on `port`, where to listen (last, so a request cannot move the port the launcher
/// probes).
pub fn environment(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    plan: &Plan,
    port: Option<u16>,
) -> Vec<(OsString, OsString)> {
    let own = |name: &OsString| name.to_str().is_some_and(|n| n.starts_with("EXECENV_"));
    let listen = port.into_iter().flat_map(|port| {
        [
            ("EXECENV_CONTENT_PORT", port.to_string()),
            ("EXECENV_CONTENT_HOST", CONTENT_HOST.to_owned()),
            (
                "EXECENV_CONTENT_BASE_PATH",
                format!("/content/{}", plan.request.content_guid),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v))
    });
    let runner = runner_variables(&plan.request, &plan.installations)
        .into_iter()
        .chain(listen)
        .map(|(k, v)| (k.into(), v.into()));
    inherited
        .into_iter()
        .filter(|(name, _)| !own(name))
        .chain(runner)
        .collect()
}

/// `127.0.0.1:PORT`, where an interactive app serving on `port` answers.
pub fn address(port: u16) -> String {
    format!("{CONTENT_HOST}:{port}")
}

/// Finds the content runner: the configured path, else `execenv-content-runner` next to the
/// launcher's binary (`exe_dir`), else on `path_var`. The error says how to configure it.
pub fn find_runner(
    configured: Option<&Path>,
    exe_dir: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(format!(
                "the content runner {} (EXECENV_LOCAL__RUNNER) is not an executable file; point EXECENV_LOCAL__RUNNER at execenv-content-runner",
                path.display()
            ))
        };
    }
    let beside = exe_dir.map(|d| d.join(RUNNER_NAME));
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(RUNNER_NAME));
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            let beside = exe_dir.map_or_else(String::new, |d| format!("next to the launcher in {} or ", d.display()));
            format!(
                "cannot find the content runner {RUNNER_NAME} {beside}on PATH; install it there or set EXECENV_LOCAL__RUNNER to its path"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The parts of the runner's status file the launcher reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RunnerStatus {
    /// `succeeded`, `failed` or `refused`.
    #[serde(default)]
    pub outcome: String,
    /// Why it did not succeed.
    #[serde(default)]
    pub reason: String,
}

impl RunnerStatus {
    /// Parses a status file; `None` when it is not the runner's JSON.
    pub fn parse(bytes: &[u8]) -> Option<RunnerStatus> {
        serde_json::from_slice(bytes).ok()
    }
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    /// From a process status.
    pub fn of(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            // Neither a code nor a signal does not happen on Unix; report it as a failure.
            (None, None) => Exit::Code(-1),
        }
    }
}

/// Why the launcher stopped a launch itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nobody asked.
    No,
    /// Cancel was called.
    Cancel,
    /// The launcher is shutting down.
    Shutdown,
}

/// The reason of a launch stopped because the launcher shut down.
pub const LAUNCHER_STOPPED: &str = "LauncherStopped";

/// The final observation of a launch whose process ended with `exit`, after `stop`, with the
/// runner's `status` file when it wrote one.
pub fn finished(
    kind: LaunchKind,
    exit: Exit,
    stop: Stop,
    status: Option<&RunnerStatus>,
) -> Observation {
    let step = kind.runner_step();
    let code = match exit {
        Exit::Code(code) => Some(code),
        Exit::Signal(_) => None,
    };
    match (stop, exit) {
        (Stop::Cancel | Stop::Shutdown, _) => stopped_while_running(stop).with_exit_code(code),
        (Stop::No, Exit::Code(0)) => {
            Observation::new(State::Succeeded, "Completed", "").with_exit_code(Some(0))
        }
        (Stop::No, Exit::Code(code)) => {
            let why = status
                .map(|s| s.reason.lines().next().unwrap_or_default().trim())
                .filter(|r| !r.is_empty());
            let refused = status.is_some_and(|s| s.outcome == "refused");
            let message = match why {
                Some(why) if refused => format!("{step} refused (exit code {code}): {why}"),
                Some(why) => format!("{step} failed (exit code {code}): {why}"),
                None => format!(
                    "{step} failed: the content runner exited with code {code}; its output is in the launch's logs"
                ),
            };
            Observation::new(State::Failed, "Error", message).with_exit_code(Some(code))
        }
        (Stop::No, Exit::Signal(signal)) => Observation::new(
            State::Failed,
            "Killed",
            format!(
                "{step} was killed by signal {signal}{} (not by the launcher)",
                signal_name(signal).map_or_else(String::new, |n| format!(" ({n})"))
            ),
        ),
    }
}

/// The end of a launch the launcher stopped while it ran (`Stop::No` counts as a cancel).
pub fn stopped_while_running(stop: Stop) -> Observation {
    match stop {
        Stop::Shutdown => Observation::new(
            State::Failed,
            LAUNCHER_STOPPED,
            "the launcher stopped while this launch was running; launch it again",
        ),
        Stop::Cancel | Stop::No => {
            Observation::new(State::Cancelled, "Cancelled", "cancelled on request")
        }
    }
}

/// The queued launch's end when it is stopped before it started.
pub fn never_started(stop: Stop) -> Observation {
    match stop {
        Stop::Shutdown => Observation::new(
            State::Failed,
            LAUNCHER_STOPPED,
            "the launcher stopped before this launch started; launch it again",
        ),
        Stop::Cancel | Stop::No => Observation::new(
            State::Cancelled,
            "Cancelled",
            "cancelled on request before it started",
        ),
    }
}

/// The name of a common signal, for messages.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// `argv` as one line for the logs.
pub fn display(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
