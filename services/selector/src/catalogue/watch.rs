//! The watch that keeps the [`SharedCatalogue`] current from the registry.
//!
//! A task lists the catalogue (`WatchEnvironments(0)`: SNAPSHOT items until SYNCED), builds a
//! [`Catalogue`] and publishes it; then it applies every UPSERT and DELETE to its mirror and
//! rebuilds — once per burst: after the stream has nothing more ready, or at least every
//! `max_batch` while events keep coming. When the stream breaks it reconnects with backoff,
//! resuming after the last revision it applied; a compacted revision (OUT_OF_RANGE) makes it list
//! the catalogue again from 0.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use execenv_core::Environment;
use execenv_kit::shutdown::Shutdown;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use uuid::Uuid;

use super::SharedCatalogue;
use crate::backoff::Backoff;
use crate::metrics::SelectorMetrics;
use crate::select::Catalogue;

/// How long a steady flow of changes may postpone a rebuild.
pub const MAX_BATCH: Duration = Duration::from_millis(50);

/// A stream of watch events.
pub type WatchStream = BoxStream<'static, Result<reg::WatchEnvironmentsResponse, tonic::Status>>;

/// Where watch events come from: the registry over gRPC, or a test double.
pub trait WatchSource: Send + Sync + 'static {
    /// Starts `WatchEnvironments(from_revision)`.
    fn watch(
        &self,
        from_revision: i64,
    ) -> impl Future<Output = Result<WatchStream, tonic::Status>> + Send;

    /// Names the source in logs (the registry URL).
    fn describe(&self) -> &str;
}

/// Tuning of the watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long a steady flow of changes may postpone a rebuild.
    pub max_batch: Duration,
    /// Delays between attempts after a failure.
    pub backoff: Backoff,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            max_batch: MAX_BATCH,
            backoff: Backoff::default(),
        }
    }
}

/// Keeps `shared` current from `source` until `shutdown`.
pub async fn run<S: WatchSource>(
    source: S,
    shared: SharedCatalogue,
    metrics: SelectorMetrics,
    options: WatchOptions,
    shutdown: Shutdown,
) {
    let mut mirror = Mirror::default();
    let mut backoff = options.backoff.clone();
    let mut attempts = 0u64;
    loop {
        let from = mirror.resume_from();
        if attempts > 0 {
            metrics.reconnected();
        }
        attempts += 1;
        let session = async {
            match source.watch(from).await {
                Ok(stream) => {
                    follow(
                        stream,
                        source.describe(),
                        from,
                        &mut mirror,
                        &shared,
                        &metrics,
                        options.max_batch,
                    )
                    .await
                }
                Err(status) => Outcome {
                    synced: false,
                    end: End::from_status(&status),
                },
            }
        };
        let outcome = tokio::select! {
            () = shutdown.wait() => return,
            o = session => o,
        };
        shared.mark_stale();
        if outcome.synced {
            backoff.reset();
        }
        let delay = match &outcome.end {
            // Nothing is wrong with the registry: list again at once.
            End::Compacted(_) if from > 0 => {
                mirror.relist = true;
                Duration::ZERO
            }
            _ => backoff.next_delay(),
        };
        if shared.current().is_some() {
            tracing::warn!(registry = source.describe(), reason = %outcome.end, from_revision = from,
                catalogue_revision = mirror.revision, retry_in = ?delay, relist = mirror.relist,
                "disconnected from the registry; answering from the last catalogue until reconnected");
        } else {
            tracing::warn!(registry = source.describe(), reason = %outcome.end, retry_in = ?delay,
                "cannot list the catalogue from the registry yet; not ready until it can");
        }
        if !delay.is_zero() {
            tokio::select! {
                () = shutdown.wait() => return,
                () = pace(delay) => {}
            }
        }
    }
}

/// How one watch session ended.
struct Outcome {
    /// Whether the session reached SYNCED.
    synced: bool,
    end: End,
}

/// Why a watch session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The registry closed the stream.
    Closed,
    /// The revision asked for is no longer (or not) in the registry's change log.
    Compacted(String),
    /// The call failed or the stream broke.
    Failed(String),
}

impl End {
    fn from_status(status: &tonic::Status) -> End {
        if status.code() == tonic::Code::OutOfRange {
            End::Compacted(status.message().to_owned())
        } else {
            End::Failed(format!("{:?}: {}", status.code(), status.message()))
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("the registry ended the watch"),
            End::Compacted(m) => write!(f, "the revision is out of range, re-listing: {m}"),
            End::Failed(m) => f.write_str(m),
        }
    }
}

/// The catalogue as the watch knows it, between rebuilds.
#[derive(Default)]
struct Mirror {
    environments: HashMap<Uuid, Environment>,
    /// The newest revision applied.
    revision: i64,
    /// Whether a full catalogue was ever listed.
    listed: bool,
    /// The next session must list the catalogue again (the revision was compacted).
    relist: bool,
}

impl Mirror {
    /// The revision the next session watches from: 0 lists the catalogue.
    fn resume_from(&self) -> i64 {
        if self.listed && !self.relist {
            self.revision
        } else {
            0
        }
    }
}

