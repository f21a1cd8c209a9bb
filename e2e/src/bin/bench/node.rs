//! `execenv-bench node`: launches that really build and run on the testbed's node (kubelet,
//! containerd, runc, the images of `e2e/infra/images`), through the real launcher.
//!
//! - cold and warm BUILD of a bundle with [`PACKAGES`] packages from a package index served by a
//!   pod of the namespace, as source distributions pip must build (many real packages come so):
//!   the first downloads and builds everything, the second (another bundle, the same image, so
//!   the same package cache) takes the built wheels from pip's cache;
//! - [`SEQUENTIAL`] RUN launches one after the other: request → content started, p50 and p95,
//!   split into ours (the Launch call: selection and Job creation), scheduling, sandbox (pod
//!   scheduled → init container started), init (the runtime copied) and runner start (init done →
//!   content container started). The split comes from a watch on the namespace's pods: each
//!   milestone is timed when the kubelet's status report of it arrives, so it is late by the
//!   kubelet's status-update delay, never early;
//! - [`CONCURRENT`] RUN launches at once: how many SUCCEEDED and how long all took.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::launcher::{python_manifest, watch_until};
use execenv_e2e::testbed::{
    HostFolder, WheelIndex, delete_volumes, fresh_namespace, host_claim, images, launcher_env,
    testbed_kubeconfig, testbed_with_node,
};
use execenv_e2e::{RegistryProcess, ServiceProcess};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1 as sel;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use tonic::transport::Channel;

use super::launch::delete_namespace;

/// Packages of the BUILD bundle (source distributions).
const PACKAGES: usize = 24;
/// RUN launches timed one by one.
const SEQUENTIAL: usize = 20;
/// RUN launches started at once.
const CONCURRENT: usize = 50;
/// How long one launch may take.
const WAIT: Duration = Duration::from_secs(600);
/// The image's package-cache folder (`printf %s execenv.test/python:3.11 | sha256sum`).
const CACHE: &str = "execenv.test-python-3.11-efd2dd0629ed";

/// Runs the node benchmark, then removes its namespace and volumes, also when it failed.
pub async fn node_bench(dir: &Path) -> Result<()> {
    let kube = testbed_with_node().await?;
    let ns = fresh_namespace(&kube, "bench-node").await?;
    let result = measure(&kube, dir, &ns).await;
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    let deleted = delete_namespace(&namespaces, &ns).await;
    let volumes = delete_volumes(&kube, &ns).await;
    result.and(deleted).and(volumes)
}

/// Everything one measurement needs: the claims' folders, the index, the services.
struct Stage {
    data: HostFolder,
    _cache: HostFolder,
    index: WheelIndex,
    _registry: RegistryProcess,
    _selector: ServiceProcess,
    launcher: ServiceProcess,
    client: LauncherClient<Channel>,
}

async fn stage(kube: &kube::Client, dir: &Path, ns: &str) -> Result<Stage> {
    let (data, cache) = (HostFolder::new()?, HostFolder::new()?);
    cache.folder(CACHE)?;
    host_claim(kube, ns, "execenv-data", data.path()).await?;
    host_claim(kube, ns, "execenv-package-cache", cache.path()).await?;
    let index = WheelIndex::start(kube, ns).await?;
    let names: Vec<(String, &str)> = (1..=PACKAGES)
        .map(|i| (format!("bench-package-{i:02}"), "1.0:sdist"))
        .collect();
    let packages: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    index.write_wheels(&packages)?;
    let db = format!("sqlite://{}", dir.join("node.db").display());
    let registry = RegistryProcess::start(&db, dir, &[])?;
    registry.create_environment(
        images::PYTHON_IMAGE,
        &[
            "--title",
            "bench node",
            "--python",
            &format!("{}={}", images::PYTHON_VERSION, images::PYTHON),
            "--supervisor",
            images::SUPERVISOR,
        ],
    )?;
    let selector = ServiceProcess::selector(&registry, dir, &[])?;
    let mut env = launcher_env(ns, &testbed_kubeconfig()?);
    env.push(("RUST_LOG", "warn".into()));
    let launcher = ServiceProcess::launcher(&selector, dir, &env)?;
    let client = LauncherClient::connect(launcher.url.clone()).await?;
    Ok(Stage {
        data,
        _cache: cache,
        index,
        _registry: registry,
        _selector: selector,
        launcher,
        client,
    })
}

