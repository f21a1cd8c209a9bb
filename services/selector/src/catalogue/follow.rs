//! The follower that keeps the [`SharedCatalogue`] current from the registry's catalogue as the
//! client crate's `CatalogueWatch` passes it on (listing, changes, losses, re-listing after a
//! compaction: [`CatalogueEvent`]).
//!
//! A listing is built into a [`Catalogue`] and published at once. Changes are applied to a
//! mirror of the catalogue and built once per burst: when no further event is ready, or at
//! least every `max_batch` while events keep coming. The changes that catch up after a lost
//! connection are built once, when the watch says it is in sync again.
//!
//! A build costs time in proportion to the catalogue, so builds are also spaced by
//! [`Pacing::gap`] times the last build's duration: while a sync of 100,000 environments streams
//! in, the follower spends at most a fifth of its time building (before, it rebuilt whenever the
//! stream paused, and the selector held all 100,000 49 s after the file was written; now 9 s). The
//! mirror and every catalogue share the environments (`Arc`): a build copies pointers. The follower marks the
//! catalogue stale when the watch loses the registry and current when it is in sync again, and
//! counts each new attempt of the watch (`execenv_selector_watch_reconnects_total`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use execenv_client::{CatalogueEvent, CatalogueEvents};
use execenv_core::Environment;
use execenv_kit::shutdown::Shutdown;
use futures::FutureExt;
use uuid::Uuid;

use super::SharedCatalogue;
use crate::metrics::SelectorMetrics;
use crate::select::Catalogue;

/// How long a steady flow of changes may postpone a build.
pub const MAX_BATCH: Duration = Duration::from_millis(50);

/// When the follower builds the changes it applied.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// How long a steady flow of changes may postpone a build (unless [`Pacing::gap`] asks for
    /// longer).
    pub max_batch: Duration,
    /// After a build, the next waits at least this many times as long as the build took: the
    /// follower spends at most 1 / (gap + 1) of its time building.
    pub gap: u32,
}

impl Default for Pacing {
    /// [`MAX_BATCH`], and a gap of 4 builds: a change after a build waits at most four times
    /// that build's duration.
    fn default() -> Self {
        Pacing {
            max_batch: MAX_BATCH,
            gap: 4,
        }
    }
}

impl Pacing {
    /// When the next build may start, after one that ended at `ended` and took `took`.
    pub fn next_build(&self, ended: Instant, took: Duration) -> Instant {
        ended + took * self.gap
    }
}

/// Keeps `shared` current from `events` until `shutdown`; `registry` names the registry in logs
/// (its URL).
pub async fn run(
    mut events: impl CatalogueEvents,
    registry: String,
    shared: SharedCatalogue,
    metrics: SelectorMetrics,
    pacing: Pacing,
    shutdown: Shutdown,
) {
    let mut follower = Follower {
        registry,
        shared,
        metrics,
        pacing,
        next_build: Instant::now(),
        mirror: Mirror::default(),
    };
    loop {
        let next = if follower.mirror.dirty_since.is_some() {
            match ready(&mut events).await {
                Some(next) => next,
                // The burst is over: built now, or when the last build's gap has passed unless
                // more changes come first.
                None => {
                    let due = follower.next_build;
                    if Instant::now() < due {
                        tokio::select! {
                            () = tokio::time::sleep_until(due.into()) => {}
                            next = events.next_event() => {
                                follower.on_next(next);
                                continue;
                            }
                        }
                    }
                    follower.build("changes");
                    continue;
                }
            }
        } else {
            tokio::select! {
                () = shutdown.wait() => return,
                next = events.next_event() => next,
            }
        };
        if !follower.on_next(next) {
            return;
        }
    }
}

/// The next event if one is ready. Before calling a burst over it yields once: after many
/// receives in a row tokio's cooperative budget makes the channel look empty, and the watch's
/// task may hold more it has not passed on yet.
async fn ready(events: &mut impl CatalogueEvents) -> Option<Option<CatalogueEvent>> {
    if let Some(next) = events.next_event().now_or_never() {
        return Some(next);
    }
    tokio::task::yield_now().await;
    events.next_event().now_or_never()
}

/// The catalogue as the follower knows it, between builds.
#[derive(Default)]
struct Mirror {
    environments: HashMap<Uuid, Arc<Environment>>,
    /// The newest revision applied.
    revision: i64,
    /// Whether the watch's last listing stands: when false, its next attempt lists again.
    listed: bool,
    /// In sync with the registry: changes are built as they come, in bursts.
    in_sync: bool,
    /// Whether changes were applied since the last build.
    unbuilt: bool,
    /// When the oldest change not built yet was applied, while in sync.
    dirty_since: Option<Instant>,
}

