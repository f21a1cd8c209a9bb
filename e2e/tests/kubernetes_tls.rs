//! The chart with TLS and mutual TLS on the testbed's real node, turned on as the README's
//! Security section does it: `examples/kubernetes/tls-secrets` makes a CA and every service's
//! Secret, `helm install` with `global.tls.enabled` and `global.tls.mutual`. Then the first
//! administrator is made with the execenvctl of the registry's pod (it reaches the registry over
//! mutual TLS), the gateway answers HTTPS verified against the CA and refuses plain HTTP, the
//! example bundle is uploaded, built and run through HTTPS (every service calling the next over
//! mutual TLS, content Jobs included), a gRPC port reached through `kubectl port-forward` serves
//! only a client with a certificate of the CA, and a renewed certificate written into the
//! Secret is served without a restart.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::chart::testbed_bin;
use execenv_e2e::release::{Gateway, NodeRelease, RELEASE, python_environment};
use execenv_e2e::testbed::images;
use execenv_e2e::{CtlOutput, Process, binary, eventually, free_port};
use serde_json::{Value, json};

/// `execenvctl ARGS…` from this machine.
fn execenvctl(args: &[&str]) -> Result<CtlOutput> {
    Ok(Command::new(binary("execenvctl")?)
        .args(args)
        .env_remove("EXECENV_API_KEY")
        .output()?
        .into())
}

/// Starts a launch of `kind` of the uploaded bundle and waits for its outcome; the launch then.
fn launch_to_the_end(gateway: &Gateway, kind: &str, content: &str, bundle: &str) -> Result<Value> {
    let started = gateway.ok(
        "POST",
        "/__api__/execenv/v1/launches",
        Some(&json!({"kind": kind, "content": {"guid": content, "bundle": bundle}, "command": []})),
    )?;
    let id = started["id"].as_str().context("no id")?;
    gateway.launch_outcome(id, Duration::from_secs(240))
}

