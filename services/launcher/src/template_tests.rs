use execenv_core::ErrorKind;
use k8s_openapi::api::batch::v1::Job;
use serde_json::{Value, json};

use super::*;

/// A job base as Posit Connect's job templates write it.
const CONNECT_BASE: &str = r#"
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      nodeSelector:
        pool: content
      initContainers:
        - name: connect-content-init
          image: posit/connect-content-init:2024.12.0
          resources:
            limits:
              memory: 128Mi
      containers:
        - name: connect-content
          env:
            - name: HTTPS_PROXY
              value: http://proxy.example.com:3128
          resources:
            limits:
              memory: 4Gi
          volumeMounts:
            - name: certificates
              mountPath: /etc/ssl/certs
              readOnly: true
      volumes:
        - name: certificates
          configMap:
            name: ca-bundle
"#;

/// The shape of the launcher's own Job: its init and content containers, each with an image.
fn ours() -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "execenv-1"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "execenv-runtime-init", "image": "ghcr.io/execenv/runtime:0.1.0",
                "args": ["/mnt/execenv-runtime"]}],
            "containers": [{"name": "execenv-content", "image": "ghcr.io/acme/python:3.12",
                "env": [{"name": "EXECENV_PYTHON", "value": "/opt/python/bin/python3"}]}],
        }}},
    }))
    .expect("a Job")
}

fn pod(job: &Job) -> Value {
    serde_json::to_value(job).expect("json")["spec"]["template"]["spec"].clone()
}

#[test]
fn connect_containers_merge_into_the_launchers_own() {
    let base = JobTemplate::from_yaml("job-base.yaml", CONNECT_BASE).expect("accepted");
    let pod = pod(&base.merge_under(&ours()).expect("merged"));
    assert_eq!(
        pod["containers"],
        json!([{
            "name": "execenv-content",
            "image": "ghcr.io/acme/python:3.12",
            "env": [
                {"name": "EXECENV_PYTHON", "value": "/opt/python/bin/python3"},
                {"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"},
            ],
            "resources": {"limits": {"memory": "4Gi"}},
            "volumeMounts": [{"name": "certificates", "mountPath": "/etc/ssl/certs", "readOnly": true}],
        }])
    );
    assert_eq!(
        pod["initContainers"],
        json!([{
            "name": "execenv-runtime-init",
            "image": "ghcr.io/execenv/runtime:0.1.0",
            "args": ["/mnt/execenv-runtime"],
            "resources": {"limits": {"memory": "128Mi"}},
        }])
    );
    assert_eq!(pod["nodeSelector"], json!({"pool": "content"}));
    assert_eq!(pod["volumes"][0]["name"], "certificates");
}

/// The job base whose pod spec is `pod` (JSON is YAML), as the launcher loads it.
fn load(pod: Value) -> Result<JobTemplate, execenv_core::Error> {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": pod}}});
    JobTemplate::from_yaml("job-base.yaml", &job.to_string())
}

#[test]
fn a_template_container_without_an_image_is_refused_naming_it() {
    let e = load(json!({
        "containers": [
            {"name": "connect-content", "resources": {"limits": {"memory": "1Gi"}}},
            {"name": "content", "env": [{"name": "TZ", "value": "UTC"}]},
            {"name": "log-shipper", "image": "fluent/fluent-bit:3"},
        ],
        "initContainers": [{"name": "warm-up"}],
    }))
    .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "job-base.yaml: spec.template.spec.initContainers[warm-up]",
            "job-base.yaml: spec.template.spec.containers[content]"
        ]
    );
    assert!(
        e.message.contains(
            "container content has no image, and every pod would get it as a container of its own; give it an \
             image, or name it execenv-content (or Connect's connect-content)"
        ),
        "{}",
        e.message
    );
}

#[test]
fn the_content_container_under_both_names_is_refused() {
    let e = load(json!({"containers": [
        {"name": "execenv-content", "env": [{"name": "A", "value": "1"}]},
        {"name": "connect-content", "env": [{"name": "B", "value": "2"}]},
    ]}))
    .expect_err("refused");
    assert!(
        e.message.contains(
            "given twice (execenv-content and connect-content are the same container); keep one"
        ),
        "{}",
        e.message
    );
}

#[test]
fn connect_names_count_only_in_their_own_list() {
    // connect-content among the init containers is not the content container: it needs an image.
    let e = load(json!({"initContainers": [{"name": "connect-content"}]})).expect_err("refused");
    assert!(
        e.message.contains("container connect-content has no image"),
        "{}",
        e.message
    );
}
