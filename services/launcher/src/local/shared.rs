//! What the local backend and its launch tasks share: the data folder, the runner, the slots (and
//! the interactive launches' own limit), the launch table, and the switch that stops each
//! unfinished launch.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use execenv_core::{Environment, Error, ErrorKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::command::Stop;
use super::layout::DataDir;
use super::slots::Slots;
use crate::LocalConfig;
use crate::launch::{Launch, Observation};
use crate::table::Launches;

/// Shared by the backend and every launch task (behind an `Arc`).
pub(super) struct Shared {
    /// The data folder.
    pub(super) dir: DataDir,
    /// The content runner.
    pub(super) runner: PathBuf,
    /// The program every launch runs under, if any.
    pub(super) supervisor: Option<String>,
    /// After SIGTERM, how long to wait before SIGKILL.
    pub(super) grace: Duration,
    /// The launch table.
    pub(super) launches: Launches,
    /// The slots build and run launches wait for.
    pub(super) slots: Slots,
    /// Interactive launches take none of the slots but one of these, or are refused.
    interactive: Arc<Semaphore>,
    max_interactive: usize,
    /// The longest wait before an interactive app is restarted.
    pub(super) restart_backoff_most: Duration,
    controls: Mutex<Controls>,
    /// Serialises the writes of `launch.json` files, so an older state never overwrites a newer.
    records: Mutex<()>,
    /// Environments whose own supervisor was already reported as unused.
    supervisors_reported: Mutex<HashSet<String>>,
}

/// The launches that are not finished, each with the switch that stops it.
struct Controls {
    stops: HashMap<String, watch::Sender<Stop>>,
    /// A clone lives in every launch task; `None` once shutting down (no new launches).
    alive: Option<mpsc::Sender<()>>,
}

impl Shared {
    /// Nothing running yet, with the limits and waits of `config`; `alive` is cloned into every
    /// launch task, so the shutdown task learns when the last one has ended.
    pub(super) fn new(
        config: &LocalConfig,
        dir: DataDir,
        runner: PathBuf,
        supervisor: Option<String>,
        launches: Launches,
        alive: mpsc::Sender<()>,
    ) -> Shared {
        Shared {
            dir,
            runner,
            supervisor,
            grace: Duration::from_millis(config.cancel_grace_ms),
            launches,
            slots: Slots::new(config.max_concurrent),
            interactive: Arc::new(Semaphore::new(config.max_interactive)),
            max_interactive: config.max_interactive,
            restart_backoff_most: Duration::from_millis(config.restart_backoff_max_ms),
            controls: Mutex::new(Controls {
                stops: HashMap::new(),
                alive: Some(alive),
            }),
            records: Mutex::new(()),
            supervisors_reported: Mutex::new(HashSet::new()),
        }
    }

    /// Registers an unfinished launch; refused once the launcher is shutting down.
    pub(super) fn register(
        &self,
        id: &str,
    ) -> Result<(watch::Receiver<Stop>, mpsc::Sender<()>), Error> {
        let mut controls = self.controls();
        let Some(alive) = controls.alive.clone() else {
            return Err(Error::unavailable(
                "the launcher is shutting down; launch again once it is back",
            ));
        };
        let (stop, stopped) = watch::channel(Stop::No);
        controls.stops.insert(id.to_owned(), stop);
        Ok((stopped, alive))
    }

    /// A place for one more interactive launch, held until it ends; refused (UNAVAILABLE: HTTP
    /// callers get 503, not the 413 of RESOURCE_EXHAUSTED, which means a body too large) when
    /// `local.max_interactive` of them run already.
    pub(super) fn take_interactive(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.interactive.clone().try_acquire_owned().map_err(|_| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "this launcher runs as many interactive launches as local.max_interactive (EXECENV_LOCAL__MAX_INTERACTIVE) allows, {}; cancel one or raise the setting",
                    self.max_interactive
                ),
            )
        })
    }

    /// Forgets a launch that has ended.
    pub(super) fn forget(&self, id: &str) {
        self.controls().stops.remove(id);
    }

    /// Asks launch `id` to stop for `why`; false when it is not running here (finished, or never
    /// ours). A launch already asked keeps its first reason.
    pub(super) fn stop(&self, id: &str, why: Stop) -> bool {
        match self.controls().stops.get(id) {
            Some(stop) => {
                ask(stop, why);
                true
            }
            None => false,
        }
    }

    /// Asks every launch to stop for shutdown and refuses new ones; returns how many there were.
    pub(super) fn stop_all(&self) -> usize {
        let mut controls = self.controls();
        controls.alive = None;
        for stop in controls.stops.values() {
            ask(stop, Stop::Shutdown);
        }
        controls.stops.len()
    }

    /// Applies an observation to the table and writes the launch's record.
    pub(super) fn observe(&self, id: &str, seen: Observation) -> Option<Launch> {
        let held = self.launches.observe(id, seen);
        self.persist_logged(id);
        held
    }

    /// Writes launch `id` as the table now holds it to its `launch.json`.
    pub(super) fn persist(&self, id: &str) -> std::io::Result<()> {
        let _one_writer = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        match self.launches.get(id) {
            Some(launch) => self.dir.launch(id).write_record(&launch),
            None => Ok(()),
        }
    }

    fn persist_logged(&self, id: &str) {
        if let Err(e) = self.persist(id) {
            tracing::error!(launch = %id, path = %self.dir.launch(id).record().display(), error = %e,
                "cannot write the launch record; after a restart this launch will be unknown or out of date");
        }
    }

    /// Logs once per environment that its own supervisor (a path inside its image) is not used.
    pub(super) fn report_supervisor(&self, environment: &Environment) {
        let Some(own) = &environment.spec.supervisor else {
            return;
        };
        let guid = environment.guid.to_string();
        let first = self
            .supervisors_reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(guid.clone());
        if first {
            tracing::info!(environment = %guid, supervisor = %own,
                global_supervisor = self.supervisor.as_deref().unwrap_or("none"),
                "the environment's supervisor is a path inside its image and is not used by the local backend; EXECENV_LOCAL__SUPERVISOR wraps local launches");
        }
    }

    fn controls(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Flips the switch to `why` unless it was already flipped (the first reason wins).
fn ask(stop: &watch::Sender<Stop>, why: Stop) {
    stop.send_if_modified(|s| {
        let first = *s == Stop::No;
        if first {
            *s = why;
        }
        first
    });
}