/// The serial number of the certificate a new TLS connection to `address` gets, as openssl
/// prints it (`serial=…`), verified against `ca`.
fn served_serial(ca: &Path, address: &str) -> Result<String> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            address,
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(ca)
        .stdin(std::process::Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "no TLS connection to {address}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(x509.stdin.as_mut().context("no stdin")?, &out.stdout)?;
    let printed = x509.wait_with_output()?;
    ensure!(printed.status.success(), "openssl x509 read no certificate");
    Ok(String::from_utf8_lossy(&printed.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_with_mutual_tls_serves_https_only_and_builds_and_runs_on_the_node() -> Result<()> {
    let started = Instant::now();
    let release = NodeRelease::install_tls(
        "tls",
        &json!({"executionEnvironments": [python_environment()]}),
    )
    .await?;
    execenv_e2e::log_line!(
        "tls: tls-secrets and helm install to every Deployment Available: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let ca = release.tls_file("ca.crt").context("no CA")?;
    let (client_crt, client_key) = (
        release
            .tls_file("client.crt")
            .context("no client certificate")?,
        release.tls_file("client.key").context("no client key")?,
    );

    // The first administrator, with the registry pod's execenvctl: over mutual TLS, with the
    // pod's certificate (the chart sets EXECENV_REGISTRY and the client certificate for it).
    let gateway = release.gateway_with(&release.user_key("admin", "administrator")?);
    ensure!(
        gateway.url("/").starts_with("https://"),
        "{}",
        gateway.url("/")
    );

    // HTTPS, verified against the CA, from outside the cluster.
    let names = gateway.environment_names()?;
    ensure!(names == [images::PYTHON_IMAGE], "{names:?}");

    // Plain HTTP to the same port gets no HTTP answer; HTTPS verified by the system's roots
    // (not execenv's CA) is refused by curl (60: the peer's certificate cannot be verified).
    let url = "/__api__/v1/environments";
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{}{url}", release.gateway))
        .output()?;
    ensure!(
        !plain.status.success(),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&plain.stdout)
    );
    let unverified = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(gateway.url(url))
        .output()?;
    ensure!(
        unverified.status.code() == Some(60),
        "HTTPS without execenv's CA: curl exited {:?}: {}",
        unverified.status.code(),
        String::from_utf8_lossy(&unverified.stderr)
    );

    // Upload with execenvctl over HTTPS, then build and run: the gateway calls the launcher,
    // the launcher the selector, the selector the registry, each over mutual TLS.
    let content = uuid::Uuid::new_v4().to_string();
    let example = execenv_e2e::chart::repo().join("examples/bundles/hello-python");
    let uploaded = execenvctl(&[
        "--gateway",
        &gateway.url(""),
        "--api-key",
        &gateway.key,
        "--ca-file",
        &ca.display().to_string(),
        "bundle",
        "upload",
        &example.display().to_string(),
        "--content",
        &content,
        "-o",
        "json",
    ])?
    .ok()?;
    let stored: Value = serde_json::from_str(&uploaded.stdout)?;
    let bundle = stored["bundle_id"].as_str().context("no bundle_id")?;
    let started = Instant::now();
    let build = launch_to_the_end(&gateway, "build", &content, bundle)?;
    ensure!(build["state"] == "succeeded", "the build: {build}");
    let run = launch_to_the_end(&gateway, "run", &content, bundle)?;
    ensure!(run["state"] == "succeeded", "the run: {run}");
    let id = run["id"].as_str().context("no id")?;
    let (status, output) = gateway.call(
        "GET",
        &format!("/__api__/execenv/v1/launches/{id}/logs"),
        None,
    )?;
    let expected = format!("hello from CPython {}", images::PYTHON_VERSION);
    ensure!(
        status == 200 && output.as_str().is_some_and(|o| o.contains(&expected)),
        "no {expected:?} in the run's output: {status} {output}"
    );
    execenv_e2e::log_line!(
        "tls: build and run over HTTPS and mutual TLS: {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // A gRPC port through `kubectl port-forward`, as an operator reaches it: served with a
    // client certificate of the CA, refused without one, and refused in plain text.
    let port = free_port()?;
    let log = tempfile::NamedTempFile::new()?;
    let kubeconfig = release.kubeconfig.display().to_string();
    let service = format!("svc/{RELEASE}-environment-registry");
    let forward_ports = format!("{port}:50051");
    let _forward = Process::spawn(
        &testbed_bin()?.join("kubectl"),
        &[
            "--kubeconfig",
            &kubeconfig,
            "-n",
            &release.namespace,
            "port-forward",
            &service,
            &forward_ports,
        ],
        &[],
        log.path().to_owned(),
    )?;
    eventually(
        Duration::from_secs(30),
        "kubectl port-forward listening",
        || {
            std::fs::read_to_string(log.path())
                .is_ok_and(|l| l.contains("Forwarding from 127.0.0.1"))
        },
    )?;
    let registry = format!("https://127.0.0.1:{port}");
    let ca_file = ca.display().to_string();
    let with_certificate = execenvctl(&[
        "--registry",
        &registry,
        "--ca-file",
        &ca_file,
        "--client-cert",
        &client_crt.display().to_string(),
        "--client-key",
        &client_key.display().to_string(),
        "env",
        "list",
        "-o",
        "json",
    ])?
    .ok()?;
    ensure!(
        with_certificate.stdout.contains(images::PYTHON_IMAGE),
        "{}",
        with_certificate.stdout
    );
    let without = execenvctl(&[
        "--registry",
        &registry,
        "--ca-file",
        &ca_file,
        "env",
        "list",
    ])?;
    ensure!(
        without.code != 0 && without.stderr.contains("cannot reach the registry"),
        "a client without a certificate: {without:?}"
    );
    let plain = execenvctl(&[
        "--registry",
        &format!("http://127.0.0.1:{port}"),
        "env",
        "list",
    ])?;
    ensure!(plain.code != 0, "plain gRPC was answered: {plain:?}");

    // A renewed gateway certificate (same CA) written into the Secret, as cert-manager renews
    // it: the kubelet swaps the mounted files and the gateway serves it on a new connection,
    // without a restart.
    let before = served_serial(&ca, &release.gateway)?;
    let pods = release.pods().await?;
    let started = Instant::now();
    let tls_dir = ca.parent().context("no folder")?;
    let out = Command::new(execenv_e2e::chart::repo().join("examples/kubernetes/tls-secrets"))
        .args([RELEASE, &release.namespace])
        .arg(tls_dir)
        .env("KUBECTL", testbed_bin()?.join("kubectl"))
        .env("KUBECONFIG", &release.kubeconfig)
        .env(
            "GATEWAY_IPS",
            release.gateway.split(':').next().unwrap_or_default(),
        )
        .output()?;
    ensure!(
        out.status.success(),
        "tls-secrets again: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut now = String::new();
    eventually(
        Duration::from_secs(180),
        "the gateway serving the renewed certificate",
        || {
            now = served_serial(&ca, &release.gateway).unwrap_or_default();
            !now.is_empty() && now != before
        },
    )
    .with_context(|| format!("still {before}"))?;
    execenv_e2e::log_line!(
        "tls: renewed Secret to the new certificate served: {:.2} s ({before} -> {now})",
        started.elapsed().as_secs_f64()
    );
    ensure!(
        release.pods().await? == pods,
        "pods restarted for a renewed certificate"
    );
    gateway.ok("GET", "/__api__/v1/environments", None)?;

    release.uninstall().await
}
