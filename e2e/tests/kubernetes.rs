//! The Kubernetes testbed is real: a real kube-apiserver validates, the real Job controller runs
//! Jobs, the scheduler places their pods on the real node, whose kubelet runs them with
//! containerd and runc in the testbed's images, and the real garbage collector deletes them. A
//! test target of its own, built with the `kubernetes` feature, so that `make test` can leave it
//! out when EXECENV_SKIP_KUBERNETES=1 is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::testbed::{
    fresh_namespace, images, testbed_client, testbed_kubeconfig, testbed_with_node, watch_for_pod,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::wait::{Condition, await_condition};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

/// A Job whose one pod runs `python3 -c SCRIPT` in the testbed's Python image.
fn job(name: &str, script: &str) -> Result<Job> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": images::PYTHON_IMAGE, "command": [images::PYTHON, "-c", script]}],
            }},
        },
    }))?)
}

fn has_condition(kind: &'static str) -> impl Condition<Job> {
    move |job: Option<&Job>| {
        job.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
    }
}

/// Creates the Job running `script` and waits until it has the condition `condition`.
async fn run_job(
    client: &Client,
    ns: &str,
    name: &str,
    script: &str,
    condition: &'static str,
) -> Result<Job> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&PostParams::default(), &job(name, script)?)
        .await?;
    let done = tokio::time::timeout(WAIT, await_condition(jobs, name, has_condition(condition)))
        .await
        .with_context(|| format!("the Job {name} did not become {condition} on the node"))??
        .context("the Job exists")?;
    Ok(done)
}

#[tokio::test]
async fn kubernetes_job_completes_when_its_pod_succeeds_on_the_node() -> Result<()> {
    let client = testbed_with_node().await?;
    let ns = fresh_namespace(&client, "complete").await?;
    let done = run_job(&client, &ns, "build-ok", "print('ok')", "Complete").await?;
    assert_eq!(done.status.and_then(|s| s.succeeded), Some(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = pods
        .list(&ListParams::default().labels("job-name=build-ok"))
        .await?
        .items
        .remove(0);
    assert_eq!(
        pod.spec.and_then(|s| s.node_name).as_deref(),
        Some(execenv_e2e::testbed::NODE),
        "the scheduler placed the pod"
    );
    let log = pods
        .logs(&pod.metadata.name.unwrap_or_default(), &Default::default())
        .await?;
    assert_eq!(log, "ok\n", "pods/log from the kubelet");
    Ok(())
}

#[tokio::test]
async fn kubernetes_job_with_backoff_limit_zero_fails_when_its_pod_exits_3() -> Result<()> {
    let client = testbed_with_node().await?;
    let ns = fresh_namespace(&client, "failed").await?;
    let failed = run_job(&client, &ns, "build-bad", "raise SystemExit(3)", "Failed").await?;
    let condition = failed
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Failed"))
        .expect("Failed condition");
    assert_eq!(condition.reason.as_deref(), Some("BackoffLimitExceeded"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = pods
        .list(&ListParams::default().labels("job-name=build-bad"))
        .await?
        .items
        .remove(0);
    let exit = pod
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|cs| cs[0].state.clone())
        .and_then(|s| s.terminated);
    assert_eq!(exit.map(|t| t.exit_code), Some(3));
    Ok(())
}

#[tokio::test]
async fn kubernetes_foreground_delete_of_a_running_job_stops_and_removes_its_pod() -> Result<()> {
    let client = testbed_with_node().await?;
    let ns = fresh_namespace(&client, "gc").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job_uid = jobs
        .create(
            &PostParams::default(),
            &job("run-long", "import time; time.sleep(600)")?,
        )
        .await?
        .metadata
        .uid
        .context("job uid")?;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = watch_for_pod(
        &client,
        &ns,
        "job-name=run-long",
        "the Job's pod running",
        |p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"),
    )
    .await?;
    jobs.delete("run-long", &DeleteParams::foreground()).await?;
    // The garbage collector deletes the pod, the kubelet stops it, then the Job goes.
    let uid = pod.metadata.uid.clone().context("pod uid")?;
    tokio::time::timeout(
        WAIT,
        await_condition(
            pod_api,
            &pod.metadata.name.unwrap_or_default(),
            kube::runtime::wait::conditions::is_deleted(&uid),
        ),
    )
    .await
    .context("the pod was not stopped and removed")??;
    tokio::time::timeout(
        WAIT,
        await_condition(
            jobs,
            "run-long",
            kube::runtime::wait::conditions::is_deleted(&job_uid),
        ),
    )
    .await
    .context("the Job was not removed after its pod")??;
    Ok(())
}

#[tokio::test]
async fn kubernetes_api_server_rejects_an_invalid_job_with_422_naming_the_field() -> Result<()> {
    let client = testbed_client().await?;
    let ns = fresh_namespace(&client, "invalid").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let mut bad = job("no-image", "print(1)")?;
    bad.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = None;
    match jobs.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "{e:?}");
            assert!(
                e.message.contains("spec.template.spec.containers[0].image"),
                "{}",
                e.message
            );
        }
        other => bail!("expected a 422 from the API server, got {other:?}"),
    }
    assert!(
        jobs.get_opt("no-image").await?.is_none(),
        "nothing was stored"
    );
    Ok(())
}

