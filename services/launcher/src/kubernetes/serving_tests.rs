//! Every branch of an interactive launch's state, field by field. Deployments, pods and Services
//! are written as the API server returns them (JSON), as `kubectl get -o json` shows them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::job_spec::LaunchKind;
use crate::launch::BackendKind;

const NS: &str = "content";
const NAME: &str = "execenv-0123456789abcdef";
/// The runner's line when the build is missing (exit code 3).
const REFUSED: &str = "execenv-content-runner: run refused: the build for this bundle is missing or out of date (no build record at /mnt/content/work/build-record.json); run `execenv-content-runner build` first";

fn deployment_with(annotations: Value, deletion: Option<&str>) -> Deployment {
    let mut all = json!({
        "execenv.io/image": "ghcr.io/acme/py:3.11",
        "execenv.io/bundle-id": "17",
        "execenv.io/python-version": "3.11.9",
        "execenv.io/python-path": "/opt/python/3.11.9/bin/python3",
        "execenv.io/environment-title": "Python 3.11",
        "execenv.io/selected-by": "automatic",
    });
    for (k, v) in annotations.as_object().into_iter().flatten() {
        all[k] = v.clone();
    }
    let mut metadata = json!({
        "name": NAME,
        "namespace": NS,
        "uid": "0b7d4c1e-5a2f-4e8b-9c3d-6f1a2b3c4d5e",
        "creationTimestamp": "2026-11-28T10:00:00Z",
        "labels": {
            "app.kubernetes.io/managed-by": "execenv-launcher",
            "app.kubernetes.io/component": "interactive",
            "execenv.io/content-guid": "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c",
            "execenv.io/environment-guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50",
            "execenv.io/launch-id": "app-42",
        },
        "annotations": all,
    });
    if let Some(at) = deletion {
        metadata["deletionTimestamp"] = json!(at);
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"execenv.io/launch-id": "app-42"}},
            "template": {"spec": {"containers": [
                {"name": "execenv-content", "image": "ghcr.io/acme/py:3.11",
                 "ports": [{"name": "http", "containerPort": 8080}]},
            ]}},
        },
    }))
    .expect("deployment")
}

fn deployment() -> Deployment {
    deployment_with(json!({}), None)
}

fn service() -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.37",
                 "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]},
    }))
    .expect("service")
}

/// A pod of the Deployment, `name`, made at `created`, with `status` (phase and more).
fn pod_with(name: &str, created: &str, deletion: Option<&str>, status: Value) -> Pod {
    let mut metadata = json!({"name": name, "namespace": NS, "creationTimestamp": created,
                              "labels": {"execenv.io/launch-id": "app-42",
                                         "app.kubernetes.io/component": "interactive"}});
    if let Some(at) = deletion {
        metadata["deletionTimestamp"] = json!(at);
    }
    serde_json::from_value(json!({
        "metadata": metadata,
        "spec": {"nodeName": "node-0",
                 "containers": [{"name": "execenv-content", "image": "ghcr.io/acme/py:3.11"}]},
        "status": status,
    }))
    .expect("pod")
}

/// A Running pod whose content container is in `state` (after `last`, `restarts` times),
/// Ready or not.
fn running(name: &str, ready: bool, restarts: i32, state: Value, last: Value) -> Pod {
    pod_with(
        name,
        "2026-11-28T10:00:01Z",
        None,
        status(ready, restarts, state, last),
    )
}

fn status(ready: bool, restarts: i32, state: Value, last: Value) -> Value {
    let ready_word = if ready { "True" } else { "False" };
    json!({
        "phase": "Running",
        "startTime": "2026-11-28T10:00:02Z",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-28T10:00:01Z"},
            {"type": "Ready", "status": ready_word, "lastTransitionTime": "2026-11-28T10:00:09Z"},
        ],
        "containerStatuses": [{"name": "execenv-content", "ready": ready, "restartCount": restarts,
                               "image": "", "imageID": "", "state": state, "lastState": last}],
    })
}

