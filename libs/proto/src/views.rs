//! The services' answers in words, shared by the service that keeps them, execenvctl (which
//! prints them) and the gateway (which answers them as JSON): the selector's choices, the
//! launcher's launches, config-sync's status and the registry's security events; the image
//! examiner's in [`examiner`]. Enums
//! become lowercase words, times RFC 3339.

use chrono::{DateTime, Utc};
use execenv_core::{Environment, Error};
use serde::Serialize;

use crate::convert::{from_timestamp, timestamp};
use crate::environments::v1 as env;
use crate::identity::v1 as id;
use crate::launcher::v1 as pb;
use crate::selector::v1 as sel;
use crate::sync::v1 as sync;

pub mod examiner;

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
    /// The image examiner's line when the image is in drift or unreadable ("in drift: …",
    /// "image unreadable: …"); None when it matches, is unchecked, or no examiner is followed.
    pub drift: Option<String>,
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
            drift: Some(v.drift).filter(|d| !d.is_empty()),
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
    /// Interactive: where the app answers (`host:port`); empty until known.
    pub address: String,
    /// Interactive: how many times the app was restarted after it exited.
    pub restarts: u32,
    /// Interactive: when it was first ready (minus `created_time`: its cold start).
    pub ready_time: Option<DateTime<Utc>>,
    /// The user guid of who asked; empty when a service asked as itself.
    pub owner_guid: String,
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
            pb::Kind::Interactive => "interactive",
            pb::Kind::Unspecified => "unknown",
        };
        let state = match l.state() {
            pb::State::Pending => "pending",
            pb::State::Running => "running",
            pb::State::Succeeded => "succeeded",
            pb::State::Failed => "failed",
            pb::State::Cancelled => "cancelled",
            pb::State::Ready => "ready",
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
            ready_time: l.ready_time.as_ref().and_then(from_timestamp),
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
            address: l.address,
            restarts: l.restarts,
            owner_guid: l.owner_guid,
        }
    }
}

/// How the last sync of config-sync's declarative file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncOutcome {
    /// No sync has run yet.
    Never,
    /// The last sync applied the file (or found it unchanged after a success).
    Ok,
    /// The last sync failed; the registry holds the last good state.
    Failed,
}

