//! config-sync replicas electing their leader with a Lease in the testbed's real API server
//! (`election.lease`), syncing into a real registry, with a fence: replica A leads and applies;
//! replica B stands by. A picks up a change and, while it waits for the file to settle, is
//! paused (SIGSTOP) past its lease. B takes the lease and applies the change. A resumes, still
//! believing it leads, and sends its sync with its old term: the registry refuses it (logged by
//! both, counted in `execenv_registry_syncs_fenced_total`) and the catalogue stays as B left it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::testbed::{fresh_namespace, testbed_client, testbed_kubeconfig};
use execenv_e2e::{RegistryProcess, ServiceProcess, eventually, http_get};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

const LEASE: &str = "execenv-config-sync";

/// The declarative file with one Python environment per image name.
fn write_file(path: &Path, images: &[&str]) -> Result<()> {
    let entries: String = images
        .iter()
        .map(|image| {
            format!(
                "- name: {image}\n  python:\n    installations:\n      - {{version: 3.12.4, path: /opt/python/3.12.4/bin/python3}}\n"
            )
        })
        .collect();
    // Written whole and renamed, as a ConfigMap update is.
    let staged = path.with_extension("new");
    std::fs::write(&staged, entries)?;
    std::fs::rename(&staged, path)?;
    Ok(())
}

/// The image names in the registry, sorted.
fn catalogue(registry: &RegistryProcess) -> Result<Vec<String>> {
    let listed = registry.ctl_json(&["env", "list", "--all"])?;
    let mut names: Vec<String> = listed["environments"]
        .as_array()
        .with_context(|| format!("no environments in {listed}"))?
        .iter()
        .filter_map(|e| e["name"].as_str())
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names)
}

/// The value of counter `name` on the registry's `/metrics`.
fn counter(registry: &RegistryProcess, name: &str) -> Result<f64> {
    let (_, text) = http_get(&registry.admin, "/metrics")?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

fn signal(process: &ServiceProcess, signal: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([signal, &process.process.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill {signal} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_its_late_sync_is_refused() -> Result<()> {
    let client = testbed_client().await?;
    let namespace = fresh_namespace(&client, "election").await?;
    let outcome = paused_leader(&client, &namespace).await;
    // The namespace (and its Lease) goes whatever happened.
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.delete(&namespace, &Default::default()).await?;
    outcome
}

async fn paused_leader(client: &kube::Client, namespace: &str) -> Result<()> {
    let kubeconfig = testbed_kubeconfig()?;
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let file = dir.path().join("environments.yaml");
    write_file(&file, &["ghcr.io/acme/one:1"])?;
    let replica = |identity: &str, debounce_ms: u64| -> Vec<(&'static str, String)> {
        vec![
            ("EXECENV_SYNC__FILE", file.display().to_string()),
            ("EXECENV_SYNC__DEBOUNCE_MS", debounce_ms.to_string()),
            ("EXECENV_ELECTION__LEASE", LEASE.to_owned()),
            ("EXECENV_ELECTION__NAMESPACE", namespace.to_owned()),
            ("EXECENV_ELECTION__IDENTITY", identity.to_owned()),
            ("EXECENV_ELECTION__LEASE_DURATION_S", "4".to_owned()),
            ("EXECENV_ELECTION__RENEW_GRACE_S", "2".to_owned()),
            (
                "EXECENV_TELEMETRY__LOG_LEVEL",
                "execenv=debug,info".to_owned(),
            ),
            ("KUBECONFIG", kubeconfig.display().to_string()),
        ]
    };
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir)?;
    std::fs::create_dir_all(&b_dir)?;

    // A starts alone, takes the lease and applies the file. A waits 3 s for a changed file to
    // settle: the window in which it is paused below.
    let a = ServiceProcess::config_sync(&registry, &a_dir, &replica("a", 3000))?;
    eventually(Duration::from_secs(30), "A leading", || {
        a.process.output().contains("this replica leads")
    })?;
    eventually(Duration::from_secs(30), "A's first sync", || {
        catalogue(&registry).is_ok_and(|c| c == ["ghcr.io/acme/one:1"])
    })
    .with_context(|| {
        format!(
            "catalogue {:?}; A's log:\n{}",
            catalogue(&registry),
            a.process.output()
        )
    })?;
    let b = ServiceProcess::config_sync(&registry, &b_dir, &replica("b", 100))?;
    eventually(Duration::from_secs(30), "B standing by", || {
        b.process.output().contains("this replica stands by")
    })?;

    // A change: A sees it and, while it waits for the file to settle, is paused.
    write_file(&file, &["ghcr.io/acme/one:1", "ghcr.io/acme/two:1"])?;
    eventually(
        Duration::from_secs(30),
        "A waiting for the change to settle",
        || {
            a.process
                .output()
                .contains("new content; waiting for it to stay the same")
        },
    )?;
    signal(&a, "-STOP")?;
    let paused = Instant::now();

    // B takes the lease once it expires, and applies the change.
    eventually(Duration::from_secs(60), "B leading", || {
        b.process.output().contains("this replica leads")
    })?;
    let failover = paused.elapsed();
    eventually(Duration::from_secs(30), "B's sync of the change", || {
        catalogue(&registry).is_ok_and(|c| c == ["ghcr.io/acme/one:1", "ghcr.io/acme/two:1"])
    })?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let held = leases
        .get(LEASE)
        .await?
        .spec
        .context("a Lease without spec")?;
    ensure!(held.holder_identity.as_deref() == Some("b"), "{held:?}");
    execenv_e2e::log_line!(
        "election: A paused to B leading: {:.1} s (lease 4 s); lease transitions {:?}",
        failover.as_secs_f64(),
        held.lease_transitions
    );

    // A resumes mid-sync, with the term it had: refused, counted, and nothing changes.
    ensure!(counter(&registry, "execenv_registry_syncs_fenced_total")? == 0.0);
    signal(&a, "-CONT")?;
    eventually(
        Duration::from_secs(30),
        "the registry refusing A's late sync",
        || counter(&registry, "execenv_registry_syncs_fenced_total").is_ok_and(|n| n == 1.0),
    )?;
    eventually(Duration::from_secs(30), "A logging the refusal", || {
        a.process.output().contains("this sync is fenced off")
    })?;
    ensure!(
        registry
            .process
            .output()
            .contains("refused a sync from a deposed config-sync leader"),
        "the registry did not log the refusal"
    );
    ensure!(
        catalogue(&registry)? == ["ghcr.io/acme/one:1", "ghcr.io/acme/two:1"],
        "the catalogue changed"
    );
    // Once at start, once more after it lost the lease.
    eventually(Duration::from_secs(30), "A standing by", || {
        a.process.output().matches("this replica stands by").count() >= 2
    })?;

    // B keeps leading: the next change is its.
    write_file(&file, &["ghcr.io/acme/two:1"])?;
    eventually(
        Duration::from_secs(30),
        "B's sync of the next change",
        || catalogue(&registry).is_ok_and(|c| c == ["ghcr.io/acme/two:1"]),
    )?;
    drop((a, b));
    Ok(())
}
