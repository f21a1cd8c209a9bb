//! A launch rebuilt from its Job: every field, and the round trip from the Job we create.

use chrono::{DateTime, Utc};
use execenv_core::{Environment, Language};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::tests::{active_job, condition, content, job, job_with, pod, running_pod, terminated};
use super::*;
use crate::config::KubernetesConfig;
use crate::job_spec::{ChosenInstallation, LaunchRequest, Resources, job_name};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

#[test]
fn recover_rebuilds_a_running_launch_from_labels_annotations_and_its_pod() {
    let pod = running_pod();
    let l = recover(&active_job(), &[&pod]).expect("a launch");
    assert_eq!(l.id, "req-42");
    assert_eq!(l.kind, LaunchKind::Build);
    assert_eq!(l.content_guid, "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c");
    assert_eq!(l.bundle, "17");
    assert_eq!(l.state, State::Running);
    assert_eq!(l.reason, "Running");
    assert_eq!(l.message, "pod p runs on node node-0");
    assert_eq!(l.exit_code, None);
    assert_eq!(l.environment_guid, "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50");
    assert_eq!(l.environment_title, "Python 3.11");
    assert_eq!(l.image, "ghcr.io/acme/py:3.11");
    assert_eq!(
        l.installations,
        vec![Installation {
            language: "python".into(),
            version: "3.11.9".into(),
            path: "/opt/python/3.11.9/bin/python3".into(),
        }]
    );
    assert_eq!(l.selected_by, "automatic");
    assert_eq!(l.backend, BackendKind::Kubernetes);
    assert_eq!(l.job_name, "execenv-0123456789abcdef");
    assert_eq!(l.namespace, "content");
    assert_eq!(l.created, at("2026-11-28T10:00:00Z"));
    assert_eq!(l.submitted, Some(at("2026-11-28T10:00:00Z")));
    assert_eq!(l.started, Some(at("2026-11-28T10:01:00Z")));
    assert_eq!(l.finished, None);
}

#[test]
fn recover_of_a_pending_launch_has_no_start_time() {
    let l = recover(&active_job(), &[]).expect("a launch");
    assert_eq!(l.state, State::Pending);
    assert_eq!(l.reason, "JobCreated");
    assert_eq!(l.started, None);
    assert_eq!(l.finished, None);
}

#[test]
fn recover_of_a_finished_job_takes_the_outcome_and_the_conditions_time() {
    let succeeded = pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Succeeded", "containerStatuses": content(terminated(0, "Completed"))}),
    );
    let l = recover(
        &job(json!([condition("Complete", "CompletionsReached", "")])),
        &[&succeeded],
    )
    .expect("a launch");
    assert_eq!(
        (l.state, l.reason.as_str()),
        (State::Succeeded, "Completed")
    );
    assert_eq!(l.exit_code, Some(0));
    assert_eq!(l.started, Some(at("2026-11-28T10:01:00Z")));
    assert_eq!(l.finished, Some(at("2026-11-28T10:05:00Z")));

    let failed = pod(
        "p",
        "2026-11-28T10:00:01Z",
        Some("node-0"),
        json!({"phase": "Failed", "containerStatuses": content(terminated(3, "Error"))}),
    );
    let l = recover(
        &job(json!([condition(
            "Failed",
            "BackoffLimitExceeded",
            "limit"
        )])),
        &[&failed],
    )
    .expect("a launch");
    assert_eq!(
        (l.state, l.reason.as_str()),
        (State::Failed, "BackoffLimitExceeded")
    );
    assert_eq!(l.exit_code, Some(3));
    assert_eq!(l.finished, Some(at("2026-11-28T10:05:00Z")));
}

#[test]
fn recover_of_a_job_being_deleted_counts_it_as_cancelled() {
    let pod = running_pod();
    let l = recover(
        &job_with(json!({"active": 1}), Some("2026-11-28T10:03:00Z")),
        &[&pod],
    )
    .expect("a launch");
    assert_eq!(
        (l.state, l.reason.as_str()),
        (State::Cancelled, "Cancelled")
    );
    assert_eq!(l.message, CANCELLED_MESSAGE);
    assert_eq!(l.finished, Some(at("2026-11-28T10:03:00Z")));
}

#[test]
fn recover_ignores_a_job_without_a_launch_id() {
    let mut job = active_job();
    job.metadata
        .labels
        .as_mut()
        .expect("labels")
        .remove("execenv.io/launch-id");
    assert!(recover(&job, &[]).is_none());
    assert_eq!(launch_id(job.metadata.labels.as_ref()), None);
    assert_eq!(
        launch_id(active_job().metadata.labels.as_ref()),
        Some("req-42")
    );
}

#[test]
fn recover_without_our_annotations_falls_back_to_the_image() {
    let mut job = active_job();
    job.metadata.annotations = None;
    job.metadata
        .labels
        .as_mut()
        .expect("labels")
        .insert("app.kubernetes.io/component".into(), "run".into());
    let l = recover(&job, &[]).expect("a launch");
    assert_eq!(l.kind, LaunchKind::Run);
    assert_eq!(l.image, "ghcr.io/acme/py:3.11");
    assert_eq!(l.environment_title, "ghcr.io/acme/py:3.11");
    assert_eq!(l.bundle, "");
    assert_eq!(l.selected_by, "");
    assert!(l.installations.is_empty());
}

