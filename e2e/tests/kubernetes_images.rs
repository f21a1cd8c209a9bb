//! The content images the testbed's real node runs, examined without running them: pushed
//! unchanged from the cache the node's images were loaded from into a real registry (Debian's
//! docker-registry on loopback), read by `execenv-oci` and the core's examination rules. The
//! versions read from their files equal what each interpreter prints when it runs in that image
//! on the node, and the digest examined is the one the node runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_core::Language;
use execenv_core::examine::find_installations;
use execenv_e2e::log_line;
use execenv_e2e::oci_images::push_cached;
use execenv_e2e::oci_registry::OciRegistry;
use execenv_e2e::testbed::{fresh_namespace, images, testbed_with_node};
use execenv_oci::{ImageReader, ReaderOptions};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, LogParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

/// Runs `command` in `image` on the node as a pod that runs once; returns what it printed.
async fn printed_on_the_node(
    client: &Client,
    ns: &str,
    name: &str,
    image: &str,
    command: &[&str],
) -> Result<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}],
            },
        }))?,
    )
    .await
    .with_context(|| format!("cannot create the pod {name}"))?;
    let done = tokio::time::timeout(
        WAIT,
        await_condition(pods.clone(), name, |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
        }),
    )
    .await
    .with_context(|| format!("the pod {name} did not finish on the node within {WAIT:?}"))??
    .context("the pod exists")?;
    let phase = done.status.and_then(|s| s.phase).unwrap_or_default();
    let logs = pods.logs(name, &LogParams::default()).await?;
    ensure!(phase == "Succeeded", "the pod {name} ended {phase}: {logs}");
    Ok(logs.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examined_versions_equal_what_the_interpreters_print_on_the_node() -> Result<()> {
    let client = testbed_with_node().await?;
    let ns = fresh_namespace(&client, "examine").await?;
    let python_printed = printed_on_the_node(
        &client,
        &ns,
        "python-version",
        images::PYTHON_IMAGE,
        &[
            images::PYTHON,
            "-c",
            "import platform; print(platform.python_version())",
        ],
    )
    .await?;
    let r_printed = printed_on_the_node(
        &client,
        &ns,
        "r-version",
        images::R_IMAGE,
        &[
            images::R,
            "--vanilla",
            "--slave",
            "-e",
            "cat(as.character(getRversion()))",
        ],
    )
    .await?;
    log_line!("on the node: Python {python_printed}, R {r_printed}");
    // What the images are documented to hold, so that an empty or odd print fails here.
    assert_eq!(python_printed, images::PYTHON_VERSION);
    assert_eq!(r_printed, images::R_VERSION);

    let registry = OciRegistry::start()?;
    let reader = ImageReader::new(ReaderOptions {
        insecure_registries: vec![registry.host().to_string()],
        ..ReaderOptions::default()
    })?;
    for (name, language, path, printed) in [
        ("python", Language::Python, images::PYTHON, &python_printed),
        ("r", Language::R, images::R, &r_printed),
    ] {
        let (reference, layout) = push_cached(name, &registry)?;
        let resolved = reader.resolve(&reference, None).await?;
        assert_eq!(
            resolved.digest, layout.digest,
            "{reference} is examined at the digest the node's image has"
        );
        let tree = reader.read_tree(&resolved).await?;
        let found = find_installations(&tree);
        let installation = found
            .installations
            .iter()
            .find(|i| i.language == language && i.path == path)
            .with_context(|| format!("{reference}: no {path} among {:?}", found.installations))?;
        assert_eq!(
            installation.version.as_deref(),
            Some(printed.as_str()),
            "{reference}: the version read from {:?} ({:?})",
            installation.version_file,
            installation.problem
        );
        log_line!(
            "{reference}: {path} is {printed}, read from {} ({} layers, {} files)",
            installation.version_file.as_deref().unwrap_or("?"),
            resolved.layers.len(),
            tree.entries()
        );
    }
    Ok(())
}
