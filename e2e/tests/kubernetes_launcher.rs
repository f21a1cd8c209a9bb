//! The launcher's Kubernetes backend through the real binaries: the registry on SQLite, an
//! environment made with `execenvctl env create`, the selector, and `execenv-launcher` with the
//! Kubernetes backend on a fresh namespace of the real testbed, called over gRPC. The API
//! server, the Job controller and the garbage collector are real; only the kubelet is the test
//! double `FakeNode`. With no kubelet, `pods/log` cannot be served: the Logs test shows the
//! launcher asking the API server for the right container and passing on its failure.
//!
//! A test target of its own, built with the `kubernetes` feature (EXECENV_SKIP_KUBERNETES=1
//! leaves it out). Each test has a namespace of its own, so they launch with the same request
//! ids: [`LAUNCH`] and [`OTHER`], whose Job names are written out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "kubernetes_launcher/bed.rs"]
mod bed;

use anyhow::{Context, Result, bail, ensure};
use bed::{
    Bed, IMAGE, LAUNCH, OTHER, PYTHON, RUNNER, SUPERVISOR, TITLE, WAIT, build_request,
    expect_state, follow, launcher_env, state,
};
use execenv_e2e::kube_node::{Outcome, testbed_kubeconfig};
use execenv_e2e::{ServiceProcess, eventually, http_get};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_build_job_is_accepted_runs_and_succeeds() -> Result<()> {
    let bed = Bed::new("launch-ok").await?;
    build_succeeds(&bed).await.map_err(|e| bed.explain(e))
}

