//! Environments checked against their images (drift), as the image examiner keeps them:
//! `GET /__api__/execenv/v1/checks` (every environment the caller may see, and the interval),
//! `GET /environments/{guid}/check` (one), for publishers and administrators; and
//! `POST /checks/refresh` (administrators), which checks every environment now.
//!
//! A check is a resource of its own, not a key of the environment: Connect's environment object
//! stays exactly Connect's. A publisher sees the checks of the environments they may use, as the
//! registry decides for them.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use execenv_core::Role;
use execenv_proto::examiner::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::views::examiner::{CheckView, ChecksView};
use serde::Serialize;

use crate::auth::Authenticated;
use crate::environment::canonical_guid;
use crate::error::Answer;
use crate::listing::every_environment;
use crate::state::AppState;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checks", get(list))
        .route("/checks/refresh", post(refresh))
        .route("/environments/{guid}/check", get(one))
}

/// `GET /checks`: the last check of every environment the caller may see.
async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<ChecksView> {
    who.caller
        .require_publisher("reading environments' checks")?;
    let examiner = state.examiner();
    let answer = examiner
        .reader(&who.caller)?
        .list_checks(pb::ListChecksRequest {})
        .await
        .map_err(|s| examiner.failed(s))?
        .into_inner();
    let mut view = ChecksView::try_from(answer)?;
    if who.caller.role != Role::Administrator {
        let visible: HashSet<String> = every_environment(
            state.registry(),
            &who.caller,
            reg::ListEnvironmentsRequest::default(),
        )
        .await?
        .into_iter()
        .map(|e| e.guid)
        .collect();
        view.checks.retain(|c| visible.contains(&c.guid));
    }
    Ok(Json(view))
}

/// `GET /environments/{guid}/check`: one environment's last check; 404 when the caller may not
/// see the environment (the registry's answer) or it does not exist.
async fn one(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(guid): Path<String>,
) -> Answer<CheckView> {
    who.caller
        .require_publisher("reading an environment's check")?;
    let guid = canonical_guid("guid", &guid, true)?;
    let registry = state.registry();
    registry
        .environments(&who.caller)
        .get_environment(reg::GetEnvironmentRequest { guid: guid.clone() })
        .await
        .map_err(|s| registry.failed(s))?;
    let examiner = state.examiner();
    let check = examiner
        .reader(&who.caller)?
        .get_check(pb::GetCheckRequest { guid })
        .await
        .map_err(|s| examiner.failed(s))?
        .into_inner();
    Ok(Json(CheckView::try_from(check)?))
}

/// What `POST /checks/refresh` answers: every check as the round left it.
#[derive(Debug, Serialize)]
pub struct Refreshed {
    /// One check per environment of the catalogue.
    pub checks: Vec<CheckView>,
}

/// `POST /checks/refresh`: checks every environment now (administrators) and answers when the
/// round is done.
async fn refresh(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
) -> Answer<Refreshed> {
    who.caller.require_admin("checking the environments now")?;
    let examiner = state.examiner();
    let done = examiner
        .examining(&who.caller)?
        .check_now(pb::CheckNowRequest {})
        .await
        .map_err(|s| examiner.failed(s))?
        .into_inner();
    let checks = done
        .checks
        .into_iter()
        .map(CheckView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(Refreshed { checks }))
}
