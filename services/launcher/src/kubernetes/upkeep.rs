//! Upkeep of interactive launches' Deployments that the watch starts: recording a launch's end on
//! its Deployment, deleting one past its time to live.

use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use super::cluster::{Shared, lock};
use super::serving;
use crate::job_spec::job_name;
use crate::launch::{Launch, Observation};

/// Records the final state of `launch` (its runner refused) on its Deployment and scales it to
/// zero, so that nothing restarts the refused runner and a restarted launcher reads the same
/// verdict back. A failed write is logged and tried again on the Deployment's next change.
pub(super) async fn finalize(deployments: Api<Deployment>, cluster: Shared, launch: Launch) {
    let name = job_name(&launch.id);
    let seen = Observation::new(launch.state, &launch.reason, &launch.message)
        .with_exit_code(launch.exit_code);
    let patch = serving::final_patch(&seen, launch.finished.unwrap_or_else(Utc::now));
    match deployments
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => tracing::info!(launch = %launch.id, deployment = %name, reason = %launch.reason,
            "the launch cannot start: its Deployment is scaled to zero and records why"),
        Err(e) => {
            lock(&cluster).finalizing.remove(&launch.id);
            tracing::warn!(launch = %launch.id, deployment = %name, error = %e,
                "cannot record the launch's end on its Deployment (may the launcher patch deployments?); trying again on its next change");
        }
    }
}

/// Deletes the finished Deployment `name` (its Service goes with it, by the owner reference).
pub(super) async fn delete_expired(deployments: Api<Deployment>, name: String) {
    match deployments.delete(&name, &DeleteParams::background()).await {
        Ok(_) => tracing::info!(deployment = %name,
            "deleted a finished interactive Deployment past kubernetes.ttl_seconds_after_finished"),
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => tracing::warn!(deployment = %name, error = %e,
            "cannot delete a finished interactive Deployment; trying again later"),
    }
}