async fn build_succeeds(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let id = LAUNCH.id.to_owned();
    let content = uuid::Uuid::new_v4().to_string();
    let answer = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    let python = vec![pb::Installation {
        language: "python".into(),
        version: "3.11.9".into(),
        path: PYTHON.into(),
    }];
    ensure!(
        (answer.id.as_str(), answer.environment_guid.as_str())
            == (id.as_str(), bed.environment_guid.as_str())
            && (answer.environment_title.as_str(), answer.image.as_str()) == (TITLE, IMAGE)
            && answer.installations == python
            && (answer.job_name.as_str(), answer.namespace.as_str())
                == (LAUNCH.job, bed.ns.as_str())
            && answer.backend == pb::Backend::Kubernetes as i32
            && state(&answer) == pb::State::Pending,
        "the answer names the environment, image, installations and Job: {answer:?}"
    );

    // The pod the real Job controller made from the launcher's Job.
    let pod_name = bed.bind(&id).await?;
    let pod = Api::<Pod>::namespaced(bed.kube.clone(), &bed.ns)
        .get(&pod_name)
        .await?;
    let spec = pod.spec.clone().context("pod spec")?;
    let init: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    ensure!(
        init == ["execenv-runtime-init"],
        "init containers: {init:?}"
    );
    let content_container = &spec.containers[0];
    let expected = [
        SUPERVISOR,
        RUNNER,
        "build",
        "--bundle",
        "/mnt/content/bundle",
        "--work",
        "/mnt/content/work",
        "--cache",
        "/mnt/cache",
        "--status-file",
        "/mnt/content/work/build-status.json",
    ];
    ensure!(
        content_container.command.as_deref() == Some(&expected.map(String::from)[..]),
        "the supervisor wraps the runner's build: {:?}",
        content_container.command
    );
    let mounts: std::collections::BTreeSet<&str> = content_container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    let missing: Vec<&str> = [
        "/opt/execenv/runtime",
        "/mnt/content",
        "/mnt/cache",
        "/mnt/ref",
    ]
    .into_iter()
    .filter(|p| !mounts.contains(p))
    .collect();
    ensure!(
        missing.is_empty(),
        "mounts {missing:?} missing from {mounts:?}"
    );
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let wrong: Vec<&str> = [
        ("app.kubernetes.io/managed-by", "execenv-launcher"),
        ("app.kubernetes.io/component", "build"),
        ("execenv.io/content-guid", content.as_str()),
        ("execenv.io/environment-guid", bed.environment_guid.as_str()),
        ("execenv.io/launch-id", id.as_str()),
    ]
    .into_iter()
    .filter(|(key, value)| labels.get(*key).map(String::as_str) != Some(*value))
    .map(|(key, _)| key)
    .collect();
    ensure!(wrong.is_empty(), "labels {wrong:?} wrong in {labels:?}");

    bed.node
        .waiting(&bed.ns, &pod_name, "ContainerCreating", "")
        .await?;
    follow(&mut client, &id, "PENDING ContainerCreating", |l| {
        state(l) == pb::State::Pending && l.reason == "ContainerCreating"
    })
    .await?;
    bed.node.run(&bed.ns, &pod_name).await?;
    let running = follow(&mut client, &id, "RUNNING", |l| {
        state(l) == pb::State::Running
    })
    .await?;
    ensure!(running.started_time.is_some(), "{running:?}");
    bed.node
        .finish(&bed.ns, &pod_name, &Outcome::Succeeded)
        .await?;
    let done = follow(&mut client, &id, "SUCCEEDED", |l| {
        state(l) == pb::State::Succeeded
    })
    .await?;
    expect_state(&done, pb::State::Succeeded, "Completed")?;
    ensure!(
        done.exit_code == Some(0) && done.finished_time.is_some(),
        "{done:?}"
    );
    let got = client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    ensure!(got == done, "Get answers what Watch reported: {got:?}");
    bed.metric(
        r#"execenv_launcher_launches_total{kind="build",backend="kubernetes",outcome="succeeded"} 1"#,
    )?;
    bed.metric("execenv_launcher_kubernetes_create_seconds_count 1")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_pod_exiting_3_fails_the_launch_with_backoff_limit_exceeded()
-> Result<()> {
    let bed = Bed::new("launch-fail").await?;
    build_fails(&bed).await.map_err(|e| bed.explain(e))
}

async fn build_fails(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let run = bed.running(&mut client).await?;
    let outcome = Outcome::Failed {
        exit_code: 3,
        reason: "Error".into(),
    };
    bed.node.finish(&bed.ns, &run.pod, &outcome).await?;
    let failed = follow(&mut client, &run.id, "FAILED", |l| {
        state(l) == pb::State::Failed
    })
    .await?;
    expect_state(&failed, pb::State::Failed, "BackoffLimitExceeded")?;
    ensure!(
        failed.exit_code == Some(3)
            && failed
                .message
                .contains("the content container exited 3 (Error)"),
        "{failed:?}"
    );
    bed.metric(
        r#"execenv_launcher_launches_total{kind="build",backend="kubernetes",outcome="failed"} 1"#,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_cancel_of_a_running_launch_deletes_its_job_and_pod() -> Result<()> {
    let bed = Bed::new("launch-cancel").await?;
    cancel_running(&bed).await.map_err(|e| bed.explain(e))
}

async fn cancel_running(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let run = bed.running(&mut client).await?;
    let cancel = pb::CancelLaunchRequest { id: run.id.clone() };
    let cancelled = client.cancel(cancel.clone()).await?.into_inner();
    expect_state(&cancelled, pb::State::Cancelled, "Cancelled")?;
    // Foreground deletion: the garbage collector deletes the pod, the (fake) kubelet confirms,
    // then the Job goes.
    bed.node
        .confirm_until_gone(
            &bed.ns,
            &format!("execenv.io/launch-id={}", run.id),
            LAUNCH.job,
            WAIT,
        )
        .await?;
    // The deletions the watch saw did not turn the cancellation into a failure.
    let got = client
        .get(pb::GetLaunchRequest { id: run.id.clone() })
        .await?
        .into_inner();
    expect_state(&got, pb::State::Cancelled, "Cancelled")?;
    // Cancelling again answers the cancelled launch.
    let again = client.cancel(cancel).await?.into_inner();
    expect_state(&again, pb::State::Cancelled, "Cancelled")?;
    bed.metric(
        r#"execenv_launcher_launches_total{kind="build",backend="kubernetes",outcome="cancelled"} 1"#,
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_repeated_request_id_is_one_launch_with_one_job() -> Result<()> {
    let bed = Bed::new("launch-again").await?;
    repeated(&bed).await.map_err(|e| bed.explain(e))
}

async fn repeated(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let id = LAUNCH.id;
    let content = uuid::Uuid::new_v4().to_string();
    // Two at once, then one more.
    let (mut a, mut b) = (client.clone(), client.clone());
    let (first, second) = tokio::join!(
        a.launch(build_request(id, &content)),
        b.launch(build_request(id, &content))
    );
    let (first, second) = (first?.into_inner(), second?.into_inner());
    let third = client
        .launch(build_request(id, &content))
        .await?
        .into_inner();
    for answer in [&first, &second, &third] {
        ensure!(
            answer.id == id && answer.created_time == third.created_time,
            "one launch: {answer:?} vs {third:?}"
        );
    }
    // The Job's name is known when the launch is accepted, so even the call that overlapped the
    // Job's creation names it.
    for answer in [&first, &second, &third] {
        ensure!(
            answer.job_name == LAUNCH.job && answer.namespace == bed.ns,
            "{answer:?}"
        );
    }
    let jobs = bed.jobs_of(id).await?;
    ensure!(jobs.len() == 1, "exactly one Job, got {}", jobs.len());
    bed.metric(r#"execenv_launcher_launch_requests_total{outcome="existing"} 2"#)?;
    bed.metric(r#"execenv_launcher_launch_requests_total{outcome="created"} 1"#)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_killed_while_its_pod_runs_recovers_the_launch_on_restart() -> Result<()>
{
    let mut bed = Bed::new("launch-restart").await?;
    let result = restart(&mut bed).await;
    result.map_err(|e| bed.explain(e))
}

async fn restart(bed: &mut Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let run = bed.running(&mut client).await?;
    let (id, original) = (run.id.clone(), run.answer.clone());
    bed.launcher.process.kill();
    bed.node
        .finish(&bed.ns, &run.pod, &Outcome::Succeeded)
        .await?;
    bed.restart_launcher()?;
    let mut client = bed.client().await?;
    let done = follow(&mut client, &id, "SUCCEEDED after the restart", |l| {
        state(l) == pb::State::Succeeded
    })
    .await?;
    let got = client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    ensure!(got == done, "{got:?} vs {done:?}");
    expect_state(&got, pb::State::Succeeded, "Completed")?;
    ensure!(got.exit_code == Some(0), "{got:?}");
    // Everything the first launcher answered survives in the Job.
    let same = pb::Launch {
        state: got.state,
        reason: got.reason.clone(),
        message: got.message.clone(),
        exit_code: got.exit_code,
        created_time: got.created_time,
        started_time: got.started_time,
        finished_time: got.finished_time,
        ..original
    };
    ensure!(got == same, "after the restart {got:?}\nbefore {same:?}");
    ensure!(
        got.started_time.is_some() && got.finished_time.is_some(),
        "{got:?}"
    );
    let again = client
        .launch(build_request(&id, &got.content_guid))
        .await?
        .into_inner();
    ensure!(
        again == got,
        "the repeated Launch returns the recovered launch: {again:?}"
    );
    ensure!(bed.jobs_of(&id).await?.len() == 1, "still one Job");
    ensure!(
        bed.launcher
            .process
            .output()
            .contains("launch recovered from its Job"),
        "the new launcher logs the recovery"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_adopts_an_unlisted_job_of_the_same_request_id_and_refuses_a_foreign_one()
-> Result<()> {
    let mut bed = Bed::new("launch-adopt").await?;
    let result = adopt(&mut bed).await;
    result.map_err(|e| bed.explain(e))
}

async fn adopt(bed: &mut Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let id = LAUNCH.id.to_owned();
    let content = uuid::Uuid::new_v4().to_string();
    let original = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    bed.launcher.process.kill();
    // Hide the Job from the next launcher's list and watch: only its Launch call meets it, as
    // AlreadyExists from the API server.
    let unlabel = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}});
    bed.jobs()
        .patch(
            &original.job_name,
            &PatchParams::default(),
            &Patch::Merge(&unlabel),
        )
        .await?;
    bed.restart_launcher()?;
    let mut client = bed.client().await?;
    let unknown = client.get(pb::GetLaunchRequest { id: id.clone() }).await;
    ensure!(
        unknown
            .as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "the new launcher does not list the unlabelled Job: {unknown:?}"
    );
    let adopted = client
        .launch(build_request(&id, &content))
        .await?
        .into_inner();
    ensure!(
        adopted.id == id
            && adopted.job_name == original.job_name
            && adopted.environment_title == TITLE
            && adopted.image == IMAGE
            && adopted.installations == original.installations,
        "{adopted:?}"
    );
    ensure!(bed.jobs_of(&id).await?.len() == 1, "still one Job");
    ensure!(
        bed.launcher.process.output().contains("job adopted"),
        "the launcher logs the adoption"
    );

    // A Job of that name that is not this request's is a collision, not an adoption.
    let foreign = OTHER.id.to_owned();
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": OTHER.job},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "ghcr.io/acme/other:1"}]}}},
    }))?;
    bed.jobs().create(&PostParams::default(), &job).await?;
    let refused = client
        .launch(build_request(&foreign, &content))
        .await
        .expect_err("ALREADY_EXISTS");
    ensure!(
        refused.code() == tonic::Code::AlreadyExists
            && refused.message().contains(OTHER.job)
            && refused.message().contains(&bed.ns),
        "{refused:?}"
    );
    let forgotten = client.get(pb::GetLaunchRequest { id: foreign }).await;
    ensure!(
        forgotten.is_err_and(|s| s.code() == tonic::Code::NotFound),
        "a refused launch is not kept"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_logs_ask_the_api_server_for_the_content_container_of_the_launchs_pod()
-> Result<()> {
    let bed = Bed::new("launch-logs").await?;
    logs(&bed).await.map_err(|e| bed.explain(e))
}

/// The testbed has no kubelet to serve `pods/log`, so the API server's attempt to reach it is the
/// answer: it shows the launcher asked for the right pod and container, and that the failure
/// comes back as UNAVAILABLE with the API server's message.
async fn logs(bed: &Bed) -> Result<()> {
    let mut client = bed.client().await?;
    let run = bed.running(&mut client).await?;
    let status = client
        .logs(pb::LogsRequest {
            id: run.id.clone(),
            follow: false,
        })
        .await
        .expect_err("no kubelet serves the log");
    let asked = format!("/containerLogs/{}/{}/execenv-content", bed.ns, run.pod);
    ensure!(
        status.code() == tonic::Code::Unavailable
            && status.message().contains(&asked)
            && status.message().contains("Kubernetes API server"),
        "{status:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launcher_starts_while_the_api_server_is_unreachable_and_is_ready_once_it_answers()
-> Result<()> {
    let bed = Bed::new("launch-unreachable").await?;
    // A kubeconfig naming a port nobody listens on yet; later it forwards to the API server.
    let port = execenv_e2e::free_port()?;
    let real = std::fs::read_to_string(testbed_kubeconfig()?)?;
    let api = real
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://"))
        .context("the testbed kubeconfig names its server")?
        .to_owned();
    let kubeconfig = bed.dir.path().join("later.kubeconfig");
    std::fs::write(
        &kubeconfig,
        real.replace(&api, &format!("127.0.0.1:{port}")),
    )?;
    let env = launcher_env(&bed.ns, &kubeconfig);
    let mut late = ServiceProcess::spawn_launcher(&bed.selector, bed.dir.path(), &env)?;
    let result = unreachable_then_ready(&mut late, port, &api, &bed).await;
    result.map_err(|e| e.context(format!("the launcher's log:\n{}", late.process.output())))
}

async fn unreachable_then_ready(
    late: &mut ServiceProcess,
    port: u16,
    api: &str,
    bed: &Bed,
) -> Result<()> {
    eventually(WAIT, "the launcher logs the failing watch", || {
        late.process
            .output()
            .contains("the watch of Jobs failed; retrying with backoff")
    })?;
    ensure!(late.process.is_running(), "the launcher keeps running");
    let (status, _) = http_get(&late.admin, "/readyz")?;
    ensure!(
        status == 503,
        "not ready before the first list: /readyz {status}"
    );
    // The API server becomes reachable.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let upstream = api.to_owned();
    let forwarder = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let launched = launch_when_ready(late).await;
    forwarder.abort();
    let (id, answer) = launched?;
    ensure!(answer.job_name == LAUNCH.job, "{answer:?}");
    ensure!(bed.jobs_of(&id).await?.len() == 1, "the Job was created");
    Ok(())
}

async fn launch_when_ready(late: &ServiceProcess) -> Result<(String, pb::Launch)> {
    eventually(WAIT, "the launcher ready", || {
        http_get(&late.admin, "/readyz").is_ok_and(|(status, _)| status == 200)
    })?;
    let mut client = LauncherClient::connect(late.url.clone()).await?;
    let id = LAUNCH.id.to_owned();
    let answer = client
        .launch(build_request(&id, &uuid::Uuid::new_v4().to_string()))
        .await?
        .into_inner();
    if answer.id != id {
        bail!("the launcher answered another launch: {answer:?}");
    }
    Ok((id, answer))
}