fn up() -> Value {
    json!({"running": {"startedAt": "2026-11-28T10:00:05Z"}})
}

fn ended(code: i32, reason: &str, message: &str) -> Value {
    json!({"terminated": {"exitCode": code, "reason": reason, "message": message,
                          "startedAt": "2026-11-28T10:00:05Z", "finishedAt": "2026-11-28T10:00:06Z"}})
}

fn back_off() -> Value {
    json!({"waiting": {"reason": "CrashLoopBackOff",
                       "message": "back-off 20s restarting failed container=execenv-content pod=p"}})
}

fn seen(pods: &[&Pod], service: Option<&Service>) -> Observation {
    observe(&Facts {
        deployment: &deployment(),
        deleted: false,
        pods,
        service,
        cancelled_by_us: false,
    })
}

fn expect(o: &Observation, state: State, reason: &str, restarts: Option<u32>) {
    assert_eq!((o.state, o.reason.as_str()), (state, reason), "{o:?}");
    assert_eq!(o.restarts, restarts, "{o:?}");
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

#[test]
fn a_deployment_without_a_pod_is_pending_deployment_created() {
    let o = seen(&[], Some(&service()));
    expect(&o, State::Pending, "DeploymentCreated", None);
    assert_eq!(
        o.message,
        "the Deployment content/execenv-0123456789abcdef exists; waiting for its pod"
    );
}

#[test]
fn a_pending_pod_reports_the_same_reasons_as_a_jobs_pod() {
    let pod = pod_with(
        "p",
        "2026-11-28T10:00:01Z",
        None,
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "execenv-runtime-init", "ready": false, "restartCount": 0, "image": "", "imageID": "",
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"runtime:1\""}}}]}),
    );
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Pending, "ImagePullBackOff", None);
    assert_eq!(
        o.message,
        "init container execenv-runtime-init: Back-off pulling image \"runtime:1\""
    );
}

#[test]
fn a_running_app_not_answering_yet_is_running_starting() {
    let pod = running("p", false, 0, up(), json!({}));
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Running, "Starting", Some(0));
    assert_eq!(
        o.message,
        "pod p runs on node node-0; waiting for the app to answer on its port"
    );
    assert_eq!(o.address, None);
}

#[test]
fn a_ready_pod_is_ready_at_the_services_cluster_ip_and_port() {
    let pod = running("p", true, 0, up(), json!({}));
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Ready, "Ready", Some(0));
    assert_eq!(o.address.as_deref(), Some("10.0.0.37:8080"));
    assert_eq!(o.message, "pod p answers on 10.0.0.37:8080");
}

#[test]
fn a_ready_pod_whose_service_is_not_seen_yet_is_still_starting() {
    let pod = running("p", true, 0, up(), json!({}));
    let o = seen(&[&pod], None);
    expect(&o, State::Running, "Starting", Some(0));
    assert_eq!(o.message, "pod p is ready; waiting for its Service");
}

#[test]
fn a_crash_looping_app_is_running_with_the_kubelets_reason_its_exit_and_last_output() {
    let last = ended(
        1,
        "Error",
        "loading config\nstarting\nTraceback (most recent call last):\n  File \"app.py\", line 3\nValueError: no port\nexecenv-content-runner: run failed in 0.2 s (exit code 1): the content exited with code 1\n",
    );
    let pod = running("p", false, 3, back_off(), last);
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Running, "CrashLoopBackOff", Some(3));
    assert_eq!(o.exit_code, Some(1));
    assert_eq!(
        o.message,
        "the app exited with code 1 (Error); its last output: starting | Traceback (most recent call last): |   \
         File \"app.py\", line 3 | ValueError: no port | execenv-content-runner: run failed in 0.2 s \
         (exit code 1): the content exited with code 1"
    );
}

