//! `GET /__api__/server_settings`: what Connect clients ask first, without a key. posit-sdk
//! checks the Connect version before it uses environments.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::state::AppState;

/// The Connect version reported to clients: posit-sdk needs ≥ 2023.05.0 for environments.
pub const CONNECT_VERSION: &str = "2025.01.0";

/// The route, at its full path (it is not under `/__api__/v1`).
pub fn routes() -> Router<AppState> {
    Router::new().route("/__api__/server_settings", get(server_settings))
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
        hostname: state.hostname().to_owned(),
    })
}
