//! One launch's life as a host process: wait for a slot, spawn the runner in its own process
//! group, wait for it (or stop it), record how it ended. Also the read-back of the data folder at
//! start, which kills what an unfinished launch may have left running.

use std::fs::OpenOptions;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::{Child, Command};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::command::{self, Exit, RunnerPaths, RunnerStatus, Stop};
use super::layout::{DataDir, LaunchFiles, after_restart, read_records};
use super::shared::Shared;
use crate::launch::{Milestones, Observation, Plan, State};
use crate::table::Launches;

/// Runs launch `plan` to its end. `slot` is the slot already taken, or `None` when it queued;
/// `stop` says when to stop it; `_alive` tells the shutdown task when every launch has ended.
pub(super) async fn run(
    shared: Arc<Shared>,
    plan: Plan,
    slot: Option<OwnedSemaphorePermit>,
    mut stop: watch::Receiver<Stop>,
    _alive: mpsc::Sender<()>,
) {
    let id = plan.launch.id.clone();
    let slot = match slot {
        Some(slot) => Ok(slot),
        None => {
            let taken = tokio::select! {
                slot = shared.slots.take() => slot.ok_or(Stop::Shutdown),
                why = stopped(&mut stop) => Err(why),
            };
            for (waiting, position) in shared.slots.leave(&id) {
                let message = shared.slots.queued_message(position);
                shared.observe(
                    &waiting,
                    Observation::new(State::Pending, "Queued", message),
                );
            }
            taken
        }
    };
    let current = *stop.borrow();
    let slot = match slot {
        Ok(slot) if current == Stop::No => slot,
        Ok(_) | Err(_) => {
            let why = if current == Stop::No {
                Stop::Shutdown
            } else {
                current
            };
            tracing::info!(launch = %id, ?why, "launch stopped before it started");
            shared.observe(&id, command::never_started(why));
            shared.forget(&id);
            return;
        }
    };
    let files = shared.dir.launch(&id);
    let seen = match spawn(&shared, &plan, &files, None) {
        Ok(child) => supervise(&shared, &plan, &files, child, &mut stop).await,
        Err(message) => {
            tracing::error!(launch = %id, %message, "the content runner could not be started");
            Observation::new(State::Failed, "RunnerNotStarted", message)
        }
    };
    shared.observe(&id, seen);
    shared.forget(&id);
    drop(slot);
}

/// Waits for `stop` to ask for something (a dropped switch counts as shutdown).
pub(super) async fn stopped(stop: &mut watch::Receiver<Stop>) -> Stop {
    match stop.wait_for(|s| *s != Stop::No).await {
        Ok(why) => *why,
        Err(_) => Stop::Shutdown,
    }
}

/// Spawns the runner for `plan` (an interactive one serving on `port`); the error is the launch's
/// message.
pub(super) fn spawn(
    shared: &Shared,
    plan: &Plan,
    files: &LaunchFiles,
    port: Option<u16>,
) -> Result<Child, String> {
    let request = &plan.request;
    let paths = RunnerPaths {
        bundle: shared.dir.bundle(&request.content_guid, &request.bundle_id),
        work: shared.dir.work(&request.content_guid, &request.bundle_id),
        cache: shared.dir.cache(&plan.launch.image),
        status: files.status(),
    };
    for folder in [&paths.work, &paths.cache] {
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create the folder {}: {e}", folder.display()))?;
    }
    let argv = command::argv(plan, &shared.runner, shared.supervisor.as_deref(), &paths);
    let log = files.output();
    let output = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("cannot open the launch's log {}: {e}", log.display()))?;
    let errors = output
        .try_clone()
        .map_err(|e| format!("cannot open the launch's log {}: {e}", log.display()))?;
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "the runner's command line is empty".to_owned())?;
    let child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(command::environment(std::env::vars_os(), plan, port))
        .current_dir(files.dir())
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e}; check EXECENV_LOCAL__RUNNER and EXECENV_LOCAL__SUPERVISOR",
                program.to_string_lossy()
            )
        })?;
    tracing::info!(launch = %plan.launch.id, pid = child.id(), argv = %command::display(&argv),
        "launch started");
    Ok(child)
}

/// Follows the spawned runner to its end and says how the launch ended.
async fn supervise(
    shared: &Shared,
    plan: &Plan,
    files: &LaunchFiles,
    mut child: Child,
    stop: &mut watch::Receiver<Stop>,
) -> Observation {
    let id = &plan.launch.id;
    let group = record_group(id, files, &child);
    shared.launches.submitted(id, "", "");
    // A process has one phase, `run`: from its spawn to its end.
    let mut milestones = Milestones {
        content_started: Some(Utc::now()),
        ..Milestones::default()
    };
    shared.observe(
        id,
        Observation::new(
            State::Running,
            "Started",
            group.map_or_else(String::new, |g| {
                format!("process group {}", g.as_raw_nonzero())
            }),
        )
        .with_milestones(milestones),
    );
    let (status, why) = tokio::select! {
        status = child.wait() => (status, Stop::No),
        why = stopped(stop) => (terminate(&mut child, group, shared.grace).await, why),
    };
    milestones.content_finished = Some(Utc::now());
    end_group(group, files).await;
    let seen = match status {
        Ok(status) => {
            let runner = runner_status(files);
            command::finished(plan.request.kind, Exit::of(status), why, runner.as_ref())
        }
        Err(e) => Observation::new(
            State::Failed,
            "Error",
            format!("cannot wait for the content runner: {e}"),
        ),
    };
    tracing::info!(launch = %id, state = seen.state.as_str(), reason = %seen.reason,
        exit_code = ?seen.exit_code, message = %seen.message, "launch finished");
    seen.with_milestones(milestones)
}