async fn measure(kube: &kube::Client, dir: &Path, ns: &str) -> Result<()> {
    let mut stage = stage(kube, dir, ns).await?;
    let requirements: String = (1..=PACKAGES)
        .map(|i| format!("bench-package-{i:02}\n"))
        .collect();

    // Cold, then warm BUILD.
    let mut builds = Vec::new();
    let mut contents = Vec::new();
    for temperature in ["cold", "warm"] {
        let content = uuid::Uuid::new_v4().to_string();
        place(&stage.data, &content, &requirements)?;
        let started = Instant::now();
        let done = launch(
            &mut stage,
            &format!("build-{content}"),
            pb::Kind::Build,
            &content,
        )
        .await?;
        ensure!(
            state(&done) == pb::State::Succeeded,
            "the {temperature} BUILD did not succeed: {done:?}"
        );
        let took = started.elapsed();
        let status: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            stage
                .data
                .path()
                .join(format!("content/{content}/1/work/build-status.json")),
        )?)?;
        let install = status["durations"]["install_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        println!(
            "node: {temperature} BUILD of {PACKAGES} packages: {:.2} s request → SUCCEEDED, pip {install:.2} s",
            took.as_secs_f64()
        );
        builds.push((took, install));
        contents.push(content);
    }
    println!(
        "node: warm / cold BUILD: {:.2} (request → SUCCEEDED), {:.2} (pip)",
        builds[1].0.as_secs_f64() / builds[0].0.as_secs_f64(),
        builds[1].1 / builds[0].1
    );
    let content = contents[0].clone();

    // Sequential RUNs, timed by phase.
    let seen = watch_pods(kube, ns);
    let mut splits: Vec<Split> = Vec::new();
    for i in 0..SEQUENTIAL {
        let id = format!("run-seq-{i}");
        let requested = Instant::now();
        let mut client = stage.client.clone();
        client
            .launch(run_request(&id, &content))
            .await
            .with_context(|| format!("Launch {id}"))?;
        let answered = Instant::now();
        let done = finished(&mut client, &id).await?;
        ensure!(
            state(&done) == pb::State::Succeeded,
            "RUN {id} did not succeed: {done:?}"
        );
        let milestones = seen
            .lock()
            .expect("milestones")
            .get(&id)
            .cloned()
            .with_context(|| format!("the pod watch saw no pod of {id}"))?;
        splits.push(Split::of(requested, answered, &milestones)?);
    }
    report_splits(&splits);

    // Concurrent RUNs.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONCURRENT {
        let mut client = stage.client.clone();
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("run-many-{i}");
            client.launch(run_request(&id, &content)).await?;
            finished(&mut client, &id).await
        }));
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let done = task.await??;
        *outcomes.entry(format!("{:?}", state(&done))).or_default() += 1;
    }
    println!(
        "node: {CONCURRENT} concurrent RUN launches finished in {:.1} s: {outcomes:?}",
        started.elapsed().as_secs_f64()
    );
    let succeeded = outcomes.get("Succeeded").copied().unwrap_or(0);
    if succeeded != CONCURRENT {
        bail!(
            "only {succeeded} of {CONCURRENT} concurrent launches succeeded; the launcher's log:\n{}",
            stage.launcher.process.output()
        );
    }
    drop(stage.index);
    Ok(())
}

fn place(data: &HostFolder, content: &str, requirements: &str) -> Result<()> {
    data.folder(&format!("content/{content}/1"))?;
    let bundle = data.folder(&format!("content/{content}/1/bundle"))?;
    std::fs::write(
        bundle.join("manifest.json"),
        python_manifest(images::PYTHON_VERSION).to_string(),
    )?;
    std::fs::write(bundle.join("requirements.txt"), requirements)?;
    std::fs::write(
        bundle.join("app.py"),
        "print('hello from the node', flush=True)\n",
    )?;
    Ok(())
}

