//! The `execenv.selector.v1.Selector` gRPC service: `Select` and `Explain` from the current
//! catalogue and the image examiner's last checks, for the caller named in the metadata.

use std::time::{Duration, Instant};

use execenv_client::Connection;
use execenv_client::ServiceAuth;
use execenv_client::to_status;
use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::registry::v1 as reg;
use execenv_proto::selector::v1 as pb;
use tonic::{Request, Response, Status};

use crate::catalogue::{Behind, CatalogueView, SharedCatalogue};
use crate::checks::{DriftBook, SharedChecks};
use crate::metrics::{Outcome, SelectorMetrics};
use crate::select::{
    self, ChosenInstallation, ContentSettings, Exclusions, LanguageNeed, MatchingSettings,
    Requirements, Selection, VerdictOutcome,
};

/// What a request is answered with before the first catalogue arrived.
pub const NO_CATALOGUE_YET: &str = "the selector has not received the catalogue from the registry yet; it answers once the registry is reachable (check registry.url / EXECENV_REGISTRY__URL)";

/// Answers from a [`SharedCatalogue`] and [`SharedChecks`] with fixed matching settings.
pub struct SelectorService {
    catalogue: SharedCatalogue,
    checks: SharedChecks,
    settings: MatchingSettings,
    /// `selection.skip_drift`: leave out environments in drift.
    skip_drift: bool,
    /// `selection.min_revision_wait_ms`: how long a request with `min_revision` waits for the
    /// catalogue to reach it.
    min_revision_wait: Duration,
    /// The registry, asked whether a revision not reached in time was committed at all.
    registry: Option<Connection>,
    metrics: SelectorMetrics,
    auth: ServiceAuth,
}

/// A request as both calls read it.
struct Question {
    caller: Caller,
    view: CatalogueView,
    drift: std::sync::Arc<DriftBook>,
    requirements: Requirements,
    content: ContentSettings,
}

/// No exclusions: what selection gets while `selection.skip_drift` is off.
static NO_EXCLUSIONS: Exclusions = Exclusions::new();

impl Question {
    /// The environments selection leaves out: those in drift when `skip_drift`, else none.
    fn exclusions(&self, skip_drift: bool) -> &Exclusions {
        if skip_drift {
            &self.drift.drifted
        } else {
            &NO_EXCLUSIONS
        }
    }
}

impl SelectorService {
    /// The service over `catalogue` and `checks`; `skip_drift` leaves environments in drift out;
    /// `auth` says who may call. A request with `min_revision` waits up to 2 s for the catalogue
    /// to reach it ([`SelectorService::with_min_revision_wait`]).
    pub fn new(
        catalogue: SharedCatalogue,
        checks: SharedChecks,
        settings: MatchingSettings,
        skip_drift: bool,
        metrics: SelectorMetrics,
        auth: ServiceAuth,
    ) -> Self {
        SelectorService {
            catalogue,
            checks,
            settings,
            skip_drift,
            min_revision_wait: Duration::from_millis(DEFAULT_MIN_REVISION_WAIT_MS),
            registry: None,
            metrics,
            auth,
        }
    }

    /// The same service, waiting up to `wait` for the catalogue to reach a request's
    /// `min_revision`.
    pub fn with_min_revision_wait(mut self, wait: Duration) -> Self {
        self.min_revision_wait = wait;
        self
    }

    /// The same service, asking `registry` whether a revision its catalogue did not reach in
    /// time was committed: one that was not is refused as FAILED_PRECONDITION, not UNAVAILABLE.
    pub fn with_registry(mut self, registry: Connection) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Select, as an execenv result.
    async fn select(
        &self,
        request: &Request<pb::SelectRequest>,
    ) -> Result<pb::SelectResponse, Error> {
        let q = self.question(request, None).await?;
        let choice = select::select(
            &q.view.catalogue,
            &q.requirements,
            &q.content,
            &q.caller,
            &self.settings,
            q.exclusions(self.skip_drift),
        );
        self.metrics.skipped_drift(choice.skipped.len());
        Ok(select_response(&choice.selection?, &q.view))
    }

