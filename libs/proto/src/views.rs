//! The selector's and the launcher's answers in words, shared by execenvctl (which prints them)
//! and the gateway (which answers them as JSON): enums become lowercase words, times RFC 3339.

use chrono::{DateTime, Utc};
use execenv_core::{Environment, Error};
use serde::Serialize;

use crate::convert::from_timestamp;
use crate::environments::v1 as env;
use crate::launcher::v1 as pb;
use crate::selector::v1 as sel;

/// The environment chosen and the installation used per language: what `Select` answers, in
/// words. `E` is how the environment is shown (the core model, or Connect's JSON in the gateway).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionView<E = Environment> {
    /// The chosen environment.
    pub environment: E,
    /// The installation used per needed language.
    pub installations: Vec<InstallationView>,
    /// What chose it: manifest-identifier | manifest-image | content-default-environment |
    /// content-default-image | automatic.
    pub selected_by: String,
    /// The catalogue revision the answer was made from.
    pub revision: i64,
    /// Seconds since the catalogue was last known to be current (0 while connected).
    pub catalogue_age_seconds: f64,
}

/// The installation used for one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallationView {
    /// python | r | quarto.
    pub language: String,
    /// Its version.
    pub version: String,
    /// Its executable.
    pub path: String,
    /// exact | major-minor | major | constraint.
    pub closeness: String,
}

/// Every environment's verdict and the selection: what `Explain` answers, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplanationView<E = Environment> {
    /// One per environment, in the order the selector sent them.
    pub verdicts: Vec<VerdictView>,
    /// The selection, when an environment was chosen.
    pub selection: Option<SelectionView<E>>,
    /// Why nothing was chosen (empty when something was).
    pub error: String,
    /// The catalogue revision the answer was made from.
    pub revision: i64,
    /// Seconds since the catalogue was last known to be current (0 while connected).
    pub catalogue_age_seconds: f64,
}

/// One environment's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictView {
    /// Its guid.
    pub environment_guid: String,
    /// Its image name.
    pub name: String,
    /// Its title.
    pub title: Option<String>,
    /// chosen | compatible | rejected.
    pub outcome: String,
    /// Why it was rejected, or the comparison it lost.
    pub reasons: Vec<String>,
    /// The installations it would use.
    pub installations: Vec<InstallationView>,
}

impl<E> SelectionView<E> {
    /// The view of `r`, its environment shown by `show`.
    pub fn from_wire(
        r: sel::SelectResponse,
        show: impl Fn(env::Environment) -> Result<E, Error>,
    ) -> Result<Self, Error> {
        let environment = r.environment.ok_or_else(|| {
            Error::internal("the selector answered without the environment it chose")
        })?;
        Ok(SelectionView {
            environment: show(environment)?,
            installations: r.installations.into_iter().map(Into::into).collect(),
            selected_by: r.selected_by,
            revision: r.revision,
            catalogue_age_seconds: r.catalogue_age_seconds,
        })
    }
}

impl TryFrom<sel::SelectResponse> for SelectionView {
    type Error = Error;

    fn try_from(r: sel::SelectResponse) -> Result<Self, Error> {
        SelectionView::from_wire(r, Environment::try_from)
    }
}

impl<E> ExplanationView<E> {
    /// The view of `r`, the chosen environment shown by `show`.
    pub fn from_wire(
        r: sel::ExplainResponse,
        show: impl Fn(env::Environment) -> Result<E, Error>,
    ) -> Result<Self, Error> {
        Ok(ExplanationView {
            verdicts: r.verdicts.into_iter().map(Into::into).collect(),
            selection: r
                .selection
                .map(|s| SelectionView::from_wire(s, &show))
                .transpose()?,
            error: r.error,
            revision: r.revision,
            catalogue_age_seconds: r.catalogue_age_seconds,
        })
    }
}

impl TryFrom<sel::ExplainResponse> for ExplanationView {
    type Error = Error;

    fn try_from(r: sel::ExplainResponse) -> Result<Self, Error> {
        ExplanationView::from_wire(r, Environment::try_from)
    }
}

impl From<sel::ChosenInstallation> for InstallationView {
    fn from(i: sel::ChosenInstallation) -> Self {
        InstallationView {
            language: i.language,
            version: i.version,
            path: i.path,
            closeness: i.closeness,
        }
    }
}

