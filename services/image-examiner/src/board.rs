//! Every environment's last check, in memory: what `ListChecks`, `GetCheck` and `WatchChecks`
//! answer from and what the drift loop writes. A check is published (to watchers, the metrics and
//! the log) only when it says something new; a restart starts empty and checks everything again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use execenv_core::examine::CheckState;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::check::Check;
use crate::metrics::ExaminerMetrics;

/// How many events a watcher may fall behind before its watch is ended.
pub const WATCH_BUFFER: usize = 4096;

/// A change of the board, as watchers receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardEvent {
    /// A new or changed check.
    Check(Box<Check>),
    /// An environment left the catalogue.
    Removed(Uuid),
    /// Every environment of the first listing has been checked.
    SnapshotComplete,
}

/// What a new watcher starts from: the checks now, whether the first round is done, and the
/// changes from that moment on.
pub struct Subscription {
    /// Every check now.
    pub checks: Vec<Check>,
    /// Whether the first round of checks is done.
    pub complete: bool,
    /// The changes after `checks`.
    pub events: broadcast::Receiver<BoardEvent>,
}

/// The checks, shared by the drift loop and the gRPC service; cheap to clone.
#[derive(Clone)]
pub struct CheckBoard {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<BoardEvent>,
    metrics: ExaminerMetrics,
}

#[derive(Default)]
struct State {
    checks: BTreeMap<Uuid, Check>,
    /// The catalogue was listed at least once.
    listed: bool,
    /// The first round of checks is done.
    complete: bool,
}

