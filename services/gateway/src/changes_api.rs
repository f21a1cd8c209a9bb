//! `GET /__api__/execenv/v1/changes`: the audit trail (administrators), one page at a time, with
//! the environment before and after each change as JSON objects.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use execenv_core::Error;
use execenv_proto::convert::timestamp;
use execenv_proto::registry::v1 as reg;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Authenticated;
use crate::environment::rfc3339;
use crate::error::ApiError;
use crate::state::AppState;

/// The route, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/changes", get(list))
}

/// The query: every parameter optional.
#[derive(Debug, Default, Deserialize)]
pub struct ChangesQuery {
    /// Only changes of this environment.
    pub environment_guid: Option<String>,
    /// Only changes at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only changes before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only changes after this revision.
    pub after_revision: Option<i64>,
    /// Default 100, at most 1000.
    pub page_size: Option<u32>,
    /// From the previous page's `next_page_token`.
    pub page_token: Option<String>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeJson {
    pub revision: i64,
    pub time: Option<String>,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub environment_guid: String,
    pub before: Value,
    pub after: Value,
}

/// A page of changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangesPage {
    pub changes: Vec<ChangeJson>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl TryFrom<&reg::Change> for ChangeJson {
    type Error = Error;

    fn try_from(c: &reg::Change) -> Result<Self, Error> {
        let object = |text: &str, which: &str| -> Result<Value, Error> {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(text).map_err(|e| {
                Error::internal(format!(
                    "change {} has {which} that is not JSON: {e}",
                    c.revision
                ))
            })
        };
        Ok(ChangeJson {
            revision: c.revision,
            time: c.time.as_ref().and_then(rfc3339),
            actor: c.actor.clone(),
            source: c.source.clone(),
            action: c.action.clone(),
            environment_guid: c.environment_guid.clone(),
            before: object(&c.before_json, "a before")?,
            after: object(&c.after_json, "an after")?,
        })
    }
}

/// The query of an audit route (changes, security events), or what is wrong with it: its times
/// are RFC 3339.
pub fn audit_query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query.map(|Query(q)| q).map_err(|e| {
        Error::invalid_field(
            "query",
            format!(
                "{}; times are RFC 3339, e.g. 2026-11-01T00:00:00Z",
                e.body_text()
            ),
        )
    })
}

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<ChangesPage>, ApiError> {
    let query = audit_query(query)?;
    let request = reg::ListChangesRequest {
        environment_guid: query.environment_guid,
        since: query.since.map(timestamp),
        until: query.until.map(timestamp),
        after_revision: query.after_revision.unwrap_or_default(),
        page_size: query.page_size.unwrap_or_default(),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .registry()
        .environments(&who.caller)
        .list_changes(request)
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    let changes = page
        .changes
        .iter()
        .map(ChangeJson::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(ChangesPage {
        changes,
        next_page_token: page.next_page_token,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_carries_its_before_and_after_as_objects() {
        let change = reg::Change {
            revision: 3,
            time: Some(prost_types::Timestamp {
                seconds: 1_705_312_800,
                nanos: 0,
            }),
            actor: "user:ada".to_owned(),
            source: "api".to_owned(),
            action: "create".to_owned(),
            environment_guid: "e1".to_owned(),
            before_json: String::new(),
            after_json: r#"{"title":"t"}"#.to_owned(),
        };
        let json = serde_json::to_value(ChangeJson::try_from(&change).unwrap()).unwrap();
        assert_eq!(json["before"], Value::Null);
        assert_eq!(json["after"], json!({"title": "t"}));
        assert_eq!(json["time"], "2024-01-15T10:00:00Z");
    }
}