impl SyncOutcome {
    /// `never`, `ok` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncOutcome::Never => "never",
            SyncOutcome::Ok => "ok",
            SyncOutcome::Failed => "failed",
        }
    }

    /// Parses the word [`SyncOutcome::as_str`] gives.
    pub fn parse(s: &str) -> Option<SyncOutcome> {
        [SyncOutcome::Never, SyncOutcome::Ok, SyncOutcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The outcome of config-sync's last sync: what config-sync keeps and its `Status` call answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The declarative file.
    pub file: String,
    /// How the last sync ended.
    pub outcome: SyncOutcome,
    /// When the last sync that called the registry, or failed, ended (unchanged checks do not
    /// count).
    pub last_sync_time: Option<DateTime<Utc>>,
    /// When the last successful sync ended.
    pub last_success_time: Option<DateTime<Utc>>,
    /// Digest of the last successfully applied definitions.
    pub digest: String,
    /// File-managed environments after the last successful sync.
    pub managed_count: u64,
    /// Why the last sync failed (empty after a success).
    pub error: String,
    /// Every problem of the last failed sync.
    pub problems: Vec<String>,
}

impl SyncStatus {
    /// The status of `file` before any sync.
    pub fn never(file: impl Into<String>) -> Self {
        SyncStatus {
            file: file.into(),
            outcome: SyncOutcome::Never,
            last_sync_time: None,
            last_success_time: None,
            digest: String::new(),
            managed_count: 0,
            error: String::new(),
            problems: Vec::new(),
        }
    }
}

impl From<&SyncStatus> for sync::StatusResponse {
    fn from(s: &SyncStatus) -> Self {
        sync::StatusResponse {
            file: s.file.clone(),
            outcome: s.outcome.as_str().to_owned(),
            last_sync_time: s.last_sync_time.map(timestamp),
            last_success_time: s.last_success_time.map(timestamp),
            digest: s.digest.clone(),
            error: s.error.clone(),
            problems: s.problems.clone(),
            managed_count: s.managed_count,
        }
    }
}

impl TryFrom<sync::StatusResponse> for SyncStatus {
    type Error = Error;

    fn try_from(s: sync::StatusResponse) -> Result<Self, Error> {
        let outcome = SyncOutcome::parse(&s.outcome).ok_or_else(|| {
            Error::internal(format!(
                "config-sync reported the outcome {:?}, which is not never, ok or failed",
                s.outcome
            ))
        })?;
        Ok(SyncStatus {
            file: s.file,
            outcome,
            last_sync_time: s.last_sync_time.as_ref().and_then(from_timestamp),
            last_success_time: s.last_success_time.as_ref().and_then(from_timestamp),
            digest: s.digest,
            managed_count: s.managed_count,
            error: s.error,
            problems: s.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn failed() -> SyncStatus {
        SyncStatus {
            file: "/etc/execenv/environments.yaml".into(),
            outcome: SyncOutcome::Failed,
            last_sync_time: DateTime::from_timestamp(1_769_860_800, 0),
            last_success_time: None,
            digest: "0123456789abcdef".into(),
            managed_count: 4,
            error: "the file has 1 problem".into(),
            problems: vec!["executionEnvironments[0].name: is required".into()],
        }
    }

    #[test]
    fn sync_status_round_trips_through_the_status_answer() {
        let wire = sync::StatusResponse::from(&failed());
        assert_eq!(wire.outcome, "failed");
        assert_eq!(
            wire.last_sync_time,
            Some(prost_types::Timestamp {
                seconds: 1_769_860_800,
                nanos: 0
            })
        );
        assert_eq!(SyncStatus::try_from(wire).unwrap(), failed());
    }

    #[test]
    fn sync_status_with_an_unknown_outcome_is_refused_naming_it() {
        let wire = sync::StatusResponse {
            outcome: "pending".into(),
            ..sync::StatusResponse::default()
        };
        let e = SyncStatus::try_from(wire).unwrap_err();
        assert!(e.message.contains("\"pending\""), "{}", e.message);
    }

    #[test]
    fn sync_status_before_any_sync_says_never_in_words() {
        let json = serde_json::to_value(SyncStatus::never("environments.yaml")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "file": "environments.yaml",
                "outcome": "never",
                "last_sync_time": null,
                "last_success_time": null,
                "digest": "",
                "managed_count": 0,
                "error": "",
                "problems": [],
            })
        );
    }

    #[test]
    fn a_verdicts_drift_is_its_line_or_null_in_json() {
        let wire = |drift: &str| {
            sel::Verdict {
            environment_guid: "8f0c1e2a-0000-4000-8000-000000000001".into(),
            name: "ghcr.io/acme/python:3.11".into(),
            outcome: sel::verdict::Outcome::Rejected as i32,
            reasons: vec!["in drift and selection.skip_drift is on: R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image".into()],
            drift: drift.into(),
            ..sel::Verdict::default()
        }
        };
        let drifted = VerdictView::from(wire(
            "in drift: R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image",
        ));
        assert_eq!(
            serde_json::to_value(&drifted).unwrap()["drift"],
            "in drift: R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image"
        );
        let matching = VerdictView::from(wire(""));
        assert_eq!(matching.drift, None);
        assert_eq!(
            serde_json::to_value(&matching).unwrap()["drift"],
            serde_json::Value::Null
        );
    }
}

/// One security event (API key created or revoked, permission added or removed, repeated failed
/// sign-ins) in words; every field is present, `null` when it does not apply to the kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityEventView {
    /// Its place in the trail (increasing).
    pub id: i64,
    /// When it happened.
    pub time: Option<DateTime<Utc>>,
    /// api_key_created | api_key_revoked | permission_added | permission_removed |
    /// sign_in_failures.
    pub kind: String,
    /// Who did it: a user's guid, `service`, or empty for sign_in_failures (nobody known).
    pub actor: String,
    /// The user concerned (the key's owner, a permission's user).
    pub user_guid: Option<String>,
    /// The group of a permission.
    pub group_guid: Option<String>,
    /// The API key's id.
    pub api_key_id: Option<String>,
    /// The API key's first characters.
    pub api_key_prefix: Option<String>,
    /// How a key was revoked: disabled | deleted | user_deleted.
    pub revocation: Option<String>,
    /// The environment of a permission.
    pub environment_guid: Option<String>,
    /// The permission's guid.
    pub permission_guid: Option<String>,
    /// The client address that failed to sign in.
    pub client_address: Option<String>,
    /// How many sign-ins failed in the window.
    pub failures: Option<u32>,
}

impl From<id::SecurityEvent> for SecurityEventView {
    fn from(e: id::SecurityEvent) -> Self {
        SecurityEventView {
            id: e.id,
            time: e.time.as_ref().and_then(from_timestamp),
            kind: e.kind,
            actor: e.actor,
            user_guid: e.user_guid,
            group_guid: e.group_guid,
            api_key_id: e.api_key_id,
            api_key_prefix: e.api_key_prefix,
            revocation: e.revocation,
            environment_guid: e.environment_guid,
            permission_guid: e.permission_guid,
            client_address: e.client_address,
            failures: e.failures,
        }
    }
}
