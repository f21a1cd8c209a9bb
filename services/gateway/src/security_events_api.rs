//! `GET /__api__/execenv/v1/security-events`: the security audit events (administrators), one
//! page at a time, oldest first — API keys created and revoked, environment permissions added
//! and removed, clients that failed to sign in too often. The registry records them; this route
//! reads them as the person asking.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use execenv_proto::convert::timestamp;
use execenv_proto::identity::v1 as id;
use execenv_proto::views::SecurityEventView;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::changes_api::audit_query;
use crate::error::ApiError;
use crate::state::AppState;

/// The route, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/security-events", get(list))
}

/// The query: every parameter optional.
#[derive(Debug, Default, Deserialize)]
pub struct SecurityEventsQuery {
    /// Only events of this kind.
    pub kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only events with a greater id.
    pub after_id: Option<i64>,
    /// Default 100, at most 1000.
    pub page_size: Option<u32>,
    /// From the previous page's `next_page_token`.
    pub page_token: Option<String>,
}

/// A page of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityEventsPage {
    pub events: Vec<SecurityEventView>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    query: Result<Query<SecurityEventsQuery>, QueryRejection>,
) -> Result<Json<SecurityEventsPage>, ApiError> {
    let query = audit_query(query)?;
    let request = id::ListSecurityEventsRequest {
        kinds: query.kind.into_iter().collect(),
        since: query.since.map(timestamp),
        until: query.until.map(timestamp),
        after_id: query.after_id.unwrap_or_default(),
        page_size: query.page_size.unwrap_or_default(),
        page_token: query.page_token.unwrap_or_default(),
    };
    let page = state
        .registry()
        .accounts_as(&who.caller)
        .list_security_events(request)
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Json(SecurityEventsPage {
        events: page.events.into_iter().map(Into::into).collect(),
        next_page_token: page.next_page_token,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_has_every_key_with_null_for_what_its_kind_lacks() {
        let event = id::SecurityEvent {
            id: 4,
            time: Some(prost_types::Timestamp {
                seconds: 1_705_312_800,
                nanos: 0,
            }),
            kind: "sign_in_failures".to_owned(),
            client_address: Some("192.0.2.7".to_owned()),
            failures: Some(10),
            ..id::SecurityEvent::default()
        };
        let json = serde_json::to_value(SecurityEventView::from(event)).unwrap();
        assert_eq!(
            json,
            json!({
                "id": 4,
                "time": "2024-01-15T10:00:00Z",
                "kind": "sign_in_failures",
                "actor": "",
                "user_guid": null,
                "group_guid": null,
                "api_key_id": null,
                "api_key_prefix": null,
                "revocation": null,
                "environment_guid": null,
                "permission_guid": null,
                "client_address": "192.0.2.7",
                "failures": 10
            })
        );
    }
}
