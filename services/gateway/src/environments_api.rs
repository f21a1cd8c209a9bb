//! `/__api__/v1/environments` and `/__api__/v1/environments/{guid}`: list, create, read, update
//! and delete environments in Connect's JSON (connect-spec §1.3–1.4). The registry decides who
//! may do what; the gateway translates.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_core::{Error, ErrorKind};
use execenv_proto::registry::v1 as reg;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Authenticated;
use crate::body::object;
use crate::environment::{ConnectEnvironment, canonical_guid, parse_input};
use crate::error::{Answer, ApiError};
use crate::listing::every_environment;
use crate::revision::Written;
use crate::state::AppState;

/// The routes, relative to `/__api__/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/environments",
            get(list_environments).post(create_environment),
        )
        .route(
            "/environments/{guid}",
            get(get_environment)
                .put(update_environment)
                .delete(delete_environment),
        )
}

async fn list_environments(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Query(filters): Query<Vec<(String, String)>>,
) -> Answer<Vec<ConnectEnvironment>> {
    let mut request = reg::ListEnvironmentsRequest::default();
    for (key, value) in &filters {
        match key.as_str() {
            "name" => request.name = Some(value.clone()),
            "matching" => request.matching = Some(value.clone()),
            _ => {}
        }
    }
    let mut all: Vec<ConnectEnvironment> =
        every_environment(state.registry(), &who.caller, request)
            .await?
            .iter()
            .map(ConnectEnvironment::from)
            .collect();
    all.retain(|e| matches_filters(&json(e), &filters));
    Ok(Json(all))
}

/// Whether `environment` has every filter's value at its key (posit-sdk's `find_by` sends the
/// fields to match as query parameters). Only text and null fields are compared; a parameter
/// that names no such field does not filter.
pub fn matches_filters(environment: &Value, filters: &[(String, String)]) -> bool {
    filters
        .iter()
        .all(|(key, want)| match environment.get(key) {
            Some(Value::String(have)) => have == want,
            Some(Value::Null) => want.is_empty() || want == "null",
            _ => true,
        })
}

async fn create_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    body: Bytes,
) -> Result<Written<Json<ConnectEnvironment>>, ApiError> {
    let input = parse_input(&object(&body)?, true)?;
    let created = state
        .registry()
        .environments(&who.caller)
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(input.spec),
        })
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(written(&created))
}

/// A write's answer: the environment, and its revision (the commit's) in the header.
fn written(
    environment: &execenv_proto::environments::v1::Environment,
) -> Written<Json<ConnectEnvironment>> {
    Written {
        revision: environment.revision,
        answer: Json(ConnectEnvironment::from(environment)),
    }
}

async fn get_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<ConnectEnvironment> {
    let guid = canonical_guid("guid", &guid, true)?;
    let env = state
        .registry()
        .environments(&who.caller)
        .get_environment(reg::GetEnvironmentRequest { guid })
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Json(ConnectEnvironment::from(&env)))
}

/// PUT: a key present replaces that field (null clears it), a key absent keeps it.
async fn update_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Written<Json<ConnectEnvironment>>, ApiError> {
    let guid = canonical_guid("guid", &guid, true)?;
    let input = parse_input(&object(&body)?, false)?;
    let mut client = state.registry().environments(&who.caller);
    let paths = input.present;
    if paths.is_empty() || !input.spec.name.is_empty() {
        // An empty mask means "replace everything" to the registry, and no editable key was
        // sent: answer the environment as it is. A name may be sent only as it is (rsconnect
        // sends the whole environment back); another image conflicts with the environment.
        let env = client
            .get_environment(reg::GetEnvironmentRequest { guid: guid.clone() })
            .await
            .map_err(|s| state.registry().failed(s))?
            .into_inner();
        if !input.spec.name.is_empty() && input.spec.name != env.name {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "the image of environment {guid} is {:?} and cannot be changed; create a new environment for {:?}",
                    env.name, input.spec.name
                ),
            )
            .into());
        }
        if paths.is_empty() {
            return Ok(written(&env));
        }
    }
    let updated = client
        .update_environment(reg::UpdateEnvironmentRequest {
            guid,
            environment: Some(input.spec),
            update_mask: Some(prost_types::FieldMask { paths }),
            expected_revision: 0,
        })
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(written(&updated))
}

async fn delete_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Result<Written<StatusCode>, ApiError> {
    let guid = canonical_guid("guid", &guid, true)?;
    let deleted = state
        .registry()
        .environments(&who.caller)
        .delete_environment(reg::DeleteEnvironmentRequest {
            guid,
            expected_revision: 0,
        })
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Written {
        revision: deleted.revision,
        answer: StatusCode::NO_CONTENT,
    })
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_compare_text_fields_and_ignore_unknown_keys() {
        let env = json!({"name": "img", "title": null, "id": "3"});
        let f = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        assert!(matches_filters(&env, &f(&[("name", "img"), ("id", "3")])));
        assert!(!matches_filters(&env, &f(&[("name", "other")])));
        assert!(matches_filters(&env, &f(&[("page", "2")])));
        assert!(!matches_filters(&env, &f(&[("title", "t")])));
    }
}
