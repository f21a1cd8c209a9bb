//! Interactive content on the testbed's real node, through the chart's real services: a FastAPI
//! app (real packages from the wheelhouse, served to the builds by a package index pod) in the
//! Python image and an R Shiny app in the R image, uploaded through the gateway's NodePort, built,
//! started by the first request and reached through `/content/{guid}/` over HTTP and WebSockets,
//! both at once; anonymous and unpermitted users refused; the app's pod deleted and replaced while
//! requests resume; the idle instance stopped and started again by the next request; an app that
//! fails as it starts showing why. Cold-start times are printed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::content::{
    COLD_WITHIN, Client, TestApp, failing_bundle, round_trip, shiny_session, wheelhouse,
};
use execenv_e2e::release::{NodeRelease, python_environment};
use execenv_e2e::testbed::{WheelIndex, images};
use execenv_e2e::{http_request, log_line};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

const FASTAPI: &str = "7d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f40";
const SHINY_R: &str = "8e2f3a4b-5c6d-4e7f-9a8b-0c1d2e3f4a50";
const FAILING: &str = "9f3a4b5c-6d7e-4f8a-8b9c-1d2e3f4a5b60";
/// The gateway's idle timeout here: long enough for the steps between requests, short enough
/// to wait for.
const IDLE_S: u64 = 30;
/// How long a request waits for an instance before the gateway answers 504.
const START_S: u64 = 45;

