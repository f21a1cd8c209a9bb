//! The instances of interactive content this gateway holds: at most one per content guid, each
//! the launch serving it, its progress (starting, ready at an address, or failed) published to
//! every request waiting for it, and its activity — requests in flight, open WebSockets, the
//! last use — from which idle instances are chosen. Nothing here calls a service: the launcher
//! side is [`crate::instances`].
//!
//! Each entry has a generation, so that a request or a task of an instance that was replaced
//! (stopped, failed, started again) changes nothing of its successor; and a stop token,
//! cancelled when the entry goes, which ends the task following its launch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::content_error::ContentError;
use crate::content_metrics::ContentMetrics;

/// Where an instance stands, as the requests waiting for it see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not answering yet: the launch's current reason and message (launch id empty while the
    /// launcher is being asked).
    Starting {
        launch_id: String,
        reason: String,
        message: String,
    },
    /// Answering at `address` (`host:port`).
    Ready { launch_id: String, address: String },
    /// It cannot serve: the answer for the requests waiting.
    Failed(ContentError),
}

/// What an instance was used for last: the facts the idle rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Requests being answered (or waiting for it to start).
    pub in_flight: u32,
    /// WebSockets open to it.
    pub websockets: u32,
    /// When a request last began or ended, or a WebSocket closed.
    pub last: Instant,
}

impl Activity {
    /// Whether nothing has used it for `idle` at `now`.
    pub fn is_idle(&self, now: Instant, idle: Duration) -> bool {
        self.in_flight == 0
            && self.websockets == 0
            && now.saturating_duration_since(self.last) >= idle
    }
}

/// The guids of the instances to stop at `now` when `idle` without use stops one: those idle
/// whose launch is known (one still being asked for is stopped once it has an id).
pub fn idle_choice<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a Activity, bool)>,
    now: Instant,
    idle: Duration,
) -> Vec<String> {
    let mut chosen: Vec<String> = entries
        .into_iter()
        .filter(|(_, activity, launched)| *launched && activity.is_idle(now, idle))
        .map(|(guid, _, _)| guid.to_owned())
        .collect();
    chosen.sort();
    chosen
}

/// How often idle instances are looked for: a quarter of the idle time, at most 5 s.
pub fn sweep_period(idle: Duration) -> Duration {
    (idle / 4)
        .min(Duration::from_secs(5))
        .max(Duration::from_millis(10))
}

/// One instance.
struct Entry {
    generation: u64,
    launch_id: String,
    bundle: String,
    progress: watch::Sender<Progress>,
    // A task follows the launch (until it is ready, or ends).
    following: bool,
    stop: CancellationToken,
    activity: Activity,
    last_used: DateTime<Utc>,
    ready_time: Option<DateTime<Utc>>,
    // Requests it was asked (waiting for its start included).
    requests: u64,
    // When a request made it, for its cold start; None for an adopted launch.
    cold_since: Option<Instant>,
    cold_start: Option<Duration>,
}

impl Entry {
    fn view(&self, guid: &str, idle: Option<Duration>) -> InstanceView {
        let (state, reason, message, address) = match &*self.progress.borrow() {
            Progress::Ready { address, .. } => {
                ("ready", String::new(), String::new(), address.clone())
            }
            Progress::Starting {
                reason, message, ..
            } => ("starting", reason.clone(), message.clone(), String::new()),
            Progress::Failed(f) => (
                "starting",
                "Failed".to_owned(),
                f.message.clone(),
                String::new(),
            ),
        };
        let unused = self.activity.in_flight == 0 && self.activity.websockets == 0;
        InstanceView {
            content_guid: guid.to_owned(),
            launch_id: self.launch_id.clone(),
            bundle: self.bundle.clone(),
            state,
            reason,
            message,
            address,
            ready_time: self.ready_time,
            cold_start_ms: self
                .cold_start
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            requests: self.requests,
            requests_in_flight: self.activity.in_flight,
            websockets: self.activity.websockets,
            last_request_time: self.last_used,
            idle_stop_time: idle
                .filter(|_| unused)
                .and_then(|idle| chrono::Duration::from_std(idle).ok())
                .map(|idle| self.last_used + idle),
        }
    }

    fn touch(&mut self) {
        self.activity.last = Instant::now();
        self.last_used = Utc::now();
    }
}

/// An entry just made: the task to run for it follows it with these.
#[derive(Debug, Clone)]
pub struct Made {
    /// The entry's generation.
    pub generation: u64,
    /// Cancelled when the entry goes.
    pub stop: CancellationToken,
}

/// A request's hold on an instance: counted in flight until dropped.
pub struct Lease {
    table: InstanceTable,
    guid: String,
    generation: u64,
}

impl Lease {
    /// The instance's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The same hold as an open WebSocket (counted apart, until dropped).
    pub fn into_websocket(self) -> WebSocketLease {
        self.table.update(&self.guid, self.generation, |e| {
            e.activity.websockets += 1;
        });
        self.table.metrics.websockets(1);
        WebSocketLease {
            table: self.table.clone(),
            guid: self.guid.clone(),
            generation: self.generation,
        }
        // `self` drops here: one fewer in flight, after the WebSocket counts.
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.table.update(&self.guid, self.generation, |e| {
            e.activity.in_flight = e.activity.in_flight.saturating_sub(1);
            e.touch();
        });
    }
}

