//! Settling, with a launch history, a launch whose Job or Deployment vanished without this
//! launcher's Cancel: the history says how it ended when another replica recorded it (its Cancel
//! writes CANCELLED before it deletes anything); with no final record anywhere, the launch is
//! FAILED as the watch observed it (`JobDeleted`, `DeploymentDeleted`), as without a history.

use chrono::{DateTime, Utc};

use super::state::qualified;
use crate::job_spec::{LaunchKind, job_name};
use crate::launch::{Launch, Observation, State};
use crate::table::Launches;

/// How long an accepted launch may go without its Job (being created by the replica that
/// accepted it) before a launcher that does not find the Job settles it.
const CREATE_WITHIN: chrono::Duration = chrono::Duration::minutes(10);

/// Whether `seen` is the end of a launch whose Job or Deployment someone else deleted.
pub(super) fn deleted_outside(seen: &Observation) -> bool {
    seen.state == State::Failed
        && matches!(seen.reason.as_str(), "JobDeleted" | "DeploymentDeleted")
}

/// Whether an unfinished launch read from the history whose workload is not in the namespace
/// has vanished: its workload was created (or it was accepted long enough ago that it would
/// have been).
pub(super) fn may_have_vanished(launch: &Launch, now: DateTime<Utc>) -> bool {
    launch.submitted.is_some() || now - launch.created > CREATE_WITHIN
}

/// The end of an unfinished launch whose workload is gone while no launcher watched.
pub(super) fn vanished(launch: &Launch, namespace: &str) -> Observation {
    let kind = match launch.kind {
        LaunchKind::Interactive => "Deployment",
        LaunchKind::Build | LaunchKind::Run => "Job",
    };
    let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(job_name(&launch.id)),
        namespace: Some(namespace.to_owned()),
        ..Default::default()
    };
    Observation::new(
        State::Failed,
        format!("{kind}Deleted"),
        format!(
            "the {kind} {} is gone and no launcher recorded how the launch ended (it was deleted, or it finished and was removed, while no launcher watched)",
            qualified(&meta)
        ),
    )
}

/// Takes the end the history holds for launch `id`, else `seen`.
pub(super) async fn deleted(launches: Launches, id: String, seen: Observation) {
    let Some(history) = launches.history() else {
        return;
    };
    let recorded = match history.get(&id).await {
        Ok(found) => found.filter(|l| l.state.is_terminal()),
        Err(e) => {
            tracing::warn!(launch = %id, error = %e.message,
                "cannot read the launch history for a launch whose workload was deleted; taking it as deleted");
            None
        }
    };
    match recorded {
        Some(end) => {
            let held = launches.recover(end);
            tracing::info!(launch = %id, state = held.state.as_str(), reason = %held.reason,
                "launch finished: its workload is gone and the launch history records its end (another launcher's)");
        }
        None => {
            if let Some(now) = launches.observe(&id, seen) {
                tracing::info!(launch = %id, state = now.state.as_str(), reason = %now.reason,
                    message = %now.message, "launch finished");
            }
        }
    }
}
