//! The REST API as one router: each resource's routes come from its `*_api` module, composed
//! here under Connect's prefix (`/__api__/v1`, behind an API key) or execenv's own
//! (`/__api__/execenv/v1`, likewise), with what belongs to the API as a whole: the OpenAPI
//! document, the JSON answers for an unknown route or method, interactive content at
//! `/content/{guid}/` ([`crate::content_proxy`]), the web console (every other GET,
//! [`crate::console`]), the access log and metrics of every request, and the limits on every
//! request ([`crate::limits`]). No resource module imports this one. Every answer is JSON (a 204
//! has no body); every failure is Connect's error body, axum's own refusals too
//! ([`crate::refusal`]).

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use execenv_core::{Error, ErrorKind};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::{
    access, auth, bundles_api, catalogue_api, changes_api, checks_api, content_api, content_proxy,
    environments_api, events_api, images_api, installations_api, launches_api, limits, linger,
    permissions_api, refusal, security_events_api, selection_api, server_settings_api, session_api,
    sync_api, users_api,
};

/// Every route, each request logged and counted; the ones under `/__api__/v1` and
/// `/__api__/execenv/v1` need an API key or a console session (but signing in).
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.limits().max_body_bytes()).unwrap_or(usize::MAX);
    let require_key = || middleware::from_fn_with_state(state.gate().clone(), auth::require_key);
    let connect = Router::new()
        .merge(users_api::routes())
        .merge(installations_api::routes())
        .merge(environments_api::routes())
        .merge(permissions_api::routes())
        .route_layer(require_key());
    let own = Router::new()
        .merge(catalogue_api::routes())
        .merge(changes_api::routes())
        .merge(security_events_api::routes())
        .merge(events_api::routes())
        .merge(sync_api::routes())
        .merge(selection_api::routes())
        .merge(launches_api::routes())
        .merge(bundles_api::routes())
        .merge(content_api::routes())
        .merge(images_api::routes())
        .merge(checks_api::routes())
        .route_layer(require_key())
        // Signing in and out authenticates by itself.
        .merge(session_api::routes());
    Router::new()
        .merge(server_settings_api::routes())
        .route("/__api__/openapi.json", get(openapi))
        .nest("/__api__/v1", connect)
        .nest("/__api__/execenv/v1", own)
        // Interactive content authenticates by itself (no CSRF token, its own 401).
        .merge(content_proxy::routes())
        .fallback(console_or_no_route)
        .method_not_allowed_fallback(no_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.limits().clone(),
            limits::bound,
        ))
        .layer(middleware::from_fn(refusal::as_connect_json))
        .layer(middleware::from_fn(linger::linger))
        .layer(middleware::from_fn_with_state(
            state.metrics().clone(),
            access::observe,
        ))
        .with_state(state)
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

/// A GET outside `/__api__` is the web console's; anything else that matched no route is the
/// API's JSON 404.
async fn console_or_no_route(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    let api = path == "/__api__" || path.starts_with("/__api__/");
    if !api && (method == Method::GET || method == Method::HEAD) {
        return state.console().respond(path, &headers);
    }
    no_route().await
}

async fn no_route() -> Response {
    ApiError(Error::new(
        ErrorKind::NotFound,
        "no such API route; environments are under /__api__/v1/environments",
    ))
    .into_response()
}

async fn no_method() -> Response {
    let body = ErrorBody {
        code: execenv_core::error::connect_code::BAD_REQUEST,
        error: "this route does not accept that method; see the API documentation for its methods"
            .to_owned(),
        payload: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
