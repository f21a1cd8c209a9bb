//! What the selector knows of the images behind the environments: the image examiner's last
//! check of each, kept by a follower of its `WatchChecks` stream (module [`follow`]) and read by
//! `Select` (the exclusions of `selection.skip_drift`) and `Explain` (each verdict's drift line).
//!
//! Like the catalogue, requests read a published snapshot (an `Arc` swapped under a lock that is
//! only written for the swap). The snapshot holds only the environments with something to say —
//! in drift or unreadable — so publishing it costs nothing when every image matches.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use uuid::Uuid;

use crate::select::Exclusions;
use execenv_core::examine::CheckState;

pub mod follow;

pub use follow::{CheckSource, CheckStream, FollowOptions, run};

/// The image examiner's checks the selector answers with, shared by the follower and requests.
#[derive(Clone, Default)]
pub struct SharedChecks {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    current: RwLock<Arc<DriftBook>>,
    /// How many books were published so far (tests wait on it).
    published: tokio::sync::watch::Sender<u64>,
}

/// One environment's standing against its image, as `Explain` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Drift or unreadable (the other states are not kept here).
    pub state: CheckState,
    /// "in drift: …" or "image unreadable: …".
    pub note: String,
}

/// The environments whose image is in drift or unreadable, as of the examiner's last word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftBook {
    /// By environment guid: only those in drift or unreadable.
    pub standings: HashMap<Uuid, Standing>,
    /// What `selection.skip_drift` leaves out: every environment in drift, with why.
    pub drifted: Exclusions,
}

impl DriftBook {
    /// The drift line of environment `guid`, if its image is in drift or unreadable.
    pub fn note(&self, guid: &Uuid) -> Option<&str> {
        self.standings.get(guid).map(|s| s.note.as_str())
    }
}

impl SharedChecks {
    /// Nothing known yet: no environment is in drift.
    pub fn new() -> Self {
        SharedChecks::default()
    }

    /// The last published book.
    pub fn current(&self) -> Arc<DriftBook> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many books were published so far.
    pub fn published(&self) -> u64 {
        *self.inner.published.borrow()
    }

    /// Completes once at least `n` books were published.
    pub async fn wait_for_published(&self, n: u64) {
        let mut rx = self.inner.published.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|p| *p >= n).await;
    }

    fn publish(&self, book: DriftBook) {
        let old = std::mem::replace(
            &mut *self
                .inner
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            Arc::new(book),
        );
        // Freed outside the lock, unless a request still holds it.
        drop(old);
        self.inner.published.send_modify(|n| *n += 1);
    }
}