#[test]
fn an_app_restarted_after_a_crash_is_restarting_until_it_answers() {
    let pod = running("p", false, 1, up(), ended(137, "Error", ""));
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Running, "Restarting", Some(1));
    assert_eq!(o.message, "the app exited with code 137 (Error)");
    // The moment it exited, before the kubelet restarts it.
    let pod = running("p", false, 1, ended(0, "Completed", "bye\n"), json!({}));
    let o = seen(&[&pod], Some(&service()));
    expect(&o, State::Running, "Restarting", Some(1));
    assert_eq!(
        o.message,
        "the app exited with code 0 (Completed); its last output: bye"
    );
    // Answering again: ready, and the restarts stay counted.
    let pod = running("p", true, 1, up(), ended(137, "Error", ""));
    expect(
        &seen(&[&pod], Some(&service())),
        State::Ready,
        "Ready",
        Some(1),
    );
}

#[test]
fn a_killed_pod_is_running_until_its_replacement_is_ready() {
    let killed = pod_with(
        "a",
        "2026-11-28T10:00:01Z",
        Some("2026-11-28T10:10:00Z"),
        status(true, 0, up(), json!({})),
    );
    let replacement = pod_with(
        "b",
        "2026-11-28T10:10:00Z",
        None,
        status(false, 0, up(), json!({})),
    );
    // Only the killed pod seen so far.
    expect(
        &seen(&[&killed], Some(&service())),
        State::Running,
        "Restarting",
        Some(0),
    );
    let o = seen(&[&killed, &replacement], Some(&service()));
    expect(&o, State::Running, "Starting", Some(0));
    assert!(o.message.starts_with("pod b runs"), "{o:?}");
    let ready = pod_with(
        "b",
        "2026-11-28T10:10:00Z",
        None,
        status(true, 0, up(), json!({})),
    );
    let o = seen(&[&killed, &ready], Some(&service()));
    expect(&o, State::Ready, "Ready", Some(0));
    assert_eq!(o.address.as_deref(), Some("10.0.0.37:8080"));
}

#[test]
fn a_ready_pod_wins_over_a_newer_one_that_is_still_starting() {
    let serving = running("a", true, 0, up(), json!({}));
    let newer = pod_with(
        "b",
        "2026-11-28T10:30:00Z",
        None,
        status(false, 0, up(), json!({})),
    );
    expect(
        &seen(&[&newer, &serving], Some(&service())),
        State::Ready,
        "Ready",
        Some(0),
    );
}

#[test]
fn the_runners_refusal_fails_the_launch_runner_refused_with_its_line() {
    let refused = ended(3, "Error", &format!("supervisor: wrapping\n{REFUSED}\n"));
    let pod = running("p", false, 2, back_off(), refused.clone());
    let o = seen(&[&pod], Some(&service()));
    assert_eq!(
        (o.state, o.reason.as_str()),
        (State::Failed, "RunnerRefused")
    );
    assert_eq!((o.exit_code, o.message.as_str()), (Some(3), REFUSED));
    // Seen the moment it exited, too.
    let pod = running("p", false, 0, refused, json!({}));
    let o = seen(&[&pod], Some(&service()));
    assert_eq!((o.state, o.exit_code), (State::Failed, Some(3)));
}

