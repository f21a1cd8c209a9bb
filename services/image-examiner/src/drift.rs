//! The drift loop: checks every environment of the catalogue against its image — when the
//! catalogue is listed, when a change touches an environment's image or installations, every
//! `check_interval_s`, and when asked (`CheckNow`) — and records each check on the
//! [`CheckBoard`].
//!
//! One check of an environment runs at a time: a check asked for while one runs starts when it
//! ends, and a result that no longer describes the definition (it changed meanwhile) is dropped
//! for the check that follows. Environments sharing an image share its read (the
//! [`Examiner`] reads each manifest once).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use execenv_client::{CatalogueEvent, CatalogueEvents};
use execenv_core::Environment;
use execenv_kit::shutdown::Shutdown;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::{Id, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

use crate::board::CheckBoard;
use crate::check::{Check, Outcome, needs_check};
use crate::examinations::Examiner;
use crate::source::ImageSource;

/// Environments checked at the same time (each resolves its image; reads have their own limit).
pub const CONCURRENT_CHECKS: usize = 16;

/// A `CheckNow`: answered with every check once each environment was checked after it was asked.
pub type CheckNowAsk = oneshot::Sender<Vec<Check>>;

/// Runs the loop until `shutdown`.
pub async fn run<S: ImageSource>(
    examiner: Examiner<S>,
    board: CheckBoard,
    mut catalogue: impl CatalogueEvents,
    mut asks: mpsc::Receiver<CheckNowAsk>,
    interval: Duration,
    shutdown: Shutdown,
) {
    let mut state = Loop {
        examiner,
        board,
        environments: HashMap::new(),
        running: HashMap::new(),
        again: HashSet::new(),
        seq: 0,
        first_round: None,
        waiters: Vec::new(),
        tasks: JoinSet::new(),
        limit: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            event = catalogue.next_event() => match event {
                Some(event) => state.on_catalogue(event),
                None => {
                    tracing::error!("the catalogue watch ended; environments are no longer checked");
                    shutdown.wait().await;
                    return;
                }
            },
            _ = ticker.tick() => state.check_all(false),
            Some(ask) = asks.recv() => state.on_ask(ask),
            Some(done) = state.tasks.join_next_with_id() => match done {
                Ok((_, done)) => state.on_done(done),
                Err(e) => state.on_failed(e.id(), &e.to_string()),
            },
        }
    }
}

/// A finished check.
struct Done {
    guid: Uuid,
    seq: u64,
    /// The definition it compared.
    environment: Environment,
    outcome: Outcome,
    at: DateTime<Utc>,
}

/// A `CheckNow` waiting for its checks.
struct Waiter {
    /// Checks with a higher sequence number were started after it was asked.
    after: u64,
    remaining: HashSet<Uuid>,
    reply: CheckNowAsk,
}

struct Loop<S: ImageSource> {
    examiner: Examiner<S>,
    board: CheckBoard,
    environments: HashMap<Uuid, Environment>,
    /// The check in progress per environment: its sequence number and task.
    running: HashMap<Uuid, (u64, Id)>,
    /// Environments to check again when their check in progress ends.
    again: HashSet<Uuid>,
    /// The sequence number of the last check started.
    seq: u64,
    /// The environments of the first listing not checked yet; None before it and after.
    first_round: Option<HashSet<Uuid>>,
    waiters: Vec<Waiter>,
    tasks: JoinSet<Done>,
    limit: Arc<Semaphore>,
}

impl<S: ImageSource> Loop<S> {
    fn on_catalogue(&mut self, event: CatalogueEvent) {
        match event {
            CatalogueEvent::Listed {
                revision,
                environments,
            } => {
                tracing::info!(
                    revision,
                    environments = environments.len(),
                    "catalogue listed"
                );
                let listed: HashSet<Uuid> = environments.iter().map(|e| e.guid).collect();
                let gone: Vec<Uuid> = self
                    .environments
                    .keys()
                    .filter(|g| !listed.contains(g))
                    .copied()
                    .collect();
                for guid in gone {
                    self.forget(guid);
                }
                for environment in environments {
                    self.upsert(Arc::unwrap_or_clone(environment));
                }
                self.board.mark_listed();
                if !self.board.is_complete() && self.first_round.is_none() {
                    self.first_round = Some(listed);
                    self.settle_first_round(None);
                }
            }
            CatalogueEvent::Changed { environment, .. } => {
                self.upsert(Arc::unwrap_or_clone(environment));
            }
            CatalogueEvent::Removed { guid, .. } => self.forget(guid),
            CatalogueEvent::Resumed { revision } => {
                tracing::info!(revision, "reconnected to the registry and in sync");
            }
            CatalogueEvent::Lost {
                reason, retry_in, ..
            } => {
                tracing::warn!(%reason, ?retry_in,
                    "disconnected from the registry; checking the environments known until reconnected");
            }
            CatalogueEvent::Relisting {
                from_revision,
                reason,
            } => {
                tracing::info!(from_revision, %reason,
                    "the registry no longer has the revision to resume from; listing the catalogue again");
            }
        }
    }

