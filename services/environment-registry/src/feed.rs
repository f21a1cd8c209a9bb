//! The change feed: one task per registry process tails the change log and broadcasts every
//! committed change, in revision order, to the watchers of this process.
//!
//! The log is the source of truth. The tailer wakes when this process commits (a notification)
//! and otherwise polls, so changes committed by another registry replica sharing the PostgreSQL
//! database reach this replica's watchers too. A watcher that falls behind the broadcast buffer
//! reads the missed changes from the log; one that asks for a compacted revision gets OUT_OF_RANGE.

use std::sync::Arc;
use std::time::Duration;

use execenv_core::{Change, ChangeAction, Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use execenv_store::Store;
use tokio::sync::{Notify, broadcast, mpsc};

/// How many changes are read from the log per query.
const BATCH: u32 = 500;
/// Changes buffered per watcher before it has to catch up from the log. Each holds the
/// environment before and after (a few KiB), and the buffer keeps the changes a watcher has not
/// read yet, so a large sync with a slow watcher holds up to this many in memory: about one
/// tailer batch, and the rest is read from the log.
const BROADCAST_CAPACITY: usize = 512;

/// How many environments of a snapshot are read from the database at a time.
const SNAPSHOT_PAGE: usize = 500;

/// The feed shared by every watcher of one registry process.
#[derive(Clone)]
pub struct ChangeFeed {
    store: Arc<dyn Store>,
    tx: broadcast::Sender<Arc<Change>>,
    committed: Arc<Notify>,
}

impl ChangeFeed {
    /// A feed over `store`; call [`ChangeFeed::run`] to start tailing.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        ChangeFeed {
            store,
            tx,
            committed: Arc::new(Notify::new()),
        }
    }

    /// Tells the tailer that this process committed a change.
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Tails the log after revision `start` until `stop` is triggered, broadcasting every
    /// change once, in order. `start` must be read before the registry accepts writes, so no
    /// commit falls between it and the first poll. `on_change` observes each change (metrics).
    pub async fn run(
        self,
        start: i64,
        poll: Duration,
        stop: Shutdown,
        on_change: impl Fn(&Change) + Send,
    ) {
        let mut last = start;
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait() => return,
                _ = self.committed.notified() => {}
                _ = tick.tick() => {}
            }
            loop {
                match self.store.changes_after(last, BATCH).await {
                    Ok(changes) => {
                        let n = changes.len();
                        for c in changes {
                            last = c.revision;
                            on_change(&c);
                            // No receivers is fine: nobody is watching.
                            let _ = self.tx.send(Arc::new(c));
                        }
                        if n < BATCH as usize {
                            break;
                        }
                    }
                    Err(e) if e.kind == ErrorKind::OutOfRange => {
                        // History this tailer had not broadcast yet was compacted (it was
                        // stopped or lagging for longer than the retention). Watchers detect the
                        // jump and catch up from the log themselves, where they get OUT_OF_RANGE.
                        tracing::warn!(error = %e, "change feed skipped compacted history");
                        match self.store.log_bounds().await {
                            Ok(b) => last = b.latest,
                            Err(e) => tracing::warn!(error = %e, "change feed cannot read the log"),
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed cannot read the log; retrying on the next poll");
                        break;
                    }
                }
            }
        }
    }

    /// Starts a watch: checks `from_revision` now (so a compacted or future revision is an error
    /// of the call itself), then streams the catalogue or the changes after it, and every later
    /// change, into the returned receiver. The stream ends when the receiver is dropped or
    /// `stop` is cancelled.
    pub async fn watch(
        &self,
        from_revision: i64,
        stop: Shutdown,
    ) -> Result<mpsc::Receiver<Result<reg::WatchEnvironmentsResponse, Error>>, Error> {
        // Subscribe before reading the log, so nothing committed in between is lost; what is
        // read twice is skipped by revision.
        let live = self.tx.subscribe();
        let bounds = self.store.log_bounds().await?;
        if from_revision < 0 || from_revision > bounds.latest {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "revision {from_revision} is not a revision of this registry (latest is {}); watch from 0 to re-list",
                    bounds.latest
                ),
            ));
        }
        if from_revision > 0 && from_revision < bounds.compacted_through {
            return Err(compacted(from_revision, bounds.compacted_through));
        }
        let (out, rx) = mpsc::channel(256);
        let store = self.store.clone();
        tokio::spawn(async move {
            let session = Session { store, out };
            tokio::select! {
                r = session.run(from_revision, live) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "watch ended");
                    }
                }
                _ = stop.wait() => {}
            }
        });
        Ok(rx)
    }
}