#[test]
fn refusals_are_the_runners_own_ends_with_exit_codes_2_3_and_127() {
    let cases = [
        (3, REFUSED, true),
        (
            2,
            "execenv-content-runner: run failed in 0.0 s (exit code 2): manifest.json: app mode python-script needs metadata.entrypoint (the script to run)",
            true,
        ),
        (
            127,
            "execenv-content-runner: run failed in 0.0 s (exit code 127): the content command nope could not be started: No such file or directory (os error 2)",
            true,
        ),
        // The app's own exit codes, whatever they are.
        (
            2,
            "execenv-content-runner: run failed in 4.1 s (exit code 2): the content exited with code 2",
            false,
        ),
        (
            127,
            "sh: 1: nope: not found\nexecenv-content-runner: run failed in 0.1 s (exit code 127): the content exited with code 127",
            false,
        ),
        (1, REFUSED, false),
        // As a v1.36 kubelet reports it (FallbackToLogsOnError): the supervisor's line first, and
        // the runner's complaint about its status file after its summary.
        (
            3,
            "execenv-test-supervisor: wrapping /opt/execenv/runtime/bin/execenv-content-runner run --bundle \
             /mnt/content/bundle --work /mnt/content/work --status-file /mnt/content/work/interactive-status.json \
             -- sh -c exec python3 -m http.server\nexecenv-content-runner: run refused: the build for this bundle \
             is missing or out of date (no build record at /mnt/content/work/build-record.json); run \
             `execenv-content-runner build` first\nexecenv-content-runner: cannot write the status file \
             /mnt/content/work/interactive-status.json: No such file or directory (os error 2)\n",
            true,
        ),
        // No line of the runner's: a supervisor or a shell that failed before it.
        (
            127,
            "supervisor.sh: exec: execenv-content-runner: not found",
            false,
        ),
        (2, "", false),
    ];
    for (code, message, refused) in cases {
        let pod = running("p", false, 1, back_off(), ended(code, "Error", message));
        let found = refusal(&pod);
        assert_eq!(found.is_some(), refused, "{code} {message:?}: {found:?}");
        if refused {
            let summary = message
                .lines()
                .find(|l| l.contains(" refused: ") || l.contains(" failed in "));
            assert_eq!(found, summary.map(|l| (code, l.to_owned())));
        }
    }
    // A container that runs again is no refusal, whatever its last end was.
    let pod = running("p", false, 1, up(), ended(3, "Error", REFUSED));
    assert_eq!(refusal(&pod), None);
}

#[test]
fn a_recorded_end_is_the_launchs_state_whatever_the_pods_show() {
    let refused = Observation::new(State::Failed, RUNNER_REFUSED, REFUSED).with_exit_code(Some(3));
    let patch = final_patch(&refused, at("2026-11-28T10:01:00Z"));
    assert_eq!(
        patch,
        json!({
            "metadata": {"annotations": {
                "execenv.io/final-state": "failed",
                "execenv.io/final-reason": "RunnerRefused",
                "execenv.io/final-message": REFUSED,
                "execenv.io/final-exit-code": "3",
                "execenv.io/finished-time": "2026-11-28T10:01:00Z",
            }},
            "spec": {"replicas": 0},
        })
    );
    let finished = deployment_with(patch["metadata"]["annotations"].clone(), None);
    assert!(is_final(&finished));
    assert!(!is_final(&deployment()));
    let o = observe(&Facts {
        deployment: &finished,
        deleted: false,
        pods: &[],
        service: Some(&service()),
        cancelled_by_us: false,
    });
    assert_eq!(
        (o.state, o.reason.as_str(), o.message.as_str(), o.exit_code),
        (State::Failed, "RunnerRefused", REFUSED, Some(3))
    );
}

#[test]
fn a_finished_deployment_expires_its_ttl_after_its_end() {
    let finished = deployment_with(
        json!({"execenv.io/final-state": "failed", "execenv.io/finished-time": "2026-11-28T10:01:00Z"}),
        None,
    );
    assert_eq!(
        expires(&finished, Some(3600)),
        Some(at("2026-11-28T11:01:00Z"))
    );
    assert_eq!(expires(&finished, None), None, "no TTL: kept");
    assert_eq!(expires(&deployment(), Some(3600)), None, "not finished");
}

#[test]
fn a_deployment_we_deleted_is_cancelled_and_one_deleted_by_others_failed() {
    let pod = running("p", true, 0, up(), json!({}));
    let pods = [&pod];
    let being_deleted = deployment_with(json!({}), Some("2026-11-28T10:20:00Z"));
    for (deployment, deleted) in [(deployment(), true), (being_deleted, false)] {
        let facts = |cancelled_by_us| Facts {
            deployment: &deployment,
            deleted,
            pods: &pods,
            service: None,
            cancelled_by_us,
        };
        let o = observe(&facts(true));
        assert_eq!(
            (o.state, o.reason.as_str(), o.message.as_str()),
            (State::Cancelled, "Cancelled", CANCELLED_MESSAGE)
        );
        let o = observe(&facts(false));
        assert_eq!(
            (o.state, o.reason.as_str(), o.message.as_str()),
            (
                State::Failed,
                "DeploymentDeleted",
                "the Deployment content/execenv-0123456789abcdef was deleted outside the launcher; \
                 Cancel the launch instead of deleting its Deployment"
            )
        );
    }
}

