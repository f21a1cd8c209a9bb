//! The REST routes: Connect's `/__api__/server_settings`, `/__api__/v1/user` and the
//! environment and permission routes, and execenv's own under `/__api__/execenv/v1`. Every answer is JSON (a 204 has no body); every failure is
//! Connect's error body.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::environments::v1 as pb;
use execenv_proto::identity::v1 as id;
use execenv_proto::registry::v1 as reg;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::access::{self, HttpMetrics};
use crate::auth::{self, Authenticated, Authenticator};
use crate::changes;
use crate::environment::{ConnectEnvironment, ConnectPermission, parse_input};
use crate::error::ApiError;
use crate::installations;
use crate::launches;
use crate::registry::Registry;
use crate::selection;
use crate::upstream::Upstream;
use crate::user::{ConnectGroup, ConnectUser, Page};

/// The Connect version reported to clients: posit-sdk needs ≥ 2023.05.0 for environments.
pub const CONNECT_VERSION: &str = "2025.01.0";

/// Page size when the gateway reads the whole list from the registry.
const PAGE_SIZE: u32 = 1000;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) authenticator: Authenticator,
    registry: Registry,
    selector: Upstream,
    launcher: Upstream,
    hostname: String,
    metrics: HttpMetrics,
}

impl AppState {
    /// The state of a gateway calling `registry`, `selector` and `launcher`, reporting
    /// `hostname`, counting requests in `metrics`.
    pub fn new(
        authenticator: Authenticator,
        registry: Registry,
        (selector, launcher): (Upstream, Upstream),
        hostname: String,
        metrics: HttpMetrics,
    ) -> Self {
        AppState {
            authenticator,
            registry,
            selector,
            launcher,
            hostname,
            metrics,
        }
    }

    /// The selector client.
    pub(crate) fn selector(&self) -> &Upstream {
        &self.selector
    }

    /// The launcher client.
    pub(crate) fn launcher(&self) -> &Upstream {
        &self.launcher
    }

    /// The registry client.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// Every route, each request logged and counted; the ones under `/__api__/v1` need an API key.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/user", get(me))
        .route("/users", get(list_users))
        .route("/groups", get(list_groups))
        .route("/server_settings/{language}", get(installations::offered))
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
        .route(
            "/environments/{guid}/permissions",
            get(list_permissions).post(add_permission),
        )
        .route(
            "/environments/{guid}/permissions/{permission_guid}",
            get(get_permission).delete(remove_permission),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let own = Router::new()
        .route("/changes", get(changes::list))
        .route("/select", post(selection::select))
        .route("/explain", post(selection::explain))
        .route("/launches", get(launches::list).post(launches::start))
        .route("/launches/{id}", get(launches::get))
        .route("/launches/{id}/cancel", post(launches::cancel))
        .route("/launches/{id}/logs", get(launches::logs))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .route("/__api__/server_settings", get(server_settings))
        .route("/__api__/openapi.json", get(openapi))
        .nest("/__api__/v1", v1)
        .nest("/__api__/execenv/v1", own)
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            access::observe,
        ))
        .with_state(state)
}

#[derive(Serialize)]
struct ServerSettings {
    version: &'static str,
    execenv_version: &'static str,
    hostname: String,
}

async fn server_settings(State(state): State<AppState>) -> Json<ServerSettings> {
    Json(ServerSettings {
        version: CONNECT_VERSION,
        execenv_version: env!("CARGO_PKG_VERSION"),
        hostname: state.hostname,
    })
}

/// The OpenAPI 3.1 document of every route (`services/gateway/openapi.json`), served as written.
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn me(Extension(who): Extension<Authenticated>) -> Json<ConnectUser> {
    Json(ConnectUser::from(who.user.as_ref()))
}

async fn list_users(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<Page<ConnectUser>> {
    let listed = state
        .registry
        .accounts_as(&who.caller)
        .list_users(id::ListUsersRequest {})
        .await?
        .into_inner();
    Ok(Json(Page::all(
        listed.users.iter().map(ConnectUser::from).collect(),
    )))
}

async fn list_groups(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<Page<ConnectGroup>> {
    let listed = state
        .registry
        .accounts_as(&who.caller)
        .list_groups(id::ListGroupsRequest {})
        .await?
        .into_inner();
    Ok(Json(Page::all(
        listed.groups.iter().map(ConnectGroup::from).collect(),
    )))
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
    let mut all: Vec<ConnectEnvironment> = every_environment(&state.registry, &who.caller, request)
        .await?
        .iter()
        .map(ConnectEnvironment::from)
        .collect();
    all.retain(|e| matches_filters(&json(e), &filters));
    Ok(Json(all))
}

/// Every environment `request` selects that `caller` may see, read page by page.
pub(crate) async fn every_environment(
    registry: &Registry,
    caller: &Caller,
    mut request: reg::ListEnvironmentsRequest,
) -> Result<Vec<pb::Environment>, ApiError> {
    request.page_size = PAGE_SIZE;
    let mut client = registry.environments(caller);
    let mut all = Vec::new();
    loop {
        let page = client
            .list_environments(request.clone())
            .await?
            .into_inner();
        all.extend(page.environments);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        request.page_token = page.next_page_token;
    }
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
) -> Answer<ConnectEnvironment> {
    let input = parse_input(&object(&body)?, true)?;
    let created = state
        .registry
        .environments(&who.caller)
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(input.spec),
        })
        .await?
        .into_inner();
    Ok(Json(ConnectEnvironment::from(&created)))
}

