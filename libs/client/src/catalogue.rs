//! Following the registry's catalogue, for a service that keeps a copy of it (the selector, the
//! image examiner): `WatchEnvironments` from revision 0 lists every environment and ends the
//! listing with SYNCED, then carries each change as it is made.
//!
//! A [`CatalogueWatch`] runs that in a task of its own and hands the caller plain
//! [`CatalogueEvent`]s: a whole listing at once, then one event per change. When the stream
//! breaks it says so ([`CatalogueEvent::Lost`]), reconnects after a [`Backoff`] delay and resumes
//! after the last revision it passed on; when that revision is no longer in the registry's change
//! log (OUT_OF_RANGE) it says so ([`CatalogueEvent::Relisting`]) and lists the catalogue again at
//! once, which the caller receives as another [`CatalogueEvent::Listed`] that replaces everything
//! it knew. Dropping the watch stops the task. A service reads the events through
//! [`CatalogueEvents`], which its tests implement with a channel they feed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use execenv_core::Environment;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::connection::RegistryClient;

/// What the registry's catalogue did, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogueEvent {
    /// Every environment at `revision`: the first listing, or a new one after the revision to
    /// resume from was compacted. It replaces whatever the caller knew; the copy is in sync.
    Listed {
        /// The catalogue's revision.
        revision: i64,
        /// Every environment, shared: a copy kept of it (the selector's catalogue) holds each
        /// environment once, however many indexes point at it.
        environments: Vec<Arc<Environment>>,
    },
    /// An environment was created or changed.
    Changed {
        /// The revision of the change.
        revision: i64,
        /// The environment as it is now.
        environment: Arc<Environment>,
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
        /// The revision the attempt that ended watched from: 0 for a listing.
        from_revision: i64,
    },
    /// The revision to resume from is no longer in the registry's change log: the watch lists
    /// the catalogue again at once (a [`CatalogueEvent::Listed`] follows when it is through).
    Relisting {
        /// The revision that could not be resumed from.
        from_revision: i64,
        /// The registry's words, for a log line.
        reason: String,
    },
}

/// Where a service reads catalogue events from: a [`CatalogueWatch`], or in its tests the
/// receiving end of a channel they feed.
pub trait CatalogueEvents: Send {
    /// The next event; `None` when none will come.
    fn next_event(&mut self) -> impl Future<Output = Option<CatalogueEvent>> + Send;
}

impl CatalogueEvents for CatalogueWatch {
    fn next_event(&mut self) -> impl Future<Output = Option<CatalogueEvent>> + Send {
        self.next()
    }
}

impl CatalogueEvents for mpsc::Receiver<CatalogueEvent> {
    fn next_event(&mut self) -> impl Future<Output = Option<CatalogueEvent>> + Send {
        self.recv()
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

impl Position {
    /// The revision the next session watches from: 0 lists the catalogue.
    fn resume_from(&self) -> i64 {
        if self.listed { self.revision } else { 0 }
    }
}

/// A listing being gathered: each environment with the place it was first listed at. Each is
/// put in its `Arc` once, as it arrives, so passing the listing on moves pointers only.
#[derive(Default)]
struct Listing {
    by_guid: HashMap<Uuid, (usize, Arc<Environment>)>,
    next: usize,
}

impl Listing {
    /// Takes the item's environment; one that cannot be read is left out rather than kept as
    /// it was listed before.
    fn upsert(&mut self, item: reg::WatchEnvironmentsResponse) {
        let guid = Uuid::parse_str(&item.environment_guid).ok();
        match environment_of(item) {
            Some(environment) => {
                let place = match self.by_guid.remove(&environment.guid) {
                    Some((place, _)) => place,
                    None => {
                        self.next += 1;
                        self.next
                    }
                };
                self.by_guid
                    .insert(environment.guid, (place, Arc::new(environment)));
            }
            None => {
                if let Some(guid) = guid {
                    self.by_guid.remove(&guid);
                }
            }
        }
    }

    /// The environments in the order the registry listed them.
    fn into_environments(self) -> Vec<Arc<Environment>> {
        let mut placed: Vec<(usize, Arc<Environment>)> = self.by_guid.into_values().collect();
        placed.sort_unstable_by_key(|(place, _)| *place);
        placed.into_iter().map(|(_, e)| e).collect()
    }
}

/// How one watch session ended.
enum End {
    /// The caller dropped the watch.
    Dropped,
    /// The revision to resume from is gone: list again at once.
    Compacted { reason: String },
    /// The stream ended or failed; `synced` says whether it had caught up first.
    Broken { reason: String, synced: bool },
}

async fn follow(registry: RegistryClient, tx: mpsc::Sender<CatalogueEvent>, mut backoff: Backoff) {
    let mut position = Position::default();
    loop {
        let from_revision = position.resume_from();
        let reason = match session(&registry, &tx, &mut position).await {
            End::Dropped => return,
            End::Compacted { reason } => {
                position.listed = false;
                let relisting = CatalogueEvent::Relisting {
                    from_revision,
                    reason,
                };
                if tx.send(relisting).await.is_err() {
                    return;
                }
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
        let lost = CatalogueEvent::Lost {
            reason,
            retry_in,
            from_revision,
        };
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
    let from_revision = position.resume_from();
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
    let mut listing = (from_revision == 0).then(Listing::default);
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
                all.upsert(item);
                continue;
            }
            (Ok(Kind::Delete), Some(all)) => {
                if let Some(guid) = deleted_guid(&item) {
                    all.by_guid.remove(&guid);
                }
                continue;
            }
            (Ok(Kind::Synced), Some(_)) => {
                synced = true;
                position.listed = true;
                position.revision = item.revision;
                let environments = listing.take().unwrap_or_default().into_environments();
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
                let guid = Uuid::parse_str(&item.environment_guid).ok();
                match (environment_of(item), guid) {
                    (Some(environment), _) => CatalogueEvent::Changed {
                        revision: position.revision,
                        environment: Arc::new(environment),
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
                match deleted_guid(&item) {
                    Some(guid) => CatalogueEvent::Removed {
                        revision: position.revision,
                        guid,
                    },
                    None => continue,
                }
            }
            (Ok(Kind::Snapshot), None) => {
                tracing::warn!(
                    guid = item.environment_guid,
                    revision = item.revision,
                    "the registry sent a SNAPSHOT item while resuming; ignored"
                );
                continue;
            }
            (Ok(Kind::Unspecified) | Err(_), _) => {
                tracing::warn!(
                    kind = item.kind,
                    revision = item.revision,
                    "unknown watch event kind; ignored"
                );
                continue;
            }
            // Already passed on: a change at or below the revision resumed from.
            (Ok(Kind::Upsert | Kind::Delete), None) => continue,
        };
        if tx.send(event).await.is_err() {
            return End::Dropped;
        }
    }
}

fn ended(status: &tonic::Status, from_revision: i64, synced: bool) -> End {
    if status.code() == tonic::Code::OutOfRange && from_revision > 0 {
        End::Compacted {
            reason: status.message().to_owned(),
        }
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

fn deleted_guid(item: &reg::WatchEnvironmentsResponse) -> Option<Uuid> {
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
