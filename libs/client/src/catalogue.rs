//! Following the registry's catalogue, for a service that keeps a copy of it (the image examiner;
//! the selector keeps its own, older loop): `WatchEnvironments` from revision 0 lists every
//! environment and ends the listing with SYNCED, then carries each change as it is made.
//!
//! A [`CatalogueWatch`] runs that in a task of its own and hands the caller plain
//! [`CatalogueEvent`]s: a whole listing at once, then one event per change. When the stream
//! breaks it reconnects after a [`Backoff`] delay and resumes after the last revision it passed
//! on; when that revision is no longer in the registry's change log (OUT_OF_RANGE) it lists the
//! catalogue again, which the caller receives as another [`CatalogueEvent::Listed`] that replaces
//! everything it knew. Dropping the watch stops the task.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use execenv_core::Environment;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::connection::RegistryClient;

/// What the registry's catalogue did, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogueEvent {
    /// Every environment at `revision`: the first listing, or a new one after the revision to
    /// resume from was compacted. It replaces whatever the caller knew; the copy is in sync.
    Listed {
        /// The catalogue's revision.
        revision: i64,
        /// Every environment.
        environments: Vec<Environment>,
    },
    /// An environment was created or changed.
    Changed {
        /// The revision of the change.
        revision: i64,
        /// The environment as it is now.
        environment: Box<Environment>,
    },
    /// An environment was deleted.
    Removed {
        /// The revision of the change.
        revision: i64,
        /// The environment's guid.
        guid: Uuid,
    },
    /// Reconnected and caught up after a broken stream: the copy is in sync again.
    Resumed {
        /// The registry's revision.
        revision: i64,
    },
    /// The stream broke (or could not be opened); the watch tries again after `retry_in`.
    Lost {
        /// What happened, for a log line.
        reason: String,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
}

