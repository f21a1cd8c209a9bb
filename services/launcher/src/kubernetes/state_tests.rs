//! Every branch of the state mapping, field by field. Jobs and pods are written as the API server
//! returns them (JSON), so the tests read like what `kubectl get -o json` shows.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::*;

const NS: &str = "content";
const JOB: &str = "execenv-0123456789abcdef";

pub(super) fn job_with(status: Value, deletion: Option<&str>) -> Job {
    let mut metadata = json!({
        "name": JOB,
        "namespace": NS,
        "creationTimestamp": "2026-11-28T10:00:00Z",
        "labels": {
            "app.kubernetes.io/managed-by": "execenv-launcher",
            "app.kubernetes.io/component": "build",
            "execenv.io/content-guid": "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c",
            "execenv.io/environment-guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50",
            "execenv.io/launch-id": "req-42",
        },
        "annotations": {
            "execenv.io/image": "ghcr.io/acme/py:3.11",
            "execenv.io/bundle-id": "17",
            "execenv.io/python-version": "3.11.9",
            "execenv.io/python-path": "/opt/python/3.11.9/bin/python3",
            "execenv.io/environment-title": "Python 3.11",
            "execenv.io/selected-by": "automatic",
        },
    });
    if let Some(at) = deletion {
        metadata["deletionTimestamp"] = json!(at);
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {"template": {"spec": {"containers": [
            {"name": "execenv-content", "image": "ghcr.io/acme/py:3.11"},
        ]}}},
        "status": status,
    }))
    .expect("job")
}

pub(super) fn job(conditions: Value) -> Job {
    job_with(json!({"conditions": conditions}), None)
}

pub(super) fn active_job() -> Job {
    job_with(json!({"active": 1}), None)
}

pub(super) fn condition(kind: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-28T10:05:00Z"})
}

pub(super) fn pod(name: &str, created: &str, node: Option<&str>, status: Value) -> Pod {
    let mut spec =
        json!({"containers": [{"name": "execenv-content", "image": "ghcr.io/acme/py:3.11"}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                     "labels": {"execenv.io/launch-id": "req-42"}},
        "spec": spec,
        "status": status,
    }))
    .expect("pod")
}

pub(super) fn content(state: Value) -> Value {
    json!([{"name": "execenv-content", "ready": false, "restartCount": 0, "image": "", "imageID": "",
            "state": state}])
}

fn init(state: Value) -> Value {
    json!([{"name": "execenv-runtime-init", "ready": false, "restartCount": 0, "image": "", "imageID": "",
            "state": state}])
}

pub(super) fn terminated(code: i32, reason: &str) -> Value {
    json!({"terminated": {"exitCode": code, "reason": reason,
                          "startedAt": "2026-11-28T10:01:00Z", "finishedAt": "2026-11-28T10:04:00Z"}})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"waiting": {"reason": reason, "message": message}})
}

fn failed_pod(code: i32, reason: &str) -> Pod {
    pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Failed", "containerStatuses": content(terminated(code, reason))}),
    )
}

pub(super) fn running_pod() -> Pod {
    pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Running", "startTime": "2026-11-28T10:00:30Z",
               "containerStatuses": content(json!({"running": {"startedAt": "2026-11-28T10:01:00Z"}}))}),
    )
}

fn pending(status: Value, node: Option<&str>) -> Pod {
    let mut status = status;
    status["phase"] = json!("Pending");
    pod("p", "2026-11-28T10:00:01Z", node, status)
}

fn seen(job: &Job, pods: &[&Pod]) -> Observation {
    observe(&Facts {
        job,
        deleted: false,
        pods,
        cancelled_by_us: false,
    })
}

fn expect(o: &Observation, state: State, reason: &str, exit_code: Option<i32>) {
    assert_eq!(o.state, state, "{o:?}");
    assert_eq!(o.reason, reason, "{o:?}");
    assert_eq!(o.exit_code, exit_code, "{o:?}");
}

#[test]
fn a_complete_job_is_succeeded_with_exit_code_zero() {
    let pod = pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Succeeded", "containerStatuses": content(terminated(0, "Completed"))}),
    );
    let o = seen(
        &job(json!([condition(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods"
        )])),
        &[&pod],
    );
    expect(&o, State::Succeeded, "Completed", Some(0));
    assert_eq!(o.message, "the content container exited 0");
}

#[test]
fn success_criteria_met_already_counts_as_succeeded() {
    let o = seen(
        &job(json!([condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            ""
        )])),
        &[],
    );
    expect(&o, State::Succeeded, "Completed", Some(0));
}

#[test]
fn a_failed_job_reports_its_reason_and_the_content_containers_exit() {
    let pod = failed_pod(3, "Error");
    let o = seen(
        &job(json!([
            condition(
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit"
            ),
            condition(
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit"
            ),
        ])),
        &[&pod],
    );
    expect(&o, State::Failed, "BackoffLimitExceeded", Some(3));
    assert_eq!(
        o.message,
        "Job has reached the specified backoff limit; the content container exited 3 (Error)"
    );
}

