//! One interactive launch's life as host processes: pick a free loopback port, spawn the runner
//! serving on it, probe the port until the app answers (READY) and while it does, restart the app
//! with a growing wait whenever it exits — unless its runner refused to run it — until the launch
//! is cancelled or the launcher stops. Every run's output goes to the launch's `output.log`, each
//! restart announced there by a line of the launcher's own.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rustix::process::Pid;
use tokio::process::Child;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::command::{self, CONTENT_HOST, Exit, Stop};
use super::layout::LaunchFiles;
use super::process;
use super::restart::{self, Backoff, Change, Readiness};
use super::shared::Shared;
use crate::launch::{Milestones, Observation, Plan, State};

/// How long a probe waits for the app to accept its connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs interactive launch `plan` until it is stopped or can never start. `place` is its place
/// among the `local.max_interactive`, held until it ends; `stop` says when to stop it; `_alive`
/// tells the shutdown task when every launch has ended.
pub(super) async fn run(
    shared: Arc<Shared>,
    plan: Plan,
    place: OwnedSemaphorePermit,
    mut stop: watch::Receiver<Stop>,
    _alive: mpsc::Sender<()>,
) {
    let id = plan.launch.id.clone();
    let files = shared.dir.launch(&id);
    let seen = match free_port() {
        Ok(port) => serve(&shared, &plan, &files, port, &mut stop).await,
        Err(e) => Observation::new(
            State::Failed,
            "NoPort",
            format!("cannot find a free port on {CONTENT_HOST}: {e}"),
        ),
    };
    tracing::info!(launch = %id, state = seen.state.as_str(), reason = %seen.reason,
        message = %seen.message, "interactive launch ended");
    // Its place is free once it is seen final, so a launch started then is not refused.
    drop(place);
    shared.observe(&id, seen);
    shared.forget(&id);
}

/// A port nobody listens on now: the one the system gives a listener bound to port 0.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((CONTENT_HOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Runs the app on `port`, restarting it after every exit that is not its runner's refusal, until
/// `stop` asks; returns the launch's final observation.
async fn serve(
    shared: &Shared,
    plan: &Plan,
    files: &LaunchFiles,
    port: u16,
    stop: &mut watch::Receiver<Stop>,
) -> Observation {
    let id = &plan.launch.id;
    let address = command::address(port);
    let mut backoff = Backoff::new(shared.restart_backoff_most);
    let mut restarts = 0;
    // A process has one phase, `run`: from the first spawn to the end of the last run.
    let mut milestones = Milestones::default();
    loop {
        // A status file of an earlier run must not speak for this one.
        let _ = std::fs::remove_file(files.status());
        let mut child = match process::spawn(shared, plan, files, Some(port)) {
            Ok(child) => child,
            Err(message) => {
                tracing::error!(launch = %id, %message, "the content runner could not be started");
                milestones.content_finished = Some(Utc::now());
                return Observation::new(State::Failed, "RunnerNotStarted", message)
                    .with_milestones(milestones);
            }
        };
        let group = process::record_group(id, files, &child);
        shared.launches.submitted(id, "", "");
        milestones.content_started.get_or_insert_with(Utc::now);
        shared.observe(
            id,
            restart::starting(&address, restarts).with_milestones(milestones),
        );
        let run = Run {
            shared,
            plan,
            address: &address,
            group,
            spawned: Instant::now(),
        };
        let (ended, readiness) = run.follow(&mut child, stop).await;
        process::end_group(group, files).await;
        let status = match ended {
            Ended::Exited(status) => status,
            Ended::Stopped(why, status) => {
                milestones.content_finished = Some(Utc::now());
                let seen = match status {
                    Ok(status) => command::finished(plan.request.kind, Exit::of(status), why, None),
                    Err(_) => command::stopped_while_running(why),
                };
                return seen.with_milestones(milestones);
            }
        };
        let exit = match status {
            Ok(status) => Exit::of(status),
            Err(e) => {
                milestones.content_finished = Some(Utc::now());
                return Observation::new(
                    State::Failed,
                    "Error",
                    format!("cannot wait for the content runner: {e}"),
                )
                .with_milestones(milestones);
            }
        };
        if let Some(reason) = restart::refusal(exit, process::runner_status(files).as_ref()) {
            tracing::warn!(launch = %id, exit = %restart::ended(exit), %reason,
                "the content runner refused to run the interactive app; not restarting it");
            milestones.content_finished = Some(Utc::now());
            return restart::refused(reason, exit).with_milestones(milestones);
        }
        if readiness.was_stable(Instant::now()) {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        let next = restarts + 1;
        tracing::warn!(launch = %id, exit = %restart::ended(exit), restart = next,
            wait_ms = wait.as_millis(), "the interactive app exited; restarting it");
        shared.observe(id, restart::restarting(exit, next, wait));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            why = process::stopped(stop) => {
                milestones.content_finished = Some(Utc::now());
                return command::stopped_while_running(why).with_milestones(milestones);
            }
        }
        announce(files, &restart::marker(next, exit));
        restarts = next;
    }
}

/// How one run of the app ended.
enum Ended {
    /// It exited by itself.
    Exited(std::io::Result<ExitStatus>),
    /// The launcher stopped it for this reason.
    Stopped(Stop, std::io::Result<ExitStatus>),
}

/// One run of the app, probed while it lives.
struct Run<'a> {
    shared: &'a Shared,
    plan: &'a Plan,
    address: &'a str,
    group: Option<Pid>,
    spawned: Instant,
}

impl Run<'_> {
    /// Probes the app until its process exits or `stop` asks (then stops it), reporting READY at
    /// its first answer and RUNNING `NotAnswering` when it stops answering; returns how it ended
    /// and how ready it was.
    async fn follow(
        &self,
        child: &mut Child,
        stop: &mut watch::Receiver<Stop>,
    ) -> (Ended, Readiness) {
        let id = &self.plan.launch.id;
        let mut readiness = Readiness::default();
        loop {
            let pause = readiness.next_probe_in();
            let probe = async {
                tokio::time::sleep(pause).await;
                answers(self.address).await
            };
            tokio::select! {
                status = child.wait() => return (Ended::Exited(status), readiness),
                why = process::stopped(stop) => {
                    let status = process::terminate(child, self.group, self.shared.grace).await;
                    return (Ended::Stopped(why, status), readiness);
                }
                answered = probe => match readiness.probed(answered, Instant::now()) {
                    Some(Change::Ready) => {
                        tracing::info!(launch = %id, content = %self.plan.request.content_guid,
                            address = %self.address, after_ms = self.spawned.elapsed().as_millis(),
                            "interactive launch ready");
                        self.shared.observe(id, restart::ready(self.address));
                    }
                    Some(Change::NotAnswering) => {
                        tracing::warn!(launch = %id, address = %self.address,
                            "the interactive app stopped answering; its process still runs");
                        self.shared.observe(id, restart::not_answering(self.address));
                    }
                    None => {}
                },
            }
        }
    }
}

/// Whether something accepts a connection on `address` (a readiness probe, as a kubelet's TCP
/// probe: the connection is closed at once).
async fn answers(address: &str) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(address)).await,
        Ok(Ok(_))
    )
}

/// Appends the launcher's own `line` to the launch's output, between two runs of the app.
fn announce(files: &LaunchFiles, line: &str) {
    let log = files.output();
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(path = %log.display(), error = %e, "cannot write to the launch's log");
    }
}