/// Follows one watch stream; `from` = 0 means it starts with the whole catalogue.
async fn follow(
    mut stream: WatchStream,
    describe: &str,
    from: i64,
    mirror: &mut Mirror,
    shared: &SharedCatalogue,
    metrics: &SelectorMetrics,
    max_batch: Duration,
) -> Outcome {
    // While listing, the snapshot is collected aside: a listing cut short changes nothing.
    let mut listing: Option<HashMap<Uuid, Environment>> = (from == 0).then(HashMap::new);
    let mut synced = false;
    // Whether catching up (before SYNCED) changed anything.
    let mut caught_up = false;
    let mut dirty_since: Option<Instant> = None;
    let end = loop {
        let next = if dirty_since.is_some() {
            match stream.next().now_or_never() {
                Some(next) => next,
                // The burst is over.
                None => {
                    rebuild(mirror, shared, metrics, "changes");
                    dirty_since = None;
                    continue;
                }
            }
        } else {
            stream.next().await
        };
        let item = match next {
            None => break End::Closed,
            Some(Err(status)) => break End::from_status(&status),
            Some(Ok(item)) => item,
        };
        match Kind::try_from(item.kind) {
            Ok(Kind::Snapshot) => match listing.as_mut() {
                Some(l) => upsert(l, item),
                None => tracing::warn!(
                    guid = item.environment_guid,
                    "the registry sent a SNAPSHOT item while resuming; ignored"
                ),
            },
            Ok(Kind::Synced) => {
                let (reason, changed) = match listing.take() {
                    Some(l) => {
                        mirror.environments = l;
                        mirror.listed = true;
                        mirror.relist = false;
                        mirror.revision = item.revision;
                        ("listed", true)
                    }
                    None => {
                        mirror.revision = mirror.revision.max(item.revision);
                        ("caught up", caught_up)
                    }
                };
                if changed {
                    rebuild(mirror, shared, metrics, reason);
                }
                let disconnected_for = shared.age();
                shared.mark_current();
                synced = true;
                tracing::info!(registry = describe, revision = mirror.revision, how = reason,
                    disconnected_for = ?disconnected_for, "connected to the registry and in sync");
            }
            Ok(kind @ (Kind::Upsert | Kind::Delete)) => {
                if let Some(l) = listing.as_mut() {
                    apply(l, kind, item);
                    continue;
                }
                if item.revision <= mirror.revision {
                    continue;
                }
                mirror.revision = item.revision;
                apply(&mut mirror.environments, kind, item);
                caught_up = true;
                if synced {
                    let since = *dirty_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= max_batch {
                        rebuild(mirror, shared, metrics, "changes");
                        dirty_since = None;
                    }
                }
            }
            Ok(Kind::Unspecified) | Err(_) => {
                tracing::warn!(kind = item.kind, "unknown watch event kind; ignored");
            }
        }
    };
    if dirty_since.is_some() {
        rebuild(mirror, shared, metrics, "changes");
    }
    Outcome { synced, end }
}

fn apply(
    environments: &mut HashMap<Uuid, Environment>,
    kind: Kind,
    item: reg::WatchEnvironmentsResponse,
) {
    if kind == Kind::Delete {
        match Uuid::parse_str(&item.environment_guid) {
            Ok(guid) => {
                environments.remove(&guid);
            }
            Err(_) => tracing::warn!(
                guid = item.environment_guid,
                revision = item.revision,
                "the registry deleted an environment with an invalid guid; ignored"
            ),
        }
    } else {
        upsert(environments, item);
    }
}

/// Inserts the item's environment; one the selector cannot read is dropped (and logged) rather
/// than answered from a stale version.
fn upsert(environments: &mut HashMap<Uuid, Environment>, item: reg::WatchEnvironmentsResponse) {
    let guid = Uuid::parse_str(&item.environment_guid).ok();
    let parsed = item
        .environment
        .ok_or_else(|| "the event carries no environment".to_owned())
        .and_then(|e| Environment::try_from(e).map_err(|e| e.message));
    match parsed {
        Ok(env) => {
            environments.insert(env.guid, env);
        }
        Err(problem) => {
            tracing::error!(guid = item.environment_guid, revision = item.revision, %problem,
                "cannot read an environment from the registry; it is left out of the catalogue");
            if let Some(guid) = guid {
                environments.remove(&guid);
            }
        }
    }
}

fn rebuild(mirror: &Mirror, shared: &SharedCatalogue, metrics: &SelectorMetrics, reason: &str) {
    let started = Instant::now();
    let managed = mirror
        .environments
        .values()
        .filter(|e| e.managed_by.is_some())
        .count();
    let catalogue = Catalogue::new(
        mirror.revision,
        mirror.environments.values().cloned().collect(),
    );
    let (size, revision) = (catalogue.len(), catalogue.revision());
    metrics.catalogue_built(size, managed, revision);
    shared.publish(catalogue);
    tracing::info!(environments = size, revision, reason, took = ?started.elapsed(), "catalogue built");
}

/// Waits `d` (pacing a retry loop, not synchronising).
async fn pace(d: Duration) {
    tokio::time::sleep(d).await;
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