/// Records the process group of the runner just spawned (the runner leads it) in the launch's pid
/// file, so that a restarted launcher can kill what is left of it.
pub(super) fn record_group(id: &str, files: &LaunchFiles, child: &Child) -> Option<Pid> {
    let pid = child.id()?;
    if let Err(e) = files.write_pid(pid) {
        tracing::warn!(launch = %id, error = %e, "cannot record the process group; a restart will not find it");
    }
    Pid::from_raw(pid.cast_signed())
}

/// Ends what the runner left behind in its group, as a pod's processes go with it; returns once
/// they are gone (a SIGKILL takes effect when each is next scheduled) and the pid file with them.
pub(super) async fn end_group(group: Option<Pid>, files: &LaunchFiles) {
    if let Some(group) = group
        && kill_process_group(group, Signal::KILL).is_ok()
    {
        group_gone(group, GROUP_GONE_WITHIN).await;
    }
    files.remove_pid();
}

/// The runner's status file, when it wrote one.
pub(super) fn runner_status(files: &LaunchFiles) -> Option<RunnerStatus> {
    let written = std::fs::read(files.status()).ok()?;
    RunnerStatus::parse(&written)
}

/// How long a launch's end waits for the processes of its group to die after SIGKILL.
const GROUP_GONE_WITHIN: Duration = Duration::from_secs(2);

/// Waits (up to `within`, looking every 10 ms) until no live process is in `group`: /proc lists
/// none whose process group it is but zombies, which only wait to be reaped. Logs when some
/// outlive the wait.
async fn group_gone(group: Pid, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while group_has_live_process(group.as_raw_nonzero().get()) {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                group = group.as_raw_nonzero(),
                "processes of the launch's group outlived SIGKILL by {} ms",
                within.as_millis()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether /proc shows a process of group `pgid` that is not a zombie.
fn group_has_live_process(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the command name in parentheses: state, parent, process group, …
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// SIGTERM to the group, then SIGKILL once `grace` has passed; returns how the leader ended.
pub(super) async fn terminate(
    child: &mut Child,
    group: Option<Pid>,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let Some(group) = group else {
        // Already reaped: the status is at hand.
        return child.wait().await;
    };
    tracing::info!(
        group = group.as_raw_nonzero(),
        grace_ms = grace.as_millis(),
        "sending SIGTERM"
    );
    let _ = kill_process_group(group, Signal::TERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                group = group.as_raw_nonzero(),
                "still running after the grace period; sending SIGKILL"
            );
            let _ = kill_process_group(group, Signal::KILL);
            child.wait().await
        }
    }
}

/// Reads every launch record of `dir` into `launches`; an unfinished one becomes FAILED
/// `LauncherRestarted` (written back) after its left-over processes are killed. Returns how many
/// launches were read and how many of them had been unfinished.
pub(super) fn recover(dir: &DataDir, launches: &Launches) -> (usize, usize) {
    let records = match read_records(dir) {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, "cannot read back the launches of earlier runs");
            return (0, 0);
        }
    };
    let (mut read, mut restarted) = (0, 0);
    for record in records {
        let launch = match record {
            Ok(launch) => launch,
            Err(unreadable) => {
                tracing::warn!(path = %unreadable.path.display(), error = %unreadable.error,
                    "skipping a launch record that cannot be read");
                continue;
            }
        };
        read += 1;
        let (launch, changed) = after_restart(launch, Utc::now());
        if changed {
            restarted += 1;
            let files = dir.launch(&launch.id);
            kill_left_over(&files);
            files.remove_pid();
            if let Err(e) = files.write_record(&launch) {
                tracing::error!(launch = %launch.id, error = %e, "cannot write the launch record back");
            }
            tracing::warn!(launch = %launch.id, "the launch was unfinished when the launcher stopped; it is now FAILED (LauncherRestarted)");
        }
        launches.recover(launch);
    }
    (read, restarted)
}

/// Kills the process group an unfinished launch recorded, if it is still its own: the group's
/// leader must be gone (a group id is not reused while the group lives) or still be the runner of
/// this launch (its command line names this launch's status file).
fn kill_left_over(files: &LaunchFiles) {
    let Some(group) = files.read_pid().and_then(Pid::from_raw) else {
        return;
    };
    let leader = std::fs::read(format!("/proc/{}/cmdline", group.as_raw_nonzero()));
    let ours = match &leader {
        Err(_) => true,
        Ok(cmdline) => {
            let status = files.status();
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == status.as_os_str().as_encoded_bytes())
        }
    };
    if ours && kill_process_group(group, Signal::KILL).is_ok() {
        tracing::warn!(group = group.as_raw_nonzero(), path = %files.pid().display(),
            "killed the processes a launch left running when the launcher stopped");
    }
}