struct Follower {
    registry: String,
    shared: SharedCatalogue,
    metrics: SelectorMetrics,
    pacing: Pacing,
    /// When the next build may start ([`Pacing::next_build`] of the last).
    next_build: Instant,
    mirror: Mirror,
}

impl Follower {
    /// Takes the watch's next event; false once the watch stopped.
    fn on_next(&mut self, next: Option<CatalogueEvent>) -> bool {
        match next {
            Some(event) => {
                self.on_event(event);
                true
            }
            None => {
                self.on_watch_stopped();
                false
            }
        }
    }

    fn on_event(&mut self, event: CatalogueEvent) {
        match event {
            CatalogueEvent::Listed {
                revision,
                environments,
            } => {
                // The old mirror goes first: the new one is not held beside it.
                self.mirror.environments = HashMap::new();
                self.mirror.environments = environments.into_iter().map(|e| (e.guid, e)).collect();
                self.mirror.revision = revision;
                self.mirror.listed = true;
                self.build("listed");
                self.in_sync("listed");
            }
            CatalogueEvent::Changed {
                revision,
                environment,
            } => {
                self.mirror
                    .environments
                    .insert(environment.guid, environment);
                self.changed(revision);
            }
            CatalogueEvent::Removed { revision, guid } => {
                self.mirror.environments.remove(&guid);
                self.changed(revision);
            }
            CatalogueEvent::Resumed { revision } => {
                self.mirror.revision = self.mirror.revision.max(revision);
                if self.mirror.unbuilt {
                    self.build("caught up");
                }
                self.in_sync("caught up");
            }
            CatalogueEvent::Lost {
                reason,
                retry_in,
                from_revision,
            } => self.lost(&reason, retry_in, from_revision),
            CatalogueEvent::Relisting {
                from_revision,
                reason,
            } => {
                self.mirror.listed = false;
                let reason = format!("the revision is out of range, re-listing: {reason}");
                self.lost(&reason, Duration::ZERO, from_revision);
            }
        }
    }

    /// A change at `revision` was applied to the mirror.
    fn changed(&mut self, revision: i64) {
        self.mirror.revision = revision;
        self.mirror.unbuilt = true;
        // While catching up, the build waits for the watch to be in sync again.
        if self.mirror.in_sync {
            let since = *self.mirror.dirty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.pacing.max_batch && Instant::now() >= self.next_build {
                self.build("changes");
            }
        }
    }

    fn in_sync(&mut self, how: &str) {
        let disconnected_for = self.shared.age();
        self.shared.mark_current();
        self.mirror.in_sync = true;
        tracing::info!(registry = %self.registry, revision = self.mirror.revision, how,
            disconnected_for = ?disconnected_for, "connected to the registry and in sync");
    }

    /// The watch lost the registry (or the revision to resume from) and tries again after
    /// `retry_in`; the attempt that ended watched from `from_revision`.
    fn lost(&mut self, reason: &str, retry_in: Duration, from_revision: i64) {
        // What was applied is a consistent catalogue at its revision: answer from it.
        if self.mirror.unbuilt {
            self.build("changes");
        }
        self.mirror.in_sync = false;
        self.shared.mark_stale();
        self.metrics.reconnected();
        if self.shared.current().is_some() {
            tracing::warn!(registry = %self.registry, reason, from_revision,
                catalogue_revision = self.mirror.revision, retry_in = ?retry_in,
                relist = !self.mirror.listed,
                "disconnected from the registry; answering from the last catalogue until reconnected");
        } else {
            tracing::warn!(registry = %self.registry, reason, retry_in = ?retry_in,
                "cannot list the catalogue from the registry yet; not ready until it can");
        }
    }

    /// The watch stopped (it does not while the selector runs, unless its task failed): no
    /// news will come, so the catalogue only ages from here.
    fn on_watch_stopped(&mut self) {
        if self.mirror.unbuilt {
            self.build("changes");
        }
        self.shared.mark_stale();
        tracing::error!(
            registry = %self.registry,
            catalogue_revision = self.mirror.revision,
            "the watch on the registry stopped; answering from the last catalogue"
        );
    }

    fn build(&mut self, reason: &str) {
        let started = Instant::now();
        let mirror = &mut self.mirror;
        mirror.unbuilt = false;
        mirror.dirty_since = None;
        let managed = mirror
            .environments
            .values()
            .filter(|e| e.managed_by.is_some())
            .count();
        let catalogue = Catalogue::new(mirror.revision, mirror.environments.values().cloned());
        let (size, revision) = (catalogue.len(), catalogue.revision());
        self.metrics.catalogue_built(size, managed, revision);
        self.shared.publish(catalogue);
        let took = started.elapsed();
        self.next_build = self.pacing.next_build(Instant::now(), took);
        tracing::info!(environments = size, revision, reason, took = ?took, "catalogue built");
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
