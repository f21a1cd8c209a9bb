//! Observability of the chart running on the testbed's real node, the way a cluster with the
//! Prometheus Operator and an OpenTelemetry Collector sees it:
//!
//! - the ServiceMonitors the release created, read back from the API server and translated as
//!   the operator does (`execenv_e2e::servicemonitor`), make a real Prometheus — running in the
//!   node's network namespace, where pod addresses are reachable — scrape exactly the six
//!   services' pods on their metrics ports;
//! - after a scenario through the gateway (a key, environments listed and created, selections,
//!   REST errors, a BUILD and a RUN on the node) and a `helm upgrade` whose environments
//!   config-sync refuses, every panel of the four dashboards has data in that Prometheus, with
//!   the dashboards' `namespace` variable set to the release's namespace;
//! - a launch through the gateway is one trace, received by a real collector on this machine
//!   (`global.telemetry.otlpEndpoint`), holding server spans of the gateway, the launcher and
//!   the selector, each a descendant of the one before.
//!
//! Each step's time is printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::content::{self, COLD_WITHIN, TestApp, wheelhouse};
use execenv_e2e::dashboards;
use execenv_e2e::eventually;
use execenv_e2e::launcher::python_manifest;
use execenv_e2e::otelcol::{Collector, ExportedSpan, SPAN_KIND_SERVER, descends_from, only_span};
use execenv_e2e::prometheus::{self, PrometheusServer, SCRAPE_INTERVAL, unix_now};
use execenv_e2e::release::{Gateway, NodeRelease, python_environment};
use execenv_e2e::servicemonitor;
use execenv_e2e::testbed::{
    WheelIndex, host_address, images, node_address, node_network_namespace,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// The chart's services: the name of each one's Deployment, Service and ServiceMonitor, and its
/// admin (metrics) port (docs/ARCHITECTURE.md).
const SERVICES: [(&str, u16); 6] = [
    ("execenv-config-sync", 9452),
    ("execenv-environment-registry", 9451),
    ("execenv-gateway", 9455),
    ("execenv-image-examiner", 9456),
    ("execenv-launcher", 9454),
    ("execenv-selector", 9453),
];
/// How long Prometheus may take to discover the pods and scrape them once.
const DISCOVER: Duration = Duration::from_secs(60);
/// A changed ConfigMap reaches a pod's volume at the kubelet's next sync of the pod (every
/// minute, with up to half of that as jitter); config-sync reads it within 2 s.
const SYNC_WITHIN: Duration = Duration::from_secs(180);
/// A launch of the small bundle, pod start included.
const FINISH: Duration = Duration::from_secs(180);
/// The services export their spans every 5 s (the SDK's default batch delay).
const SPANS_ARRIVE: Duration = Duration::from_secs(60);
/// What config-sync says of an image declared twice without guids (libs/core/src/sync.rs).
const DUPLICATE_ERROR: &str = "is also declared by executionEnvironments[";
/// The content the scenario builds and runs (written into the data claim's folder).
const CONTENT: &str = "0c6f3d2a-7b1e-4f59-a8d4-5e2b9c1f7a36";
const BUNDLE: &str = "1";
/// The interactive test app's content guid.
const APP: &str = "4d5e6f70-8192-4a3b-9c4d-5e6f708192a3";

/// The trace id the launch whose trace is checked carries in its `traceparent`.
const TRACE_ID: &str = "5a1c0e7f3b9d4c2e8f6a1b3d5c7e9f0a";
/// The caller's span id in that `traceparent`: the gateway's span's parent.
const CALLER_SPAN: &str = "7e3b1c9d5f2a4e60";
const GATEWAY_LAUNCH_SPAN: &str = "POST /__api__/execenv/v1/launches";
const LAUNCHER_SPAN: &str = "execenv.launcher.v1.Launcher/Launch";
const SELECTOR_SPAN: &str = "execenv.selector.v1.Selector/Select";

/// Prints one step's time, for the test's log.
fn step(name: &str, since: Instant) {
    execenv_e2e::log_line!(
        "observability: {name}: {:.2} s",
        since.elapsed().as_secs_f64()
    );
}

/// The values of the release: ServiceMonitors scraping every second, traces to `otlp`, the
/// testbed's Python environment and `more`.
fn values(otlp: &str, more: &[Value]) -> Value {
    let mut environments = vec![python_environment()];
    environments.extend_from_slice(more);
    json!({
        "global": {
            "serviceMonitor": {"enabled": true, "interval": "1s", "scrapeTimeout": "1s"},
            "telemetry": {"otlpEndpoint": otlp},
        },
        "executionEnvironments": environments,
    })
}

/// An environment for the testbed's R image, which a `helm upgrade` adds.
fn r_environment(title: &str) -> Value {
    json!({
        "name": images::R_IMAGE,
        "title": title,
        "r": {"installations": [{"version": images::R_VERSION, "path": images::R}]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_release_is_scraped_through_its_service_monitors_fills_every_dashboard_and_traces_a_launch()
-> Result<()> {
    // Fail at once, naming the install script, without Prometheus.
    prometheus::promtool()?;
    let all_dashboards = dashboards::load_all()?;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    servicemonitor::ensure_crd().await?;
    let mut collector = Collector::start_on(dir.path(), &host_address().await?)?;
    let otlp = collector.endpoint().to_owned();
    step("the ServiceMonitor CRD and the collector", started);

    let release = NodeRelease::install("obs", &values(&otlp, &[])).await?;
    execenv_e2e::log_line!(
        "observability: helm install to every Deployment Available: {:.2} s",
        release.install_to_ready.as_secs_f64()
    );
    if let Err(e) = observe(&release, &mut collector, &all_dashboards, dir.path()).await {
        let pods = release.pod_states().await.unwrap_or_default();
        return Err(e.context(format!(
            "pods:\n{pods}\ncollector log:\n{}",
            collector.log()
        )));
    }
    collector.stop()?;
    release.uninstall().await
}

async fn observe(
    release: &NodeRelease,
    collector: &mut Collector,
    all_dashboards: &[dashboards::Dashboard],
    dir: &std::path::Path,
) -> Result<()> {
    let otlp = collector.endpoint().to_owned();
    // 1. The ServiceMonitors, as the operator would read them, scraped by a real Prometheus.
    let started = Instant::now();
    let monitors = servicemonitor::list(&release.client, &release.namespace).await?;
    let names: Vec<&str> = monitors
        .iter()
        .filter_map(|m| m["metadata"]["name"].as_str())
        .collect();
    ensure!(
        names == SERVICES.map(|(name, _)| name),
        "the release's ServiceMonitors are {names:?}"
    );
    let config = servicemonitor::prometheus_config(
        &monitors,
        &release.kubeconfig,
        &format!("{}s", SCRAPE_INTERVAL.as_secs()),
    )?;
    let server = PrometheusServer::start_in_network_namespace(
        &config,
        dir,
        &node_network_namespace()?,
        &node_address(&release.client).await?,
    )
    .context(
        "the jobs need a Prometheus with Kubernetes service discovery (e2e/infra/prometheus)",
    )?;
    step(
        "Prometheus started in the node's network namespace",
        started,
    );
    let mut targets = Vec::new();
    eventually(DISCOVER, "six targets, all up", || {
        targets = server.active_targets().unwrap_or_default();
        targets.len() >= SERVICES.len() && targets.iter().all(|t| t["health"] == "up")
    })
    .with_context(|| {
        format!(
            "targets: {targets:#?}\nconfig:\n{config}\nlog:\n{}",
            server.log()
        )
    })?;
    step("every pod discovered and scraped", started);
    ensure_targets_are_the_deployments_pods(release, &targets).await?;
    server.wait_for_scrapes_after(unix_now(), SERVICES.len())?;
    let up = server.samples(&format!("up{{namespace=\"{}\"}} == 1", release.namespace))?;
    ensure!(up.len() == SERVICES.len(), "up == 1: {up:?}");

    // 2. The scenario, through the gateway from this machine.
    let scenario_started = unix_now();
    let started = Instant::now();
    let key = release.user_key("admin", "administrator")?;
    let gateway = release.gateway_with(&key);
    step("API key (kubectl exec)", started);
    ensure!(
        environment_names(&gateway)? == [images::PYTHON_IMAGE],
        "the environments before the upgrade"
    );

    // An edit config-sync refuses (the same image twice, neither with a guid), for the panels
    // of failed syncs. The kubelet refreshes config-sync's volume on its own schedule; meanwhile
    // the rest goes on.
    let started = Instant::now();
    release.upgrade(&values(
        &otlp,
        &[r_environment("R 4.2 (testbed)"), r_environment("R again")],
    ))?;
    let upgraded = Instant::now();
    step("helm upgrade declaring an image twice", started);

    let started = Instant::now();
    gateway.ok(
        "POST",
        "/__api__/v1/environments",
        Some(&json!({"name": "ghcr.io/acme/by-api:1", "title": "Made through the API"})),
    )?;
    gateway
        .with_key("")
        .expect(401, "GET", "/__api__/v1/environments", None)?;
    gateway.expect(
        404,
        "GET",
        "/__api__/v1/environments/7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        None,
    )?;
    let python = json!({"requirements": {"python_version": images::PYTHON_VERSION}});
    let chosen = gateway.ok("POST", "/__api__/execenv/v1/select", Some(&python))?;
    ensure!(
        chosen["environment"]["name"] == images::PYTHON_IMAGE,
        "{chosen}"
    );
    gateway.ok("POST", "/__api__/execenv/v1/explain", Some(&python))?;
    gateway.expect(
        409,
        "POST",
        "/__api__/execenv/v1/select",
        Some(&json!({"requirements": {"r_version": "9.9.9"}})),
    )?;
    step("environments, selections and REST errors", started);

    let started = Instant::now();
    let bundle = release.data_subfolder(&format!("content/{CONTENT}/{BUNDLE}/bundle"))?;
    std::fs::write(
        bundle.join("manifest.json"),
        python_manifest(images::PYTHON_VERSION).to_string(),
    )?;
    std::fs::write(bundle.join("requirements.txt"), "")?;
    std::fs::write(
        bundle.join("app.py"),
        "print('hello from the node', flush=True)\n",
    )?;
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    launch(&gateway, "build", &[], &[("traceparent", &traceparent)])?;
    step("BUILD through the gateway", started);
    let started = Instant::now();
    launch(&gateway, "run", &["python", "app.py"], &[])?;
    step("RUN through the gateway", started);

    // Interactive content, for the launches dashboard's last rows: the FastAPI test app built
    // from the wheelhouse (a package index pod serves it), started by a request, then requested.
    let started = Instant::now();
    let index = WheelIndex::start(&release.client, &release.namespace).await?;
    index.add_wheelhouse(&wheelhouse()?)?;
    let client = content::Client {
        api: &gateway.address,
        key: &key,
    };
    client.publish(
        APP,
        TestApp::FastApi,
        images::PYTHON_VERSION,
        Some(images::PYTHON_IMAGE),
        &serde_json::to_value(index.pip_env())?,
    )?;
    for path in ["/", "/items/tea?q=1", "/stream"] {
        let answer = client.content(APP, path, COLD_WITHIN)?;
        ensure!(
            answer.status == 200,
            "GET /content/{APP}{path}: {} {}",
            answer.status,
            answer.body
        );
    }
    step(
        "interactive content published, started and requested",
        started,
    );

    let last_error = format!(
        "execenv_config_sync_last_error_timestamp_seconds{{namespace=\"{}\"}}",
        release.namespace
    );
    let mut errors = Vec::new();
    eventually(
        SYNC_WITHIN,
        "config-sync's error about the duplicate",
        || {
            errors = server.samples(&last_error).unwrap_or_default();
            errors.iter().any(|e| {
                e["metric"]["error"]
                    .as_str()
                    .is_some_and(|m| m.contains(DUPLICATE_ERROR))
            })
        },
    )
    .with_context(|| format!("{last_error}: {errors:?}"))?;
    step("the failed sync (since the upgrade)", upgraded);
    let scenario_ended = unix_now();

    // 3. Every panel of every dashboard has data for the release's namespace.
    let started = Instant::now();
    server.wait_for_scrapes_after(scenario_ended, SERVICES.len())?;
    let interval = dashboards::rate_interval_since(scenario_started);
    let chosen = BTreeMap::from([("namespace".to_owned(), release.namespace.clone())]);
    let queries = dashboards::all_queries(all_dashboards, &interval, &chosen)?;
    dashboards::ensure_every_query_has_data(&server, &queries, &interval)?;
    step(
        &format!("{} dashboard queries evaluated", queries.len()),
        started,
    );

    // 4. The BUILD's trace: gateway → launcher → selector.
    let started = Instant::now();
    let mut spans = Vec::new();
    eventually(
        SPANS_ARRIVE,
        "the launch's spans from all three services",
        || {
            spans = collector.spans().unwrap_or_default();
            [GATEWAY_LAUNCH_SPAN, LAUNCHER_SPAN, SELECTOR_SPAN]
                .iter()
                .all(|name| {
                    spans
                        .iter()
                        .any(|s| s.trace_id == TRACE_ID && s.name == *name)
                })
        },
    )
    .with_context(|| format!("spans received: {spans:#?}"))?;
    ensure_launch_trace(&spans)?;
    step("the launch's trace", started);
    Ok(())
}

/// Five targets, one per Service, each scraping the one pod of that service's Deployment (its
/// ReplicaSet's owner, as the API lists them) at its address and metrics port.
async fn ensure_targets_are_the_deployments_pods(
    release: &NodeRelease,
    targets: &[Value],
) -> Result<()> {
    ensure!(
        targets.len() == SERVICES.len(),
        "{} targets: {targets:#?}",
        targets.len()
    );
    let sets: Api<ReplicaSet> = Api::namespaced(release.client.clone(), &release.namespace);
    let deployment_of_set: BTreeMap<String, String> = sets
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(|rs| {
            let owner = rs
                .metadata
                .owner_references?
                .into_iter()
                .find(|o| o.kind == "Deployment")?;
            Some((rs.metadata.name?, owner.name))
        })
        .collect();
    let pods: Api<Pod> = Api::namespaced(release.client.clone(), &release.namespace);
    let mut pod_of_deployment = BTreeMap::<String, Vec<(String, String)>>::new();
    for pod in pods.list(&ListParams::default()).await? {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let owner = pod
            .metadata
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.kind == "ReplicaSet");
        let Some(deployment) = owner.and_then(|o| deployment_of_set.get(&o.name).cloned()) else {
            continue;
        };
        let ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
        pod_of_deployment
            .entry(deployment)
            .or_default()
            .push((pod.metadata.name.unwrap_or_default(), ip));
    }
    for (service, port) in SERVICES {
        let pods = pod_of_deployment
            .get(service)
            .map_or(&[][..], Vec::as_slice);
        ensure!(
            pods.len() == 1,
            "the Deployment {service} has pods {pods:?}"
        );
        let (pod, ip) = &pods[0];
        let found: Vec<&Value> = targets
            .iter()
            .filter(|t| t["labels"]["service"] == service)
            .collect();
        ensure!(found.len() == 1, "targets of {service}: {found:#?}");
        let target = found[0];
        let labels = &target["labels"];
        ensure!(
            labels["pod"] == pod.as_str()
                && labels["job"] == service
                && labels["namespace"] == release.namespace.as_str()
                && labels["endpoint"] == "metrics"
                && target["scrapeUrl"] == format!("http://{ip}:{port}/metrics")
                && target["health"] == "up",
            "the target of {service} is not its pod {pod} at {ip}:{port}: {target:#}"
        );
    }
    Ok(())
}

/// The names of the environments the gateway lists.
fn environment_names(gateway: &Gateway) -> Result<Vec<String>> {
    let listed = gateway.ok("GET", "/__api__/v1/environments", None)?;
    Ok(listed
        .as_array()
        .context("not a list")?
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect())
}

/// Launches `kind` of the scenario's bundle with `command` through the gateway and waits until
/// it has succeeded.
fn launch(gateway: &Gateway, kind: &str, command: &[&str], headers: &[(&str, &str)]) -> Result<()> {
    let body = json!({
        "kind": kind,
        "content": {"guid": CONTENT, "bundle": BUNDLE, "manifest": python_manifest(images::PYTHON_VERSION)},
        "command": command,
    });
    let (status, launched) =
        gateway.call_with("POST", "/__api__/execenv/v1/launches", headers, Some(&body))?;
    ensure!(status == 200, "the {kind} launch: {status} {launched}");
    let id = launched["id"].as_str().context("a launch id")?.to_owned();
    let path = format!("/__api__/execenv/v1/launches/{id}");
    let mut last = Value::Null;
    eventually(FINISH, &format!("the {kind} launch {id} finishing"), || {
        last = gateway.ok("GET", &path, None).unwrap_or(Value::Null);
        matches!(
            last["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })
    .with_context(|| format!("the {kind} launch: {last}"))?;
    ensure!(last["state"] == "succeeded", "the {kind} launch: {last}");
    Ok(())
}

/// The trace of [`TRACE_ID`] holds one server span of the gateway for the launch (the child of
/// the caller's span), one of the launcher below it and one of the selector below that.
fn ensure_launch_trace(spans: &[ExportedSpan]) -> Result<()> {
    let trace: Vec<ExportedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .cloned()
        .collect();
    let only = |service: &str, name: &str| -> Result<&ExportedSpan> {
        let span = only_span(&trace, service, name)?;
        ensure!(span.kind == SPAN_KIND_SERVER, "not a server span: {span:?}");
        Ok(span)
    };
    let gateway = only("execenv-gateway", GATEWAY_LAUNCH_SPAN)?;
    let launcher = only("execenv-launcher", LAUNCHER_SPAN)?;
    let selector = only("execenv-selector", SELECTOR_SPAN)?;
    ensure!(
        gateway.parent_span_id.as_deref() == Some(CALLER_SPAN),
        "the gateway's span does not continue the caller's: {gateway:?}"
    );
    ensure!(
        descends_from(&trace, launcher, gateway),
        "the launcher's span is not below the gateway's: {trace:#?}"
    );
    ensure!(
        descends_from(&trace, selector, launcher),
        "the selector's span is not below the launcher's: {trace:#?}"
    );
    Ok(())
}
