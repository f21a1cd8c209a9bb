//! `/__api__/execenv/v1/content/{guid}/bundles`: upload a bundle (a Connect `.tar.gz`), list a
//! content's bundles, delete one. Publishers and administrators only; whoever uploads a
//! content's first bundle is recorded as its owner ([`crate::content_records`]), and from then
//! on only the owner and administrators may upload or delete its bundles (or launch them:
//! [`may_change_content`]), and only who may view the content may list them. The files land
//! in the data folder where the launcher reads them ([`crate::bundles`]); the archive is checked
//! as it is unpacked ([`crate::bundle_archive`]) and the body streamed to it
//! ([`crate::upload_body`]), never held whole. Deleting the bundle the content's instance
//! serves stops that instance.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{self, get};
use axum::{Extension, Json, Router};
use execenv_core::bundle::{Bundle, content_guid};
use execenv_core::{Error, ErrorKind, Role};

use crate::auth::Authenticated;
use crate::bundles::BundleStore;
use crate::content_api;
use crate::content_records::{self, Owner};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upload_body;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/content/{guid}/bundles", get(list).post(upload))
        .route("/content/{guid}/bundles/{id}", routing::delete(delete))
}

/// `POST …/bundles`: stores the body as the content's next bundle; 201 with the bundle.
pub async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Bundle>), ApiError> {
    may_manage_bundles(&who, "upload")?;
    let guid = content_guid(&guid)?.to_owned();
    may_change_content(&state, &who, &guid, "upload")?;
    let store: BundleStore = state.bundles().clone();
    let max = store.max_upload_bytes();
    if declared_length(&headers).is_some_and(|length| length > max) {
        return Err(upload_body::too_large(max).into());
    }
    let (mut reader, pump) = upload_body::reader(body, max);
    let records = state.records().clone();
    let owner = Owner {
        user_guid: who.user.guid.clone(),
        username: who.user.username.clone(),
        recorded_time: chrono::Utc::now(),
    };
    let key = guid.clone();
    let bundle = upload_body::drive(pump, move || {
        let stored = store.create(&key, &mut reader)?;
        // What follows the archive's end (gzip trailer, tar padding): read, so the client's
        // connection ends cleanly.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        if records.record_owner(&key, &owner)? {
            tracing::info!(content = %key, owner = %owner.username, "content owner recorded");
        }
        Ok(stored)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(bundle)))
}

/// `GET …/bundles`: the content's bundles by id (none is an empty list).
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<Bundle>>, ApiError> {
    may_manage_bundles(&who, "list")?;
    let guid = content_guid(&guid)?.to_owned();
    // Who may view the content may see its bundles; content no one uploaded to has none to hide.
    let facts = content_records::facts(state.records(), state.bundles(), &guid).await?;
    if facts.owner.is_some() || facts.newest_bundle.is_some() {
        content_api::may_view_content(&who, &guid, &facts)?;
    }
    let store = state.bundles().clone();
    let bundles = blocking(move || store.list(&guid)).await?;
    Ok(Json(bundles))
}

/// `DELETE …/bundles/{id}`: removes the bundle and its work folder; 204.
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    may_manage_bundles(&who, "delete")?;
    let guid = content_guid(&guid)?.to_owned();
    may_change_content(&state, &who, &guid, "delete")?;
    let store = state.bundles().clone();
    let (key, deleted) = (guid.clone(), id.clone());
    blocking(move || store.delete(&key, &deleted)).await?;
    if state
        .instances()
        .view(&guid)
        .is_some_and(|instance| instance.bundle == id)
    {
        let why = format!("its bundle {id} was deleted");
        state.instances().retire(&guid, &why).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Once content has an owner, only they and administrators may upload, delete or launch its
/// bundles: what runs under an owner's name, to the viewers they let in, is theirs to change.
pub(crate) fn may_change_content(
    state: &AppState,
    who: &Authenticated,
    guid: &str,
    action: &str,
) -> Result<(), Error> {
    let Some(owner) = state.records().owner(guid)? else {
        return Ok(());
    };
    if execenv_core::content_access::may_manage(&who.caller, Some(&owner.user_guid)) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "content {guid} belongs to {}: only its owner or an administrator may {action} its bundles",
            owner.username
        ),
    ))
}

/// Publishers and administrators may; viewers are refused.
fn may_manage_bundles(who: &Authenticated, action: &str) -> Result<(), Error> {
    match who.caller.role {
        Role::Administrator | Role::Publisher => Ok(()),
        Role::Viewer => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "viewers may not {action} bundles; ask an administrator for the publisher role"
            ),
        )),
    }
}

/// The Content-Length the client announced, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("a bundle task failed: {e}")))?
}