impl CheckBoard {
    /// An empty board reporting its states to `metrics`.
    pub fn new(metrics: ExaminerMetrics) -> Self {
        CheckBoard {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                events: broadcast::Sender::new(WATCH_BUFFER),
                metrics,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every check, by guid; None until the catalogue was listed.
    pub fn list(&self) -> Option<Vec<Check>> {
        let s = self.state();
        s.listed.then(|| s.checks.values().cloned().collect())
    }

    /// The check of `guid` (None: no such environment); Err until the catalogue was listed.
    pub fn get(&self, guid: Uuid) -> Result<Option<Check>, NotListed> {
        let s = self.state();
        if !s.listed {
            return Err(NotListed);
        }
        Ok(s.checks.get(&guid).cloned())
    }

    /// The check of `guid` as recorded, listed or not (for the drift loop).
    pub fn current(&self, guid: Uuid) -> Option<Check> {
        self.state().checks.get(&guid).cloned()
    }

    /// Whether the catalogue was listed.
    pub fn is_listed(&self) -> bool {
        self.state().listed
    }

    /// Whether every environment of the first listing has been checked.
    pub fn is_complete(&self) -> bool {
        self.state().complete
    }

    /// The checks now and every change after them (taken together: nothing is missed).
    pub fn subscribe(&self) -> Subscription {
        let s = self.state();
        Subscription {
            checks: s.checks.values().cloned().collect(),
            complete: s.complete,
            events: self.inner.events.subscribe(),
        }
    }

    /// Records `check`; publishes it when it is new or says something new. Returns whether it did.
    pub fn put(&self, check: Check) -> bool {
        let mut s = self.state();
        let before = s.checks.get(&check.guid);
        let news = before.is_none_or(|b| b.differs_from(&check));
        if news {
            log_change(before, &check);
        }
        s.checks.insert(check.guid, check.clone());
        if news {
            self.publish(&s, BoardEvent::Check(Box::new(check)));
        }
        news
    }

    /// Forgets the check of an environment that left the catalogue.
    pub fn remove(&self, guid: Uuid) {
        let mut s = self.state();
        if s.checks.remove(&guid).is_some() {
            self.publish(&s, BoardEvent::Removed(guid));
        }
    }

    /// The catalogue was listed: the board answers from now on.
    pub fn mark_listed(&self) {
        self.state().listed = true;
    }

    /// The first round of checks is done.
    pub fn complete_snapshot(&self) {
        let mut s = self.state();
        if !s.complete {
            s.complete = true;
            tracing::info!(
                environments = s.checks.len(),
                "every environment of the catalogue checked once"
            );
            self.publish(&s, BoardEvent::SnapshotComplete);
        }
    }

    /// Sends `event` and updates the metrics, under the state's lock so that watchers see
    /// events in the order the state took them.
    fn publish(&self, s: &State, event: BoardEvent) {
        let counts: Vec<(CheckState, usize)> = CheckState::ALL
            .iter()
            .map(|state| {
                (
                    *state,
                    s.checks.values().filter(|c| c.state == *state).count(),
                )
            })
            .collect();
        self.inner.metrics.states(&counts);
        // No watcher: nothing to do.
        let _ = self.inner.events.send(event);
    }
}

/// `GetCheck` before the catalogue arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotListed;

/// One line per check whose state changes: info, or a warning once when the image becomes
/// unreadable (not at every check that finds it still unreadable).
fn log_change(before: Option<&Check>, after: &Check) {
    let from = before.map_or(CheckState::Pending, |b| b.state);
    if from == after.state {
        return;
    }
    let (guid, image, from, to) = (
        after.guid,
        &after.image,
        from.as_str(),
        after.state.as_str(),
    );
    match (&after.unreadable, after.state) {
        (Some(why), _) => tracing::warn!(%guid, image, from, to, kind = why.kind.as_str(),
            problem = %why.message, "environment check: the image cannot be read"),
        (None, CheckState::Pending) => {}
        (None, _) => {
            tracing::info!(%guid, image, from, to, digest = after.digest.as_deref().unwrap_or(""),
            summary = after.summary(), "environment check: state changed")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use execenv_kit::metrics::Metrics;

    use super::*;
    use crate::check::Outcome;
    use crate::examinations::Compared;
    use crate::testing::{at, environment, guid};

    fn board() -> (CheckBoard, Metrics) {
        let metrics = Metrics::new();
        (
            CheckBoard::new(ExaminerMetrics::register(&metrics)),
            metrics,
        )
    }

    fn ok(n: u128, seconds: i64) -> Check {
        let env = environment(n, "127.0.0.1:5000/python:3", "3.11.9", 1);
        Check::pending(&env).next(
            &env,
            Outcome::Compared(Compared {
                digest: "sha256:a".into(),
                findings: vec![],
            }),
            at(seconds),
        )
    }

    #[test]
    fn nothing_is_answered_before_the_catalogue_is_listed() {
        let (b, _) = board();
        assert_eq!(b.list(), None);
        assert_eq!(b.get(guid(1)), Err(NotListed));
        b.mark_listed();
        assert_eq!(b.list(), Some(vec![]));
        assert_eq!(b.get(guid(1)), Ok(None));
    }

    #[test]
    fn a_check_is_published_only_when_it_says_something_new() {
        let (b, metrics) = board();
        let mut sub = b.subscribe();
        assert!(b.put(ok(1, 10)));
        let later = Check {
            checked_time: Some(at(20)),
            ..ok(1, 10)
        };
        assert!(!b.put(later), "the same check, later");
        assert_eq!(b.get(guid(1)).unwrap_err(), NotListed);
        b.mark_listed();
        assert_eq!(
            b.get(guid(1)).unwrap().unwrap().checked_time,
            Some(at(20)),
            "the later time is kept"
        );
        b.remove(guid(1));
        b.complete_snapshot();
        b.complete_snapshot();
        let mut events = vec![];
        while let Ok(e) = sub.events.try_recv() {
            events.push(e);
        }
        assert_eq!(
            events,
            [
                BoardEvent::Check(Box::new(ok(1, 10))),
                BoardEvent::Removed(guid(1)),
                BoardEvent::SnapshotComplete
            ]
        );
        assert!(
            metrics
                .encode()
                .contains("execenv_examiner_environments{state=\"ok\"} 0")
        );
    }

    #[test]
    fn a_subscription_starts_from_the_checks_now() {
        let (b, metrics) = board();
        b.put(ok(1, 10));
        b.put(ok(2, 10));
        b.complete_snapshot();
        let sub = b.subscribe();
        assert_eq!(sub.checks, [ok(1, 10), ok(2, 10)]);
        assert!(sub.complete);
        assert!(
            metrics
                .encode()
                .contains("execenv_examiner_environments{state=\"ok\"} 2")
        );
    }
}
