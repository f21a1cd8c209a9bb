//! A platform engineer's first hour, on the testbed's real node: `helm install` of the chart with
//! the images `e2e/infra/images` built, the first administrator's key made with `kubectl exec`,
//! the environments the chart declared listed through the gateway (reached through its NodePort,
//! from outside the cluster), the example bundle uploaded, built and run through the gateway, its
//! output read back; then `helm upgrade` adding an environment (no pod restarts), `helm upgrade`
//! changing a setting (a rolling restart, no failed launch) and `helm uninstall` (only the claims
//! stay). Each step's time is printed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::http_request_within;
use execenv_e2e::release::{Gateway, NodeRelease, python_environment};
use execenv_e2e::testbed::images;
use serde_json::{Value, json};

/// The environment the first upgrade adds: the testbed's R image.
fn r_environment() -> Value {
    json!({
        "name": images::R_IMAGE,
        "title": "R 4.2 (testbed)",
        "r": {"installations": [{"version": images::R_VERSION, "path": images::R}]},
    })
}

/// Uploads the example bundle (`examples/bundles/hello-python`) with `execenvctl bundle upload`
/// through the gateway at `address`; its bundle id.
fn publish(address: &str, key: &str, content: &str) -> Result<String> {
    let example = execenv_e2e::chart::repo().join("examples/bundles/hello-python");
    let out = std::process::Command::new(execenv_e2e::binary("execenvctl")?)
        .args(["bundle", "upload"])
        .arg(&example)
        .args(["--content", content, "-o", "json"])
        .env("EXECENV_GATEWAY", format!("http://{address}"))
        .env("EXECENV_API_KEY", key)
        .output()?;
    ensure!(
        out.status.success(),
        "execenvctl bundle upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        stored["manifest"]["appmode"] == "python-script" && stored["files"] == 3,
        "{stored}"
    );
    Ok(stored["bundle_id"]
        .as_str()
        .context("no bundle_id")?
        .to_owned())
}

/// Prints one step's time, for the test's log.
fn step(name: &str, since: Instant) {
    execenv_e2e::log_line!("first hour: {name}: {:.2} s", since.elapsed().as_secs_f64());
}

/// Starts a launch of `kind` (build or run) of the uploaded bundle, whose manifest the
/// gateway reads; its id.
fn launch(
    gateway: &Gateway,
    kind: &str,
    content: &str,
    bundle: &str,
    command: &[&str],
) -> Result<String> {
    let started = gateway.ok(
        "POST",
        "/__api__/execenv/v1/launches",
        Some(&json!({
            "kind": kind,
            "content": {"guid": content, "bundle": bundle},
            "command": command,
        })),
    )?;
    Ok(started["id"].as_str().context("no id")?.to_owned())
}

/// Follows launch `id`'s output until it ends; the launch then, and the output.
fn finish(gateway: &Gateway, id: &str) -> Result<(Value, String)> {
    let auth = format!("Key {}", gateway.key);
    let logs = http_request_within(
        Duration::from_secs(180),
        &gateway.address,
        "GET",
        &format!("/__api__/execenv/v1/launches/{id}/logs?follow=true"),
        &[("Authorization", &auth)],
        None,
    )?;
    ensure!(
        logs.status == 200,
        "logs of {id}: {} {}",
        logs.status,
        logs.body
    );
    // The output ends when the content exits; the Job's outcome follows shortly after.
    let state = gateway.launch_outcome(id, Duration::from_secs(60))?;
    Ok((state, logs.body))
}

