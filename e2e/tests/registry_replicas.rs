//! Several registry replicas on one PostgreSQL database (what the chart's HA profile runs):
//! a write on one replica reaches the watchers of the other; a replica killed in the middle of a
//! sync leaves the other serving the catalogue exactly as before or exactly as after; a watcher
//! whose replica is killed resumes on the other from its last revision and misses nothing.
//!
//! Times (a change reaching the other replica's watcher, a watcher resumed) are printed, not
//! asserted; `make bench` reports them under load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::{Backend, RegistryProcess, ServiceProcess, eventually};
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use futures::StreamExt;
use tonic::Streaming;

/// How long anything here may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

type Watch = Streaming<reg::WatchEnvironmentsResponse>;

/// Two registries on one fresh PostgreSQL database, with their default settings.
fn two_replicas(dir: &std::path::Path) -> Result<(RegistryProcess, RegistryProcess)> {
    let db = Backend::Postgres.fresh_database(dir)?;
    std::fs::create_dir_all(dir.join("a"))?;
    std::fs::create_dir_all(dir.join("b"))?;
    let a = RegistryProcess::start(&db, &dir.join("a"), &[])?;
    let b = RegistryProcess::start(&db, &dir.join("b"), &[])?;
    Ok((a, b))
}

/// A watch on `registry` from `from_revision` (0: the catalogue first, up to its Synced mark).
async fn watch(registry: &RegistryProcess, from_revision: i64) -> Result<Watch> {
    let mut client = RegistryClient::connect(registry.url.clone()).await?;
    let mut stream = client
        .watch_environments(reg::WatchEnvironmentsRequest { from_revision })
        .await?
        .into_inner();
    if from_revision == 0 {
        loop {
            let event = stream.next().await.context("the watch ended")??;
            if event.kind == Kind::Synced as i32 {
                break;
            }
        }
    }
    Ok(stream)
}

