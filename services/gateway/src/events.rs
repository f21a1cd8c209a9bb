//! The console's live updates: ONE registry `WatchEnvironments` stream shared by every
//! subscriber of `/__api__/execenv/v1/events`, and config-sync's status polled every 2 s while
//! anyone subscribes, fanned out through a tokio broadcast channel. Both tasks start with the
//! first subscriber. A dropped watch resumes after the last revision seen (re-listing from 0,
//! with a `resync`, when the registry no longer has that revision); a subscriber that falls
//! behind the channel gets a `resync` rather than silently missing changes. Events carry no
//! environment: the console re-reads through the API, which applies permissions.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use execenv_kit::shutdown::Shutdown;
use execenv_proto::registry::v1 as reg;
use reg::watch_environments_response::Kind;
use tokio::sync::{Notify, broadcast, watch};

use crate::config_sync::{ConfigSync, SyncStatus};
use crate::registry::Registry;

/// How often config-sync is asked while someone subscribes.
pub const SYNC_POLL: Duration = Duration::from_secs(2);

/// How long a new subscriber waits for the watch to hold the catalogue before `ready` is sent
/// with the last revision known (0 when none).
const READY_WITHIN: Duration = Duration::from_secs(5);

/// Events a slow subscriber may fall behind by before it gets a `resync`.
const CHANNEL: usize = 256;

/// Longest wait before a dropped watch is opened again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What subscribers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The catalogue changed at `revision`: `upsert`, `delete`, or `resync` (re-read everything).
    Catalogue { kind: &'static str, revision: i64 },
    /// config-sync's status changed.
    Sync(SyncStatus),
}

/// The shared streams; cheap to clone.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Event>,
    // The revision of the catalogue as the watch last saw it; None until it first synced.
    revision: watch::Sender<Option<i64>>,
    last_sync: Mutex<Option<SyncStatus>>,
    subscribed: Notify,
    started: Once,
    registry: Registry,
    config_sync: ConfigSync,
    shutdown: Shutdown,
}

/// One subscriber: the revision its `ready` reports and what follows.
pub struct Subscription {
    /// The catalogue's revision when it subscribed.
    pub revision: i64,
    /// config-sync's last known status, if any.
    pub sync: Option<SyncStatus>,
    rx: broadcast::Receiver<Event>,
    events: Events,
}

impl Events {
    /// Streams from `registry` and `config_sync`, started by the first subscriber, stopped by
    /// `shutdown`.
    pub fn new(registry: Registry, config_sync: ConfigSync, shutdown: Shutdown) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL);
        Events {
            inner: Arc::new(Inner {
                tx,
                revision: watch::Sender::new(None),
                last_sync: Mutex::new(None),
                subscribed: Notify::new(),
                started: Once::new(),
                registry,
                config_sync,
                shutdown,
            }),
        }
    }

    /// A new subscriber; starts the shared streams on first use and waits (bounded) until the
    /// watch holds the catalogue.
    pub async fn subscribe(&self) -> Subscription {
        // Subscribe first, so nothing after the revision read below is missed.
        let rx = self.inner.tx.subscribe();
        self.inner.subscribed.notify_one();
        self.start();
        let mut revision = self.inner.revision.subscribe();
        let synced = tokio::time::timeout(READY_WITHIN, revision.wait_for(Option::is_some)).await;
        let revision = match synced {
            Ok(Ok(r)) => r.unwrap_or(0),
            _ => self.revision(),
        };
        Subscription {
            revision,
            sync: self.last_sync(),
            rx,
            events: self.clone(),
        }
    }

    /// The catalogue's revision as last seen (0 before the first sync).
    pub fn revision(&self) -> i64 {
        self.inner.revision.borrow().unwrap_or(0)
    }

    fn last_sync(&self) -> Option<SyncStatus> {
        self.inner.last_sync.lock().ok().and_then(|s| s.clone())
    }

    fn start(&self) {
        self.inner.started.call_once(|| {
            let stop = self.inner.shutdown.clone();
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                tokio::select! {
                    () = follow_catalogue(&inner) => {}
                    () = stop.wait() => {}
                }
            });
            if self.inner.config_sync.configured() {
                let stop = self.inner.shutdown.clone();
                let inner = Arc::clone(&self.inner);
                tokio::spawn(async move {
                    tokio::select! {
                        () = poll_sync(&inner) => {}
                        () = stop.wait() => {}
                    }
                });
            }
        });
    }
}