#[test]
fn failure_target_already_counts_as_failed() {
    let pod = failed_pod(1, "Error");
    let o = seen(
        &job(json!([condition(
            "FailureTarget",
            "BackoffLimitExceeded",
            "limit"
        )])),
        &[&pod],
    );
    expect(&o, State::Failed, "BackoffLimitExceeded", Some(1));
    assert_eq!(o.message, "limit; the content container exited 1 (Error)");
}

#[test]
fn a_content_container_killed_for_memory_fails_the_launch_as_oom_killed() {
    let pod = failed_pod(137, "OOMKilled");
    let o = seen(
        &job(json!([condition(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit"
        )])),
        &[&pod],
    );
    expect(&o, State::Failed, "OOMKilled", Some(137));
    assert_eq!(
        o.message,
        "Job has reached the specified backoff limit; the content container exited 137 (OOMKilled)"
    );
}

#[test]
fn a_deadline_exceeded_without_an_exit_code_says_only_the_condition() {
    let o = seen(
        &job(json!([condition(
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline"
        )])),
        &[&running_pod()],
    );
    expect(&o, State::Failed, "DeadlineExceeded", None);
    assert_eq!(o.message, "Job was active longer than specified deadline");
}

#[test]
fn a_false_condition_does_not_finish_the_launch() {
    let o = seen(
        &job(json!([{"type": "Failed", "status": "False", "reason": "X"}])),
        &[&running_pod()],
    );
    expect(&o, State::Running, "Running", None);
}

/// The two ways a Job is being removed: gone from the API server, or marked for deletion.
fn deleted_jobs() -> [(Job, bool); 2] {
    [
        (active_job(), true),
        (
            job_with(json!({"active": 1}), Some("2026-11-28T10:03:00Z")),
            false,
        ),
    ]
}

#[test]
fn a_job_we_deleted_is_cancelled_whether_gone_or_still_being_deleted() {
    let running = running_pod();
    for (job, deleted) in deleted_jobs() {
        let o = observe(&Facts {
            job: &job,
            deleted,
            pods: &[&running],
            cancelled_by_us: true,
        });
        expect(&o, State::Cancelled, "Cancelled", None);
        assert_eq!(o.message, CANCELLED_MESSAGE);
    }
}

#[test]
fn a_job_deleted_by_someone_else_fails_with_job_deleted() {
    let stopped = failed_pod(143, "Error");
    let message = format!(
        "the Job {NS}/{JOB} was deleted outside the launcher before it finished; Cancel the launch instead of deleting its Job"
    );
    for (job, deleted) in deleted_jobs() {
        let o = observe(&Facts {
            job: &job,
            deleted,
            pods: &[&stopped],
            cancelled_by_us: false,
        });
        expect(&o, State::Failed, "JobDeleted", Some(143));
        assert_eq!(o.message, message);
    }
}

#[test]
fn a_finished_job_deleted_afterwards_keeps_its_outcome() {
    // The ttl-after-finished controller deletes finished Jobs; that is no cancellation.
    let done = job_with(
        json!({"conditions": [condition("Complete", "CompletionsReached", "")]}),
        Some("2026-11-28T11:00:00Z"),
    );
    let o = observe(&Facts {
        job: &done,
        deleted: true,
        pods: &[],
        cancelled_by_us: false,
    });
    expect(&o, State::Succeeded, "Completed", Some(0));
}

#[test]
fn a_job_without_a_pod_is_pending_job_created() {
    let o = seen(&active_job(), &[]);
    expect(&o, State::Pending, "JobCreated", None);
    assert_eq!(
        o.message,
        format!("the Job {NS}/{JOB} exists; waiting for the Job controller to create its pod")
    );
}

#[test]
fn a_pending_pod_reports_the_init_containers_waiting_reason_first() {
    for reason in [
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
    ] {
        let p = pending(
            json!({
                "initContainerStatuses": init(waiting(reason, "Back-off pulling image \"runtime:1\"")),
                "containerStatuses": content(waiting("PodInitializing", "")),
            }),
            Some("node-0"),
        );
        let o = seen(&active_job(), &[&p]);
        expect(&o, State::Pending, reason, None);
        assert_eq!(
            o.message,
            "init container execenv-runtime-init: Back-off pulling image \"runtime:1\""
        );
    }
}

#[test]
fn a_pending_pod_reports_the_content_containers_waiting_reason() {
    for reason in [
        "ContainerCreating",
        "PodInitializing",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
    ] {
        let p = pending(
            json!({
                "initContainerStatuses": init(json!({"running": {"startedAt": "2026-11-28T10:00:05Z"}})),
                "containerStatuses": content(waiting(reason, "")),
            }),
            Some("node-0"),
        );
        let o = seen(&active_job(), &[&p]);
        expect(&o, State::Pending, reason, None);
        assert_eq!(o.message, "container execenv-content is waiting");
    }
}

