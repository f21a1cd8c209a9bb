//! The launch table: every launch the launcher knows, in memory, with a broadcast of each change.
//!
//! Both backends write here and only here; the gRPC service reads. A final state is final: an
//! observation arriving after SUCCEEDED, FAILED or CANCELLED is ignored, so a late pod event cannot
//! turn a cancelled launch into a failed one. The metrics of launches (outcomes, the time to Job
//! created, to running and to finished, the active count, the interactive launches ready and
//! their restarts) are recorded here, at the transitions, so both backends count alike.
//!
//! A phase's time is recorded when both its [`Milestones`](crate::launch::Milestones) are first
//! known. A milestone, once on the record, is never replaced, so a pod seen again records nothing
//! twice; a launch read back after a restart brings the milestones it already had, so only the
//! phases that end afterwards are recorded (the launcher before the restart may have recorded the
//! others); likewise its `restarts` count only by what they grow afterwards.
//!
//! With a launch history ([`History`]), every change the table accepts is also written there (in
//! order, by the history's writer), and what is counted once per launch — its end, its start,
//! each phase and restart ([`Once`]) — is counted by the replica that wins it in the history (see
//! [`crate::metrics`]). The Job created is counted by [`Launches::submitted`], called by the
//! backend whose own create made it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use tokio::sync::broadcast;

use crate::history::History;
use crate::job_spec::LaunchKind;
use crate::launch::{BackendKind, Launch, Observation, Phase, State};
use crate::metrics::{LauncherMetrics, Once};

/// How many changes a slow watcher may fall behind before it is resynchronised.
const EVENT_BUFFER: usize = 4096;

/// Shared handle to the launch table.
#[derive(Clone)]
pub struct Launches {
    inner: Arc<Inner>,
}

struct Inner {
    launches: RwLock<HashMap<String, Launch>>,
    events: broadcast::Sender<Launch>,
    metrics: LauncherMetrics,
    history: Option<History>,
}

/// Which launches `list` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this content's.
    pub content_guid: Option<String>,
    /// Only in these states (empty: any).
    pub states: Vec<State>,
    /// Only this kind.
    pub kind: Option<LaunchKind>,
    /// Only this user's (their guid).
    pub owner: Option<String>,
}

impl Launches {
    /// An empty table recording into `metrics`.
    pub fn new(metrics: LauncherMetrics) -> Self {
        Launches::with_history(metrics, None)
    }