impl Subscription {
    /// The next event for this subscriber; `None` when the gateway stops.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => {
                    if let Some(event) = self.admit(event) {
                        return Some(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let revision = self.events.revision();
                    self.revision = self.revision.max(revision);
                    return Some(Event::Catalogue {
                        kind: "resync",
                        revision,
                    });
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// `event` unless its change is already part of what `ready` reported.
    fn admit(&mut self, event: Event) -> Option<Event> {
        match &event {
            Event::Catalogue { kind, revision } if *kind != "resync" => {
                if *revision <= self.revision {
                    return None;
                }
                self.revision = *revision;
            }
            Event::Catalogue { .. } | Event::Sync(_) => {}
        }
        Some(event)
    }
}

/// Where the shared watch stands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last revision seen; the watch resumes after it.
    pub revision: i64,
    /// Whether the current stream is re-listing a catalogue it had already followed (after
    /// its revision was compacted away): its end of snapshot is a `resync`.
    pub relisting: bool,
    /// Whether a stream ever synced.
    pub synced_once: bool,
}

impl Cursor {
    /// What one message of the watch means for subscribers.
    pub fn on_message(&mut self, m: &reg::WatchEnvironmentsResponse) -> Option<Event> {
        self.revision = self.revision.max(m.revision);
        match Kind::try_from(m.kind) {
            Ok(Kind::Synced) => {
                let resync = self.relisting && self.synced_once;
                self.synced_once = true;
                self.relisting = false;
                resync.then_some(Event::Catalogue {
                    kind: "resync",
                    revision: m.revision,
                })
            }
            Ok(Kind::Upsert) => Some(Event::Catalogue {
                kind: "upsert",
                revision: m.revision,
            }),
            Ok(Kind::Delete) => Some(Event::Catalogue {
                kind: "delete",
                revision: m.revision,
            }),
            Ok(Kind::Snapshot | Kind::Unspecified) | Err(_) => None,
        }
    }

    /// The registry no longer has our revision: list the catalogue again from the start.
    pub fn relist(&mut self) {
        self.revision = 0;
        self.relisting = true;
    }
}

async fn follow_catalogue(inner: &Inner) {
    let mut cursor = Cursor::default();
    let mut backoff = Duration::from_millis(250);
    loop {
        let opened = inner
            .registry
            .watcher()
            .watch_environments(reg::WatchEnvironmentsRequest {
                from_revision: cursor.revision,
            })
            .await;
        let ended = match opened {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(m)) => {
                            backoff = Duration::from_millis(250);
                            if let Some(event) = cursor.on_message(&m) {
                                let _ = inner.tx.send(event);
                            }
                            if cursor.synced_once {
                                inner.revision.send_replace(Some(cursor.revision));
                            }
                        }
                        Ok(None) => break None,
                        Err(status) => break Some(status),
                    }
                }
            }
            Err(status) => Some(status),
        };
        if let Some(status) = ended {
            if status.code() == tonic::Code::OutOfRange {
                cursor.relist();
            }
            tracing::warn!(
                error = %inner.registry.failed(status).0.message,
                retry_in_ms = backoff.as_millis() as u64,
                "the catalogue watch for the console's events ended; opening it again"
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn poll_sync(inner: &Inner) {
    let mut tick = tokio::time::interval(SYNC_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if inner.tx.receiver_count() == 0 {
            inner.subscribed.notified().await;
            continue;
        }
        tick.tick().await;
        let status = match inner.config_sync.status().await {
            Ok(status) => status,
            Err(e) => {
                tracing::debug!(error = %e.message, "config-sync's status for the console's events");
                continue;
            }
        };
        let changed = match inner.last_sync.lock() {
            Ok(mut last) if last.as_ref() != Some(&status) => {
                *last = Some(status.clone());
                true
            }
            _ => false,
        };
        if changed {
            let _ = inner.tx.send(Event::Sync(status));
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