#[test]
fn an_unschedulable_pod_reports_the_scheduler_condition() {
    let p = pending(
        json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
        None,
    );
    let o = seen(&active_job(), &[&p]);
    expect(&o, State::Pending, "Unschedulable", None);
    assert_eq!(o.message, "0/3 nodes are available: 3 Insufficient memory.");
}

#[test]
fn a_pending_pod_without_waiting_reasons_is_scheduled_or_created() {
    let bound = pending(json!({}), Some("node-0"));
    let o = seen(&active_job(), &[&bound]);
    expect(&o, State::Pending, "Scheduled", None);
    assert_eq!(o.message, "pod p is assigned to node node-0");
    let unbound = pending(json!({}), None);
    let o = seen(&active_job(), &[&unbound]);
    expect(&o, State::Pending, "Created", None);
    assert_eq!(o.message, "pod p waits for a node");
}

#[test]
fn a_running_pod_is_running() {
    let o = seen(&active_job(), &[&running_pod()]);
    expect(&o, State::Running, "Running", None);
    assert_eq!(o.message, "pod p runs on node node-0");
}

#[test]
fn a_stopped_pod_before_the_jobs_verdict_is_still_running_with_its_exit_code() {
    let o = seen(&active_job(), &[&failed_pod(3, "Error")]);
    expect(&o, State::Running, "ContainerExited", Some(3));
    assert_eq!(
        o.message,
        "the content container exited 3 (Error); waiting for the Job controller to finish the Job"
    );
    let without_status = pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Succeeded"}),
    );
    let o = seen(&active_job(), &[&without_status]);
    expect(&o, State::Running, "ContainerExited", None);
    assert_eq!(
        o.message,
        "pod p has stopped; waiting for the Job controller to finish the Job"
    );
}

#[test]
fn the_newest_pod_decides() {
    let old = pod(
        "a-old",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Failed", "containerStatuses": content(terminated(1, "Error"))}),
    );
    let new = pod(
        "b-new",
        "2026-11-28T10:02:00Z",
        Some("node-0"),
        json!({"phase": "Running"}),
    );
    let o = seen(&active_job(), &[&new, &old]);
    expect(&o, State::Running, "Running", None);
    let o = seen(&active_job(), &[&old, &new]);
    expect(&o, State::Running, "Running", None);
}

/// A whole pod as a v1.36 kubelet reports it (see `phases_tests`).
fn kubelet_pod(json: &str) -> Pod {
    serde_json::from_str(json).expect("a pod")
}

fn at(s: &str) -> Option<DateTime<Utc>> {
    Some(s.parse().expect("time"))
}

#[test]
fn an_observation_carries_the_jobs_creation_and_what_the_pod_shows() {
    let pod = kubelet_pod(include_str!("fixtures/pod-running.json"));
    let o = seen(&active_job(), &[&pod]);
    expect(&o, State::Running, "Running", None);
    assert_eq!(
        o.milestones,
        Milestones {
            job_created: at("2026-11-28T10:00:00Z"),
            ..pod_milestones(&pod)
        }
    );
    assert_eq!(
        o.milestones.duration(crate::launch::Phase::Scheduling),
        Some(std::time::Duration::from_secs(1))
    );
}

#[test]
fn the_jobs_end_ends_the_run_only_when_the_content_containers_end_was_not_seen() {
    let complete = job(json!([condition("Complete", "CompletionsReached", "")]));
    let running = kubelet_pod(include_str!("fixtures/pod-running.json"));
    let o = seen(&complete, &[&running]);
    assert_eq!(o.milestones.content_finished, at("2026-11-28T10:05:00Z"));
    let succeeded = kubelet_pod(include_str!("fixtures/pod-succeeded.json"));
    let o = seen(&complete, &[&succeeded]);
    assert_eq!(o.milestones.content_finished, at("2026-11-28T10:00:39Z"));
    let init_failed = kubelet_pod(include_str!("fixtures/pod-init-failed.json"));
    let failed = job(json!([condition("Failed", "BackoffLimitExceeded", "")]));
    let o = seen(&failed, &[&init_failed]);
    assert_eq!(
        o.milestones.content_finished, None,
        "the content never started"
    );
}

#[test]
fn a_deleted_job_gives_its_running_content_no_end() {
    let running = kubelet_pod(include_str!("fixtures/pod-running.json"));
    let deleting = job_with(json!({"active": 1}), Some("2026-11-28T10:03:00Z"));
    let o = observe(&Facts {
        job: &deleting,
        deleted: false,
        pods: &[&running],
        cancelled_by_us: true,
    });
    expect(&o, State::Cancelled, "Cancelled", None);
    assert_eq!(o.milestones.content_finished, None);
}