fn base_request(id: &str, kind: pb::Kind, content: &str) -> pb::LaunchRequest {
    pb::LaunchRequest {
        request_id: id.to_owned(),
        kind: kind as i32,
        content: Some(pb::Content {
            guid: content.to_owned(),
            bundle: "1".into(),
            requirements: Some(sel::Requirements {
                python_version: Some(images::PYTHON_VERSION.into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run_request(id: &str, content: &str) -> pb::LaunchRequest {
    base_request(id, pb::Kind::Run, content)
}

async fn launch(stage: &mut Stage, id: &str, kind: pb::Kind, content: &str) -> Result<pb::Launch> {
    let mut request = base_request(id, kind, content);
    request.env = stage.index.pip_env().into_iter().collect();
    stage.client.launch(request).await?;
    finished(&mut stage.client, id).await
}

async fn finished(client: &mut LauncherClient<Channel>, id: &str) -> Result<pb::Launch> {
    let events = client
        .watch(pb::WatchLaunchesRequest { id: id.to_owned() })
        .await?
        .into_inner();
    watch_until(events, WAIT, &format!("the end of {id}"), |l| {
        matches!(
            state(l),
            pb::State::Succeeded | pb::State::Failed | pb::State::Cancelled
        )
    })
    .await
}

fn state(l: &pb::Launch) -> pb::State {
    pb::State::try_from(l.state).unwrap_or(pb::State::Unspecified)
}

/// When the watch first saw each milestone of a launch's pod.
#[derive(Debug, Clone, Default)]
struct Milestones {
    scheduled: Option<Instant>,
    init_started: Option<Instant>,
    init_done: Option<Instant>,
    content_started: Option<Instant>,
}

/// Watches the namespace's pods in the background; the milestones by launch id.
fn watch_pods(kube: &kube::Client, ns: &str) -> Arc<Mutex<HashMap<String, Milestones>>> {
    let seen: Arc<Mutex<HashMap<String, Milestones>>> = Arc::default();
    let pods: Api<Pod> = Api::namespaced(kube.clone(), ns);
    let out = seen.clone();
    tokio::spawn(async move {
        let mut events = watcher(pods, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let (watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = (match event {
                Ok(e) => e,
                Err(_) => continue,
            }) else {
                continue;
            };
            let now = Instant::now();
            let Some(id) = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("execenv.io/launch-id"))
                .cloned()
            else {
                continue;
            };
            let mut all = out.lock().expect("milestones");
            let m = all.entry(id).or_default();
            let spec_node = pod.spec.as_ref().and_then(|s| s.node_name.as_ref());
            if spec_node.is_some() {
                m.scheduled.get_or_insert(now);
            }
            let status = pod.status.as_ref();
            let started = |s: &k8s_openapi::api::core::v1::ContainerStatus| {
                s.state
                    .as_ref()
                    .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
            };
            let done = |s: &k8s_openapi::api::core::v1::ContainerStatus| {
                s.state.as_ref().is_some_and(|st| st.terminated.is_some())
            };
            if let Some(init) = status
                .and_then(|s| s.init_container_statuses.as_ref())
                .and_then(|cs| cs.first())
            {
                if started(init) {
                    m.init_started.get_or_insert(now);
                }
                if done(init) {
                    m.init_started.get_or_insert(now);
                    m.init_done.get_or_insert(now);
                }
            }
            if let Some(content) = status
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                && started(content)
            {
                m.content_started.get_or_insert(now);
            }
        }
    });
    seen
}

/// One launch's request → content started, by phase.
struct Split {
    total: Duration,
    ours: Duration,
    scheduling: Duration,
    sandbox: Duration,
    init: Duration,
    runner_start: Duration,
}

impl Split {
    fn of(requested: Instant, answered: Instant, m: &Milestones) -> Result<Split> {
        let scheduled = m.scheduled.context("never scheduled")?;
        let init_started = m.init_started.context("init never started")?;
        let init_done = m.init_done.context("init never finished")?;
        let content = m.content_started.context("content never started")?;
        let gap = |a: Instant, b: Instant| b.saturating_duration_since(a);
        Ok(Split {
            total: gap(requested, content),
            ours: gap(requested, answered),
            scheduling: gap(answered, scheduled),
            sandbox: gap(scheduled, init_started),
            init: gap(init_started, init_done),
            runner_start: gap(init_done, content),
        })
    }
}

fn report_splits(splits: &[Split]) {
    let pick = |f: fn(&Split) -> Duration| {
        let mut v: Vec<Duration> = splits.iter().map(f).collect();
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        (at(0.5), at(0.95))
    };
    let (p50, p95) = pick(|s| s.total);
    println!(
        "node: {} RUN launches one by one, request → content started: p50 {p50:.0} ms, p95 {p95:.0} ms",
        splits.len()
    );
    for (name, f) in [
        (
            "ours (Launch call)",
            (|s: &Split| s.ours) as fn(&Split) -> Duration,
        ),
        ("scheduling", |s: &Split| s.scheduling),
        ("sandbox", |s: &Split| s.sandbox),
        ("init (runtime copied)", |s: &Split| s.init),
        ("runner start", |s: &Split| s.runner_start),
    ] {
        let (p50, p95) = pick(f);
        println!("node:   {name:22} p50 {p50:6.0} ms, p95 {p95:6.0} ms");
    }
}
