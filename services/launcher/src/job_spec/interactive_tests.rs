//! The Deployment and Service of an interactive launch, field by field, and what they share with
//! the RUN Job of the same launch.

use serde_json::{Value, json};

use super::super::tests::{
    CONTENT, IMAGE, JOB_OF_REQ_42, env_of, environment, installations, launch, settings,
};
use super::*;
use crate::job_spec::{JobSettings, LaunchKind, build_job, check_request};

const SUPERVISOR: &str = "/opt/supervisor/run.sh";
const COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "exec python3 -m http.server \"$EXECENV_CONTENT_PORT\"",
];

fn interactive() -> LaunchRequest {
    let mut l = launch(LaunchKind::Interactive);
    l.command = COMMAND.map(String::from).to_vec();
    l
}

fn deployment(s: &JobSettings) -> Deployment {
    let l = interactive();
    let job = build_job(
        &l,
        &environment(Some(SUPERVISOR), vec![]),
        &installations(),
        s,
    )
    .expect("the job");
    deployment_of(job, &l, s.config.interactive_port)
}

fn content_of(d: &Deployment) -> &Container {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| {
            p.containers
                .iter()
                .find(|c| c.name == CONTENT_CONTAINER_NAME)
        })
        .expect("the content container")
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("json")
}

#[test]
fn the_deployment_has_the_jobs_name_labels_and_annotations_one_replica_recreated() {
    let d = to_json(&deployment(&settings()));
    let labels = json!({
        "app.kubernetes.io/managed-by": "execenv-launcher",
        "app.kubernetes.io/component": "interactive",
        "execenv.io/content-guid": CONTENT,
        "execenv.io/environment-guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50",
        "execenv.io/launch-id": "req-42",
    });
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(
        d["metadata"],
        json!({
            "name": JOB_OF_REQ_42,
            "namespace": "content",
            "labels": labels,
            "annotations": {
                "execenv.io/image": IMAGE,
                "execenv.io/bundle-id": "17",
                "execenv.io/python-version": "3.12.4",
                "execenv.io/r-version": "4.4.1",
                "execenv.io/quarto-version": "1.5.57",
            },
        })
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {
            "app.kubernetes.io/managed-by": "execenv-launcher",
            "app.kubernetes.io/component": "interactive",
            "execenv.io/launch-id": "req-42",
        }})
    );
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(d["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
}

#[test]
fn the_content_container_serves_on_the_port_with_a_probe_and_the_content_variables() {
    let d = deployment(&settings());
    let c = to_json(content_of(&d));
    assert_eq!(
        c["command"],
        json!([
            SUPERVISOR,
            "/opt/execenv/runtime/bin/execenv-content-runner",
            "run",
            "--bundle",
            "/mnt/content/bundle",
            "--work",
            "/mnt/content/work",
            "--status-file",
            "/mnt/content/work/interactive-status.json",
            "--",
            "sh",
            "-c",
            "exec python3 -m http.server \"$EXECENV_CONTENT_PORT\"",
        ])
    );
    assert_eq!(
        c["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        c["readinessProbe"],
        json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 2})
    );
    assert_eq!(c["terminationMessagePolicy"], "FallbackToLogsOnError");
    assert_eq!(
        env_of(content_of(&d)),
        [
            ("EXECENV_PYTHON", "/opt/python/3.12.4/bin/python3"),
            ("EXECENV_R", "/opt/R/4.4.1/bin/R"),
            ("EXECENV_QUARTO", "/opt/quarto/1.5.57/bin/quarto"),
            ("EXECENV_CONTENT_PORT", "8080"),
            ("EXECENV_CONTENT_HOST", "0.0.0.0"),
            ("EXECENV_CONTENT_BASE_PATH", &format!("/content/{CONTENT}")),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn the_pod_is_the_run_jobs_but_for_restarts_the_port_probe_message_and_variables() {
    let s = settings();
    let env = environment(Some(SUPERVISOR), vec![]);
    let mut run = launch(LaunchKind::Run);
    run.command = COMMAND.map(String::from).to_vec();
    let job = build_job(&run, &env, &installations(), &s).expect("the run job");
    let mut expected = to_json(&job.spec.expect("spec").template.spec);
    expected["restartPolicy"] = json!("Always");
    let served = to_json(content_of(&deployment(&s)));
    let content = &mut expected["containers"][0];
    assert_eq!(content["name"], CONTENT_CONTAINER_NAME);
    for field in [
        "ports",
        "readinessProbe",
        "terminationMessagePolicy",
        "env",
        "command",
    ] {
        content[field] = served[field].clone();
    }
    let d = deployment(&s);
    assert_eq!(to_json(&d.spec.expect("spec").template.spec), expected);
}

#[test]
fn the_port_is_the_interactive_port_setting() {
    let mut s = settings();
    s.config.interactive_port = 3939;
    let d = deployment(&s);
    assert_eq!(http_port(&d), Some(3939));
    let c = to_json(content_of(&d));
    assert_eq!(c["ports"][0]["containerPort"], 3939);
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 3939);
    assert!(
        env_of(content_of(&d)).contains(&("EXECENV_CONTENT_PORT".into(), "3939".into())),
        "{c}"
    );
}

#[test]
fn a_base_templates_pod_deadline_and_content_variables_do_not_reach_the_deployment() {
    let mut s = settings();
    s.base_template = Some(
        crate::template::JobTemplate::from_yaml(
            "base.yaml",
            "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      activeDeadlineSeconds: 600\n      \
             nodeSelector: {pool: apps}\n      containers:\n        - name: connect-content\n          env:\n            \
             - {name: EXECENV_CONTENT_HOST, value: 127.0.0.1}\n            - {name: TEAM, value: data}\n",
        )
        .expect("template"),
    );
    let d = deployment(&s);
    let pod = to_json(&d.spec.as_ref().expect("spec").template.spec);
    assert_eq!(pod["activeDeadlineSeconds"], Value::Null);
    assert_eq!(pod["nodeSelector"], json!({"pool": "apps"}));
    let env = env_of(content_of(&d));
    assert!(env.contains(&("TEAM".into(), "data".into())), "{env:?}");
    assert_eq!(
        env.iter()
            .filter(|(k, _)| k == "EXECENV_CONTENT_HOST")
            .collect::<Vec<_>>(),
        [&("EXECENV_CONTENT_HOST".to_owned(), "0.0.0.0".to_owned())]
    );
}

#[test]
fn the_service_maps_the_port_to_the_launchs_pod_and_is_owned_by_the_deployment() {
    let mut d = deployment(&settings());
    d.metadata.uid = Some("0b7d4c1e-5a2f-4e8b-9c3d-6f1a2b3c4d5e".into());
    let service = service_for(&d).expect("the service");
    assert_eq!(
        to_json(&service),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": JOB_OF_REQ_42,
                "namespace": "content",
                "labels": {
                    "app.kubernetes.io/managed-by": "execenv-launcher",
                    "app.kubernetes.io/component": "interactive",
                    "execenv.io/content-guid": CONTENT,
                    "execenv.io/environment-guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50",
                    "execenv.io/launch-id": "req-42",
                },
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": JOB_OF_REQ_42,
                    "uid": "0b7d4c1e-5a2f-4e8b-9c3d-6f1a2b3c4d5e",
                    "controller": true,
                }],
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {
                    "app.kubernetes.io/managed-by": "execenv-launcher",
                    "app.kubernetes.io/component": "interactive",
                    "execenv.io/launch-id": "req-42",
                },
                "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
            },
        })
    );
}

