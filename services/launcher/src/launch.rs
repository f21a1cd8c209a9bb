//! A launch as the launcher keeps it: what was asked, where it runs and how far it got; and what
//! passes between the service and a backend: the [`Plan`] of a launch going in, its output as a
//! [`LogStream`] coming out. Plain data shared by both backends and their dispatch in
//! [`crate::backend`]; the wire form is in [`crate::wire`].

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
}

impl Observation {
    /// An observation without an exit code.
    pub fn new(state: State, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Observation {
            state,
            reason: reason.into(),
            message: message.into(),
            exit_code: None,
        }
    }

    /// With the exit code.
    pub fn with_exit_code(mut self, code: Option<i32>) -> Self {
        self.exit_code = code;
        self
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
