//! A launch as the launcher keeps it: what was asked, where it runs and how far it got; and what
//! passes between the service and a backend: the [`Plan`] of a launch going in, its output as a
//! [`LogStream`] coming out; the [`Milestones`] a backend saw and the [`Phase`]s between them.
//! Plain data shared by both backends and their dispatch in [`crate::backend`]; the wire form is
//! in [`crate::wire`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use execenv_core::{Environment, Error};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::job_spec::{ChosenInstallation, LaunchKind, LaunchRequest};

/// Where a launch is in its life. The last three are final: a finished launch never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted; queued for a slot (local) or waiting for its pod (Kubernetes).
    Pending,
    /// The content container or process is running.
    Running,
    /// It exited 0.
    Succeeded,
    /// It exited non-zero, could not start, hit its deadline or was interrupted.
    Failed,
    /// It was stopped on request.
    Cancelled,
    /// Interactive launches: answering on their address. An instance that stops answering goes
    /// back to `Running` until it is ready again.
    Ready,
}

impl State {
    /// Whether the state is final.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Succeeded | State::Failed | State::Cancelled)
    }

    /// The metric label and the lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Ready => "ready",
        }
    }
}

/// Which backend runs a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Host processes.
    Local,
    /// `batch/v1` Jobs.
    Kubernetes,
}

impl BackendKind {
    /// The metric label and the configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Kubernetes => "kubernetes",
        }
    }
}

/// An installation chosen for the launch, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    /// `python`, `r` or `quarto`.
    pub language: String,
    /// Its version.
    pub version: String,
    /// Its path (inside the image, or on the host for the local backend).
    pub path: String,
}

/// One launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The request id: idempotency key and id.
    pub id: String,
    /// Build or run.
    pub kind: LaunchKind,
    /// The content's guid.
    pub content_guid: String,
    /// The bundle id.
    pub bundle: String,
    /// Where it is.
    pub state: State,
    /// Why (a CamelCase word: `Queued`, `ContainerCreating`, `Completed`, `Error`, …).
    pub reason: String,
    /// Detail for the reason.
    pub message: String,
    /// The content's exit code once known.
    pub exit_code: Option<i32>,
    /// The environment's guid.
    pub environment_guid: String,
    /// The environment's title, or its name.
    pub environment_title: String,
    /// The image (the environment's name).
    pub image: String,
    /// The installations chosen per language.
    pub installations: Vec<Installation>,
    /// How the environment was selected.
    pub selected_by: String,
    /// The backend running it.
    pub backend: BackendKind,
    /// Kubernetes: the Job's name (empty for local launches).
    pub job_name: String,
    /// Kubernetes: the Job's namespace (empty for local launches).
    pub namespace: String,
    /// When the launcher accepted it.
    pub created: DateTime<Utc>,
    /// When the Job was created or the process spawned.
    pub submitted: Option<DateTime<Utc>>,
    /// When it started running.
    pub started: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished: Option<DateTime<Utc>>,
    /// The moments of its life the backend reported, each kept as first seen.
    #[serde(default)]
    pub milestones: Milestones,
    /// Interactive: where the app answers (`host:port`), once known.
    #[serde(default)]
    pub address: String,
    /// Interactive: how many times the app was restarted after it exited.
    #[serde(default)]
    pub restarts: u32,
    /// Interactive: when it was first ready.
    #[serde(default)]
    pub ready: Option<DateTime<Utc>>,
    /// The user guid of who asked; empty when a service asked as itself (and for launches
    /// recorded before owners were).
    #[serde(default)]
    pub owner_guid: String,
}

impl Launch {
    /// A new PENDING launch of `request` in `environment` with `installations`.
    pub fn new(
        request: &LaunchRequest,
        environment: &Environment,
        installations: &[ChosenInstallation],
        selected_by: &str,
        backend: BackendKind,
    ) -> Launch {
        let spec = &environment.spec;
        Launch {
            id: request.request_id.clone(),
            kind: request.kind,
            content_guid: request.content_guid.clone(),
            bundle: request.bundle_id.clone(),
            state: State::Pending,
            reason: "Accepted".to_owned(),
            message: String::new(),
            exit_code: None,
            environment_guid: environment.guid.to_string(),
            environment_title: spec.title.clone().unwrap_or_else(|| spec.name.clone()),
            image: spec.name.clone(),
            installations: installations
                .iter()
                .map(|i| Installation {
                    language: i.language.as_str().to_owned(),
                    version: i.version.clone(),
                    path: i.path.clone(),
                })
                .collect(),
            selected_by: selected_by.to_owned(),
            backend,
            job_name: String::new(),
            namespace: String::new(),
            created: Utc::now(),
            submitted: None,
            started: None,
            finished: None,
            milestones: Milestones::default(),
            address: String::new(),
            restarts: 0,
            ready: None,
            owner_guid: String::new(),
        }
    }
}

/// What a backend observed about a launch; applied with [`crate::table::Launches::observe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The state it is in.
    pub state: State,
    /// Why.
    pub reason: String,
    /// Detail.
    pub message: String,
    /// The exit code, when known.
    pub exit_code: Option<i32>,
    /// The moments of the launch's life seen so far (none known: all `None`).
    pub milestones: Milestones,
    /// Interactive: the address, once known (None: unchanged).
    pub address: Option<String>,
    /// Interactive: the restart count seen (None: unchanged).
    pub restarts: Option<u32>,
}

