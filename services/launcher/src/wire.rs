//! Between the wire (`execenv.launcher.v1`) and the launcher's own types: a Launch request is
//! checked here, at the edge, and every problem is reported at once with its field path.

use execenv_core::{Error, FieldViolation};
use execenv_proto::convert::timestamp;
use execenv_proto::launcher::v1 as pb;
use execenv_proto::selector::v1 as sel;

use crate::job_spec::{LaunchKind, LaunchRequest, Resources, check_request};
use crate::launch::{BackendKind, Launch, State};

/// A checked Launch request: what to start, and what to ask the selector.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The launch as the backends take it.
    pub request: LaunchRequest,
    /// The selection request (requirements or manifest, and the content's defaults).
    pub select: sel::SelectRequest,
}

/// Checks a Launch request; `InvalidArgument` lists every problem.
pub fn parse_launch(m: &pb::LaunchRequest) -> Result<Parsed, Error> {
    let mut v = Vec::new();
    let mut kind_known = true;
    let kind = match pb::Kind::try_from(m.kind) {
        Ok(pb::Kind::Build) => LaunchKind::Build,
        Ok(pb::Kind::Run) => LaunchKind::Run,
        Ok(pb::Kind::Interactive) => LaunchKind::Interactive,
        _ => {
            kind_known = false;
            v.push(FieldViolation::new(
                "kind",
                "give the kind of launch: KIND_BUILD (restore packages), KIND_RUN or KIND_INTERACTIVE (serve an app or API until stopped)",
            ));
            LaunchKind::Build
        }
    };
    let content = m.content.clone().unwrap_or_default();
    if content.guid.trim().is_empty() {
        v.push(FieldViolation::new(
            "content.guid",
            "give the content's guid",
        ));
    } else if execenv_core::bundle::content_guid(&content.guid).is_err() {
        // As the gateway names content folders: any UUID, lowercase with hyphens.
        v.push(FieldViolation::new(
            "content.guid",
            format!("{:?} is not a UUID", content.guid),
        ));
    }
    if m.request_id.is_empty() {
        v.push(FieldViolation::new(
            "request_id",
            "give a request id (the idempotency key; a UUID works)",
        ));
    }
    if content.bundle.is_empty() {
        v.push(FieldViolation::new(
            "content.bundle",
            "give the bundle id to build or run",
        ));
    }
    let requirements = content.requirements.clone().unwrap_or_default();
    if !content.manifest_json.trim().is_empty() && requirements != sel::Requirements::default() {
        v.push(FieldViolation::new(
            "content.manifest_json",
            "give the requirements either as fields or as manifest_json, not both",
        ));
    }
    let mut env: Vec<(String, String)> = m.env.clone().into_iter().collect();
    env.sort();
    let r = m.resources.clone().unwrap_or_default();
    let request = LaunchRequest {
        request_id: m.request_id.clone(),
        kind,
        content_guid: content.guid.clone(),
        bundle_id: content.bundle.clone(),
        command: m.command.clone(),
        env,
        resources: Resources {
            cpu_request: r.cpu_request,
            cpu_limit: r.cpu_limit,
            memory_request: r.memory_request,
            memory_limit: r.memory_limit,
            gpu: r.gpu,
            ephemeral_storage_request: r.ephemeral_storage_request,
            ephemeral_storage_limit: r.ephemeral_storage_limit,
        },
        service_account: m.service_account.clone().filter(|s| !s.is_empty()),
    };
    if let Err(e) = check_request(&request) {
        // Name fields as the wire does (env is a map: by key); skip what was already reported.
        for violation in e.violations {
            let field = match violation.field.as_str() {
                "content_guid" => "content.guid".to_owned(),
                "bundle_id" => "content.bundle".to_owned(),
                "command" if !kind_known => continue,
                f => env_field(f, &request.env).unwrap_or_else(|| f.to_owned()),
            };
            if !v.iter().any(|known| known.field == field) {
                v.push(FieldViolation::new(field, violation.description));
            }
        }
    }
    if !v.is_empty() {
        return Err(Error::invalid(v));
    }
    let select = sel::SelectRequest {
        requirements: (requirements != sel::Requirements::default()).then_some(requirements),
        manifest_json: content.manifest_json,
        content: Some(sel::ContentSettings {
            default_environment_guid: content.default_environment_guid.filter(|s| !s.is_empty()),
            default_image_name: content.default_image_name.filter(|s| !s.is_empty()),
        }),
        min_revision: m.min_revision,
    };
    Ok(Parsed { request, select })
}