    /// Explain, as an execenv result. Viewers may not see environments at all, so they get no
    /// verdicts either.
    async fn explain(
        &self,
        request: &Request<pb::SelectRequest>,
    ) -> Result<pb::ExplainResponse, Error> {
        let q = self
            .question(request, Some("explaining a selection"))
            .await?;
        let explanation = select::explain(
            &q.view.catalogue,
            &q.requirements,
            &q.content,
            &q.caller,
            &self.settings,
            q.exclusions(self.skip_drift),
        );
        let (selection, error) = match &explanation.selection {
            Ok(s) => (Some(select_response(s, &q.view)), String::new()),
            // A request that cannot be explained (a malformed constraint) fails as Select does.
            Err(e) if is_request_error(e) => return Err(e.clone()),
            Err(e) => (None, e.message.clone()),
        };
        let verdicts = explanation
            .verdicts
            .iter()
            .map(|v| verdict(v, &q.drift))
            .collect();
        Ok(pb::ExplainResponse {
            verdicts,
            selection,
            error,
            revision: q.view.catalogue.revision(),
            catalogue_age_seconds: q.view.age.as_secs_f64(),
        })
    }

    /// What both calls start from, checked in this order: the caller (a publisher, when
    /// `publisher_action` names what needs one), the request's fields, then the catalogue (at
    /// `min_revision` or newer, waited for).
    async fn question(
        &self,
        request: &Request<pb::SelectRequest>,
        publisher_action: Option<&str>,
    ) -> Result<Question, Error> {
        let caller = self.auth.caller(request)?;
        if let Some(action) = publisher_action {
            caller.require_publisher(action)?;
        }
        let message = request.get_ref();
        let requirements = requirements(message)?;
        let view = self.view(message.min_revision).await?;
        Ok(Question {
            caller,
            view,
            drift: self.checks.current(),
            requirements,
            content: content_settings(message),
        })
    }

    /// The catalogue to answer from: the current one, or with a `min_revision`, one at that
    /// revision or newer — waited for up to `min_revision_wait`, else UNAVAILABLE.
    async fn view(&self, min_revision: i64) -> Result<CatalogueView, Error> {
        if min_revision < 0 {
            return Err(Error::invalid_field(
                "min_revision",
                format!(
                    "{min_revision} is not a revision: give 0 (any) or the revision a catalogue write answered with"
                ),
            ));
        }
        let held = self.catalogue.view();
        if min_revision == 0
            || held
                .as_ref()
                .is_some_and(|v| v.catalogue.revision() >= min_revision)
        {
            return held.ok_or_else(|| Error::unavailable(NO_CATALOGUE_YET));
        }
        let waiting = self.metrics.revision_wait_started();
        let answer = self
            .catalogue
            .view_at_least(min_revision, self.min_revision_wait)
            .await;
        waiting.ended(answer.is_ok());
        match answer {
            Ok(view) => Ok(view),
            Err(behind) => Err(self.behind(min_revision, &behind).await),
        }
    }

    /// Why a request for `min_revision` is refused, logged: FAILED_PRECONDITION when the
    /// registry says it has committed no such revision (retrying cannot help), else UNAVAILABLE.
    async fn behind(&self, min_revision: i64, behind: &Behind) -> Error {
        let waited = self.min_revision_wait.as_millis();
        let Some(held) = &behind.held else {
            tracing::info!(
                min_revision,
                waited_ms = waited,
                "refused a request for a revision: no catalogue yet"
            );
            return Error::unavailable(NO_CATALOGUE_YET);
        };
        let revision = held.catalogue.revision();
        if self.never_committed(min_revision).await {
            tracing::info!(
                min_revision,
                catalogue_revision = revision,
                "refused a request for a revision the registry has not committed"
            );
            return Error::new(
                ErrorKind::FailedPrecondition,
                never_committed_message(revision, min_revision),
            );
        }
        tracing::info!(
            min_revision,
            catalogue_revision = revision,
            waited_ms = waited,
            connected = held.age.is_zero(),
            "refused a request for a revision the catalogue has not reached"
        );
        Error::unavailable(behind_message(revision, min_revision, waited))
    }

    /// Whether the registry says it has committed no change at `revision` or later; false when
    /// it has, and when it cannot say within [`REGISTRY_ASKED_WITHIN`] (no registry given, not
    /// reachable, an error).
    async fn never_committed(&self, revision: i64) -> bool {
        let Some(registry) = &self.registry else {
            return false;
        };
        let mut raw = registry.registry(None).raw();
        let request = reg::ListChangesRequest {
            after_revision: revision - 1,
            page_size: 1,
            ..Default::default()
        };
        match tokio::time::timeout(REGISTRY_ASKED_WITHIN, raw.list_changes(request)).await {
            Ok(Ok(answer)) => answer.into_inner().changes.is_empty(),
            _ => false,
        }
    }
}

