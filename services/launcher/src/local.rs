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
//! An interactive launch takes none of the slots: at most `max_interactive` of them run, each
//! serving on a loopback port the launcher picked, probed until it answers (READY) and restarted
//! after every exit with a growing wait until it is stopped (see [`interactive`], [`restart`]).
//!
//! Cancel and shutdown stop a process group with SIGTERM, then SIGKILL after the grace period; the
//! whole group is killed once its leader has exited, so no process of a launch outlives it.

mod command;
#[cfg(test)]
pub(crate) mod fixtures;
mod interactive;
#[cfg(test)]
mod interactive_tests;
mod layout;
mod logs;
mod process;
mod restart;
mod shared;
mod slots;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use execenv_core::{Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use tokio::sync::mpsc;

use crate::job_spec::LaunchKind;
use crate::launch::{Launch, LogStream, Observation, Plan, State};
use crate::table::Launches;
use crate::{LocalConfig, StartError};
use command::{Stop, find_runner};
use layout::DataDir;
use shared::Shared;

/// How long Cancel waits beyond the grace period for a killed process to be reaped.
const REAP_MARGIN: Duration = Duration::from_secs(5);

/// What a Cancel makes of a local launch: CANCELLED on request.
pub fn cancelled() -> Observation {
    command::stopped_while_running(Stop::Cancel)
}

/// Host processes of the content runner.
pub struct LocalBackend {
    shared: Arc<Shared>,
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
        for (setting, zero) in [
            (
                "local.max_concurrent (EXECENV_LOCAL__MAX_CONCURRENT)",
                config.max_concurrent == 0,
            ),
            (
                "local.max_interactive (EXECENV_LOCAL__MAX_INTERACTIVE)",
                config.max_interactive == 0,
            ),
            (
                "local.restart_backoff_max_ms (EXECENV_LOCAL__RESTART_BACKOFF_MAX_MS)",
                config.restart_backoff_max_ms == 0,
            ),
        ] {
            if zero {
                return Err(StartError::Config(format!(
                    "{setting} is 0; it must be at least 1"
                )));
            }
        }
        let dir = DataDir::create(&config.data_dir).map_err(StartError::failed)?;
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let runner = find_runner(
            config.runner.as_deref(),
            exe_dir.as_deref(),
            std::env::var_os("PATH").as_deref(),
        )
        .map_err(StartError::failed)?;
        let (recovered, restarted) = process::recover(&dir, &launches);
        let (alive, mut all_ended) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(
            config, dir, runner, supervisor, launches, alive,
        ));
        tracing::info!(data_dir = %shared.dir.root().display(), runner = %shared.runner.display(),
            slots = config.max_concurrent, max_interactive = config.max_interactive, supervisor = shared.supervisor.as_deref().unwrap_or("none"),
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
    /// starts once a slot is free. An interactive launch takes no slot but starts at once, or is
    /// refused (UNAVAILABLE) when `local.max_interactive` of them run already. Returns at
    /// once, with the launch as now held.
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
        let place = match plan.request.kind {
            LaunchKind::Interactive => Some(shared.take_interactive()?),
            LaunchKind::Build | LaunchKind::Run => None,
        };
        let (stop, alive) = shared.register(&id)?;
        if let Err(e) = shared.persist(&id) {
            shared.forget(&id);
            return Err(Error::unavailable(format!(
                "cannot write the launch record {}: {e}; check that EXECENV_LOCAL__DATA_DIR is writable",
                shared.dir.launch(&id).record().display()
            )));
        }
        if let Some(place) = place {
            let accepted = plan.launch.clone();
            tokio::spawn(interactive::run(shared.clone(), plan, place, stop, alive));
            return Ok(shared.launches.get(&id).unwrap_or(accepted));
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
        if !shared.stop(id, Stop::Cancel) {
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