fn r_environment() -> Value {
    json!({
        "name": images::R_IMAGE,
        "title": "R 4.2 (testbed)",
        "r": {"installations": [{"version": images::R_VERSION, "path": images::R}]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_built_served_replaced_stopped_when_idle_and_restarted_on_the_node() -> Result<()>
{
    let wheels = wheelhouse()?;
    let release = NodeRelease::install(
        "content",
        &json!({
            "executionEnvironments": [python_environment(), r_environment()],
            "gateway": {"content": {"idleTimeoutSeconds": IDLE_S, "startTimeoutSeconds": START_S}},
        }),
    )
    .await?;
    let index = WheelIndex::start(&release.client, &release.namespace).await?;
    let added = index.add_wheelhouse(&wheels)?;
    log_line!("content on the node: {added} wheels served by the package index pod");
    let pip = serde_json::to_value(index.pip_env())?;
    let publisher = release.user_key("pat", "publisher")?;
    let viewer = release.user_key("vic", "viewer")?;
    let pat = Client {
        api: &release.gateway,
        key: &publisher,
    };

    // Publish: upload and build each app in its environment.
    let started = Instant::now();
    pat.publish(
        FASTAPI,
        TestApp::FastApi,
        images::PYTHON_VERSION,
        Some(images::PYTHON_IMAGE),
        &pip,
    )?;
    log_line!(
        "content on the node: FastAPI built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    pat.publish(
        SHINY_R,
        TestApp::ShinyR,
        images::R_VERSION,
        Some(images::R_IMAGE),
        &json!({}),
    )?;

    // The first request starts the FastAPI app: a Deployment and a Service on the node.
    let (root, cold) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    log_line!(
        "content on the node: FastAPI cold start (request to answer) {} ms",
        cold.as_millis()
    );
    let base = format!("/content/{FASTAPI}");
    assert_eq!(root["app"], "fastapi");
    assert_eq!(root["root_path"], base);
    assert_eq!(root["user"], "pat");
    assert_eq!(root["authorization"], Value::Null);
    let mut socket = pat.websocket(FASTAPI, "/ws").await?;
    assert_eq!(round_trip(&mut socket, "node").await?, "echo: node");
    drop(socket);

    // The R Shiny app, in the R image, at the same time: its page and a session over its WebSocket.
    let started = Instant::now();
    let page = pat.content(SHINY_R, "/", COLD_WITHIN)?;
    ensure!(
        page.status == 200,
        "the Shiny page answered {}: {}",
        page.status,
        page.body
    );
    assert!(page.body.contains("execenv R test app"), "{}", page.body);
    log_line!(
        "content on the node: R Shiny cold start (request to page) {} ms",
        started.elapsed().as_millis()
    );
    shiny_session(pat, SHINY_R).await?;
    let ready = pat.call(
        "GET",
        "/__api__/execenv/v1/launches?kind=interactive&state=ready",
        None,
        200,
    )?;
    let mut images_ready: Vec<String> = ready
        .as_array()
        .context("launches")?
        .iter()
        .map(|l| l["image"].as_str().unwrap_or_default().to_owned())
        .collect();
    images_ready.sort();
    assert_eq!(
        images_ready,
        vec![images::PYTHON_IMAGE.to_owned(), images::R_IMAGE.to_owned()]
    );

    // Who may: nobody anonymous, not a viewer off the content's list.
    let path = format!("{base}/");
    assert_eq!(
        http_request(&release.gateway, "GET", &path, &[], None)?.status,
        401
    );
    let vic = Client {
        api: &release.gateway,
        key: &viewer,
    };
    assert_eq!(vic.content(FASTAPI, "/", COLD_WITHIN)?.status, 403);

    // The app's pod deleted at once: the Deployment replaces it, requests resume.
    let launch = pat.instance_launch(FASTAPI)?;
    let before = pat.launch_now(&launch)?;
    let job = before["job_name"]
        .as_str()
        .context("the launch's workload name")?
        .to_owned();
    let pods: Api<Pod> = Api::namespaced(release.client.clone(), &release.namespace);
    let selector = format!("execenv.io/launch-id={launch}");
    let listed = pods.list(&ListParams::default().labels(&selector)).await?;
    let pod = listed
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .with_context(|| format!("no pod labelled {selector} (workload {job})"))?;
    pods.delete(
        &pod,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await?;
    let deleted = Instant::now();
    // Requests resume once a new pod answers (the deleted one may answer a last time while the
    // kubelet stops it; requests in between may fail).
    let again = loop {
        let last = match pat.content_json(FASTAPI, "/", COLD_WITHIN) {
            Ok((answer, _)) if answer["host"] != pod.as_str() => break answer,
            Ok((answer, _)) => answer.to_string(),
            Err(e) => format!("{e:#}"),
        };
        ensure!(
            deleted.elapsed() < COLD_WITHIN,
            "no new pod answered within {COLD_WITHIN:?} after {pod} was deleted; last: {last}"
        );
        // The interval of a bounded poll.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again["app"], "fastapi");
    log_line!(
        "content on the node: a new pod ({}) answered {} ms after {pod} was deleted",
        again["host"],
        deleted.elapsed().as_millis()
    );
    pat.launch_until(&launch, COLD_WITHIN, "ready on a new pod", |l| {
        l["state"] == "ready"
    })?;
    assert_eq!(
        pat.instance_launch(FASTAPI)?,
        launch,
        "the same launch serves"
    );

    // Idle: after IDLE_S without requests the gateway stops the instance; its Deployment and
    // Service go; the next request starts a new one.
    pat.launch_until(
        &launch,
        Duration::from_secs(IDLE_S * 4),
        "stopped when idle",
        |l| l["state"] == "cancelled",
    )?;
    let deployments: Api<Deployment> = Api::namespaced(release.client.clone(), &release.namespace);
    let services: Api<Service> = Api::namespaced(release.client.clone(), &release.namespace);
    // Polled until gone (the garbage collector removes the Service after the Deployment).
    let gone_by = Instant::now() + Duration::from_secs(60);
    loop {
        let left = (
            deployments.get_opt(&job).await?.is_some(),
            services.get_opt(&job).await?.is_some(),
        );
        if left == (false, false) {
            break;
        }
        ensure!(
            Instant::now() < gone_by,
            "the instance's (Deployment, Service) still there after 60 s: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, rewarm) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    assert_ne!(pat.instance_launch(FASTAPI)?, launch);
    log_line!(
        "content on the node: cold start after the idle stop {} ms",
        rewarm.as_millis()
    );

    // An app that fails as it starts: the request waits, then says why; so do the launch and its logs.
    let bundle = pat.upload(
        FAILING,
        &failing_bundle(images::PYTHON_VERSION, Some(images::PYTHON_IMAGE))?,
    )?;
    pat.build(
        FAILING,
        &bundle,
        &TestApp::FastApi.manifest(images::PYTHON_VERSION, Some(images::PYTHON_IMAGE)),
        &pip,
    )?;
    let answer = pat.content(FAILING, "/", Duration::from_secs(START_S * 3))?;
    assert_eq!(answer.status, 504, "{}", answer.body);
    let failing = answer.json()?["payload"]["launch_id"]
        .as_str()
        .context("the 504 names the launch")?
        .to_owned();
    // The pod's last termination, with the app's last lines, is the launch's message while it
    // waits to restart; its restarts count.
    let seen = pat.launch_until(&failing, COLD_WITHIN, "saying why it restarts", |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.contains("DATABASE_URL"))
    })?;
    assert_eq!(seen["state"], "running", "{seen}");
    pat.launch_until(&failing, COLD_WITHIN, "restarted", |l| {
        l["restarts"].as_u64().unwrap_or(0) >= 1
    })?;
    let logs = pat.logs(&failing)?;
    assert!(logs.contains("the test app needs DATABASE_URL"), "{logs}");
    pat.call(
        "POST",
        &format!("/__api__/execenv/v1/launches/{failing}/cancel"),
        None,
        200,
    )?;

    release.uninstall().await
}
