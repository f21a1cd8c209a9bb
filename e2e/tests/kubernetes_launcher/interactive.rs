//! Interactive launches on the node: the bundle's app served by a Deployment behind a Service
//! until it is cancelled — answering HTTP on the launch's address from the node's network,
//! replaced when its pod is killed, read back by a restarted launcher, restarted when it crashes,
//! and failed when the runner refuses to start it.

use execenv_e2e::testbed::node_network_namespace;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, ListParams};

use super::*;

/// Serves the bundle's folder over HTTP with the standard library, on the port and address the
/// launcher gives (the runner's app modes are not needed).
const SERVE: &str =
    r#"exec python3 -m http.server "$EXECENV_CONTENT_PORT" --bind "$EXECENV_CONTENT_HOST""#;
/// Prints a line and exits 1 at once.
const CRASH: &str = "echo going down; exit 1";
/// The port interactive content listens on by default (`kubernetes.interactive_port`).
const PORT: u16 = 8080;

impl Built {
    /// Starts an interactive launch of the bundle running `sh -c SCRIPT`; returns its id.
    async fn serve(&mut self, id: &str, script: &str) -> Result<String> {
        let mut launch = request(id, pb::Kind::Interactive, &self.content, BTreeMap::new());
        launch.command = vec!["sh".into(), "-c".into(), script.into()];
        self.answer = Some(self.client.launch(launch).await?.into_inner());
        Ok(id.to_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_interactive_content_answers_on_its_service_outlives_its_pod_and_the_launcher_until_cancelled()
-> Result<()> {
    let mut built = Built::new("node-serve").await?;
    let result = serves(&mut built).await.map_err(|e| built.bed.explain(e));
    // Whatever happened: nothing of it keeps restarting on the node.
    built.bed.delete().await?;
    result
}

async fn serves(built: &mut Built) -> Result<()> {
    let id = built.serve(LAUNCH.id, SERVE).await?;
    let answer = built.answer.clone().context("the Launch answer")?;
    ensure!(
        answer.kind == pb::Kind::Interactive as i32
            && answer.job_name == LAUNCH.job
            && answer.namespace == built.bed.ns,
        "{answer:?}"
    );
    let ready = follow(&mut built.client, &id, "READY", |l| {
        state(l) == pb::State::Ready
    })
    .await?;
    expect_state(&ready, pb::State::Ready, "Ready")?;
    let bed = &built.bed;
    // The address is the Service's cluster IP and the port.
    let service = bed.services().get(LAUNCH.job).await?;
    let ip = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .context("the Service has no cluster IP")?;
    ensure!(
        ready.address == format!("{ip}:{PORT}")
            && ready.restarts == 0
            && ready.ready_time.is_some(),
        "{ready:?}"
    );
    let owner = service
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    ensure!(
        owner.len() == 1 && owner[0].kind == "Deployment" && owner[0].name == LAUNCH.job,
        "the Deployment owns the Service: {owner:?}"
    );
    let deployment = bed.deployments().get(LAUNCH.job).await?;
    let spec = deployment.spec.clone().context("the Deployment's spec")?;
    ensure!(
        spec.replicas == Some(1)
            && spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate"),
        "{spec:?}"
    );
    answers(&ready.address)?;

    // A killed pod: RUNNING while the Deployment replaces it, READY again at the same address.
    let events = built
        .client
        .watch(pb::WatchLaunchesRequest { id: id.clone() })
        .await?
        .into_inner();
    let killed = bed.pods_of(&id).await?;
    ensure!(killed.len() == 1, "one pod serves: {}", killed.len());
    let name = killed[0].metadata.name.clone().unwrap_or_default();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    bed.pods().delete(&name, &now).await?;
    let down = execenv_e2e::launcher::watch_until(events, WAIT, "RUNNING after the kill", |l| {
        state(l) == pb::State::Running
    })
    .await?;
    let again = follow(&mut built.client, &id, "READY again", |l| {
        state(l) == pb::State::Ready
    })
    .await?;
    ensure!(
        again.address == ready.address,
        "the same address: {again:?} (after {down:?})"
    );
    let replacement = built.bed.pods_of(&id).await?;
    ensure!(
        replacement
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(name.as_str())),
        "a new pod serves"
    );
    answers(&again.address)?;

    // A launcher killed and started again reads the launch back from the cluster.
    built.bed.restart_launcher()?;
    built.client = built.bed.client().await?;
    let back = built
        .client
        .get(pb::GetLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    expect_state(&back, pb::State::Ready, "Ready")?;
    ensure!(
        back.address == ready.address && back.kind == pb::Kind::Interactive as i32,
        "{back:?}"
    );
    ensure!(
        built
            .bed
            .launcher
            .process
            .output()
            .contains("launch recovered from its Deployment"),
        "the new launcher logs the recovery"
    );
    answers(&back.address)?;

    // Cancel: CANCELLED, and the Deployment, its pod and the Service are gone.
    let cancelled = built
        .client
        .cancel(pb::CancelLaunchRequest { id: id.clone() })
        .await?
        .into_inner();
    expect_state(&cancelled, pb::State::Cancelled, "Cancelled")?;
    built.bed.gone(&id).await?;
    ensure!(
        built.bed.deployments().get_opt(LAUNCH.job).await?.is_none()
            && built.bed.services().get_opt(LAUNCH.job).await?.is_none(),
        "the Deployment and the Service are deleted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn node_interactive_content_that_exits_is_restarted_and_a_refusing_runner_fails_the_launch()
-> Result<()> {
    let mut built = Built::new("node-crash").await?;
    let result = crashes(&mut built).await.map_err(|e| built.bed.explain(e));
    // Whatever happened: nothing of it keeps restarting on the node.
    built.bed.delete().await?;
    result
}

async fn crashes(built: &mut Built) -> Result<()> {
    let id = built.serve(OTHER.id, CRASH).await?;
    let crashing = follow(&mut built.client, &id, "a restart after a crash", |l| {
        state(l) == pb::State::Running
            && ["CrashLoopBackOff", "Restarting"].contains(&l.reason.as_str())
            && l.restarts > 0
    })
    .await?;
    ensure!(
        crashing.exit_code == Some(1)
            && crashing.message.contains("the app exited with code 1")
            && crashing.message.contains("going down"),
        "{crashing:?}"
    );

    // A bundle that was never built: the runner refuses (exit 3), restarting cannot help.
    let content = uuid::Uuid::new_v4().to_string();
    built.bed.place_bundle(&content, "", APP)?;
    let refused_id = "req-refused";
    let mut launch = request(refused_id, pb::Kind::Interactive, &content, BTreeMap::new());
    launch.command = vec!["sh".into(), "-c".into(), SERVE.into()];
    built.client.launch(launch).await?;
    let refused = finished(&mut built.client, refused_id).await?;
    expect_state(&refused, pb::State::Failed, "RunnerRefused")?;
    ensure!(
        refused.exit_code == Some(3)
            && refused.message.starts_with(
                "execenv-content-runner: run refused: the build for this bundle is missing"
            ),
        "{refused:?}"
    );
    // The verdict is on the Deployment, which no longer runs anything.
    let deployment = stopped(&built.bed, refused_id).await?;
    let annotations = deployment.metadata.annotations.unwrap_or_default();
    ensure!(
        annotations
            .get("execenv.io/final-reason")
            .map(String::as_str)
            == Some("RunnerRefused")
            && annotations
                .get("execenv.io/final-exit-code")
                .map(String::as_str)
                == Some("3"),
        "{annotations:?}"
    );
    // A restarted launcher reads the same verdict back.
    built.bed.restart_launcher()?;
    built.client = built.bed.client().await?;
    let back = built
        .client
        .get(pb::GetLaunchRequest {
            id: refused_id.into(),
        })
        .await?
        .into_inner();
    ensure!(
        state(&back) == pb::State::Failed
            && back.reason == "RunnerRefused"
            && back.message == refused.message,
        "{back:?}"
    );

    built
        .client
        .cancel(pb::CancelLaunchRequest { id: id.clone() })
        .await?;
    built.bed.gone(&id).await
}

/// Waits until launch `id`'s Deployment is scaled to zero and its pods are gone; returns it.
async fn stopped(bed: &Bed, id: &str) -> Result<Deployment> {
    let launch = ListParams::default().labels(&format!("execenv.io/launch-id={id}"));
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let found = bed.deployments().list(&launch).await?.items;
        let pods = bed.pods().list(&launch).await?.items.len();
        if let [deployment] = found.as_slice()
            && deployment.spec.as_ref().and_then(|s| s.replicas) == Some(0)
            && pods == 0
        {
            return Ok(deployment.clone());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "after {WAIT:?}: launch {id} has {} Deployment(s) and {pods} pod(s): {found:?}",
            found.len()
        );
    }
}

/// Waits until `GET http://ADDRESS/` from the node's network namespace answers 200 with the
/// bundle's listing (kube-proxy may take a moment to route a new endpoint).
fn answers(address: &str) -> Result<()> {
    let netns = node_network_namespace()?;
    let url = format!("http://{address}/");
    let mut last = String::new();
    eventually(WAIT, &format!("GET {url} from the node's network"), || {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .args([
                "curl",
                "-sS",
                "--max-time",
                "5",
                "-w",
                "\n%{http_code}",
                &url,
            ])
            .output();
        last = match out {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => e.to_string(),
        };
        last.ends_with("\n200") && last.contains("app.py")
    })
    .with_context(|| format!("the last answer: {last}"))
}