/// Delays between attempts to reach the registry: doubling from `first` up to `most`, each
/// shortened by up to a quarter so that replicas that lost the registry together spread out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    most: Duration,
    nominal: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `first` up to `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        Backoff {
            first,
            most: most.max(first),
            nominal: first,
        }
    }

    /// The next delay, shortened by `spread` (0.0 to 1.0) times a quarter of it.
    pub fn next_delay_spread(&mut self, spread: f64) -> Duration {
        let nominal = self.nominal;
        self.nominal = (nominal * 2).min(self.most);
        nominal - (nominal / 4).mul_f64(spread.clamp(0.0, 1.0))
    }

    /// The next delay, spread by the clock.
    pub fn next_delay(&mut self) -> Duration {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.next_delay_spread(f64::from(nanos % 1000) / 1000.0)
    }

    /// Starts over from the first delay (the last attempt reached the registry).
    pub fn reset(&mut self) {
        self.nominal = self.first;
    }
}

/// A running watch on the registry's catalogue; stops when dropped.
pub struct CatalogueWatch {
    events: mpsc::Receiver<CatalogueEvent>,
    task: JoinHandle<()>,
}

impl CatalogueWatch {
    /// Starts following the catalogue with `registry` (a client on a streaming connection:
    /// `Options::streaming`), with the default [`Backoff`].
    pub fn start(registry: RegistryClient) -> Self {
        CatalogueWatch::with_backoff(registry, Backoff::default())
    }

    /// Starts following the catalogue, waiting between attempts as `backoff` says.
    pub fn with_backoff(registry: RegistryClient, backoff: Backoff) -> Self {
        let (tx, events) = mpsc::channel(64);
        let task = tokio::spawn(follow(registry, tx, backoff));
        CatalogueWatch { events, task }
    }

    /// The next event; `None` only if the task stopped (it does not, while the watch lives).
    pub async fn next(&mut self) -> Option<CatalogueEvent> {
        self.events.recv().await
    }
}

impl Drop for CatalogueWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a watch resumes from.
#[derive(Debug, Default)]
struct Position {
    /// The newest revision passed on.
    revision: i64,
    /// Whether a listing was passed on and `revision` may be resumed from.
    listed: bool,
}

/// How one watch session ended.
enum End {
    /// The caller dropped the watch.
    Dropped,
    /// The revision to resume from is gone: list again at once.
    Compacted,
    /// The stream ended or failed; `synced` says whether it had caught up first.
    Broken { reason: String, synced: bool },
}

async fn follow(registry: RegistryClient, tx: mpsc::Sender<CatalogueEvent>, mut backoff: Backoff) {
    let mut position = Position::default();
    loop {
        let reason = match session(&registry, &tx, &mut position).await {
            End::Dropped => return,
            End::Compacted => {
                position.listed = false;
                continue;
            }
            End::Broken { reason, synced } => {
                if synced {
                    backoff.reset();
                }
                reason
            }
        };
        let retry_in = backoff.next_delay();
        let lost = CatalogueEvent::Lost { reason, retry_in };
        if tx.send(lost).await.is_err() {
            return;
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(retry_in) => {}
        }
    }
}

/// One `WatchEnvironments` call, passed on until it ends.
async fn session(
    registry: &RegistryClient,
    tx: &mpsc::Sender<CatalogueEvent>,
    position: &mut Position,
) -> End {
    let from_revision = if position.listed {
        position.revision
    } else {
        0
    };
    let request = reg::WatchEnvironmentsRequest { from_revision };
    let mut raw = registry.raw();
    let mut stream = tokio::select! {
        () = tx.closed() => return End::Dropped,
        call = raw.watch_environments(request) => match call {
            Ok(response) => response.into_inner(),
            Err(status) => return ended(&status, from_revision, false),
        },
    };
    // A listing is gathered whole before it is passed on: one cut short changes nothing.
    let mut listing = (from_revision == 0).then(Vec::new);
    let mut synced = false;
    loop {
        let message = tokio::select! {
            () = tx.closed() => return End::Dropped,
            m = stream.message() => m,
        };
        let item = match message {
            Ok(Some(item)) => item,
            Ok(None) => {
                return End::Broken {
                    reason: "the registry ended the watch".to_owned(),
                    synced,
                };
            }
            Err(status) => return ended(&status, from_revision, synced),
        };
        let event = match (Kind::try_from(item.kind), listing.as_mut()) {
            (Ok(Kind::Snapshot | Kind::Upsert), Some(all)) => {
                if let Some(e) = environment_of(item) {
                    all.retain(|known: &Environment| known.guid != e.guid);
                    all.push(e);
                }
                continue;
            }
            (Ok(Kind::Delete), Some(all)) => {
                if let Some(guid) = guid_of(&item) {
                    all.retain(|known| known.guid != guid);
                }
                continue;
            }
            (Ok(Kind::Synced), Some(_)) => {
                synced = true;
                position.listed = true;
                position.revision = item.revision;
                let environments = listing.take().unwrap_or_default();
                CatalogueEvent::Listed {
                    revision: item.revision,
                    environments,
                }
            }
            (Ok(Kind::Synced), None) => {
                synced = true;
                position.revision = position.revision.max(item.revision);
                CatalogueEvent::Resumed {
                    revision: position.revision,
                }
            }
            (Ok(Kind::Upsert), None) if item.revision > position.revision => {
                position.revision = item.revision;
                let guid = guid_of(&item);
                match (environment_of(item), guid) {
                    (Some(environment), _) => CatalogueEvent::Changed {
                        revision: position.revision,
                        environment: Box::new(environment),
                    },
                    // Better forgotten than kept as it was before a change that cannot be read.
                    (None, Some(guid)) => CatalogueEvent::Removed {
                        revision: position.revision,
                        guid,
                    },
                    (None, None) => continue,
                }
            }
            (Ok(Kind::Delete), None) if item.revision > position.revision => {
                position.revision = item.revision;
                match guid_of(&item) {
                    Some(guid) => CatalogueEvent::Removed {
                        revision: position.revision,
                        guid,
                    },
                    None => continue,
                }
            }
            // Already passed on (a change at or below the revision resumed from), a SNAPSHOT
            // item while resuming, or a kind this client does not know.
            _ => continue,
        };
        if tx.send(event).await.is_err() {
            return End::Dropped;
        }
    }
}

fn ended(status: &tonic::Status, from_revision: i64, synced: bool) -> End {
    if status.code() == tonic::Code::OutOfRange && from_revision > 0 {
        tracing::info!(
            from_revision,
            message = status.message(),
            "the registry no longer has the revision to resume from; listing the catalogue again"
        );
        End::Compacted
    } else {
        End::Broken {
            reason: format!("{:?}: {}", status.code(), status.message()),
            synced,
        }
    }
}

/// The item's environment; one that cannot be read is logged and skipped.
fn environment_of(item: reg::WatchEnvironmentsResponse) -> Option<Environment> {
    let guid = item.environment_guid.clone();
    let parsed = item
        .environment
        .ok_or_else(|| "the event carries no environment".to_owned())
        .and_then(|e| Environment::try_from(e).map_err(|e| e.message));
    parsed
        .map_err(|problem| {
            tracing::error!(guid, revision = item.revision, %problem,
                "cannot read an environment from the registry's watch; it is left out");
        })
        .ok()
}

fn guid_of(item: &reg::WatchEnvironmentsResponse) -> Option<Uuid> {
    Uuid::parse_str(&item.environment_guid)
        .map_err(|_| {
            tracing::error!(
                guid = item.environment_guid,
                revision = item.revision,
                "the registry deleted an environment with an invalid guid; ignored"
            );
        })
        .ok()
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod tests;