/// An open WebSocket's hold on an instance.
pub struct WebSocketLease {
    table: InstanceTable,
    guid: String,
    generation: u64,
}

impl Drop for WebSocketLease {
    fn drop(&mut self) {
        self.table.metrics.websockets(-1);
        self.table.update(&self.guid, self.generation, |e| {
            e.activity.websockets = e.activity.websockets.saturating_sub(1);
            e.touch();
        });
    }
}

/// A request joining an instance: its lease, the progress to wait on, and whether the entry
/// was made for it (then the caller starts the instance).
pub struct Joined {
    pub lease: Lease,
    pub progress: watch::Receiver<Progress>,
    pub made: Option<Made>,
}

/// An entry taken out of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub guid: String,
    pub launch_id: String,
    /// How long it had not been used.
    pub idle: Duration,
}

/// An instance as `GET /__api__/execenv/v1/content/{guid}` and `GET /__api__/execenv/v1/instances`
/// show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceView {
    /// The content it serves.
    pub content_guid: String,
    /// Its launch (empty while the launcher is asked).
    pub launch_id: String,
    /// The bundle it serves.
    pub bundle: String,
    /// `starting` or `ready`.
    pub state: &'static str,
    /// Why it is not ready yet (the launch's reason); empty when ready.
    pub reason: String,
    /// Detail for the reason.
    pub message: String,
    /// Where it answers (`host:port`) once ready.
    pub address: String,
    /// When this gateway first saw it ready.
    pub ready_time: Option<DateTime<Utc>>,
    /// From the request that started it until it was ready; null when this gateway adopted it
    /// or it is not ready yet.
    pub cold_start_ms: Option<u64>,
    /// Requests it was asked (those that waited for its start included).
    pub requests: u64,
    /// Requests being answered or waiting for it.
    pub requests_in_flight: u32,
    /// WebSockets open to it.
    pub websockets: u32,
    /// When a request last began or ended, or a WebSocket closed.
    pub last_request_time: DateTime<Utc>,
    /// When it is stopped unless used before; null while in use or when idle instances are
    /// never stopped.
    pub idle_stop_time: Option<DateTime<Utc>>,
}

/// The table, shared by the requests and the tasks of this gateway.
#[derive(Clone)]
pub struct InstanceTable {
    entries: Arc<Mutex<Table>>,
    metrics: ContentMetrics,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    generations: u64,
}

impl InstanceTable {
    /// An empty table counting its instances in `metrics`.
    pub fn new(metrics: ContentMetrics) -> Self {
        InstanceTable {
            entries: Arc::default(),
            metrics,
        }
    }