/// The next upsert or delete on `stream`: (revision, environment name).
async fn next_change(stream: &mut Watch) -> Result<(i64, String)> {
    loop {
        let event = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .context("no change on the watch")?
            .context("the watch ended")??;
        if event.kind == Kind::Upsert as i32 || event.kind == Kind::Delete as i32 {
            let name = event.environment.map(|e| e.name).unwrap_or_default();
            return Ok((event.revision, name));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_on_one_replica_reaches_the_watchers_of_the_other() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (a, b) = two_replicas(dir.path())?;
    let mut on_b = watch(&b, 0).await?;
    let mut on_a = watch(&a, 0).await?;

    let started = Instant::now();
    let created = a.create_environment("ghcr.io/acme/written-on-a:1", &[])?;
    let (revision, name) = next_change(&mut on_b).await?;
    let took = started.elapsed();
    ensure!(
        name == "ghcr.io/acme/written-on-a:1",
        "B's watcher saw {name}"
    );
    ensure!(
        revision == created["revision"].as_i64().context("a revision")?,
        "B's watcher saw revision {revision}, A committed {created}"
    );
    println!("a write on A reached B's watcher in {took:?} (default poll interval)");

    // And the other way round.
    b.create_environment("ghcr.io/acme/written-on-b:1", &[])?;
    let (_, first) = next_change(&mut on_a).await?;
    let (_, second) = next_change(&mut on_a).await?;
    ensure!(
        [first.as_str(), second.as_str()]
            == ["ghcr.io/acme/written-on-a:1", "ghcr.io/acme/written-on-b:1"],
        "A's watcher saw {first}, {second}"
    );
    Ok(())
}

/// A file of `n` environments, every title marked with `generation`.
fn generation_file(n: usize, generation: usize) -> String {
    (0..n)
        .map(|i| format!("- name: ghcr.io/acme/replica-{i}:1\n  title: gen-{generation}\n"))
        .collect()
}

/// The titles of the managed environments `registry` lists, with how many have each.
fn titles(registry: &RegistryProcess) -> Result<BTreeMap<String, usize>> {
    let list = registry.ctl_json(&["env", "list", "--managed", "--all", "--page-size", "1000"])?;
    let mut counts = BTreeMap::new();
    for e in list["environments"].as_array().cloned().unwrap_or_default() {
        *counts
            .entry(e["title"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    Ok(counts)
}

/// A pseudo-random number in 0..bound from a fresh UUID (no seed to manage).
fn random_below(bound: u64) -> u64 {
    let noise = uuid::Uuid::new_v4().as_u128() as u64;
    if bound == 0 { 0 } else { noise % bound }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_sync_leaves_the_other_with_the_catalogue_before_or_after()
-> Result<()> {
    const DEFINITIONS: usize = 1000;
    const RUNS: usize = 5;
    let dir = tempfile::tempdir()?;
    let (mut a, b) = two_replicas(dir.path())?;
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, generation_file(DEFINITIONS, 0))?;
    let sync_env = [("EXECENV_SYNC__FILE", file.display().to_string())];
    let mut sync = ServiceProcess::config_sync(&a, dir.path(), &sync_env)?;
    ensure!(titles(&b)? == BTreeMap::from([("gen-0".to_owned(), DEFINITIONS)]));

    // How long one whole change takes, to spread the kills over it.
    let started = Instant::now();
    std::fs::write(&file, generation_file(DEFINITIONS, 1))?;
    eventually(PATIENCE, "the first full change, seen on B", || {
        titles(&b).is_ok_and(|t| t == BTreeMap::from([("gen-1".to_owned(), DEFINITIONS)]))
    })?;
    let window = started.elapsed();

    let mut on_b = watch(&b, 0).await?;
    let (mut before, mut after) = (0, 0);
    for run in 0..RUNS {
        let (from, to) = (run + 1, run + 2);
        std::fs::write(&file, generation_file(DEFINITIONS, to))?;
        let delay = Duration::from_millis(random_below(window.as_millis() as u64));
        std::thread::park_timeout(delay); // the random moment of the kill, not a synchronisation
        a.process.kill();
        sync.process.kill();
        let seen = titles(&b)?;
        if seen == BTreeMap::from([(format!("gen-{from}"), DEFINITIONS)]) {
            before += 1;
        } else if seen == BTreeMap::from([(format!("gen-{to}"), DEFINITIONS)]) {
            after += 1;
        } else {
            bail!("run {run}: B serves a mix after A was killed: {seen:?}");
        }
        // A comes back, config-sync finishes the change; B's watcher got every environment of
        // the new generation exactly once (the change arrives whole or not at all).
        a.restart()?;
        sync = ServiceProcess::config_sync(&a, dir.path(), &sync_env)?;
        ensure!(titles(&b)? == BTreeMap::from([(format!("gen-{to}"), DEFINITIONS)]));
        let mut changed = BTreeMap::new();
        while changed.len() < DEFINITIONS {
            let (_, name) = next_change(&mut on_b).await?;
            *changed.entry(name).or_insert(0) += 1;
        }
        ensure!(
            changed.values().all(|n| *n == 1),
            "run {run}: an environment changed twice on B's watch: {:?}",
            changed.iter().find(|(_, n)| **n > 1)
        );
    }
    println!(
        "{RUNS} kills of A within {window:?}: B served the old generation {before} times, the new one {after} times"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watcher_of_a_killed_replica_resumes_on_the_other_and_misses_nothing() -> Result<()> {
    const WRITES: usize = 40;
    let dir = tempfile::tempdir()?;
    let (a, mut b) = two_replicas(dir.path())?;
    let mut on_b = watch(&b, 0).await?;

    // Writes go to A while B dies in the middle of them.
    let writer = {
        let url = a.url.clone();
        tokio::spawn(async move {
            let mut client = RegistryClient::connect(url).await?;
            for i in 0..WRITES {
                client
                    .create_environment(reg::CreateEnvironmentRequest {
                        environment: Some(execenv_proto::environments::v1::EnvironmentSpec {
                            name: format!("ghcr.io/acme/resume-{i:02}:1"),
                            ..Default::default()
                        }),
                    })
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let mut seen: Vec<(i64, String)> = Vec::new();
    while seen.len() < WRITES / 4 {
        seen.push(next_change(&mut on_b).await?);
    }
    b.process.kill();
    let killed = Instant::now();
    // The watcher notices and resumes on A after the last revision it saw.
    let mut last = seen.last().map(|(r, _)| *r).unwrap_or(0);
    loop {
        match tokio::time::timeout(PATIENCE, on_b.next()).await? {
            Some(Ok(event)) if event.kind == Kind::Upsert as i32 => {
                let name = event.environment.map(|e| e.name);
                seen.push((event.revision, name.unwrap_or_default()));
                last = event.revision;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let mut on_a = watch(&a, last).await?;
    let resumed = killed.elapsed();
    while seen.len() < WRITES {
        seen.push(next_change(&mut on_a).await?);
    }
    writer.await??;
    let names: Vec<String> = seen.iter().map(|(_, n)| n.clone()).collect();
    let expected: Vec<String> = (0..WRITES)
        .map(|i| format!("ghcr.io/acme/resume-{i:02}:1"))
        .collect();
    ensure!(
        names == expected,
        "the resumed watch saw {names:?}, every write once in order was expected"
    );
    ensure!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "revisions not increasing: {seen:?}"
    );
    println!("B killed -> its watcher resumed on A in {resumed:?}, every change once");
    Ok(())
}
