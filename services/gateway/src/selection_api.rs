//! `POST /__api__/execenv/v1/select` and `/explain`: the selector's inputs as JSON, or a
//! manifest.json sent as the body, answered with the chosen environment in Connect's JSON.
//! `?min_revision=N` (the `X-Execenv-Revision` of a catalogue write) asks for an answer from a
//! catalogue at least that new; a selector still behind after its wait answers 503 with
//! `Retry-After` ([`crate::revision`]).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use execenv_core::Error;
use execenv_proto::selector::v1 as sel;
use execenv_proto::views::{ExplanationView, SelectionView};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::Authenticated;
use crate::body::object;
use crate::environment::ConnectEnvironment;
use crate::error::ApiError;
use crate::revision::{min_revision, retry_later};
use crate::state::AppState;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/select", post(select))
        .route("/explain", post(explain))
}

/// What the content needs, as the selector's `Requirements` (every field optional).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementsJson {
    pub python_version: Option<String>,
    pub python_requires: Option<String>,
    pub r_version: Option<String>,
    pub r_requires: Option<String>,
    pub quarto_version: Option<String>,
    pub quarto_requires: Option<String>,
    pub target_environment_guid: Option<String>,
    pub target_image: Option<String>,
}

/// The content's own defaults (Connect's content settings).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentJson {
    pub default_environment_guid: Option<String>,
    pub default_image_name: Option<String>,
}

/// The query parameters of `select` and `explain`: the content's defaults, and the revision the
/// answer must be at least as new as.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectQuery {
    pub default_environment_guid: Option<String>,
    pub default_image_name: Option<String>,
    /// The `X-Execenv-Revision` a catalogue write answered with; absent or 0: any revision.
    pub min_revision: Option<i64>,
}

/// The body of `select` and `explain`: requirements as fields, or a manifest — not both.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectJson {
    pub requirements: Option<RequirementsJson>,
    /// A manifest.json object.
    pub manifest: Option<Map<String, Value>>,
    pub content: Option<ContentJson>,
}

impl From<RequirementsJson> for sel::Requirements {
    fn from(r: RequirementsJson) -> Self {
        sel::Requirements {
            python_version: r.python_version,
            python_requires: r.python_requires,
            r_version: r.r_version,
            r_requires: r.r_requires,
            quarto_version: r.quarto_version,
            quarto_requires: r.quarto_requires,
            target_environment_guid: r.target_environment_guid,
            target_image: r.target_image,
        }
    }
}

impl From<ContentJson> for sel::ContentSettings {
    fn from(c: ContentJson) -> Self {
        sel::ContentSettings {
            default_environment_guid: c.default_environment_guid,
            default_image_name: c.default_image_name,
        }
    }
}

impl SelectJson {
    /// The selector's request. Content defaults given as query parameters (the only way to give
    /// them with a bare manifest.json body) apply where the body has none.
    pub fn into_request(self, query: ContentJson) -> sel::SelectRequest {
        let content = self.content.unwrap_or_default();
        let content = ContentJson {
            default_environment_guid: content
                .default_environment_guid
                .or(query.default_environment_guid),
            default_image_name: content.default_image_name.or(query.default_image_name),
        };
        sel::SelectRequest {
            requirements: self.requirements.map(Into::into),
            manifest_json: self
                .manifest
                .map(|m| Value::Object(m).to_string())
                .unwrap_or_default(),
            content: Some(content.into()),
            min_revision: 0,
        }
    }
}

/// Reads a `select`/`explain` body. A manifest.json (an object with `metadata`, as every
/// manifest has) is taken whole; anything else must be a [`SelectJson`]. An empty body asks for
/// nothing in particular.
pub fn parse_body(body: &[u8]) -> Result<SelectJson, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SelectJson::default());
    }
    let map = object(body)?;
    if let Some(metadata) = map.get("metadata") {
        if !metadata.is_object() {
            return Err(Error::invalid_field(
                "metadata",
                "must be an object: a body with metadata is read as a manifest.json",
            )
            .into());
        }
        return Ok(SelectJson {
            manifest: Some(map),
            ..SelectJson::default()
        });
    }
    objects_or_null(&map, &["requirements", "content"], "")?;
    let fields: SelectJson = serde_json::from_value(Value::Object(map)).map_err(|e| {
        Error::invalid_field(
            "body",
            format!(
                "{e}; send {{\"requirements\": {{\"python_version\": …}}, \"content\": {{…}}}}, \
                 {{\"manifest\": {{…}}}} or a manifest.json"
            ),
        )
    })?;
    if fields.requirements.is_some() && fields.manifest.is_some() {
        return Err(Error::invalid_field(
            "manifest",
            "give the requirements either as fields or as a manifest, not both",
        )
        .into());
    }
    Ok(fields)
}

/// Refuses a value of `keys` in `map` that is neither an object nor null: serde would read an
/// array as the fields of a struct in order, which the document does not allow. `prefix` names
/// where `map` is in the body (`content.`).
pub fn objects_or_null(map: &Map<String, Value>, keys: &[&str], prefix: &str) -> Result<(), Error> {
    for key in keys {
        if let Some(value) = map.get(*key)
            && !(value.is_object() || value.is_null())
        {
            return Err(Error::invalid_field(
                format!("{prefix}{key}"),
                "must be an object or null",
            ));
        }
    }
    Ok(())
}