fn helm() -> Result<std::path::PathBuf> {
    let bin = std::env::var_os("EXECENV_TESTBED_BIN").context(
        "EXECENV_TESTBED_BIN is not set: run `make test` (or take it from `e2e/infra/testbed env`)",
    )?;
    Ok(std::path::Path::new(&bin).join("helm"))
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn kubernetes_helm_renders_and_dry_runs_a_chart_against_the_testbed() -> Result<()> {
    let helm = helm()?;
    let kubeconfig = testbed_kubeconfig()?;
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-chart");
    let home = tempfile::tempdir()?;
    let helm_cmd = || {
        let mut c = Command::new(&helm);
        c.env("KUBECONFIG", &kubeconfig)
            .env("HELM_CACHE_HOME", home.path().join("cache"))
            .env("HELM_CONFIG_HOME", home.path().join("config"))
            .env("HELM_DATA_HOME", home.path().join("data"));
        c
    };
    let version = run(helm_cmd().args(["version", "--short"]))?;
    assert!(
        version.starts_with("v3.") || version.starts_with("v4."),
        "{version}"
    );
    let client = testbed_client().await?;
    let ns = fresh_namespace(&client, "helm").await?;
    let rendered = run(helm_cmd().args(["template", "demo"]).arg(&chart))?;
    assert!(rendered.contains("name: demo-tiny"), "{rendered}");
    // --dry-run=server sends the objects to the API server for validation without storing them;
    // the server's version reaches the template through .Capabilities.
    let dry = run(helm_cmd()
        .args(["install", "demo", "--dry-run=server", "--namespace", &ns])
        .arg(&chart))?;
    assert!(dry.contains("kubeVersion: \"v1.36"), "{dry}");
    Ok(())
}

#[tokio::test]
async fn kubernetes_finished_job_with_ttl_zero_is_deleted_by_the_ttl_controller() -> Result<()> {
    let client = testbed_with_node().await?;
    let ns = fresh_namespace(&client, "ttl").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let mut short_lived = job("build-ttl", "print(1)")?;
    short_lived
        .spec
        .as_mut()
        .unwrap()
        .ttl_seconds_after_finished = Some(0);
    let created = jobs.create(&PostParams::default(), &short_lived).await?;
    let uid = created.metadata.uid.context("job uid")?;
    tokio::time::timeout(
        WAIT,
        await_condition(
            jobs,
            "build-ttl",
            kube::runtime::wait::conditions::is_deleted(&uid),
        ),
    )
    .await
    .context("the ttl-after-finished controller did not delete the finished Job")??;
    Ok(())
}

/// The launcher's Job (built by `execenv_launcher::job_spec`) as the real API server sees it: it
/// is accepted, and the Job controller creates its pod with the init container, the
/// supervisor-wrapped runner and every mount. (Its claims do not exist in this namespace, so the
/// pod is not scheduled; the launcher's own tests run such Jobs on the node.)
#[tokio::test]
async fn kubernetes_the_launchers_build_job_is_accepted_and_its_pod_has_the_init_container_the_wrapped_runner_and_every_mount()
-> Result<()> {
    use execenv_launcher::KubernetesConfig;
    use execenv_launcher::job_spec::{
        ChosenInstallation, JobSettings, LaunchKind, LaunchRequest, Resources, build_job,
    };
    /// Where the init container puts the content runner.
    const RUNNER: &str = "/opt/execenv/runtime/bin/execenv-content-runner";
    /// The Job of request "req-42": `execenv-` and the first 16 hex digits of the id's SHA-256
    /// (`printf %s req-42 | sha256sum`). The namespace is fresh, so the name is free.
    const NAME: &str = "execenv-fd1180d9f0c0819f";
    let client = testbed_client().await?;
    let ns = fresh_namespace(&client, "launch").await?;
    let guid = uuid::Uuid::new_v4();
    let environment: execenv_core::Environment = serde_json::from_value(json!({
        "id": 1, "guid": guid, "name": "ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204", "title": "Python 3.12",
        "description": null, "cluster_name": "Kubernetes", "matching": "any", "supervisor": "/opt/supervisor/run.sh",
        "python": [{"version": "3.12.4", "path": "/opt/python/3.12.4/bin/python3"}], "r": [], "quarto": [], "tensorflow": [],
        "volume_mounts": [{"source": {"type": "pvc", "claim_name": "reference-data"}, "target_path": "/mnt/reference", "read_only": true}],
        "environment_type": "Kubernetes", "managed_by": null, "permissions": [],
        "created_time": "2026-11-28T00:00:00Z", "updated_time": "2026-11-28T00:00:00Z", "revision": 1,
    }))?;
    let launch = LaunchRequest {
        request_id: "req-42".into(),
        kind: LaunchKind::Build,
        content_guid: uuid::Uuid::new_v4().to_string(),
        bundle_id: "42".into(),
        command: vec![],
        env: vec![],
        resources: Resources {
            memory_limit: Some("1Gi".into()),
            ..Default::default()
        },
        service_account: None,
    };
    let installations = [ChosenInstallation {
        language: execenv_core::Language::Python,
        version: "3.12.4".into(),
        path: "/opt/python/3.12.4/bin/python3".into(),
    }];
    let settings = JobSettings {
        config: KubernetesConfig {
            kubeconfig: None,
            namespace: ns.clone(),
            runtime_image: "ghcr.io/execenv/runtime:0.1.0".into(),
            runner_path: RUNNER.into(),
            data_pvc: "execenv-data".into(),
            package_cache_pvc: "execenv-package-cache".into(),
            data_sub_path_prefix: String::new(),
            package_cache_sub_path_prefix: String::new(),
            role: None,
            owner_config_map: None,
            ttl_seconds_after_finished: Some(600),
            build_active_deadline_seconds: Some(3600),
            default_service_account: None,
            automount_service_account_token: false,
            image_pull_secrets: vec![],
            run_as_user: Some(999),
            run_as_group: None,
            fs_group: None,
            job_template: None,
            interactive_port: 8080,
            ..KubernetesConfig::default()
        },
        base_template: None,
    };
    let job = build_job(&launch, &environment, &installations, &settings)?;
    ensure!(
        job.metadata.name.as_deref() == Some(NAME),
        "{:?}",
        job.metadata.name
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    jobs.create(&PostParams::default(), &job)
        .await
        .context("the API server accepts the launcher's Job")?;
    let pod = watch_for_pod(
        &client,
        &ns,
        &format!("job-name={NAME}"),
        "the Job controller's pod",
        |_| true,
    )
    .await?;
    let spec = pod.spec.clone().expect("pod spec");
    let init = spec.init_containers.clone().unwrap_or_default();
    ensure!(
        init.len() == 1 && init[0].name == "execenv-runtime-init",
        "init container: {init:?}"
    );
    let content = &spec.containers[0];
    let command = content.command.clone().unwrap_or_default();
    ensure!(
        command.first().map(String::as_str) == Some("/opt/supervisor/run.sh"),
        "supervisor first: {command:?}"
    );
    ensure!(
        command.get(1).map(String::as_str) == Some(RUNNER)
            && command.get(2).map(String::as_str) == Some("build"),
        "{command:?}"
    );
    let mounts: Vec<String> = content
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.mount_path)
        .collect();
    for path in [
        "/opt/execenv/runtime",
        "/mnt/content",
        "/mnt/cache",
        "/mnt/reference",
    ] {
        ensure!(
            mounts.iter().any(|m| m == path),
            "mount {path} in {mounts:?}"
        );
    }
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    ensure!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str)
            == Some("execenv-launcher"),
        "{labels:?}"
    );
    Ok(())
}