fn environment() -> Environment {
    serde_json::from_value(json!({
        "id": 1, "guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50", "name": "ghcr.io/acme/py:3.11",
        "title": "Python 3.11 and R", "description": null, "cluster_name": "Kubernetes",
        "matching": "any", "supervisor": "/opt/supervisor/run.sh",
        "python": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}],
        "r": [{"version": "4.4.1", "path": "/opt/R/4.4.1/bin/R"}], "quarto": [],
        "tensorflow": [{"version": "2.16.1", "path": "/usr/bin/tensorflow_model_server"}],
        "volume_mounts": [], "environment_type": "Kubernetes", "managed_by": null,
        "permissions": [], "created_time": "2026-11-28T00:00:00Z",
        "updated_time": "2026-11-28T00:00:00Z", "revision": 1,
    }))
    .expect("environment")
}

fn settings() -> JobSettings {
    JobSettings {
        config: KubernetesConfig {
            namespace: "content".into(),
            runtime_image: "ghcr.io/execenv/runtime:0.1.0".into(),
            ttl_seconds_after_finished: None,
            build_active_deadline_seconds: None,
            ..KubernetesConfig::default()
        },
        base_template: None,
    }
}

/// The plan of launch "req-77" of `kind`: content 0d2b…'s bundle 9 in [`environment`], with
/// its Python, R and TensorFlow.
fn plan(kind: LaunchKind) -> Plan {
    let request = LaunchRequest {
        request_id: "req-77".into(),
        kind,
        content_guid: "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c".into(),
        bundle_id: "9".into(),
        command: vec![],
        env: vec![],
        resources: Resources::default(),
        service_account: None,
    };
    let environment = environment();
    let installations: Vec<ChosenInstallation> = [
        (Language::Python, "3.11.9", "/opt/python/3.11.9/bin/python3"),
        (Language::R, "4.4.1", "/opt/R/4.4.1/bin/R"),
        (
            Language::Tensorflow,
            "2.16.1",
            "/usr/bin/tensorflow_model_server",
        ),
    ]
    .into_iter()
    .map(|(language, version, path)| ChosenInstallation {
        language,
        version: version.into(),
        path: path.into(),
    })
    .collect();
    let mut launch = Launch::new(
        &request,
        &environment,
        &installations,
        "manifest-identifier",
        BackendKind::Kubernetes,
    );
    launch.owner_guid = "5b1f2a9e-0c4d-4e8a-9f3b-2d7c6e1a0b9f".into();
    Plan {
        request,
        environment,
        installations,
        launch,
    }
}

#[test]
fn the_job_we_create_recovers_into_the_launch_we_answered() {
    let plan = plan(LaunchKind::Run);
    let launch = plan.launch.clone();
    let mut job = job_for(&plan, &settings()).expect("job");
    let annotations = job.metadata.annotations.clone().expect("annotations");
    assert_eq!(
        annotations
            .get("execenv.io/environment-title")
            .map(String::as_str),
        Some("Python 3.11 and R")
    );
    assert_eq!(
        annotations
            .get("execenv.io/selected-by")
            .map(String::as_str),
        Some("manifest-identifier")
    );
    assert_eq!(
        annotations.get("execenv.io/owner").map(String::as_str),
        Some("5b1f2a9e-0c4d-4e8a-9f3b-2d7c6e1a0b9f"),
        "who asked survives a launcher restart"
    );
    // What the API server adds on create.
    job.metadata.creation_timestamp = Some(Time(launch.created.to_rfc3339().parse().expect("ts")));
    let back = recover(&job, &[]).expect("a launch");
    assert_eq!(
        back,
        created(
            launch,
            "JobCreated",
            &format!(
                "the Job content/{} exists; waiting for the Job controller to create its pod",
                job_name("req-77")
            )
        )
    );
}

#[test]
fn the_deployment_we_create_recovers_into_the_interactive_launch_we_answered() {
    let plan = plan(LaunchKind::Interactive);
    let launch = plan.launch.clone();
    let mut deployment =
        crate::kubernetes::serving::deployment_for(&plan, &settings()).expect("deployment");
    // What the API server adds on create.
    deployment.metadata.creation_timestamp =
        Some(Time(launch.created.to_rfc3339().parse().expect("ts")));
    let back = crate::kubernetes::serving::recover(&deployment, &[], None).expect("a launch");
    assert_eq!(
        back,
        created(
            launch,
            "DeploymentCreated",
            &format!(
                "the Deployment content/{} exists; waiting for its pod",
                job_name("req-77")
            )
        )
    );
}

/// `launch` as just created in namespace `content`: PENDING with `reason` and `message`.
fn created(launch: Launch, reason: &str, message: &str) -> Launch {
    Launch {
        state: State::Pending,
        reason: reason.into(),
        message: message.into(),
        job_name: job_name("req-77"),
        namespace: "content".into(),
        submitted: Some(launch.created),
        milestones: Milestones {
            job_created: Some(launch.created),
            ..Milestones::default()
        },
        ..launch
    }
}
