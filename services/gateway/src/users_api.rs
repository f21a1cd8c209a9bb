//! `GET /__api__/v1/user`, `/users` and `/groups`: the person the key belongs to, and (for
//! administrators) every user and group, in Connect's shapes. `prefix` keeps the users whose
//! username, first or last name or email, and the groups whose name, start with it (ignoring
//! case), as Connect's does: the console's access-list search.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_proto::identity::v1 as id;
use serde::Deserialize;

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

/// The filter `/users` and `/groups` accept.
#[derive(Debug, Default, Deserialize)]
struct Filter {
    prefix: Option<String>,
}

async fn list_users(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Query(filter): Query<Filter>,
) -> Answer<Page<ConnectUser>> {
    let listed = state
        .registry()
        .accounts_as(&who.caller)
        .list_users(id::ListUsersRequest {})
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    let prefix = filter.prefix.unwrap_or_default();
    Ok(Json(Page::all(
        listed
            .users
            .iter()
            .filter(|u| {
                starts_with_any(
                    &prefix,
                    [
                        Some(u.username.as_str()),
                        u.first_name.as_deref(),
                        u.last_name.as_deref(),
                        u.email.as_deref(),
                    ],
                )
            })
            .map(ConnectUser::from)
            .collect(),
    )))
}

async fn list_groups(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Query(filter): Query<Filter>,
) -> Answer<Page<ConnectGroup>> {
    let listed = state
        .registry()
        .accounts_as(&who.caller)
        .list_groups(id::ListGroupsRequest {})
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    let prefix = filter.prefix.unwrap_or_default();
    Ok(Json(Page::all(
        listed
            .groups
            .iter()
            .filter(|g| starts_with_any(&prefix, [Some(g.name.as_str())]))
            .map(ConnectGroup::from)
            .collect(),
    )))
}

/// Whether one of `fields` starts with `prefix`, ignoring case; an empty prefix keeps all.
pub fn starts_with_any<'a>(
    prefix: &str,
    fields: impl IntoIterator<Item = Option<&'a str>>,
) -> bool {
    let prefix = prefix.trim().to_lowercase();
    prefix.is_empty()
        || fields
            .into_iter()
            .flatten()
            .any(|f| f.to_lowercase().starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_matches_the_start_of_any_field_ignoring_case() {
        let fields = || [Some("pat"), Some("Patricia"), None, Some("p.x@example.com")];
        assert!(starts_with_any("", fields()));
        assert!(starts_with_any("  ", fields()));
        assert!(starts_with_any("PA", fields()));
        assert!(starts_with_any("patr", fields()));
        assert!(starts_with_any("p.x@", fields()));
        assert!(!starts_with_any("atr", fields()));
        assert!(!starts_with_any("q", fields()));
    }
}