#[test]
fn a_deployment_the_api_server_has_not_returned_has_no_service() {
    let err = service_for(&deployment(&settings())).expect_err("no uid");
    assert_eq!(
        err.message,
        format!("the Deployment {JOB_OF_REQ_42} has no uid; it was not made by this launcher")
    );
}

#[test]
fn interactive_requests_may_not_set_the_content_variables() {
    let mut l = interactive();
    l.env = vec![
        ("EXECENV_CONTENT_PORT".into(), "9000".into()),
        ("TEAM".into(), "data".into()),
    ];
    let err = check_request(&l).expect_err("refused");
    assert_eq!(err.violations.len(), 1, "{err:?}");
    assert_eq!(err.violations[0].field, "env[0].name");
    assert_eq!(
        err.violations[0].description,
        "EXECENV_CONTENT_PORT is set by the launcher for interactive content (where it listens \
         and its public path); remove it"
    );
    // A RUN may set it: nothing of the launcher's is in the way.
    l.kind = LaunchKind::Run;
    assert!(check_request(&l).is_ok());
}

#[test]
fn the_command_after_the_separator_reaches_the_runner_for_interactive_launches_too() {
    let d = deployment(&settings());
    let command = content_of(&d).command.clone().unwrap_or_default();
    let after = command
        .iter()
        .position(|a| a == "--")
        .map(|i| &command[i + 1..]);
    assert_eq!(after, Some(&COMMAND.map(String::from)[..]));
}