// Two worker threads: the rollout is awaited in a task while this one makes blocking requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_hour_install_publish_build_run_upgrade_and_uninstall_on_the_node() -> Result<()> {
    let release = NodeRelease::install(
        "first-hour",
        &json!({"executionEnvironments": [python_environment()]}),
    )
    .await?;
    execenv_e2e::log_line!(
        "first hour: helm install to every Deployment Available: {:.2} s",
        release.install_to_ready.as_secs_f64()
    );

    // The first administrator and their key, made inside the registry's pod (kubectl exec).
    let started = Instant::now();
    let gateway = release.gateway_with(&release.user_key("admin", "administrator")?);
    step("first API key (kubectl exec)", started);

    // The environments the chart declared, through the gateway from outside the cluster.
    let names = gateway.environment_names()?;
    ensure!(names == [images::PYTHON_IMAGE], "{names:?}");

    // Publish the example bundle, build it, run it, read its output through the gateway.
    let content = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let bundle = publish(&gateway.address, &gateway.key, &content)?;
    step(
        "upload of the example bundle (execenvctl bundle upload)",
        started,
    );
    let started = Instant::now();
    let build = launch(&gateway, "build", &content, &bundle, &[])?;
    let (state, _) = finish(&gateway, &build)?;
    ensure!(state["state"] == "succeeded", "the build: {state}");
    step("BUILD, request to succeeded", started);
    let started = Instant::now();
    let run = launch(&gateway, "run", &content, &bundle, &[])?;
    let (state, output) = finish(&gateway, &run)?;
    ensure!(state["state"] == "succeeded", "the run: {state}\n{output}");
    step("RUN, request to succeeded", started);
    for line in [
        format!("hello from CPython {}", images::PYTHON_VERSION),
        images::SUPERVISOR_MARKER.to_owned(),
    ] {
        ensure!(
            output.contains(&line),
            "no {line:?} in the run's output:\n{output}"
        );
    }
    let listed = gateway.ok(
        "GET",
        &format!("/__api__/execenv/v1/launches?content_guid={content}"),
        None,
    )?;
    let mut ids: Vec<&str> = listed
        .as_array()
        .context("no launches")?
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![build.as_str(), run.as_str()];
    expected.sort_unstable();
    ensure!(ids == expected, "{listed}");

    // helm upgrade adding an environment: the selector offers it, no pod restarts.
    let pods = release.pods().await?;
    let started = Instant::now();
    release.upgrade(&json!({"executionEnvironments": [python_environment(), r_environment()]}))?;
    let r_request = json!({"requirements": {"r_version": images::R_VERSION}});
    let mut last = Value::Null;
    execenv_e2e::eventually(
        Duration::from_secs(180),
        "the selector offering the environment the upgrade added",
        || match gateway.call("POST", "/__api__/execenv/v1/select", Some(&r_request)) {
            Ok((status, answer)) => {
                last = answer;
                status == 200
            }
            Err(e) => {
                last = Value::String(e.to_string());
                false
            }
        },
    )
    .with_context(|| format!("last answer: {last}"))?;
    step(
        "helm upgrade adding an environment to the selector's answer",
        started,
    );
    ensure!(
        last["environment"]["name"] == images::R_IMAGE,
        "the selector chose {last}"
    );
    ensure!(
        release.pods().await? == pods,
        "pods restarted after an upgrade that only changed the environments"
    );

    // helm upgrade changing a setting of every service: a rolling restart, and launches requested
    // before and during it all succeed.
    let long = launch(
        &gateway,
        "run",
        &content,
        &bundle,
        &[
            "python",
            "-c",
            "import time; time.sleep(15); print('outlived the rollout')",
        ],
    )?;
    let started = Instant::now();
    release.upgrade(&json!({
        "executionEnvironments": [python_environment(), r_environment()],
        "global": {"telemetry": {"logLevel": "debug"}},
    }))?;
    let rollout = tokio::spawn({
        let release_wait = release.waiter();
        async move { release_wait.wait_available().await }
    });
    let mut during = Vec::new();
    while !rollout.is_finished() {
        let id = launch(&gateway, "run", &content, &bundle, &[])?;
        finish(&gateway, &id)?;
        during.push(id);
    }
    rollout.await??;
    step(
        "helm upgrade changing a setting to every Deployment rolled out",
        started,
    );
    let after = release.pods().await?;
    for (name, _) in &pods {
        ensure!(
            !after.iter().any(|(n, _)| n == name),
            "the pod {name} was not replaced by the rolling restart"
        );
    }
    for id in during.iter().chain([&long]) {
        let (state, output) = finish(&gateway, id)?;
        ensure!(
            state["state"] == "succeeded",
            "launch {id}: {state}\n{output}"
        );
        ensure!(
            id != &long || output.contains("outlived the rollout"),
            "the long run's output:\n{output}"
        );
    }
    execenv_e2e::log_line!(
        "first hour: {} launches during the rollout, all succeeded",
        during.len()
    );

    // helm uninstall: nothing of the release is left but the claims.
    let started = Instant::now();
    release.helm_uninstall()?;
    step("helm uninstall", started);
    let claims_only = [
        "PersistentVolumeClaim/execenv-data",
        "PersistentVolumeClaim/execenv-environment-registry-data",
        "PersistentVolumeClaim/execenv-package-cache",
    ];
    // The pods, ReplicaSets, EndpointSlices and content Jobs go after their owners, collected by
    // the cluster: leftovers() waits for those.
    let left = release.leftovers().await?;
    ensure!(left == claims_only, "left after helm uninstall: {left:?}");
    step("helm uninstall to only the claims left", started);
    release.uninstall().await
}