async fn get_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<ConnectEnvironment> {
    let env = state
        .registry
        .environments(&who.caller)
        .get_environment(reg::GetEnvironmentRequest { guid })
        .await?
        .into_inner();
    Ok(Json(ConnectEnvironment::from(&env)))
}

/// PUT: a key present replaces that field (null clears it), a key absent keeps it.
async fn update_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Answer<ConnectEnvironment> {
    let input = parse_input(&object(&body)?, false)?;
    let mut client = state.registry.environments(&who.caller);
    let mut paths = input.present;
    if paths.is_empty() {
        // An empty mask means "replace everything" to the registry, and no editable key was
        // sent: answer the environment as it is, unless the body asks for another image, which
        // the registry then refuses by name.
        let env = client
            .get_environment(reg::GetEnvironmentRequest { guid: guid.clone() })
            .await?
            .into_inner();
        if input.spec.name.is_empty() || input.spec.name == env.name {
            return Ok(Json(ConnectEnvironment::from(&env)));
        }
        paths.push("name".to_owned());
    }
    let updated = client
        .update_environment(reg::UpdateEnvironmentRequest {
            guid,
            environment: Some(input.spec),
            update_mask: Some(prost_types::FieldMask { paths }),
            expected_revision: 0,
        })
        .await?
        .into_inner();
    Ok(Json(ConnectEnvironment::from(&updated)))
}

async fn delete_environment(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .registry
        .environments(&who.caller)
        .delete_environment(reg::DeleteEnvironmentRequest {
            guid,
            expected_revision: 0,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_permissions(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<Vec<ConnectPermission>> {
    let listed = state
        .registry
        .environments(&who.caller)
        .list_permissions(reg::ListPermissionsRequest {
            environment_guid: guid,
        })
        .await?
        .into_inner();
    Ok(Json(
        listed
            .permissions
            .iter()
            .map(ConnectPermission::from)
            .collect(),
    ))
}

async fn add_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Answer<ConnectPermission> {
    let body = object(&body)?;
    let mut request = reg::AddPermissionRequest {
        environment_guid: guid,
        ..reg::AddPermissionRequest::default()
    };
    for (key, value) in &body {
        let text = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(Error::invalid_field(key.clone(), "must be a string or null").into()),
        };
        match key.as_str() {
            "user_guid" => request.user_guid = text,
            "group_guid" => request.group_guid = text,
            _ => {
                return Err(Error::invalid_field(
                    key.clone(),
                    "is not a field of a permission; send {\"user_guid\": …} or {\"group_guid\": …}",
                )
                .into());
            }
        }
    }
    let added = state
        .registry
        .environments(&who.caller)
        .add_permission(request)
        .await?
        .into_inner();
    Ok(Json(ConnectPermission::from(&added)))
}

async fn get_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path((guid, permission_guid)): Path<(String, String)>,
) -> Answer<ConnectPermission> {
    let listed = state
        .registry
        .environments(&who.caller)
        .list_permissions(reg::ListPermissionsRequest {
            environment_guid: guid.clone(),
        })
        .await?
        .into_inner();
    listed
        .permissions
        .iter()
        .find(|p| p.guid == permission_guid)
        .map(|p| Json(ConnectPermission::from(p)))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "environment {guid} has no permission {permission_guid}; list its permissions to find the guid"
                ),
            )
            .into()
        })
}

async fn remove_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path((guid, permission_guid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .registry
        .environments(&who.caller)
        .remove_permission(reg::RemovePermissionRequest {
            environment_guid: guid,
            permission_guid,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn no_route() -> Response {
    ApiError(Error::new(
        ErrorKind::NotFound,
        "no such API route; environments are under /__api__/v1/environments",
    ))
    .into_response()
}

async fn no_method() -> Response {
    let body = crate::error::ErrorBody {
        code: execenv_core::error::connect_code::BAD_REQUEST,
        error: "this route does not accept that method; see the API documentation for its methods"
            .to_owned(),
        payload: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// A request body that must be one JSON object.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let unparsable = |why: String| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the request body is not a JSON object: {why}"),
        )
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(unparsable(format!("got {other}")).into()),
        Err(e) => Err(unparsable(e.to_string()).into()),
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