    /// Takes a new or changed environment; checks it when its image or installations changed.
    fn upsert(&mut self, environment: Environment) {
        let guid = environment.guid;
        match self.environments.insert(guid, environment.clone()) {
            None => {
                if self.board.current(guid).is_none() {
                    self.board.put(Check::pending(&environment));
                }
                self.start(guid, true);
            }
            Some(before) if needs_check(&before, &environment) => self.start(guid, true),
            Some(_) => {
                if let Some(check) = self.board.current(guid) {
                    self.board.put(check.retitled(&environment));
                }
            }
        }
    }

    fn forget(&mut self, guid: Uuid) {
        if self.environments.remove(&guid).is_none() {
            return;
        }
        self.board.remove(guid);
        self.again.remove(&guid);
        self.settle(guid, u64::MAX);
    }

    /// Starts a check of every environment; `requeue`: also after those in progress end.
    fn check_all(&mut self, requeue: bool) {
        let all: Vec<Uuid> = self.environments.keys().copied().collect();
        for guid in all {
            self.start(guid, requeue);
        }
    }

    /// Starts a check of `guid`; while one is in progress, another follows it if `requeue`.
    fn start(&mut self, guid: Uuid, requeue: bool) {
        if self.running.contains_key(&guid) {
            if requeue {
                self.again.insert(guid);
            }
            return;
        }
        let Some(environment) = self.environments.get(&guid).cloned() else {
            return;
        };
        self.seq += 1;
        let seq = self.seq;
        let examiner = self.examiner.clone();
        let limit = self.limit.clone();
        let handle = self.tasks.spawn(async move {
            // The semaphore is never closed.
            let _turn = limit.acquire_owned().await.ok();
            let outcome = match examiner.compare(&environment.spec).await {
                Ok(compared) => Outcome::Compared(compared),
                Err(why) => Outcome::Unreadable(why),
            };
            Done {
                guid,
                seq,
                environment,
                outcome,
                at: Utc::now(),
            }
        });
        self.running.insert(guid, (seq, handle.id()));
    }

    fn on_done(&mut self, done: Done) {
        let guid = done.guid;
        self.running.remove(&guid);
        if let Some(current) = self.environments.get(&guid)
            && !needs_check(&done.environment, current)
        {
            let before = self
                .board
                .current(guid)
                .unwrap_or_else(|| Check::pending(current));
            self.board.put(before.next(current, done.outcome, done.at));
            self.settle(guid, done.seq);
        }
        if self.again.remove(&guid) {
            self.start(guid, false);
        }
    }

    /// A check task that panicked (a bug): logged, and the environment checked again later.
    fn on_failed(&mut self, id: Id, problem: &str) {
        let guid = self
            .running
            .iter()
            .find(|(_, (_, task))| *task == id)
            .map(|(guid, _)| *guid);
        tracing::error!(guid = ?guid, problem, "an environment check failed");
        if let Some(guid) = guid {
            self.running.remove(&guid);
            if self.again.remove(&guid) {
                self.start(guid, false);
            }
        }
    }

    fn on_ask(&mut self, reply: CheckNowAsk) {
        let waiter = Waiter {
            after: self.seq,
            remaining: self.environments.keys().copied().collect(),
            reply,
        };
        self.waiters.push(waiter);
        self.check_all(true);
        self.settle_waiters();
    }

    /// `guid` was checked by check `seq` (u64::MAX: it left the catalogue).
    fn settle(&mut self, guid: Uuid, seq: u64) {
        for w in &mut self.waiters {
            if seq > w.after {
                w.remaining.remove(&guid);
            }
        }
        self.settle_waiters();
        self.settle_first_round(Some(guid));
    }

    fn settle_waiters(&mut self) {
        let (done, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.remaining.is_empty());
        self.waiters = waiting;
        for w in done {
            // The caller may have gone.
            let _ = w.reply.send(self.board.list().unwrap_or_default());
        }
    }

    fn settle_first_round(&mut self, checked: Option<Uuid>) {
        let Some(round) = self.first_round.as_mut() else {
            return;
        };
        if let Some(guid) = checked {
            round.remove(&guid);
        }
        if round.is_empty() {
            self.first_round = None;
            self.board.complete_snapshot();
        }
    }
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
