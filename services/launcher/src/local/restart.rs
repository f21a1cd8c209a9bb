//! The decisions of an interactive launch, as pure functions over plain data: when its app is
//! ready ([`Readiness`]), whether an exit is the runner's refusal or a crash ([`refusal`]), how
//! long to wait before a restart ([`Backoff`]), and what the launch says meanwhile.

use std::time::{Duration, Instant};

use super::command::{Exit, RunnerStatus, signal_name};
use crate::launch::{Observation, State};

/// How often a starting app (or one that stopped answering) is probed.
pub const PROBE_STARTING: Duration = Duration::from_millis(100);
/// How often a ready app is probed.
pub const PROBE_READY: Duration = Duration::from_secs(2);
/// How many probes in a row a ready app may miss before it counts as not answering; a missed
/// probe is repeated at the fast pace, so a gone listener shows within a fraction of a second.
pub const MISSES_ALLOWED: u32 = 3;
/// How long an app must have been ready for the restart backoff to start again from its first
/// wait.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The first wait before a restart; each next one doubles, up to the configured most.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);

/// Whether an app answers, from the results of the probes of one run of it.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    ready_since: Option<Instant>,
    misses: u32,
    stable: bool,
}

/// A change of an app's readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It answered for the first time (since it started or stopped answering).
    Ready,
    /// It stopped answering while its process lives.
    NotAnswering,
}

impl Readiness {
    /// When to probe next.
    pub fn next_probe_in(&self) -> Duration {
        if self.ready_since.is_some() && self.misses == 0 {
            PROBE_READY
        } else {
            PROBE_STARTING
        }
    }

    /// Takes the result of a probe made at `now`; returns the change it makes, if any.
    pub fn probed(&mut self, answered: bool, now: Instant) -> Option<Change> {
        match (self.ready_since, answered) {
            (None, true) => {
                self.ready_since = Some(now);
                self.misses = 0;
                Some(Change::Ready)
            }
            (None, false) => None,
            (Some(since), true) => {
                self.misses = 0;
                self.stable |= now.duration_since(since) >= STABLE_AFTER;
                None
            }
            (Some(_), false) => {
                self.misses += 1;
                if self.misses < MISSES_ALLOWED {
                    return None;
                }
                self.ready_since = None;
                self.misses = 0;
                Some(Change::NotAnswering)
            }
        }
    }

    /// Whether the app was ready for [`STABLE_AFTER`] in one stretch during this run, up to `now`.
    pub fn was_stable(&self, now: Instant) -> bool {
        self.stable
            || self
                .ready_since
                .is_some_and(|since| now.duration_since(since) >= STABLE_AFTER)
    }
}

/// The waits before restarts: [`FIRST_WAIT`], then twice the wait before, up to `most`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    most: Duration,
}

impl Backoff {
    /// Starting at [`FIRST_WAIT`].
    pub fn new(most: Duration) -> Backoff {
        Backoff {
            next: FIRST_WAIT,
            most,
        }
    }

    /// The wait before the next restart.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next.min(self.most);
        self.next = self.next.saturating_mul(2).min(self.most.max(FIRST_WAIT));
        wait
    }

    /// Back to [`FIRST_WAIT`]: the app had run well for a while.
    pub fn reset(&mut self) {
        self.next = FIRST_WAIT;
    }
}

/// The runner's reason when an exit is its own refusal to run the app (a missing build, invalid
/// input, a command that cannot start), which no restart can mend; `None` for a crash of the app.
///
/// The runner says so in its status file: outcome `refused`, or outcome `failed` with one of its
/// own exit codes (2 invalid input, 127 not started) and a reason of its own. An app that itself
/// exits 2 is reported by the runner as `the content exited with code 2`
/// (runtime/content-runner/src/run.rs), which is a crash.
pub fn refusal(exit: Exit, status: Option<&RunnerStatus>) -> Option<String> {
    let status = status?;
    let code = match exit {
        Exit::Code(code) => code,
        Exit::Signal(_) => return None,
    };
    let own_failure = status.outcome == "failed"
        && matches!(code, 2 | 3 | 127)
        && !status.reason.is_empty()
        && !status.reason.starts_with("the content ");
    if status.outcome != "refused" && !own_failure {
        return None;
    }
    let reason = status.reason.lines().next().unwrap_or_default().trim();
    Some(if reason.is_empty() {
        format!(
            "the content runner refused to run the app (exit code {code}); its output is in the launch's logs"
        )
    } else {
        reason.to_owned()
    })
}

/// How the app ended, for messages: `exited with code 1`, `was killed by signal 9 (SIGKILL)`.
pub fn ended(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exited with code {code}"),
        Exit::Signal(signal) => format!(
            "was killed by signal {signal}{}",
            signal_name(signal).map_or_else(String::new, |n| format!(" ({n})"))
        ),
    }
}

/// `1 s`, `0.05 s`.
fn seconds(wait: Duration) -> String {
    format!("{} s", wait.as_secs_f64())
}

/// RUNNING `Starting`: the process is up, its port not answering yet.
pub fn starting(address: &str, restarts: u32) -> Observation {
    Observation::new(
        State::Running,
        "Starting",
        format!("waiting for the app to answer on {address}"),
    )
    .with_address(address)
    .with_restarts(restarts)
}

/// READY: the app answers on `address`.
pub fn ready(address: &str) -> Observation {
    Observation::new(
        State::Ready,
        "Ready",
        format!("the app answers on {address}"),
    )
    .with_address(address)
}

/// RUNNING `NotAnswering`: the app's process lives but its port does not answer.
pub fn not_answering(address: &str) -> Observation {
    Observation::new(
        State::Running,
        "NotAnswering",
        format!(
            "the app stopped answering on {address} ({MISSES_ALLOWED} probes missed); its process still runs"
        ),
    )
}

/// RUNNING `Restarting`: waiting `wait` before restart number `restart` after the app `exit`ed.
pub fn restarting(exit: Exit, restart: u32, wait: Duration) -> Observation {
    Observation::new(
        State::Running,
        "Restarting",
        format!(
            "the app {}; restart {restart} in {}",
            ended(exit),
            seconds(wait)
        ),
    )
}

/// FAILED `RunnerRefused`, with the runner's reason.
pub fn refused(reason: String, exit: Exit) -> Observation {
    let code = match exit {
        Exit::Code(code) => Some(code),
        Exit::Signal(_) => None,
    };
    Observation::new(State::Failed, "RunnerRefused", reason).with_exit_code(code)
}

/// The line the launcher writes into the launch's output before restart number `restart`.
pub fn marker(restart: u32, exit: Exit) -> String {
    format!(
        "[execenv-launcher] restart {restart} after the app {}\n",
        ended(exit)
    )
}

#[cfg(test)]
#[path = "restart_tests.rs"]
mod tests;