impl Observation {
    /// An observation without an exit code.
    pub fn new(state: State, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Observation {
            state,
            reason: reason.into(),
            message: message.into(),
            exit_code: None,
            milestones: Milestones::default(),
            address: None,
            restarts: None,
        }
    }

    /// With the address the app answers on.
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// With the restart count.
    pub fn with_restarts(mut self, restarts: u32) -> Self {
        self.restarts = Some(restarts);
        self
    }

    /// With the exit code.
    pub fn with_exit_code(mut self, code: Option<i32>) -> Self {
        self.exit_code = code;
        self
    }

    /// With the milestones seen.
    pub fn with_milestones(mut self, milestones: Milestones) -> Self {
        self.milestones = milestones;
        self
    }
}

/// The moments of a launch's life as its backend saw them: the Kubernetes backend reads them from
/// the Job and its pod (see `kubernetes::phases`), the local backend knows only when its process
/// started and ended. Consecutive milestones bound the [`Phase`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestones {
    /// The Job was created (its `creationTimestamp`).
    pub job_created: Option<DateTime<Utc>>,
    /// The scheduler bound the pod to a node (condition `PodScheduled`).
    pub scheduled: Option<DateTime<Utc>>,
    /// The runtime init container started: the sandbox exists and the runtime image is pulled.
    pub init_started: Option<DateTime<Utc>>,
    /// The runtime init container ended.
    pub init_finished: Option<DateTime<Utc>>,
    /// The content container (or process) started.
    pub content_started: Option<DateTime<Utc>>,
    /// The content container (or process) ended, or the Job finished.
    pub content_finished: Option<DateTime<Utc>>,
}

impl Milestones {
    /// Fills in what `seen` knows and `self` does not; a milestone once known is kept, so each
    /// phase has one duration for the whole launch.
    pub fn merge(&mut self, seen: &Milestones) {
        let Milestones {
            job_created,
            scheduled,
            init_started,
            init_finished,
            content_started,
            content_finished,
        } = *seen;
        self.job_created = self.job_created.or(job_created);
        self.scheduled = self.scheduled.or(scheduled);
        self.init_started = self.init_started.or(init_started);
        self.init_finished = self.init_finished.or(init_finished);
        self.content_started = self.content_started.or(content_started);
        self.content_finished = self.content_finished.or(content_finished);
    }

    /// How long `phase` took, once both its ends are known. An end before its start (clocks of
    /// the control plane and of the node apart) counts as zero.
    pub fn duration(&self, phase: Phase) -> Option<Duration> {
        let (start, end) = match phase {
            Phase::Scheduling => (self.job_created, self.scheduled),
            Phase::Sandbox => (self.scheduled, self.init_started),
            Phase::Init => (self.init_started, self.init_finished),
            Phase::RunnerStart => (self.init_finished, self.content_started),
            Phase::Run => (self.content_started, self.content_finished),
        };
        Some((end? - start?).to_std().unwrap_or_default())
    }
}

/// A stretch of a launch between two [`Milestones`] (the `phase` label of
/// `execenv_launcher_phase_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Job created → pod scheduled.
    Scheduling,
    /// Pod scheduled → init container started: the pod sandbox and the runtime image's pull.
    Sandbox,
    /// Init container started → ended: copying the runtime.
    Init,
    /// Init container ended → content container started: the content image's pull and start.
    RunnerStart,
    /// Content started → ended.
    Run,
}

impl Phase {
    /// Every phase, in the order a launch goes through them.
    pub const ALL: [Phase; 5] = [
        Phase::Scheduling,
        Phase::Sandbox,
        Phase::Init,
        Phase::RunnerStart,
        Phase::Run,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduling => "scheduling",
            Phase::Sandbox => "sandbox",
            Phase::Init => "init",
            Phase::RunnerStart => "runner_start",
            Phase::Run => "run",
        }
    }

    /// The phases `backend` can see: all of them on Kubernetes; only `run` for local processes,
    /// which have no Job, pod or init container.
    pub fn of(backend: BackendKind) -> &'static [Phase] {
        match backend {
            BackendKind::Kubernetes => &Phase::ALL,
            BackendKind::Local => &[Phase::Run],
        }
    }
}

/// Everything a backend needs to start one launch.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The validated request.
    pub request: LaunchRequest,
    /// The environment the selector chose.
    pub environment: Environment,
    /// The installations chosen per language.
    pub installations: Vec<ChosenInstallation>,
    /// The PENDING record already in the table (same id as the request).
    pub launch: Launch,
}

/// The output of a launch, chunk by chunk.
pub type LogStream = BoxStream<'static, Result<Vec<u8>, Error>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_takes_the_time_between_its_milestones_and_zero_when_clocks_disagree() {
        let t0: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().expect("time");
        let mut m = Milestones {
            job_created: Some(t0),
            scheduled: Some(t0 + chrono::Duration::seconds(2)),
            ..Milestones::default()
        };
        assert_eq!(m.duration(Phase::Scheduling), Some(Duration::from_secs(2)));
        assert_eq!(m.duration(Phase::Sandbox), None, "no end yet");
        // The node's clock behind the scheduler's.
        m.init_started = Some(t0 + chrono::Duration::seconds(1));
        assert_eq!(m.duration(Phase::Sandbox), Some(Duration::ZERO));
    }
}