#[test]
fn milestones_are_the_deployments_creation_and_the_pods_but_never_an_end() {
    let pod = running("p", false, 1, up(), ended(1, "Error", ""));
    let o = seen(&[&pod], Some(&service()));
    assert_eq!(o.milestones.job_created, Some(at("2026-11-28T10:00:00Z")));
    assert_eq!(o.milestones.scheduled, Some(at("2026-11-28T10:00:01Z")));
    assert_eq!(
        o.milestones.content_started,
        Some(at("2026-11-28T10:00:05Z"))
    );
    let exited = running("p", false, 1, ended(1, "Error", ""), json!({}));
    assert_eq!(
        seen(&[&exited], Some(&service()))
            .milestones
            .content_finished,
        None
    );
}

#[test]
fn recover_rebuilds_a_ready_interactive_launch_with_its_address_and_restarts() {
    let pod = running("p", true, 2, up(), ended(1, "Error", ""));
    let l = recover(&deployment(), &[&pod], Some(&service())).expect("a launch");
    assert_eq!(l.id, "app-42");
    assert_eq!(l.kind, LaunchKind::Interactive);
    assert_eq!(l.content_guid, "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c");
    assert_eq!(l.bundle, "17");
    assert_eq!((l.state, l.reason.as_str()), (State::Ready, "Ready"));
    assert_eq!(l.address, "10.0.0.37:8080");
    assert_eq!(l.restarts, 2);
    assert_eq!(l.environment_title, "Python 3.11");
    assert_eq!(l.image, "ghcr.io/acme/py:3.11");
    assert_eq!(l.installations.len(), 1);
    assert_eq!(l.backend, BackendKind::Kubernetes);
    assert_eq!((l.job_name.as_str(), l.namespace.as_str()), (NAME, NS));
    assert_eq!(l.created, at("2026-11-28T10:00:00Z"));
    assert_eq!(l.started, Some(at("2026-11-28T10:00:05Z")));
    assert_eq!(l.ready, Some(at("2026-11-28T10:00:09Z")));
    assert_eq!(l.finished, None);
}

#[test]
fn recover_of_a_refused_launch_reads_the_recorded_end() {
    let finished = deployment_with(
        json!({"execenv.io/final-state": "failed", "execenv.io/final-reason": "RunnerRefused",
               "execenv.io/final-message": REFUSED, "execenv.io/final-exit-code": "3",
               "execenv.io/finished-time": "2026-11-28T10:01:00Z"}),
        None,
    );
    let l = recover(&finished, &[], Some(&service())).expect("a launch");
    assert_eq!(
        (l.state, l.reason.as_str(), l.exit_code),
        (State::Failed, "RunnerRefused", Some(3))
    );
    assert_eq!(l.finished, Some(at("2026-11-28T10:01:00Z")));
    assert_eq!(l.address, "");
}

#[test]
fn a_new_pod_of_a_launch_that_ran_before_is_restarting_not_pending() {
    let pending = pod_with(
        "b",
        "2026-11-28T10:10:00Z",
        None,
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-28T10:10:00Z"}]}),
    );
    let waiting = seen(&[&pending], Some(&service()));
    expect(&waiting, State::Pending, "Scheduled", None);
    let o = once_started(waiting);
    expect(&o, State::Running, "Restarting", None);
    assert_eq!(
        o.message,
        "the Deployment replaces the app's pod; the new one waits: Scheduled (pod b is assigned to node node-0)"
    );
    let ready = running("b", true, 0, up(), json!({}));
    let o = once_started(seen(&[&ready], Some(&service())));
    expect(&o, State::Ready, "Ready", Some(0));
}
