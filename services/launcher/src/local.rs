//! The local backend: builds and runs content as host processes of the content runner.
//!
//! The data folder has the layout of the Kubernetes data and cache claims (see [`layout`]). A
//! launch waits for one of `max_concurrent` slots (PENDING, reason `Queued`), then the runner is
//! spawned in its own process group, with its output appended to the launch's `output.log`:
//! `[supervisor] execenv-content-runner build|run --bundle … --work … [--cache …] --status-file …
//! [-- command…]`, the chosen installations passed as `EXECENV_PYTHON`, `EXECENV_R`,
//! `EXECENV_QUARTO`. Every change of a launch is written to its `launch.json`, which the next
//! start reads back: a launch that was unfinished then becomes FAILED `LauncherRestarted`.
//!
//! Cancel and shutdown stop a process group with SIGTERM, then SIGKILL after the grace period; the
//! whole group is killed once its leader has exited, so no process of a launch outlives it.

mod command;
#[cfg(test)]
mod fixtures;
mod layout;
mod logs;
mod process;
mod slots;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use execenv_core::{Environment, Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use tokio::sync::{mpsc, watch};

use crate::backend::{LogStream, Plan};
use crate::launch::{Launch, Observation, State};
use crate::table::Launches;
use crate::{LocalConfig, StartError};
use command::{Stop, find_runner};
use layout::DataDir;
use slots::Slots;

/// How long Cancel waits beyond the grace period for a killed process to be reaped.
const REAP_MARGIN: Duration = Duration::from_secs(5);

/// Host processes of the content runner.
pub struct LocalBackend {
    shared: Arc<Shared>,
}

/// What the backend and its launch tasks share.
struct Shared {
    dir: DataDir,
    runner: PathBuf,
    supervisor: Option<String>,
    grace: Duration,
    launches: Launches,
    slots: Slots,
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

impl LocalBackend {
    /// Opens the data folder, finds the content runner, reads back the launches of earlier runs
    /// and returns the backend with a task that, on shutdown, stops every running launch (SIGTERM,
    /// the grace period, SIGKILL) and completes once they have ended.
    pub async fn open(
        config: &LocalConfig,
        supervisor: Option<String>,
        launches: Launches,
        shutdown: Shutdown,
    ) -> Result<(LocalBackend, tokio::task::JoinHandle<()>), StartError> {
        if config.max_concurrent == 0 {
            return Err(StartError::Config(
                "local.max_concurrent (EXECENV_LOCAL__MAX_CONCURRENT) is 0; it must be at least 1"
                    .into(),
            ));
        }
        let dir = DataDir::create(&config.data_dir).map_err(StartError::Backend)?;
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let runner = find_runner(
            config.runner.as_deref(),
            exe_dir.as_deref(),
            std::env::var_os("PATH").as_deref(),
        )
        .map_err(StartError::Backend)?;
        let (recovered, restarted) = process::recover(&dir, &launches);
        let (alive, mut all_ended) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            dir,
            runner,
            supervisor,
            grace: Duration::from_millis(config.cancel_grace_ms),
            launches,
            slots: Slots::new(config.max_concurrent),
            controls: Mutex::new(Controls {
                stops: HashMap::new(),
                alive: Some(alive),
            }),
            records: Mutex::new(()),
            supervisors_reported: Mutex::new(HashSet::new()),
        });
        tracing::info!(data_dir = %shared.dir.root().display(), runner = %shared.runner.display(),
            slots = config.max_concurrent, supervisor = shared.supervisor.as_deref().unwrap_or("none"),
            recovered, restarted, "local backend ready");
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                shutdown.wait().await;
                let stopping = shared.stop_all();
                if stopping > 0 {
                    tracing::info!(
                        launches = stopping,
                        "stopping the local launches (SIGTERM, then SIGKILL)"
                    );
                }
                let bound = shared.grace + REAP_MARGIN * 2;
                if tokio::time::timeout(bound, all_ended.recv()).await.is_err() {
                    tracing::error!(?bound, "some local launches did not end after SIGKILL");
                }
                tracing::info!("local backend stopped");
            })
        };
        Ok((LocalBackend { shared }, task))
    }

    /// Queues the launch whose PENDING record the service has put in the table; its process
    /// starts once a slot is free. Returns at once, with the launch as now held.
    pub async fn start(&self, plan: Plan) -> Result<Launch, Error> {
        let shared = &self.shared;
        let id = plan.launch.id.clone();
        let bundle = shared
            .dir
            .bundle(&plan.request.content_guid, &plan.request.bundle_id);
        if !bundle.is_dir() {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "the bundle {} of content {} is not in the local data folder: expected the folder {}; put the bundle there first",
                    plan.request.bundle_id,
                    plan.request.content_guid,
                    bundle.display()
                ),
            ));
        }
        shared.report_supervisor(&plan.environment);
        let (stop, alive) = shared.register(&id)?;
        if let Err(e) = shared.persist(&id) {
            shared.forget(&id);
            return Err(Error::unavailable(format!(
                "cannot write the launch record {}: {e}; check that EXECENV_LOCAL__DATA_DIR is writable",
                shared.dir.launch(&id).record().display()
            )));
        }
        let slot = shared.slots.try_take();
        if slot.is_none() {
            let position = shared.slots.enqueue(&id);
            tracing::info!(launch = %id, position, "launch queued for a free slot");
            shared.observe(
                &id,
                Observation::new(
                    State::Pending,
                    "Queued",
                    shared.slots.queued_message(position),
                ),
            );
        }
        let accepted = plan.launch.clone();
        tokio::spawn(process::run(shared.clone(), plan, slot, stop, alive));
        Ok(shared.launches.get(&id).unwrap_or(accepted))
    }

    /// Stops the launch: a queued one never starts; a running one gets SIGTERM, then SIGKILL after
    /// the grace period. Returns the launch once it has ended (CANCELLED, or what it ended as).
    pub async fn cancel(&self, launch: &Launch) -> Result<Launch, Error> {
        let shared = &self.shared;
        let id = &launch.id;
        let asked = shared.controls().stops.get(id).map(|stop| {
            stop.send_if_modified(|s| {
                let first = *s == Stop::No;
                if first {
                    *s = Stop::Cancel;
                }
                first
            })
        });
        if asked.is_none() {
            // Already finished (or never ours): nothing runs.
            return Ok(shared.launches.get(id).unwrap_or_else(|| launch.clone()));
        }
        tracing::info!(launch = %id, "cancelling launch");
        let bound = shared.grace + REAP_MARGIN;
        match tokio::time::timeout(bound, shared.launches.wait_finished(id)).await {
            Ok(found) => Ok(found.unwrap_or_else(|| launch.clone())),
            Err(_) => Err(Error::unavailable(format!(
                "launch {id:?} did not end within {} s of its cancellation (SIGTERM, then SIGKILL); Get it again later",
                bound.as_secs()
            ))),
        }
    }

    /// The launch's `output.log`; with `follow`, new output until the launch has finished.
    pub async fn logs(&self, launch: &Launch, follow: bool) -> Result<LogStream, Error> {
        let shared = &self.shared;
        Ok(logs::stream(
            shared.dir.launch(&launch.id).output(),
            launch.id.clone(),
            shared.launches.clone(),
            follow,
        ))
    }
}

