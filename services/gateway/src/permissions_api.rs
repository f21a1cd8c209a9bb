//! `/__api__/v1/environments/{guid}/permissions[/{permission_guid}]`: who may use an
//! environment (connect-spec §1.5). An entry names a user or a group by guid; an environment
//! with none may be used by every publisher.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_core::{Error, ErrorKind};
use execenv_proto::registry::v1 as reg;
use serde_json::Value;

use crate::auth::Authenticated;
use crate::body::object;
use crate::environment::{ConnectPermission, canonical_guid};
use crate::error::{Answer, ApiError};
use crate::revision::Written;
use crate::state::AppState;

/// The routes, relative to `/__api__/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/environments/{guid}/permissions",
            get(list_permissions).post(add_permission),
        )
        .route(
            "/environments/{guid}/permissions/{permission_guid}",
            get(get_permission).delete(remove_permission),
        )
}

async fn list_permissions(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<Vec<ConnectPermission>> {
    let guid = canonical_guid("guid", &guid, true)?;
    let listed = state
        .registry()
        .environments(&who.caller)
        .list_permissions(reg::ListPermissionsRequest {
            environment_guid: guid,
        })
        .await
        .map_err(|s| state.registry().failed(s))?
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
) -> Result<Written<Json<ConnectPermission>>, ApiError> {
    let guid = canonical_guid("guid", &guid, true)?;
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
        .registry()
        .environments(&who.caller)
        .add_permission(request)
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Written {
        revision: added.revision,
        answer: Json(ConnectPermission::from(&added)),
    })
}

async fn get_permission(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path((guid, permission_guid)): Path<(String, String)>,
) -> Answer<ConnectPermission> {
    let guid = canonical_guid("guid", &guid, true)?;
    let permission_guid = canonical_guid("permission_guid", &permission_guid, false)?;
    let listed = state
        .registry()
        .environments(&who.caller)
        .list_permissions(reg::ListPermissionsRequest {
            environment_guid: guid.clone(),
        })
        .await
        .map_err(|s| state.registry().failed(s))?
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
) -> Result<Written<StatusCode>, ApiError> {
    let guid = canonical_guid("guid", &guid, true)?;
    let permission_guid = canonical_guid("permission_guid", &permission_guid, false)?;
    let removed = state
        .registry()
        .environments(&who.caller)
        .remove_permission(reg::RemovePermissionRequest {
            environment_guid: guid,
            permission_guid,
        })
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Written {
        revision: removed.revision,
        answer: StatusCode::NO_CONTENT,
    })
}
