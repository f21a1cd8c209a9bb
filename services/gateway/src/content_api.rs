//! `/__api__/execenv/v1/content/{guid}` and its permission list: a content as the console shows
//! it (owner, bundles, its URL, this gateway's instance), and who may view it, modelled on
//! Connect's environment permissions. Only administrators and the content's owner read or
//! change the list; the content itself may be read by whoever may view it. And
//! `/__api__/execenv/v1/instances`: every instance of this gateway, for publishers and
//! administrators (as launches are).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{self, get};
use axum::{Extension, Json, Router};
use execenv_core::{Error, ErrorKind, Role};
use execenv_proto::identity::v1 as id;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Authenticated;
use crate::body::object;
use crate::content_records::{ContentFacts, ContentPermission, Principal, facts};
use crate::error::{Answer, ApiError};
use crate::instance_table::InstanceView;
use crate::instances::InstancesView;
use crate::state::AppState;
use execenv_core::content_access::{may_manage, may_view};

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/content/{guid}", get(describe))
        .route(
            "/content/{guid}/permissions",
            get(list_permissions).post(add_permission),
        )
        .route(
            "/content/{guid}/permissions/{permission_guid}",
            routing::delete(remove_permission),
        )
        .route("/instances", get(instances))
}

async fn instances(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<InstancesView> {
    if who.caller.role == Role::Viewer {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "viewers may not list the instances of interactive content; ask an administrator for the publisher role",
        )
        .into());
    }
    Ok(Json(state.instances().summary()))
}

/// A content as `GET /content/{guid}` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentView {
    pub guid: String,
    /// The user who uploaded its first bundle; null when its bundles were placed by hand.
    pub owner_guid: Option<String>,
    /// How many bundles it has.
    pub bundles: usize,
    /// The id of the bundle it is served from; null without bundles.
    pub newest_bundle: Option<String>,
    /// Where it is served.
    pub url: String,
    /// This gateway's instance of it, if one is starting or ready.
    pub instance: Option<InstanceView>,
}

async fn describe(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<ContentView> {
    let (guid, facts) = existing(&state, &guid).await?;
    may_view_content(&who, &guid, &facts)?;
    let owner = facts.owner.as_ref().map(|o| o.user_guid.as_str());
    let bundles = state.bundles().clone();
    let key = guid.clone();
    let count = tokio::task::spawn_blocking(move || bundles.list(&key).map(|b| b.len()))
        .await
        .map_err(|e| Error::internal(format!("a content task failed: {e}")))??;
    Ok(Json(ContentView {
        owner_guid: owner.map(str::to_owned),
        bundles: count,
        newest_bundle: facts.newest_bundle.map(|id| id.to_string()),
        url: format!("/content/{guid}/"),
        instance: state.instances().view(&guid),
        guid,
    }))
}

async fn list_permissions(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<Vec<ContentPermission>> {
    let (_, facts) = managed(&state, &who, &guid).await?;
    Ok(Json(facts.permissions))
}

async fn add_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Answer<ContentPermission> {
    let principal = principal(&object(&body)?)?;
    let (guid, _) = managed(&state, &who, &guid).await?;
    exists(&state, &principal).await?;
    let records = state.records().clone();
    let added = tokio::task::spawn_blocking(move || records.add_permission(&guid, &principal))
        .await
        .map_err(|e| Error::internal(format!("a content task failed: {e}")))??;
    Ok(Json(added))
}

async fn remove_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path((guid, permission_guid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (guid, _) = managed(&state, &who, &guid).await?;
    let records = state.records().clone();
    tokio::task::spawn_blocking(move || records.remove_permission(&guid, &permission_guid))
        .await
        .map_err(|e| Error::internal(format!("a content task failed: {e}")))??;
    Ok(StatusCode::NO_CONTENT)
}

/// The one user or group of a permission body: exactly one of `user_guid`, `group_guid`, a
/// string.
pub fn principal(body: &serde_json::Map<String, Value>) -> Result<Principal, Error> {
    let mut found = Vec::new();
    for (key, value) in body {
        let Value::String(text) = value else {
            return Err(Error::invalid_field(key.clone(), "must be a string"));
        };
        match key.as_str() {
            "user_guid" => found.push(Principal::User(text.clone())),
            "group_guid" => found.push(Principal::Group(text.clone())),
            _ => {
                return Err(Error::invalid_field(
                    key.clone(),
                    "is not a field of a content permission; send {\"user_guid\": …} or {\"group_guid\": …}",
                ));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::invalid_field(
            "user_guid",
            "send exactly one of user_guid or group_guid",
        )),
        _ => Err(Error::invalid_field(
            "group_guid",
            "send exactly one of user_guid or group_guid, not both",
        )),
    }
}

/// The checked guid and facts of a content that exists (has a bundle or an owner).
async fn existing(state: &AppState, guid: &str) -> Result<(String, ContentFacts), ApiError> {
    let guid = execenv_core::bundle::content_guid(guid)?.to_owned();
    let facts = facts(state.records(), state.bundles(), &guid).await?;
    if facts.newest_bundle.is_none() && facts.owner.is_none() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no content {guid}: it has no bundle; upload one with POST /__api__/execenv/v1/content/{guid}/bundles"),
        )
        .into());
    }
    Ok((guid, facts))
}

/// Refuses `who` unless they may view content `guid` whose facts are `facts` (the core's
/// `content_access::may_view`): `GET /content/{guid}` and the list of its bundles.
pub(crate) fn may_view_content(
    who: &Authenticated,
    guid: &str,
    facts: &ContentFacts,
) -> Result<(), ApiError> {
    let owner = facts.owner.as_ref().map(|o| o.user_guid.as_str());
    if may_view(&who.caller, owner, &facts.permissions) {
        Ok(())
    } else {
        Err(refused(who, guid, "view"))
    }
}

/// [`existing`], for a caller who may manage its permission list.
async fn managed(
    state: &AppState,
    who: &Authenticated,
    guid: &str,
) -> Result<(String, ContentFacts), ApiError> {
    let (guid, facts) = existing(state, guid).await?;
    let owner = facts.owner.as_ref().map(|o| o.user_guid.as_str());
    if !may_manage(&who.caller, owner) {
        return Err(refused(who, &guid, "manage the permissions of"));
    }
    Ok((guid, facts))
}

fn refused(who: &Authenticated, guid: &str, action: &str) -> ApiError {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "{} may not {action} content {guid}: only its owner and administrators may{}",
            who.user.username,
            if action == "view" {
                ", and the users and groups in its permissions"
            } else {
                ""
            }
        ),
    )
    .into()
}