/// `env[3].name` as the wire map's key: `env["NAME"]`.
fn env_field(field: &str, env: &[(String, String)]) -> Option<String> {
    let index: usize = field
        .strip_prefix("env[")?
        .strip_suffix("].name")?
        .parse()
        .ok()?;
    env.get(index).map(|(name, _)| format!("env[{name:?}]"))
}

/// A launch on the wire.
pub fn launch(l: &Launch) -> pb::Launch {
    pb::Launch {
        id: l.id.clone(),
        kind: kind(l.kind) as i32,
        content_guid: l.content_guid.clone(),
        bundle: l.bundle.clone(),
        state: state(l.state) as i32,
        reason: l.reason.clone(),
        message: l.message.clone(),
        exit_code: l.exit_code,
        environment_guid: l.environment_guid.clone(),
        environment_title: l.environment_title.clone(),
        image: l.image.clone(),
        installations: l
            .installations
            .iter()
            .map(|i| pb::Installation {
                language: i.language.clone(),
                version: i.version.clone(),
                path: i.path.clone(),
            })
            .collect(),
        selected_by: l.selected_by.clone(),
        backend: match l.backend {
            BackendKind::Local => pb::Backend::Local,
            BackendKind::Kubernetes => pb::Backend::Kubernetes,
        } as i32,
        job_name: l.job_name.clone(),
        namespace: l.namespace.clone(),
        created_time: Some(timestamp(l.created)),
        started_time: l.started.map(timestamp),
        finished_time: l.finished.map(timestamp),
        address: l.address.clone(),
        restarts: l.restarts,
        ready_time: l.ready.map(timestamp),
        owner_guid: l.owner_guid.clone(),
    }
}

/// The wire kind.
pub fn kind(k: LaunchKind) -> pb::Kind {
    match k {
        LaunchKind::Build => pb::Kind::Build,
        LaunchKind::Run => pb::Kind::Run,
        LaunchKind::Interactive => pb::Kind::Interactive,
    }
}

/// The wire state.
pub fn state(s: State) -> pb::State {
    match s {
        State::Pending => pb::State::Pending,
        State::Running => pb::State::Running,
        State::Succeeded => pb::State::Succeeded,
        State::Failed => pb::State::Failed,
        State::Cancelled => pb::State::Cancelled,
        State::Ready => pb::State::Ready,
    }
}

/// A wire state as the launcher's, or `InvalidArgument` naming `field`.
pub fn parse_state(field: &str, raw: i32) -> Result<State, Error> {
    match pb::State::try_from(raw) {
        Ok(pb::State::Pending) => Ok(State::Pending),
        Ok(pb::State::Running) => Ok(State::Running),
        Ok(pb::State::Succeeded) => Ok(State::Succeeded),
        Ok(pb::State::Failed) => Ok(State::Failed),
        Ok(pb::State::Cancelled) => Ok(State::Cancelled),
        Ok(pb::State::Ready) => Ok(State::Ready),
        _ => Err(Error::invalid_field(
            field,
            format!(
                "{raw} is not a launch state; use PENDING, RUNNING, READY, SUCCEEDED, FAILED or CANCELLED"
            ),
        )),
    }
}

/// A wire kind filter: None for unspecified.
pub fn parse_kind_filter(raw: i32) -> Result<Option<LaunchKind>, Error> {
    match pb::Kind::try_from(raw) {
        Ok(pb::Kind::Unspecified) => Ok(None),
        Ok(pb::Kind::Build) => Ok(Some(LaunchKind::Build)),
        Ok(pb::Kind::Run) => Ok(Some(LaunchKind::Run)),
        Ok(pb::Kind::Interactive) => Ok(Some(LaunchKind::Interactive)),
        Err(_) => Err(Error::invalid_field(
            "kind",
            format!("{raw} is not a launch kind; use KIND_BUILD, KIND_RUN or KIND_INTERACTIVE"),
        )),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
