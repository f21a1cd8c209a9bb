//! `/__api__/execenv/v1/launches`: start a build, run or interactive launch of content, list and
//! get launches, cancel one, read its logs. The launcher decides who may (publishers and
//! administrators) and which launches each sees: a publisher only their own (another's is 404, like
//! an id that does not exist), an administrator every one. A launch of content uploaded here is
//! its owner's or an administrator's alone to start, as its uploads are
//! ([`crate::bundles_api::may_change_content`]).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{self, post};
use axum::{Extension, Json, Router};
use execenv_core::Error;
use execenv_core::bundle::content_guid;
use execenv_proto::launcher::v1 as pb;
use execenv_proto::views::LaunchView;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};

use execenv_client::{UNSENT_RETRY_WITHIN, retry_unanswered, retry_unsent};

use crate::auth::Authenticated;
use crate::body::object;
use crate::bundles_api::may_change_content;
use crate::error::ApiError;
use crate::selection_api::{RequirementsJson, objects_or_null};
use crate::state::AppState;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/launches", routing::get(list).post(start))
        .route("/launches/{id}", routing::get(get))
        .route("/launches/{id}/cancel", post(cancel))
        .route("/launches/{id}/logs", routing::get(logs))
}

/// The content to launch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchContentJson {
    pub guid: String,
    pub bundle: String,
    pub requirements: Option<RequirementsJson>,
    /// Its manifest.json, as an object.
    pub manifest: Option<Map<String, Value>>,
    pub default_environment_guid: Option<String>,
    pub default_image_name: Option<String>,
}

/// Requests and limits, in Kubernetes quantities.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesJson {
    pub cpu_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_request: Option<String>,
    pub memory_limit: Option<String>,
    pub gpu: Option<String>,
    pub ephemeral_storage_request: Option<String>,
    pub ephemeral_storage_limit: Option<String>,
}

/// The body of `POST /launches`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchJson {
    /// Makes a retried request idempotent; a fresh id when absent.
    pub request_id: Option<String>,
    /// `build`, `run` or `interactive`.
    pub kind: String,
    pub content: LaunchContentJson,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: HashMap<String, String>,
    pub resources: Option<ResourcesJson>,
    pub service_account: Option<String>,
    /// The `X-Execenv-Revision` of a catalogue write: the environment is selected from a
    /// catalogue at least that new. Absent or 0: any revision.
    #[serde(default, deserialize_with = "crate::revision::whole_number")]
    pub min_revision: Option<i64>,
}

fn kind(word: &str, field: &str) -> Result<pb::Kind, Error> {
    match word {
        "build" => Ok(pb::Kind::Build),
        "run" => Ok(pb::Kind::Run),
        "interactive" => Ok(pb::Kind::Interactive),
        other => Err(Error::invalid_field(
            field,
            format!("{other:?} is not a kind of launch; use build, run or interactive"),
        )),
    }
}

fn state(word: &str) -> Result<pb::State, Error> {
    match word {
        "pending" => Ok(pb::State::Pending),
        "running" => Ok(pb::State::Running),
        "ready" => Ok(pb::State::Ready),
        "succeeded" => Ok(pb::State::Succeeded),
        "failed" => Ok(pb::State::Failed),
        "cancelled" => Ok(pb::State::Cancelled),
        other => Err(Error::invalid_field(
            "state",
            format!(
                "{other:?} is not a state; use pending, running, ready, succeeded, failed or cancelled"
            ),
        )),
    }
}

impl LaunchJson {
    /// The launcher's request.
    pub fn into_request(self) -> Result<pb::LaunchRequest, Error> {
        let kind = kind(&self.kind, "kind")?;
        let min_revision = crate::revision::min_revision(self.min_revision)?;
        let c = self.content;
        if c.requirements.is_some() && c.manifest.is_some() {
            return Err(Error::invalid_field(
                "content.manifest",
                "give the requirements either as fields or as a manifest, not both",
            ));
        }
        Ok(pb::LaunchRequest {
            request_id: self
                .request_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            kind: kind as i32,
            content: Some(pb::Content {
                guid: c.guid,
                bundle: c.bundle,
                requirements: c.requirements.map(Into::into),
                manifest_json: c
                    .manifest
                    .map(|m| Value::Object(m).to_string())
                    .unwrap_or_default(),
                default_environment_guid: c.default_environment_guid,
                default_image_name: c.default_image_name,
            }),
            command: self.command,
            env: self.env,
            resources: self.resources.map(|r| pb::Resources {
                cpu_request: r.cpu_request,
                cpu_limit: r.cpu_limit,
                memory_request: r.memory_request,
                memory_limit: r.memory_limit,
                gpu: r.gpu,
                ephemeral_storage_request: r.ephemeral_storage_request,
                ephemeral_storage_limit: r.ephemeral_storage_limit,
            }),
            service_account: self.service_account,
            min_revision,
        })
    }
}

