//! `GET /__api__/execenv/v1/sync`: config-sync's last sync, for every role but viewers;
//! `{"configured": false}` when the gateway has no `config_sync.url`, 503 when config-sync
//! cannot be reached.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::auth::Authenticated;
use crate::config_sync::SyncStatus;
use crate::error::Answer;
use crate::state::AppState;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/sync", get(last_sync))
}

async fn last_sync(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<SyncStatus> {
    who.caller
        .require_publisher("reading config-sync's status")?;
    Ok(Json(state.config_sync().status().await?))
}