fn compacted(revision: i64, through: i64) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!(
            "revision {revision} was compacted (history starts after {through}); watch from 0 to re-list the catalogue"
        ),
    )
}

struct Session {
    store: Arc<dyn Store>,
    out: mpsc::Sender<Result<reg::WatchEnvironmentsResponse, Error>>,
}

impl Session {
    async fn run(
        &self,
        from: i64,
        mut live: broadcast::Receiver<Arc<Change>>,
    ) -> Result<(), Error> {
        let mut cursor = if from == 0 {
            self.send_snapshot().await?
        } else {
            self.catch_up(from).await?
        };
        self.send(reg::WatchEnvironmentsResponse {
            kind: Kind::Synced as i32,
            revision: cursor,
            ..Default::default()
        })
        .await?;
        loop {
            match live.recv().await {
                Ok(c) if c.revision <= cursor => {}
                Ok(c) if c.revision == cursor + 1 => {
                    self.send(event(&c)).await?;
                    cursor = c.revision;
                }
                // A jump means this watcher may have missed something: read it from the log.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    cursor = self.catch_up(cursor).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Sends the whole catalogue, read a page at a time while the watcher takes it (at 100,000
    /// environments, read whole it was the registry's largest allocation: 52 MB of rows and
    /// environments, heaptrack); returns the revision it reflects.
    async fn send_snapshot(&self) -> Result<i64, Error> {
        let (pages, mut next) = mpsc::channel(1);
        let reading = self.store.snapshot_pages(SNAPSHOT_PAGE, pages);
        let sending = async {
            let mut revision = None;
            while let Some(page) = next.recv().await {
                revision = Some(page.revision);
                // Each environment is dropped once its message is queued.
                for e in page.environments {
                    self.send(reg::WatchEnvironmentsResponse {
                        kind: Kind::Snapshot as i32,
                        revision: page.revision,
                        environment_guid: e.guid.to_string(),
                        environment: Some((&e).into()),
                    })
                    .await?;
                }
            }
            Ok::<_, Error>(revision)
        };
        // The sender's end goes with a failed send, which ends the reading.
        let (read, sent) = tokio::join!(reading, sending);
        read?;
        sent?.ok_or_else(|| Error::internal("the catalogue's snapshot came without a page"))
    }

    /// Sends every logged change after `cursor`; returns the new cursor.
    async fn catch_up(&self, mut cursor: i64) -> Result<i64, Error> {
        loop {
            let changes = match self.store.changes_after(cursor, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    // Tell the client why the stream ends (e.g. OUT_OF_RANGE), then stop.
                    let _ = self.out.send(Err(e.clone())).await;
                    return Err(e);
                }
            };
            let n = changes.len();
            for c in &changes {
                self.send(event(c)).await?;
                cursor = c.revision;
            }
            if n < BATCH as usize {
                return Ok(cursor);
            }
        }
    }

    async fn send(&self, item: reg::WatchEnvironmentsResponse) -> Result<(), Error> {
        self.out
            .send(Ok(item))
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the watcher disconnected"))
    }
}

fn event(c: &Change) -> reg::WatchEnvironmentsResponse {
    match (&c.action, &c.after) {
        (ChangeAction::Delete, _) | (_, None) => reg::WatchEnvironmentsResponse {
            kind: Kind::Delete as i32,
            revision: c.revision,
            environment_guid: c.environment_guid.to_string(),
            environment: None,
        },
        (_, Some(after)) => reg::WatchEnvironmentsResponse {
            kind: Kind::Upsert as i32,
            revision: c.revision,
            environment_guid: c.environment_guid.to_string(),
            environment: Some(after.into()),
        },
    }
}
