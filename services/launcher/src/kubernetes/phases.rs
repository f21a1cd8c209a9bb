//! What a launch's pod shows of its phases: pure functions, no I/O.
//!
//! [`pod_milestones`] reads the moments the scheduler and the kubelet wrote into the pod's status:
//!
//! | milestone | read from |
//! |---|---|
//! | `scheduled` | condition `PodScheduled` True: its `lastTransitionTime` (set by the scheduler) |
//! | `init_started` | init container `execenv-runtime-init`: `state.running.startedAt`, else `state.terminated.startedAt` |
//! | `init_finished` | the same container's `state.terminated.finishedAt` (whatever its exit code) |
//! | `content_started` | container `execenv-content`: `state.running.startedAt`, else `state.terminated.startedAt` |
//! | `content_finished` | the same container's `state.terminated.finishedAt` |
//!
//! The init container starts once the pod's sandbox is up (the kubelet's
//! `PodReadyToStartContainers` condition) and its image is pulled, so `scheduled → init_started`
//! is the sandbox phase, image pull included. The Job's own milestones (created, finished) are
//! added by [`super::state::observe`]. Kubernetes writes these times in whole seconds, so each
//! phase is known to a second.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::job_spec::{CONTENT_CONTAINER_NAME, INIT_CONTAINER_NAME};
use crate::launch::Milestones;

/// The milestones `pod` shows; the Job's (`job_created`) are left `None`.
pub fn pod_milestones(pod: &Pod) -> Milestones {
    let status = pod.status.as_ref();
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
        .and_then(|c| c.last_transition_time.as_ref())
        .map(chrono_time);
    let init = status
        .and_then(|s| find(s.init_container_statuses.as_ref(), INIT_CONTAINER_NAME))
        .and_then(|c| c.state.as_ref());
    let content = content_status(pod).and_then(|c| c.state.as_ref());
    Milestones {
        job_created: None,
        scheduled,
        init_started: init.and_then(started),
        init_finished: init.and_then(finished),
        content_started: content.and_then(started),
        content_finished: content.and_then(finished),
    }
}

/// The status of the content container, once the kubelet reports it.
pub(super) fn content_status(pod: &Pod) -> Option<&ContainerStatus> {
    find(
        pod.status.as_ref()?.container_statuses.as_ref(),
        CONTENT_CONTAINER_NAME,
    )
}

/// A Kubernetes time as chrono's.
pub(super) fn chrono_time(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().unsigned_abs())
        .unwrap_or_else(Utc::now)
}

fn find<'a>(statuses: Option<&'a Vec<ContainerStatus>>, name: &str) -> Option<&'a ContainerStatus> {
    statuses?.iter().find(|c| c.name == name)
}

fn started(state: &ContainerState) -> Option<DateTime<Utc>> {
    state
        .running
        .as_ref()
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| state.terminated.as_ref()?.started_at.as_ref())
        .map(chrono_time)
}

fn finished(state: &ContainerState) -> Option<DateTime<Utc>> {
    state
        .terminated
        .as_ref()?
        .finished_at
        .as_ref()
        .map(chrono_time)
}

#[cfg(test)]
#[path = "phases_tests.rs"]
mod tests;