/// Checks with the registry (as the gateway itself) that `principal` exists; 400 naming the
/// field when not.
async fn exists(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    let registry = state.registry();
    let mut accounts = registry.accounts();
    match principal {
        Principal::User(guid) => {
            let found = accounts
                .get_user(id::GetUserRequest { user: guid.clone() })
                .await;
            match found {
                // GetUser also finds a username: only a guid names a user here.
                Ok(user) if user.get_ref().guid == *guid => Ok(()),
                Ok(_) => Err(no_such("user_guid", "user", guid)),
                Err(status) => {
                    let e = registry.failed(status);
                    if matches!(e.0.kind, ErrorKind::NotFound | ErrorKind::InvalidArgument) {
                        Err(no_such("user_guid", "user", guid))
                    } else {
                        Err(e)
                    }
                }
            }
        }
        Principal::Group(guid) => {
            let groups = accounts
                .list_groups(id::ListGroupsRequest {})
                .await
                .map_err(|s| registry.failed(s))?
                .into_inner()
                .groups;
            if groups.iter().any(|g| g.guid == *guid) {
                Ok(())
            } else {
                Err(no_such("group_guid", "group", guid))
            }
        }
    }
}

/// A principal that does not exist is not found (404), as the document says: whether a guid
/// names someone depends on the registry, not on the request's shape.
fn no_such(field: &str, what: &str, guid: &str) -> ApiError {
    Error::new(
        ErrorKind::NotFound,
        format!("{field}: no {what} has guid {guid:?}; list them with GET /__api__/v1/{what}s"),
    )
    .into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(json: &str) -> serde_json::Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_permission_names_exactly_one_user_or_group() {
        assert_eq!(
            principal(&body(r#"{"user_guid": "u1"}"#)).unwrap(),
            Principal::User("u1".to_owned())
        );
        assert_eq!(
            principal(&body(r#"{"group_guid": "g1"}"#)).unwrap(),
            Principal::Group("g1".to_owned())
        );
        for (json, field) in [
            ("{}", "user_guid"),
            (r#"{"user_guid": "u1", "group_guid": "g1"}"#, "group_guid"),
            (r#"{"user_guid": null}"#, "user_guid"),
            (r#"{"user_guid": 3}"#, "user_guid"),
            (r#"{"role": "viewer"}"#, "role"),
        ] {
            let e = principal(&body(json)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{json}");
            assert_eq!(e.violations[0].field, field, "{json}");
        }
    }
}
