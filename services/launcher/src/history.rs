//! The durable launch history (`history.database_url`): every launch as the table holds it, in a
//! table that every launcher replica shares — `execenv_launches` on the registry's PostgreSQL
//! (the launcher's own table, written by the launcher: not the registry's catalogue, whose one
//! writer is the registry and whose change feed is for the catalogue), or a SQLite file for one
//! local launcher. The SQL is `execenv_store::LaunchHistory`.
//!
//! - At start the launcher loads the history into its table before it serves; the backend's
//!   watch then overlays what the cluster (or the data folder) shows. A launch whose Job is gone
//!   (deleted by its TTL, or cancelled) is still listed, with its final state.
//! - Every change the table accepts is written through, in order, by one writer task
//!   ([`History::write`]); a final launch is final in the history too (a later write is ignored).
//!   A write that fails is tried again (up to [`WRITE_ATTEMPTS`] times, backing off), then logged
//!   and dropped: the launch's next change writes it whole again.
//! - A Launch is accepted in the history first ([`History::accept`]): of two replicas given the
//!   same request id at once, one adds it and the other answers it as existing.
//! - A Cancel writes CANCELLED ([`History::finalize`]) before it deletes anything, so another
//!   replica that sees the Job vanish finds why in the history.
//! - A task purges the final launches finished more than `history.retention_days` ago, at start
//!   and every hour, and logs how many it removed.

use std::time::Duration;