/// The `List` request from the query: `content_guid`, `kind`, and `state` repeated or
/// comma-separated. Any other parameter is refused.
pub fn list_request(query: &[(String, String)]) -> Result<pb::ListLaunchesRequest, Error> {
    let mut request = pb::ListLaunchesRequest::default();
    for (key, value) in query {
        match key.as_str() {
            "content_guid" => request.content_guid = Some(value.clone()),
            "kind" => request.kind = kind(value, "kind")? as i32,
            "state" => {
                for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                    request.states.push(state(word)? as i32);
                }
            }
            other => {
                return Err(Error::invalid_field(
                    other,
                    "is not a filter of launches; use content_guid, state or kind",
                ));
            }
        }
    }
    Ok(request)
}

/// `POST /launches`: starts a build, run or interactive launch; answers the launch as accepted.
pub async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    body: Bytes,
) -> Result<Json<LaunchView>, ApiError> {
    let body = object(&body)?;
    objects_or_null(&body, &["resources"], "")?;
    match body.get("content") {
        Some(Value::Object(content)) => {
            objects_or_null(content, &["requirements", "manifest"], "content.")?;
        }
        Some(_) => return Err(Error::invalid_field("content", "must be an object").into()),
        None => {}
    }
    let mut input: LaunchJson =
        serde_json::from_value(Value::Object(body)).map_err(|e| {
            Error::invalid_field(
                "body",
                format!("{e}; send {{\"kind\": \"build\", \"content\": {{\"guid\": …, \"bundle\": …}}, \"command\": […]}}"),
            )
        })?;
    // Building or running content is changing it: its owner's and administrators' to do. A guid
    // that is not a content guid names nothing uploaded here, so no one's content.
    if let Ok(guid) = content_guid(&input.content.guid) {
        may_change_content(&state, &who, guid, "launch")?;
    }
    // A bundle uploaded here brings its own manifest: the selector reads what it needs from it.
    let content = &mut input.content;
    if content.manifest.is_none() && content.requirements.is_none() {
        content.manifest = state.bundles().manifest(&content.guid, &content.bundle)?;
    }
    let launcher = state.launcher();
    let request = input.into_request()?;
    // A launcher that is restarting (a rolling upgrade) is waited for a few seconds.
    let launched = retry_unsent(UNSENT_RETRY_WITHIN, || {
        let mut client = launcher.launcher(&who.caller);
        let request = request.clone();
        async move { client.launch(request).await }
    })
    .await
    .map_err(|s| launcher.failed(s))?
    .into_inner();
    Ok(Json(LaunchView::from(launched)))
}

/// `GET /launches`: the launches the filters select, newest first as the launcher orders them.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<LaunchView>>, ApiError> {
    let request = list_request(&query)?;
    let launcher = state.launcher();
    // Reads are made again when the connection breaks under them (a launcher replaced in a
    // rolling upgrade), rather than answered 503.
    let listed = retry_unanswered(UNSENT_RETRY_WITHIN, || {
        let mut client = launcher.launcher(&who.caller);
        let request = request.clone();
        async move { client.list(request).await }
    })
    .await
    .map_err(|s| launcher.failed(s))?
    .into_inner();
    Ok(Json(
        listed.launches.into_iter().map(LaunchView::from).collect(),
    ))
}

/// `GET /launches/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<LaunchView>, ApiError> {
    one(&state, &who, id, false).await
}

/// `POST /launches/{id}/cancel`: stops it; answers the launch as it stands after.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<LaunchView>, ApiError> {
    one(&state, &who, id, true).await
}