    /// An empty table recording into `metrics` and writing every change through to `history`.
    pub fn with_history(metrics: LauncherMetrics, history: Option<History>) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Launches {
            inner: Arc::new(Inner {
                launches: RwLock::new(HashMap::new()),
                events,
                metrics,
                history,
            }),
        }
    }

    /// The metrics the table records into.
    pub fn metrics(&self) -> &LauncherMetrics {
        &self.inner.metrics
    }

    /// The launch history every change is written to, if there is one.
    pub fn history(&self) -> Option<&History> {
        self.inner.history.as_ref()
    }

    /// Puts a launch read from the history (at start, or on a miss), unless the table holds it
    /// already: nothing is counted of it nor written back. Returns the launch as now held.
    pub fn restore(&self, launch: Launch) -> Launch {
        let mut map = self.write();
        if let Some(held) = map.get(&launch.id) {
            return held.clone();
        }
        self.count_now(&launch, 1);
        map.insert(launch.id.clone(), launch.clone());
        drop(map);
        self.publish(&launch);
        launch
    }

    /// Adds `launch` unless its id is taken: `Ok(launch)` when added, `Err(existing)` otherwise.
    pub fn insert_new(&self, launch: Launch) -> Result<Launch, Box<Launch>> {
        let mut map = self.write();
        if let Some(existing) = map.get(&launch.id) {
            return Err(Box::new(existing.clone()));
        }
        self.count_now(&launch, 1);
        map.insert(launch.id.clone(), launch.clone());
        drop(map);
        self.publish(&launch);
        Ok(launch)
    }

    /// Puts a launch recovered from the cluster or from disk, replacing what was known unless that
    /// was already final; the milestones already known are kept. Returns the launch as now held.
    pub fn recover(&self, mut launch: Launch) -> Launch {
        let mut map = self.write();
        if let Some(old) = map.get(&launch.id) {
            let mut known = old.milestones;
            known.merge(&launch.milestones);
            launch.milestones = known;
        }
        let once = match map.get(&launch.id) {
            Some(old) if old.state.is_terminal() || *old == launch => return old.clone(),
            Some(old) => self.transition_metrics(old, &launch),
            None => {
                self.count_now(&launch, 1);
                Vec::new()
            }
        };
        map.insert(launch.id.clone(), launch.clone());
        drop(map);
        self.settle(&launch, once);
        launch
    }

    /// Forgets a launch that never started (its selection or creation failed).
    pub fn remove(&self, id: &str) {
        if let Some(old) = self.write().remove(id) {
            self.count_now(&old, -1);
        }
    }

    /// Records that this launcher's call created the workload (the Job, or the spawned
    /// process), and counts the time it took.
    pub fn submitted(&self, id: &str, job_name: &str, namespace: &str) -> Option<Launch> {
        let mut first = false;
        let held = self.change(id, |l| {
            if l.submitted.is_none() {
                l.submitted = Some(Utc::now());
                first = true;
            }
            l.job_name = job_name.to_owned();
            l.namespace = namespace.to_owned();
        })?;
        if first
            && let Some(took) = held
                .submitted
                .and_then(|t| (t - held.created).to_std().ok())
        {
            self.inner
                .metrics
                .job_created(held.kind, held.backend, took);
        }
        Some(held)
    }

    /// Applies what a backend observed. Ignored once the launch is final; returns the launch as
    /// now held (None when unknown).
    pub fn observe(&self, id: &str, seen: Observation) -> Option<Launch> {
        self.change(id, move |l| apply(l, seen))
    }

    fn change(&self, id: &str, f: impl FnOnce(&mut Launch)) -> Option<Launch> {
        let mut map = self.write();
        let current = map.get_mut(id)?;
        if current.state.is_terminal() {
            return Some(current.clone());
        }
        let before = current.clone();
        f(current);
        if *current == before {
            return Some(before);
        }
        let once = self.transition_metrics(&before, current);
        let after = current.clone();
        drop(map);
        self.settle(&after, once);
        Some(after)
    }

    /// Publishes a change and counts what it ended: here, or — with a history — by writing it
    /// there, where the replica that wins each event counts it.
    fn settle(&self, after: &Launch, once: Vec<Once>) {
        match &self.inner.history {
            Some(history) => history.write(after.clone(), once),
            None => {
                for event in once {
                    self.inner.metrics.count(after.kind, after.backend, event);
                }
            }
        }
        self.publish(after);
    }

    /// Counts `launch` into (`delta` 1) or out of (-1) the gauges of launches as they are now:
    /// active (unfinished) and ready.
    fn count_now(&self, launch: &Launch, delta: i64) {
        let m = &self.inner.metrics;
        if !launch.state.is_terminal() {
            m.active_changed(launch.backend, delta);
        }
        if launch.state == State::Ready {
            m.ready_changed(launch.backend, delta);
        }
    }

    /// Records the gauges a change moves, and returns the events it ended that are counted
    /// once per launch.
    fn transition_metrics(&self, before: &Launch, after: &Launch) -> Vec<Once> {
        let m = &self.inner.metrics;
        let mut once = Vec::new();
        if !before.state.is_terminal() && after.state.is_terminal() {
            m.active_changed(after.backend, -1);
        }
        match (before.state == State::Ready, after.state == State::Ready) {
            (false, true) => m.ready_changed(after.backend, 1),
            (true, false) => m.ready_changed(after.backend, -1),
            _ => {}
        }
        once.extend((before.restarts + 1..=after.restarts).map(Once::Restart));
        let since_created =
            |t: Option<chrono::DateTime<Utc>>| t.and_then(|t| (t - after.created).to_std().ok());
        if before.started.is_none()
            && let Some(took) = since_created(after.started)
        {
            once.push(Once::Running(took));
        }
        for phase in Phase::ALL {
            if before.milestones.duration(phase).is_none()
                && let Some(took) = after.milestones.duration(phase)
            {
                once.push(Once::Phase(phase, took));
            }
        }
        if !before.state.is_terminal() && after.state.is_terminal() {
            once.push(Once::Finished(after.state, since_created(after.finished)));
        }
        once
    }

    /// One launch.
    pub fn get(&self, id: &str) -> Option<Launch> {
        self.read().get(id).cloned()
    }

    /// The launches matching `filter`, newest first.
    pub fn list(&self, filter: &Filter) -> Vec<Launch> {
        let mut found: Vec<Launch> = self
            .read()
            .values()
            .filter(|l| {
                filter
                    .content_guid
                    .as_ref()
                    .is_none_or(|g| *g == l.content_guid)
                    && (filter.states.is_empty() || filter.states.contains(&l.state))
                    && filter.kind.is_none_or(|k| k == l.kind)
                    && filter.owner.as_ref().is_none_or(|o| *o == l.owner_guid)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        found
    }

    /// Launches of `backend` that are not finished.
    pub fn active(&self, backend: BackendKind) -> Vec<Launch> {
        self.read()
            .values()
            .filter(|l| l.backend == backend && !l.state.is_terminal())
            .cloned()
            .collect()
    }

    /// Every change from now on. A receiver that falls behind gets `Lagged` and should re-read the
    /// table (see [`crate::service`]'s watch).
    pub fn subscribe(&self) -> broadcast::Receiver<Launch> {
        self.inner.events.subscribe()
    }

    /// Waits until launch `id` is final (or unknown) and returns it.
    pub async fn wait_finished(&self, id: &str) -> Option<Launch> {
        let mut events = self.subscribe();
        loop {
            match self.get(id) {
                Some(l) if !l.state.is_terminal() => {}
                other => return other,
            }
            match events.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return self.get(id),
            }
        }
    }

    fn publish(&self, launch: &Launch) {
        // No receivers is fine: nobody is watching.
        let _ = self.inner.events.send(launch.clone());
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Launch>> {
        self.inner
            .launches
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Launch>> {
        self.inner
            .launches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `launch` as it is once `seen` is applied: what [`Launches::observe`] does to the launch it
/// holds, and what a Cancel writes to the history before it stops anything.
pub fn apply(l: &mut Launch, seen: Observation) {
    l.state = seen.state;
    l.reason = seen.reason;
    l.message = seen.message;
    if seen.exit_code.is_some() {
        l.exit_code = seen.exit_code;
    }
    l.milestones.merge(&seen.milestones);
    if let Some(address) = seen.address {
        l.address = address;
    }
    if let Some(restarts) = seen.restarts {
        l.restarts = restarts;
    }
    let now = Utc::now();
    if matches!(seen.state, State::Running | State::Ready) && l.started.is_none() {
        l.started = Some(now);
    }
    if seen.state == State::Ready && l.ready.is_none() {
        l.ready = Some(now);
    }
    if seen.state.is_terminal() && l.finished.is_none() {
        l.finished = Some(now);
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