/// How long the registry is given to say whether a revision was committed.
pub const REGISTRY_ASKED_WITHIN: Duration = Duration::from_secs(2);

/// The refusal of a request for `asked`, a revision the registry has not committed (the
/// catalogue here is at `held`): FAILED_PRECONDITION, since retrying cannot help until someone
/// writes that much.
pub fn never_committed_message(held: i64, asked: i64) -> String {
    format!(
        "the registry has committed no revision {asked} yet (the catalogue here is at revision \
         {held}); give min_revision as a catalogue write answered it (X-Execenv-Revision)"
    )
}

/// How long a request with `min_revision` waits by default (`selection.min_revision_wait_ms`).
pub const DEFAULT_MIN_REVISION_WAIT_MS: u64 = 2000;

/// The refusal of a request for `asked`, a revision the catalogue (at `held`) did not reach
/// within `waited_ms`.
///
/// UNAVAILABLE rather than FAILED_PRECONDITION: nothing about the request or the system needs
/// fixing — the revision was committed and is on its way to this selector — so the same request
/// retried shortly succeeds, which is what UNAVAILABLE tells clients (and the gateway's 503 with
/// Retry-After tells HTTP clients).
pub fn behind_message(held: i64, asked: i64, waited_ms: u128) -> String {
    format!(
        "the catalogue here is at revision {held}; revision {asked} was asked for (min_revision) \
         and did not arrive within {waited_ms} ms (selection.min_revision_wait_ms); retry"
    )
}

#[tonic::async_trait]
impl pb::selector_server::Selector for SelectorService {
    async fn select(
        &self,
        request: Request<pb::SelectRequest>,
    ) -> Result<Response<pb::SelectResponse>, Status> {
        let started = Instant::now();
        let result = SelectorService::select(self, &request).await;
        let outcome = match &result {
            Ok(_) => Outcome::Selected,
            Err(e) => outcome_of(e),
        };
        self.metrics.selection(outcome, started.elapsed());
        result.map(Response::new).map_err(|e| to_status(&e))
    }

    async fn explain(
        &self,
        request: Request<pb::SelectRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        SelectorService::explain(self, &request)
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }
}

/// The requirements of a request: its fields, or its manifest — not both.
pub fn requirements(request: &pb::SelectRequest) -> Result<Requirements, Error> {
    let fields = request.requirements.clone().unwrap_or_default();
    if !request.manifest_json.trim().is_empty() {
        if fields != pb::Requirements::default() {
            return Err(Error::invalid_field(
                "manifest_json",
                "give the requirements either as fields or as manifest_json, not both",
            ));
        }
        return select::parse_manifest(&request.manifest_json);
    }
    Ok(Requirements {
        python: need(fields.python_version, fields.python_requires),
        r: need(fields.r_version, fields.r_requires),
        quarto: need(fields.quarto_version, fields.quarto_requires),
        target_environment_guid: given(fields.target_environment_guid),
        target_image: given(fields.target_image),
    })
}

/// The content settings of a request.
pub fn content_settings(request: &pb::SelectRequest) -> ContentSettings {
    let content = request.content.clone().unwrap_or_default();
    ContentSettings {
        default_environment_guid: given(content.default_environment_guid),
        default_image_name: given(content.default_image_name),
    }
}

fn need(version: Option<String>, constraint: Option<String>) -> LanguageNeed {
    LanguageNeed {
        version: given(version),
        constraint: given(constraint),
    }
}

/// An optional text field; an empty string counts as not given.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Whether the request itself failed (rather than nothing fitting it).
fn is_request_error(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::InvalidArgument | ErrorKind::PermissionDenied | ErrorKind::Unauthenticated
    )
}

fn outcome_of(e: &Error) -> Outcome {
    match e.kind {
        ErrorKind::FailedPrecondition | ErrorKind::NotFound => Outcome::NoMatch,
        ErrorKind::PermissionDenied | ErrorKind::Unauthenticated => Outcome::Denied,
        ErrorKind::Unavailable => Outcome::Unavailable,
        _ => Outcome::Invalid,
    }
}

