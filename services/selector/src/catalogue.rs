//! The in-memory catalogue the selector answers from: the [`SharedCatalogue`] that requests read
//! and the follower of the registry's catalogue (module [`follow`], fed by the client crate's
//! `CatalogueWatch`) publishes into, and how current it is.
//!
//! Readers are never held up by the follower: they clone an `Arc` under a lock that is only written
//! for a pointer swap.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::select::Catalogue;

pub mod follow;

pub use follow::{MAX_BATCH, Pacing, run};

/// The catalogue the selector answers from, shared between the follower and the requests.
#[derive(Clone)]
pub struct SharedCatalogue {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Option<Arc<Catalogue>>>,
    /// When the catalogue stopped being known current; `None` while connected and synced.
    stale_since: Mutex<Option<Instant>>,
    /// How many catalogues were published so far.
    builds: tokio::sync::watch::Sender<u64>,
}

/// The catalogue as a request sees it.
#[derive(Clone)]
pub struct CatalogueView {
    /// The catalogue.
    pub catalogue: Arc<Catalogue>,
    /// How long ago it was last known current (zero while connected and synced).
    pub age: Duration,
}

/// The catalogue did not reach the revision a request asked for in time.
pub struct Behind {
    /// The catalogue held then; `None` before the first one arrived.
    pub held: Option<CatalogueView>,
}

impl Default for SharedCatalogue {
    fn default() -> Self {
        SharedCatalogue::new()
    }
}

impl SharedCatalogue {
    /// No catalogue yet.
    pub fn new() -> Self {
        SharedCatalogue {
            inner: Arc::new(Inner {
                current: RwLock::new(None),
                stale_since: Mutex::new(Some(Instant::now())),
                builds: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// The current catalogue and its age; `None` until the first full catalogue arrived.
    pub fn view(&self) -> Option<CatalogueView> {
        let catalogue = self.current()?;
        Some(CatalogueView {
            catalogue,
            age: self.age(),
        })
    }

    /// The current catalogue; `None` until the first full catalogue arrived.
    pub fn current(&self) -> Option<Arc<Catalogue>> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How long ago the catalogue was last known current: zero while connected and synced,
    /// otherwise the time since the connection was lost (or since start, before the first sync).
    pub fn age(&self) -> Duration {
        self.stale_since()
            .map(|since| since.elapsed())
            .unwrap_or_default()
    }

    /// Whether the catalogue is known current (connected to the registry and synced).
    pub fn is_current(&self) -> bool {
        self.stale_since().is_none()
    }

    /// How many catalogues were built and published so far.
    pub fn builds(&self) -> u64 {
        *self.inner.builds.borrow()
    }

    /// The current catalogue once it is at `min_revision` or newer, waiting for the follower to
    /// publish one for up to `wait` (woken by each publication, never polled). Behind, with the
    /// catalogue still held (`None` before the first one), when `wait` passes first.
    pub async fn view_at_least(
        &self,
        min_revision: i64,
        wait: Duration,
    ) -> Result<CatalogueView, Behind> {
        let reached = || self.current().filter(|c| c.revision() >= min_revision);
        if reached().is_none() {
            let mut builds = self.inner.builds.subscribe();
            // The sender lives in `self`, so the channel cannot close while we wait; the check
            // runs once at once (a build between `reached` and `subscribe` is not missed), then
            // after each build.
            let _ = tokio::time::timeout(wait, builds.wait_for(|_| reached().is_some())).await;
        }
        match reached() {
            Some(catalogue) => Ok(CatalogueView {
                catalogue,
                age: self.age(),
            }),
            None => Err(Behind { held: self.view() }),
        }
    }

    /// Completes once a full catalogue is held.
    pub async fn wait_until_held(&self) {
        let mut rx = self.inner.builds.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n > 0).await;
    }

    fn stale_since(&self) -> Option<Instant> {
        *self
            .inner
            .stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, catalogue: Catalogue) {
        let catalogue = Arc::new(catalogue);
        let old = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(catalogue);
        // The old catalogue is freed here, outside the lock, unless a request still holds it.
        drop(old);
        self.inner.builds.send_modify(|n| *n += 1);
    }

    fn mark_current(&self) {
        *self
            .inner
            .stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Marks the catalogue stale from now, unless it already is (the first loss counts).
    fn mark_stale(&self) {
        self.inner
            .stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
    }
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod tests;