impl Shared {
    /// Registers an unfinished launch; refused once the launcher is shutting down.
    fn register(&self, id: &str) -> Result<(watch::Receiver<Stop>, mpsc::Sender<()>), Error> {
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

    /// Forgets a launch that has ended.
    fn forget(&self, id: &str) {
        self.controls().stops.remove(id);
    }

    /// Asks every launch to stop for shutdown and refuses new ones; returns how many there were.
    fn stop_all(&self) -> usize {
        let mut controls = self.controls();
        controls.alive = None;
        for stop in controls.stops.values() {
            stop.send_if_modified(|s| {
                let first = *s == Stop::No;
                if first {
                    *s = Stop::Shutdown;
                }
                first
            });
        }
        controls.stops.len()
    }

    /// Applies an observation to the table and writes the launch's record.
    fn observe(&self, id: &str, seen: Observation) -> Option<Launch> {
        let held = self.launches.observe(id, seen);
        self.persist_logged(id);
        held
    }

    /// Writes launch `id` as the table now holds it to its `launch.json`.
    fn persist(&self, id: &str) -> std::io::Result<()> {
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
    fn report_supervisor(&self, environment: &Environment) {
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
                "the environment's supervisor is a path inside its image and is not used by the local backend; EXECENV_SUPERVISOR wraps local launches");
        }
    }

    fn controls(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