fn request(
    query: Result<Query<SelectQuery>, QueryRejection>,
    body: &[u8],
) -> Result<sel::SelectRequest, ApiError> {
    let Query(query) = query.map_err(|e| Error::invalid_field("query", e.body_text()))?;
    let min_revision = min_revision(query.min_revision)?;
    let defaults = ContentJson {
        default_environment_guid: query.default_environment_guid,
        default_image_name: query.default_image_name,
    };
    Ok(sel::SelectRequest {
        min_revision,
        ..parse_body(body)?.into_request(defaults)
    })
}

fn connect(
    environment: execenv_proto::environments::v1::Environment,
) -> Result<ConnectEnvironment, Error> {
    Ok(ConnectEnvironment::from(&environment))
}

/// `POST /select`: the environment the selector chooses for the caller.
pub async fn select(
    state: State<AppState>,
    who: Extension<Authenticated>,
    query: Result<Query<SelectQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    retry_later(selected(state, who, query, body).await.into_response())
}

/// `POST /explain`: every environment's verdict, and the selection or why there is none.
pub async fn explain(
    state: State<AppState>,
    who: Extension<Authenticated>,
    query: Result<Query<SelectQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    retry_later(explained(state, who, query, body).await.into_response())
}

async fn selected(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    query: Result<Query<SelectQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<SelectionView<ConnectEnvironment>>, ApiError> {
    let request = request(query, &body)?;
    let selector = state.selector();
    let answer = selector
        .selector(&who.caller)
        .select(request)
        .await
        .map_err(|s| selector.failed(s))?
        .into_inner();
    Ok(Json(SelectionView::from_wire(answer, connect)?))
}

async fn explained(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    query: Result<Query<SelectQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<ExplanationView<ConnectEnvironment>>, ApiError> {
    let request = request(query, &body)?;
    let selector = state.selector();
    let answer = selector
        .selector(&who.caller)
        .explain(request)
        .await
        .map_err(|s| selector.failed(s))?
        .into_inner();
    Ok(Json(ExplanationView::from_wire(answer, connect)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_body_is_sent_as_the_manifest() {
        let body = br#"{"version": 1, "metadata": {"appmode": "python-api"}, "python": {"version": "3.11.9"}}"#;
        let request = parse_body(body)
            .unwrap()
            .into_request(ContentJson::default());
        let manifest: Value = serde_json::from_str(&request.manifest_json).unwrap();
        assert_eq!(manifest["python"]["version"], "3.11.9");
        assert_eq!(request.requirements, None);
    }

    #[test]
    fn requirements_and_content_defaults_are_read_as_fields() {
        let body = br#"{"requirements": {"python_version": "3.12.1"}, "content": {"default_image_name": "img"}}"#;
        let request = parse_body(body).unwrap().into_request(ContentJson {
            default_image_name: Some("from-query".into()),
            default_environment_guid: Some("g".into()),
        });
        assert_eq!(
            request.requirements.unwrap().python_version.as_deref(),
            Some("3.12.1")
        );
        let content = request.content.unwrap();
        assert_eq!(
            content.default_image_name.as_deref(),
            Some("img"),
            "the body wins"
        );
        assert_eq!(content.default_environment_guid.as_deref(), Some("g"));
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_key_named() {
        let e = parse_body(br#"{"requirements": {"pyhton_version": "3"}}"#).unwrap_err();
        assert_eq!(e.0.kind, execenv_core::ErrorKind::InvalidArgument);
        assert!(e.0.message.contains("pyhton_version"), "{}", e.0.message);
    }

    #[test]
    fn metadata_that_is_not_an_object_is_refused() {
        let e = parse_body(br#"{"metadata": 5}"#).unwrap_err();
        assert_eq!(e.0.violations[0].field, "metadata");
    }

    #[test]
    fn requirements_and_a_manifest_together_are_refused() {
        let e = parse_body(br#"{"requirements": {}, "manifest": {}}"#).unwrap_err();
        assert_eq!(e.0.violations[0].field, "manifest");
        assert!(parse_body(br#"{"requirements": null, "manifest": {}}"#).is_ok());
    }

    #[test]
    fn an_array_is_not_taken_for_an_object() {
        let e = parse_body(br#"{"content": [null, null]}"#).unwrap_err();
        assert_eq!(e.0.violations[0].field, "content");
        let e = parse_body(br#"{"requirements": ["3.11"]}"#).unwrap_err();
        assert_eq!(e.0.violations[0].field, "requirements");
    }

    #[test]
    fn min_revision_is_read_from_the_query_and_a_negative_one_refused() {
        let query = |min_revision| {
            Ok(Query(SelectQuery {
                min_revision,
                default_image_name: Some("img".into()),
                ..SelectQuery::default()
            }))
        };
        let asked = request(query(Some(45)), b"").unwrap();
        assert_eq!(asked.min_revision, 45);
        assert_eq!(
            asked.content.unwrap().default_image_name.as_deref(),
            Some("img")
        );
        assert_eq!(request(query(None), b"").unwrap().min_revision, 0);
        let e = request(query(Some(-1)), b"").unwrap_err();
        assert_eq!(e.0.violations[0].field, "min_revision");
    }

    #[test]
    fn an_empty_body_asks_for_nothing_in_particular() {
        assert_eq!(parse_body(b"").unwrap(), SelectJson::default());
    }
}