impl From<sel::Verdict> for VerdictView {
    fn from(v: sel::Verdict) -> Self {
        use sel::verdict::Outcome;
        let outcome = match v.outcome() {
            Outcome::Chosen => "chosen",
            Outcome::Compatible => "compatible",
            Outcome::Rejected => "rejected",
            Outcome::Unspecified => "unknown",
        };
        VerdictView {
            environment_guid: v.environment_guid,
            name: v.name,
            title: v.title.filter(|t| !t.is_empty()),
            outcome: outcome.to_owned(),
            reasons: v.reasons,
            installations: v.installations.into_iter().map(Into::into).collect(),
        }
    }
}

/// One launch in words: the wire message with its enums as words and its times as RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchView {
    /// The launch id (its request id).
    pub id: String,
    /// build | run.
    pub kind: String,
    /// The content's guid.
    pub content_guid: String,
    /// The bundle id.
    pub bundle: String,
    /// pending | running | succeeded | failed | cancelled.
    pub state: String,
    /// Why it is in that state (Queued, ContainerCreating, Completed, Error, …).
    pub reason: String,
    /// Detail for the reason.
    pub message: String,
    /// The content container's exit code once it has one.
    pub exit_code: Option<i32>,
    /// The environment chosen.
    pub environment_guid: String,
    /// Its title (or image name when it has none).
    pub environment_title: String,
    /// The container image.
    pub image: String,
    /// The installation used per needed language.
    pub installations: Vec<LaunchInstallation>,
    /// How the environment was selected (as `select` shows it).
    pub selected_by: String,
    /// local | kubernetes.
    pub backend: String,
    /// Kubernetes: the Job's name.
    pub job_name: String,
    /// Kubernetes: the Job's namespace.
    pub namespace: String,
    /// When the launch was accepted.
    pub created_time: Option<DateTime<Utc>>,
    /// When the content started.
    pub started_time: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_time: Option<DateTime<Utc>>,
}

/// The installation a launch uses for one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchInstallation {
    /// python | r | quarto.
    pub language: String,
    /// Its version.
    pub version: String,
    /// Its executable.
    pub path: String,
}

/// Whether the launch has finished: succeeded, failed or cancelled.
pub fn is_finished(l: &pb::Launch) -> bool {
    matches!(
        l.state(),
        pb::State::Succeeded | pb::State::Failed | pb::State::Cancelled
    )
}

/// Whether the launch finished successfully.
pub fn succeeded(l: &pb::Launch) -> bool {
    l.state() == pb::State::Succeeded
}

impl From<pb::Launch> for LaunchView {
    fn from(l: pb::Launch) -> Self {
        let kind = match l.kind() {
            pb::Kind::Build => "build",
            pb::Kind::Run => "run",
            pb::Kind::Unspecified => "unknown",
        };
        let state = match l.state() {
            pb::State::Pending => "pending",
            pb::State::Running => "running",
            pb::State::Succeeded => "succeeded",
            pb::State::Failed => "failed",
            pb::State::Cancelled => "cancelled",
            pb::State::Unspecified => "unknown",
        };
        let backend = match l.backend() {
            pb::Backend::Local => "local",
            pb::Backend::Kubernetes => "kubernetes",
            pb::Backend::Unspecified => "unknown",
        };
        LaunchView {
            kind: kind.to_owned(),
            state: state.to_owned(),
            backend: backend.to_owned(),
            created_time: l.created_time.as_ref().and_then(from_timestamp),
            started_time: l.started_time.as_ref().and_then(from_timestamp),
            finished_time: l.finished_time.as_ref().and_then(from_timestamp),
            installations: l
                .installations
                .into_iter()
                .map(|i| LaunchInstallation {
                    language: i.language,
                    version: i.version,
                    path: i.path,
                })
                .collect(),
            id: l.id,
            content_guid: l.content_guid,
            bundle: l.bundle,
            reason: l.reason,
            message: l.message,
            exit_code: l.exit_code,
            environment_guid: l.environment_guid,
            environment_title: l.environment_title,
            image: l.image,
            selected_by: l.selected_by,
            job_name: l.job_name,
            namespace: l.namespace,
        }
    }
}