/// Gets the launch `id`, cancelling it first when `cancel`.
async fn one(
    state: &AppState,
    who: &Authenticated,
    id: String,
    cancel: bool,
) -> Result<Json<LaunchView>, ApiError> {
    let launcher = state.launcher();
    // Both are safe to make twice (cancelling a cancelled launch changes nothing).
    let answer = retry_unanswered(UNSENT_RETRY_WITHIN, || {
        let mut client = launcher.launcher(&who.caller);
        let id = id.clone();
        async move {
            if cancel {
                client.cancel(pb::CancelLaunchRequest { id }).await
            } else {
                client.get(pb::GetLaunchRequest { id }).await
            }
        }
    })
    .await;
    let launch = answer.map_err(|s| launcher.failed(s))?.into_inner();
    Ok(Json(LaunchView::from(launch)))
}

/// `?follow=true` keeps the answer open until the launch finishes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    #[serde(default)]
    pub follow: bool,
}

/// `GET /launches/{id}/logs`: the output so far as text, streamed as it comes with `follow`.
pub async fn logs(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(id): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| Error::invalid_field("follow", e.body_text()))?;
    let launcher = state.launcher();
    // Until the first answer the call is a read like any other: made again on a broken
    // connection. Once the stream has begun, a break ends the answer short.
    let request = pb::LogsRequest {
        id: id.clone(),
        follow: query.follow,
    };
    let stream = retry_unanswered(UNSENT_RETRY_WITHIN, || {
        let mut client = launcher.launcher_stream(&who.caller);
        let request = request.clone();
        async move { client.logs(request).await }
    })
    .await
    .map_err(|s| launcher.failed(s))?
    .into_inner();
    let body = stream.map(move |chunk| match chunk {
        Ok(chunk) => Ok(Bytes::from(chunk.data)),
        Err(status) => {
            // The status line is sent already: the answer ends short and the log says why.
            tracing::warn!(launch = %id, error = %status.message(), "log stream broke off");
            Err(status)
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn states_may_be_repeated_or_comma_separated() {
        let request = list_request(&pairs(&[
            ("state", "pending,running"),
            ("state", "failed"),
            ("kind", "run"),
            ("content_guid", "c"),
        ]))
        .unwrap();
        assert_eq!(
            request.states,
            vec![
                pb::State::Pending as i32,
                pb::State::Running as i32,
                pb::State::Failed as i32
            ]
        );
        assert_eq!(request.kind, pb::Kind::Run as i32);
        assert_eq!(request.content_guid.as_deref(), Some("c"));
    }

    #[test]
    fn interactive_launches_and_ready_ones_can_be_listed() {
        let request = list_request(&pairs(&[
            ("kind", "interactive"),
            ("state", "ready,running"),
        ]))
        .unwrap();
        assert_eq!(request.kind, pb::Kind::Interactive as i32);
        assert_eq!(
            request.states,
            vec![pb::State::Ready as i32, pb::State::Running as i32]
        );
        let body: LaunchJson = serde_json::from_str(
            r#"{"kind": "interactive", "content": {"guid": "c", "bundle": "1"}, "command": []}"#,
        )
        .unwrap();
        assert_eq!(
            body.into_request().unwrap().kind,
            pb::Kind::Interactive as i32
        );
    }

    #[test]
    fn an_unknown_filter_or_word_is_refused() {
        assert!(list_request(&pairs(&[("sate", "running")])).is_err());
        let e = list_request(&pairs(&[("state", "done")])).unwrap_err();
        assert!(e.message.contains("\"done\""), "{e}");
    }

    #[test]
    fn a_launch_body_becomes_the_launchers_request() {
        let body: LaunchJson = serde_json::from_str(
            r#"{"kind": "build", "content": {"guid": "c", "bundle": "1",
                "manifest": {"metadata": {}, "python": {"version": "3.11.9"}}},
                "command": ["python", "app.py"], "env": {"A": "1"}}"#,
        )
        .unwrap();
        let request = body.into_request().unwrap();
        assert_eq!(request.kind, pb::Kind::Build as i32);
        assert!(!request.request_id.is_empty(), "a fresh request id");
        let content = request.content.unwrap();
        assert!(content.manifest_json.contains("3.11.9"));
        assert_eq!(request.env["A"], "1");
    }
}