    /// The series it counts in.
    pub fn metrics(&self) -> &ContentMetrics {
        &self.metrics
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves counts that are still counts.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the instance of `guid`, or makes a starting one (then `made` says so).
    pub fn join(&self, guid: &str) -> Joined {
        let mut table = self.lock();
        let mut made = None;
        if !table.entries.contains_key(guid) {
            let progress = Progress::Starting {
                launch_id: String::new(),
                reason: "Starting".to_owned(),
                message: "the gateway is starting an instance of the content's newest bundle"
                    .to_owned(),
            };
            made = Some(table.insert(guid, String::new(), String::new(), progress, true));
            if let Some(entry) = table.entries.get_mut(guid) {
                entry.cold_since = Some(Instant::now());
            }
        }
        let count = table.entries.len();
        let Some(entry) = table.entries.get_mut(guid) else {
            unreachable!("the entry was just made")
        };
        entry.activity.in_flight += 1;
        entry.requests += 1;
        entry.touch();
        let joined = Joined {
            lease: Lease {
                table: self.clone(),
                guid: guid.to_owned(),
                generation: entry.generation,
            },
            progress: entry.progress.subscribe(),
            made,
        };
        drop(table);
        self.metrics.instances(count);
        joined
    }

    /// Adds the instance of an existing launch unless `guid` has one; `made` when added (a
    /// task must then follow it unless it is ready).
    pub fn adopt(
        &self,
        guid: &str,
        launch_id: &str,
        bundle: &str,
        progress: Progress,
    ) -> Option<Made> {
        let mut table = self.lock();
        if table.entries.contains_key(guid) {
            return None;
        }
        let following = !matches!(progress, Progress::Ready { .. });
        let made = table.insert(
            guid,
            launch_id.to_owned(),
            bundle.to_owned(),
            progress,
            following,
        );
        let count = table.entries.len();
        drop(table);
        self.metrics.instances(count);
        Some(made)
    }

    /// Runs `change` on the entry of `guid` if it is still generation `generation`; whether it
    /// was.
    fn update(&self, guid: &str, generation: u64, change: impl FnOnce(&mut Entry)) -> bool {
        let mut table = self.lock();
        match table.entries.get_mut(guid) {
            Some(e) if e.generation == generation => {
                change(e);
                true
            }
            _ => false,
        }
    }

    /// Records the launch an instance is (launch id and bundle); whether it is still current.
    pub fn launched(&self, guid: &str, generation: u64, launch_id: &str, bundle: &str) -> bool {
        self.update(guid, generation, |e| {
            e.launch_id = launch_id.to_owned();
            e.bundle = bundle.to_owned();
        })
    }

    /// Publishes `progress` (not a failure: see [`InstanceTable::remove`]); whether the entry is
    /// still current. Ready ends the following.
    pub fn publish(&self, guid: &str, generation: u64, progress: Progress) -> bool {
        self.update(guid, generation, |e| {
            if let Progress::Ready { .. } = progress {
                e.following = false;
                e.ready_time.get_or_insert_with(Utc::now);
                if let Some(since) = e.cold_since.take() {
                    e.cold_start = Some(since.elapsed());
                }
            }
            e.progress.send_replace(progress);
        })
    }

    /// Marks the entry as followed by a task unless one follows it already; whether the caller
    /// should start one.
    pub fn follow(&self, guid: &str, generation: u64) -> Option<CancellationToken> {
        let mut stop = None;
        self.update(guid, generation, |e| {
            if !e.following {
                e.following = true;
                stop = Some(e.stop.clone());
            }
        });
        stop
    }

    /// Takes out the entry of `guid` (of `generation`, when given): its followers stop and
    /// waiting requests get `failure` (or see the instance gone).
    pub fn remove(
        &self,
        guid: &str,
        generation: Option<u64>,
        failure: Option<ContentError>,
    ) -> Option<Removed> {
        let mut table = self.lock();
        let current = table
            .entries
            .get(guid)
            .is_some_and(|e| generation.is_none_or(|g| g == e.generation));
        if !current {
            return None;
        }
        let entry = table.entries.remove(guid)?;
        let count = table.entries.len();
        drop(table);
        self.metrics.instances(count);
        Some(take_out(guid, entry, Instant::now(), failure))
    }

    /// Takes out every instance idle for `idle` at `now`.
    pub fn take_idle(&self, now: Instant, idle: Duration) -> Vec<Removed> {
        let mut table = self.lock();
        let chosen = idle_choice(
            table
                .entries
                .iter()
                .map(|(g, e)| (g.as_str(), &e.activity, !e.launch_id.is_empty())),
            now,
            idle,
        );
        let removed: Vec<Removed> = chosen
            .into_iter()
            .filter_map(|guid| {
                let entry = table.entries.remove(&guid)?;
                Some(take_out(&guid, entry, now, None))
            })
            .collect();
        let count = table.entries.len();
        drop(table);
        self.metrics.instances(count);
        removed
    }

    /// The instance of `guid`, if any, when an unused one is stopped after `idle`.
    pub fn view(&self, guid: &str, idle: Option<Duration>) -> Option<InstanceView> {
        let table = self.lock();
        table.entries.get(guid).map(|e| e.view(guid, idle))
    }

    /// Every instance, by content guid, when an unused one is stopped after `idle`.
    pub fn list(&self, idle: Option<Duration>) -> Vec<InstanceView> {
        let table = self.lock();
        let mut all: Vec<InstanceView> = table
            .entries
            .iter()
            .map(|(guid, e)| e.view(guid, idle))
            .collect();
        all.sort_by(|a, b| a.content_guid.cmp(&b.content_guid));
        all
    }

    /// The activity of `guid`'s instance, if any.
    pub fn activity(&self, guid: &str) -> Option<Activity> {
        self.lock().entries.get(guid).map(|e| e.activity)
    }

    /// How many instances are held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Table {
    fn insert(
        &mut self,
        guid: &str,
        launch_id: String,
        bundle: String,
        progress: Progress,
        following: bool,
    ) -> Made {
        self.generations += 1;
        let ready = matches!(progress, Progress::Ready { .. });
        let (sender, _) = watch::channel(progress);
        let stop = CancellationToken::new();
        let entry = Entry {
            generation: self.generations,
            launch_id,
            bundle,
            progress: sender,
            following,
            stop: stop.clone(),
            activity: Activity {
                in_flight: 0,
                websockets: 0,
                last: Instant::now(),
            },
            last_used: Utc::now(),
            ready_time: ready.then(Utc::now),
            requests: 0,
            cold_since: None,
            cold_start: None,
        };
        self.entries.insert(guid.to_owned(), entry);
        Made {
            generation: self.generations,
            stop,
        }
    }
}

/// What is left of a removed entry; its followers stopped and its waiters told.
fn take_out(guid: &str, entry: Entry, now: Instant, failure: Option<ContentError>) -> Removed {
    entry.stop.cancel();
    if let Some(failure) = failure {
        entry.progress.send_replace(Progress::Failed(failure));
    }
    Removed {
        guid: guid.to_owned(),
        launch_id: entry.launch_id,
        idle: now.saturating_duration_since(entry.activity.last),
    }
}

#[cfg(test)]
#[path = "instance_table_tests.rs"]
mod tests;
