//! `GET /__api__/v1/user`, `/users` and `/groups`: the person the key belongs to, and (for
//! administrators) every user and group, in Connect's shapes.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_proto::identity::v1 as id;

use crate::auth::Authenticated;
use crate::error::Answer;
use crate::state::AppState;
use crate::user::{ConnectGroup, ConnectUser, Page};

/// The routes, relative to `/__api__/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user", get(me))
        .route("/users", get(list_users))
        .route("/groups", get(list_groups))
}

async fn me(Extension(who): Extension<Authenticated>) -> Json<ConnectUser> {
    Json(ConnectUser::from(who.user.as_ref()))
}

async fn list_users(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<Page<ConnectUser>> {
    let listed = state
        .registry()
        .accounts_as(&who.caller)
        .list_users(id::ListUsersRequest {})
        .await
        .map_err(|s| state.registry().failed(s))?
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
        .registry()
        .accounts_as(&who.caller)
        .list_groups(id::ListGroupsRequest {})
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Json(Page::all(
        listed.groups.iter().map(ConnectGroup::from).collect(),
    )))
}