fn select_response(s: &Selection<'_>, view: &CatalogueView) -> pb::SelectResponse {
    pb::SelectResponse {
        environment: Some(s.environment.into()),
        installations: s.installations.iter().map(installation).collect(),
        selected_by: s.selected_by.as_str().to_owned(),
        revision: view.catalogue.revision(),
        catalogue_age_seconds: view.age.as_secs_f64(),
    }
}

fn installation(i: &ChosenInstallation) -> pb::ChosenInstallation {
    pb::ChosenInstallation {
        language: i.language.as_str().to_owned(),
        version: i.version.clone(),
        path: i.path.clone(),
        closeness: i.closeness.as_str().to_owned(),
    }
}

fn verdict(v: &select::Verdict<'_>, drift: &DriftBook) -> pb::Verdict {
    use pb::verdict::Outcome as Wire;
    let (outcome, reasons) = match &v.outcome {
        VerdictOutcome::Chosen => (Wire::Chosen, Vec::new()),
        VerdictOutcome::Compatible {
            lost_to,
            comparison,
        } => (
            Wire::Compatible,
            vec![format!("ranked below {lost_to}: {comparison}")],
        ),
        VerdictOutcome::Rejected { reasons } => (Wire::Rejected, reasons.clone()),
    };
    pb::Verdict {
        environment_guid: v.environment.guid.to_string(),
        name: v.environment.spec.name.clone(),
        title: v.environment.spec.title.clone(),
        outcome: outcome as i32,
        reasons,
        installations: v.installations.iter().map(installation).collect(),
        drift: drift
            .note(&v.environment.guid)
            .unwrap_or_default()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn requirements_come_from_the_fields() {
        let request = pb::SelectRequest {
            requirements: Some(pb::Requirements {
                python_version: Some("3.11.4".into()),
                r_requires: Some(">= 4.0.0".into()),
                quarto_version: Some(String::new()),
                target_image: Some("ghcr.io/a/b:1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = requirements(&request).unwrap();
        assert_eq!(r.python.version.as_deref(), Some("3.11.4"));
        assert_eq!(r.python.constraint, None);
        assert_eq!(r.r.constraint.as_deref(), Some(">= 4.0.0"));
        assert_eq!(r.quarto.version, None, "an empty string is not a version");
        assert_eq!(r.target_image.as_deref(), Some("ghcr.io/a/b:1"));
        assert_eq!(r.target_environment_guid, None);
    }

    #[test]
    fn requirements_come_from_the_manifest() {
        let request = pb::SelectRequest {
            manifest_json: r#"{"python": {"version": "3.12.1"}}"#.into(),
            ..Default::default()
        };
        let r = requirements(&request).unwrap();
        assert_eq!(r.python.version.as_deref(), Some("3.12.1"));
    }

    #[test]
    fn requirements_as_fields_and_manifest_together_are_invalid() {
        let request = pb::SelectRequest {
            requirements: Some(pb::Requirements {
                python_version: Some("3.11.4".into()),
                ..Default::default()
            }),
            manifest_json: "{}".into(),
            ..Default::default()
        };
        let e = requirements(&request).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("not both"), "{e}");
    }

    #[test]
    fn a_malformed_manifest_is_invalid() {
        let request = pb::SelectRequest {
            manifest_json: "{ not json".into(),
            ..Default::default()
        };
        assert_eq!(
            requirements(&request).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn content_settings_ignore_empty_strings() {
        let request = pb::SelectRequest {
            content: Some(pb::ContentSettings {
                default_environment_guid: Some(String::new()),
                default_image_name: Some("img".into()),
            }),
            ..Default::default()
        };
        let c = content_settings(&request);
        assert_eq!(c.default_environment_guid, None);
        assert_eq!(c.default_image_name.as_deref(), Some("img"));
    }

    #[test]
    fn error_kinds_map_to_outcomes() {
        let kind = |k| outcome_of(&Error::new(k, "x"));
        assert_eq!(kind(ErrorKind::FailedPrecondition), Outcome::NoMatch);
        assert_eq!(kind(ErrorKind::InvalidArgument), Outcome::Invalid);
        assert_eq!(kind(ErrorKind::PermissionDenied), Outcome::Denied);
        assert_eq!(kind(ErrorKind::Unavailable), Outcome::Unavailable);
    }
}
