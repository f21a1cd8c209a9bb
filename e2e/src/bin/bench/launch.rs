//! `execenv-bench launch`: BUILD launches through the real launcher on the Kubernetes testbed
//! (EXECENV_TEST_KUBECONFIG). The registry (SQLite), the selector and the launcher run as
//! processes; a few concurrent gRPC clients send launches with distinct request ids into a fresh
//! namespace, which is deleted afterwards. Printed: launches per second, p50/p99 of the Launch
//! call, and the launcher's own time above the Kubernetes API call (from its histograms). The
//! launcher's job base template gives the pods a node selector no node has, so this part
//! measures the control plane alone and leaves the node idle (`node` measures the node).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use execenv_e2e::launcher::python_build_request;
use execenv_e2e::testbed::{fresh_namespace, launcher_env, testbed_client, testbed_kubeconfig};
use execenv_e2e::{RegistryProcess, ServiceProcess, http_get};
use execenv_proto::environments::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};

use super::common::{metric_value, percentiles};

const LAUNCHES: usize = 200;
const CLIENTS: usize = 8;

/// Runs the launch benchmark and removes its namespace, also when the benchmark failed.
pub async fn launch_bench(dir: &Path) -> Result<()> {
    let kube = testbed_client().await?;
    let ns = fresh_namespace(&kube, "bench-launch").await?;
    let result = measure(dir, &ns).await;
    let namespaces: Api<Namespace> = Api::all(kube);
    let deleted = delete_namespace(&namespaces, &ns).await;
    result.and(deleted)
}

async fn measure(dir: &Path, ns: &str) -> Result<()> {
    let db = format!("sqlite://{}", dir.join("launch.db").display());
    let registry = RegistryProcess::start(&db, dir, &[])?;
    RegistryClient::connect(registry.url.clone())
        .await?
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(pb::EnvironmentSpec {
                name: "ghcr.io/acme/bench-launch:3.11".into(),
                title: Some("bench launch".into()),
                supervisor: Some("/opt/supervisor/run.sh".into()),
                python: Some(pb::Installations {
                    installations: vec![pb::Installation {
                        version: "3.11.9".into(),
                        path: "/opt/python/3.11.9/bin/python3".into(),
                    }],
                }),
                ..Default::default()
            }),
        })
        .await?;
    let selector = ServiceProcess::selector(&registry, dir, &[])?;
    let off_the_node = dir.join("off-the-node.yaml");
    std::fs::write(
        &off_the_node,
        "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      nodeSelector:\n        execenv.test/no-such-node: \"true\"\n",
    )?;
    let mut env = launcher_env(ns, &testbed_kubeconfig()?);
    env.push((
        "EXECENV_KUBERNETES__JOB_TEMPLATE",
        off_the_node.display().to_string(),
    ));
    env.push(("RUST_LOG", "warn".into()));
    let launcher = ServiceProcess::launcher(&selector, dir, &env)?;
    let channel = tonic::transport::Channel::from_shared(launcher.url.clone())?
        .connect()
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = LauncherClient::new(channel.clone());
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for i in (c..LAUNCHES).step_by(CLIENTS) {
                let request = python_build_request(
                    &format!("bench-{run}-{i}"),
                    &uuid::Uuid::new_v4().to_string(),
                    "1",
                    "3.11.9",
                );
                let t = Instant::now();
                client.launch(request).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples: Vec<Duration> = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let (p50, p99) = percentiles(&mut samples);
    println!(
        "launch (kubernetes testbed), {CLIENTS} concurrent clients, {} BUILD launches: {:.0} launches/s, Launch call p50 {:.1} ms, p99 {:.1} ms",
        samples.len(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        p50 / 1000.0,
        p99 / 1000.0
    );
    let (_, metrics) = http_get(&launcher.admin, "/metrics")?;
    let mean = |name: &str| {
        let count = metric_value(&metrics, &format!("{name}_count"));
        (count > 0.0).then(|| metric_value(&metrics, &format!("{name}_sum")) / count)
    };
    let call = mean("execenv_launcher_launch_call_seconds")
        .context("the launcher recorded no Launch call")?;
    let create = mean("execenv_launcher_kubernetes_create_seconds")
        .context("the launcher recorded no Job creation")?;
    println!(
        "launch: the launcher's own time above the Kubernetes API call (mean Launch call {:.2} ms - mean Job create {:.2} ms, selection included): {:.2} ms",
        call * 1000.0,
        create * 1000.0,
        (call - create) * 1000.0
    );
    Ok(())
}

/// Deletes the namespace and waits (bounded) until the namespace controller has removed it.
pub(super) async fn delete_namespace(namespaces: &Api<Namespace>, ns: &str) -> Result<()> {
    let started = Instant::now();
    namespaces
        .delete(ns, &DeleteParams::default())
        .await
        .with_context(|| format!("cannot delete the benchmark's namespace {ns}"))?;
    let deadline = started + Duration::from_secs(120);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while namespaces.get_opt(ns).await?.is_some() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the namespace {ns} was not removed within 120 s; delete it by hand"
        );
        tick.tick().await;
    }
    println!(
        "launch: namespace {ns} deleted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