use chrono::Utc;
use execenv_core::{Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use execenv_store::{LaunchHistory, LaunchRecord, Recorded};
use tokio::sync::mpsc;

use crate::config::HistoryConfig;
use crate::launch::Launch;
use crate::metrics::{LauncherMetrics, Once};

/// How many times a write is tried before it is dropped (logged).
pub const WRITE_ATTEMPTS: u32 = 5;

/// How often the purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The launch history: where the launcher writes its launches and wins what it counts.
#[derive(Clone)]
pub struct History {
    store: LaunchHistory,
    metrics: LauncherMetrics,
    writes: mpsc::UnboundedSender<Write>,
}

/// What the writer is given.
enum Write {
    /// A change of a launch, with the events it ended that are counted once per launch.
    Change {
        launch: Box<Launch>,
        once: Vec<Once>,
    },
    /// Answer once everything queued before is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl History {
    /// Opens the history `config` names (None: `history.database_url` is empty) and starts its
    /// writer and its purge; they stop on `shutdown`.
    pub async fn open(
        config: &HistoryConfig,
        metrics: LauncherMetrics,
        shutdown: Shutdown,
    ) -> Result<Option<(History, tokio::task::JoinHandle<()>)>, Error> {
        let url = config.database_url.expose();
        if url.trim().is_empty() {
            return Ok(None);
        }
        let store = LaunchHistory::open(url).await.map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "cannot open the launch history (history.database_url = {}): {}; fix EXECENV_HISTORY__DATABASE_URL, or leave it empty for no history",
                    config.database_url, e.message
                ),
            )
        })?;
        tracing::info!(database = %config.database_url, backend = store.backend(),
            retention_days = config.retention_days, "launch history opened");
        let (writes, queue) = mpsc::unbounded_channel();
        let history = History {
            store,
            metrics,
            writes,
        };
        let writer = tokio::spawn(history.clone().write_through(queue, shutdown.clone()));
        let purge = tokio::spawn(history.clone().purge(config.retention_days, shutdown));
        let task = tokio::spawn(async move {
            let _ = writer.await;
            let _ = purge.await;
        });
        Ok(Some((history, task)))
    }

    /// Every launch the history holds (a row that cannot be read as a launch is logged and
    /// skipped).
    pub async fn load(&self) -> Result<Vec<Launch>, Error> {
        Ok(self.store.load().await?.iter().filter_map(decode).collect())
    }

    /// One launch, if the history holds it.
    pub async fn get(&self, id: &str) -> Result<Option<Launch>, Error> {
        Ok(self.store.get(id).await?.as_ref().and_then(decode))
    }

    /// Adds a launch just accepted: None when added, else the launch the history already held
    /// under its id (another replica accepted it).
    pub async fn accept(&self, launch: &Launch) -> Result<Option<Launch>, Error> {
        let held = self
            .store
            .insert_new(&encode(launch)?)
            .await
            .map_err(|e| unavailable(&launch.id, e))?;
        Ok(held.as_ref().and_then(decode))
    }

    /// Writes the final `launch` now (a Cancel, before it stops anything): None when this write
    /// made it final (and its end is counted here), else the final launch the history held.
    pub async fn finalize(&self, launch: &Launch) -> Result<Option<Launch>, Error> {
        let recorded = self
            .store
            .record(&encode(launch)?)
            .await
            .map_err(|e| unavailable(&launch.id, e))?;
        match recorded {
            Recorded::Finalized => {
                let took = launch
                    .finished
                    .and_then(|t| (t - launch.created).to_std().ok());
                self.metrics.count(
                    launch.kind,
                    launch.backend,
                    Once::Finished(launch.state, took),
                );
                Ok(None)
            }
            Recorded::Stored => Ok(None),
            Recorded::AlreadyFinal(held) => Ok(decode(&held)),
        }
    }

    /// Removes a launch that could not be started (its creation failed).
    pub async fn forget(&self, id: &str) {
        if let Err(e) = self.store.forget(id).await {
            tracing::warn!(launch = %id, error = %e.message,
                "cannot remove a launch that did not start from the launch history");
        }
    }

    /// Queues a change of `launch` for the writer, with the events it ended.
    pub fn write(&self, launch: Launch, once: Vec<Once>) {
        // Closed only once the writer has stopped (shutdown): nothing more is written.
        let _ = self.writes.send(Write::Change {
            launch: Box::new(launch),
            once,
        });
    }

    /// Resolves once every change queued before is written (and counted).
    pub async fn flushed(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.writes.send(Write::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    async fn write_through(self, mut queue: mpsc::UnboundedReceiver<Write>, shutdown: Shutdown) {
        loop {
            let next = tokio::select! {
                () = shutdown.wait() => None,
                next = queue.recv() => next,
            };
            let Some(write) = next else { break };
            self.write_one(write).await;
        }
        // What was queued before the shutdown is still written.
        while let Ok(write) = queue.try_recv() {
            self.write_one(write).await;
        }
    }

    async fn write_one(&self, write: Write) {
        let (launch, once) = match write {
            Write::Change { launch, once } => (*launch, once),
            Write::Flush(done) => {
                let _ = done.send(());
                return;
            }
        };
        let Some(recorded) = self.record_retrying(&launch).await else {
            return;
        };
        for event in once {
            let won = match event {
                Once::Finished(..) => recorded == Recorded::Finalized,
                _ => match self.store.claim(&launch.id, &event.key()).await {
                    Ok(won) => won,
                    Err(e) => {
                        tracing::warn!(launch = %launch.id, event = %event.key(), error = %e.message,
                            "cannot claim a launch's event in the launch history; this replica does not count it");
                        false
                    }
                },
            };
            if won {
                self.metrics.count(launch.kind, launch.backend, event);
            }
        }
    }

    /// Writes `launch`, trying again when the database is unavailable.
    async fn record_retrying(&self, launch: &Launch) -> Option<Recorded> {
        let record = encode(launch)
            .inspect_err(|e| tracing::error!(launch = %launch.id, error = %e.message, "cannot encode a launch for the launch history"))
            .ok()?;
        let mut delay = Duration::from_millis(250);
        for attempt in 1..=WRITE_ATTEMPTS {
            match self.store.record(&record).await {
                Ok(recorded) => return Some(recorded),
                Err(e) if attempt < WRITE_ATTEMPTS && e.kind == ErrorKind::Unavailable => {
                    tracing::warn!(launch = %launch.id, state = launch.state.as_str(), attempt, error = %e.message,
                        "cannot write a launch to the launch history; trying again in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(launch = %launch.id, state = launch.state.as_str(), attempts = attempt, error = %e.message,
                        "cannot write a launch to the launch history; its next change writes it again");
                    return None;
                }
            }
        }
        None
    }

    async fn purge(self, retention_days: u32, shutdown: Shutdown) {
        if retention_days == 0 {
            tracing::info!(
                "history.retention_days is 0: finished launches are kept in the launch history for ever"
            );
            return;
        }
        let mut every = tokio::time::interval(PURGE_EVERY);
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                _ = every.tick() => {}
            }
            let before = Utc::now() - chrono::Duration::days(i64::from(retention_days));
            match self.store.purge(before).await {
                Ok(purged) => {
                    tracing::info!(purged, finished_before = %before.to_rfc3339(), retention_days,
                    "purged the launch history of the launches finished before the retention")
                }
                Err(e) => tracing::warn!(error = %e.message,
                    "cannot purge the launch history; trying again in an hour"),
            }
        }
    }
}

/// A launch as the history stores it.
fn encode(launch: &Launch) -> Result<LaunchRecord, Error> {
    let is_final = launch.state.is_terminal();
    Ok(LaunchRecord {
        id: launch.id.clone(),
        record: serde_json::to_string(launch)
            .map_err(|e| Error::internal(format!("cannot encode launch {:?}: {e}", launch.id)))?,
        is_final,
        // A final launch always has a time to be purged by.
        finished: is_final.then(|| launch.finished.unwrap_or_else(Utc::now)),
    })
}

fn decode(record: &LaunchRecord) -> Option<Launch> {
    serde_json::from_str(&record.record)
        .inspect_err(|e| {
            tracing::warn!(launch = %record.id, error = %e,
                "a launch in the launch history cannot be read (written by another version?); it is skipped");
        })
        .ok()
}

/// A history write a Launch or Cancel call depends on failed: the call fails, unavailable.
fn unavailable(id: &str, e: Error) -> Error {
    Error::unavailable(format!(
        "cannot write launch {id:?} to the launch history ({}); try again",
        e.message
    ))
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
