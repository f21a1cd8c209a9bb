//! Crash safety of a sync: config-sync applies a 2,000-definition change while the registry
//! process is killed with SIGKILL at a random moment, 20 times per backend. After every restart
//! the catalogue is entirely the old generation or entirely the new one, never a mix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use execenv_e2e::{Backend, RegistryProcess, ServiceProcess, eventually};

const DEFINITIONS: usize = 2000;
const RUNS: usize = 20;

/// A file of DEFINITIONS environments, every title and version marked with `generation`.
fn generation_file(generation: usize) -> String {
    let mut out = String::with_capacity(DEFINITIONS * 160);
    for i in 0..DEFINITIONS {
        out.push_str(&format!(
            "- name: ghcr.io/acme/crash-{i}:1\n  title: gen-{generation}\n  python:\n    installations:\n      - {{version: 3.{}.{generation}, path: /opt/python/bin/python3}}\n",
            i % 20
        ));
    }
    out
}

/// The generations present among the managed environments, and how many there are.
fn generations(registry: &RegistryProcess) -> Result<(BTreeSet<String>, usize)> {
    let list = registry.ctl_json(&["env", "list", "--managed", "--all", "--page-size", "1000"])?;
    let envs = list["environments"].as_array().cloned().unwrap_or_default();
    let gens = envs
        .iter()
        .map(|e| e["title"].as_str().unwrap_or("").to_owned())
        .collect();
    Ok((gens, envs.len()))
}

/// A pseudo-random number in 0..bound from the clock and a fresh UUID (no seed to manage).
fn random_below(bound: u64) -> u64 {
    let noise =
        uuid::Uuid::new_v4().as_u128() as u64 ^ u64::from(Instant::now().elapsed().subsec_nanos());
    if bound == 0 { 0 } else { noise % bound }
}

fn crash_runs(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db_url = backend.fresh_database(dir.path())?;
    let file = dir.path().join("environments.yaml");
    let mut registry = RegistryProcess::start(&db_url, dir.path(), &[])?;
    std::fs::write(&file, generation_file(0))?;
    let sync_env = [("EXECENV_SYNC__FILE", file.display().to_string())];
    let mut sync = ServiceProcess::config_sync(&registry, dir.path(), &sync_env)?;

    // How long a whole 2,000-definition change takes, to spread the kills over it.
    let started = Instant::now();
    std::fs::write(&file, generation_file(1))?;
    eventually(Duration::from_secs(60), "the first full change", || {
        generations(&registry)
            .is_ok_and(|(g, n)| n == DEFINITIONS && g.len() == 1 && g.contains("gen-1"))
    })?;
    let window = started.elapsed();
    let (mut old, mut new) = (0, 0);
    for run in 0..RUNS {
        let (from, to) = (run + 1, run + 2);
        std::fs::write(&file, generation_file(to))?;
        let delay = Duration::from_millis(random_below(window.as_millis() as u64));
        std::thread::park_timeout(delay); // the random moment of the kill, not a synchronisation
        registry.process.kill();
        sync.process.kill();
        registry.restart()?;
        let (gens, count) = generations(&registry)?;
        ensure!(
            count == DEFINITIONS,
            "run {run}: {count} managed environments after the crash"
        );
        ensure!(
            gens.len() == 1,
            "run {run}: a mix of generations after the crash: {gens:?}"
        );
        if gens.contains(&format!("gen-{from}")) {
            old += 1;
        } else {
            ensure!(
                gens.contains(&format!("gen-{to}")),
                "run {run}: unexpected generation {gens:?}"
            );
            new += 1;
        }
        // config-sync comes back and finishes the change.
        sync = ServiceProcess::config_sync(&registry, dir.path(), &sync_env)?;
        let (gens, _) = generations(&registry)?;
        ensure!(
            gens.len() == 1 && gens.contains(&format!("gen-{to}")),
            "run {run}: resync gave {gens:?}"
        );
    }
    println!(
        "{backend:?}: {RUNS} kills within {window:?} windows: {old} left the old generation, {new} the new one"
    );
    Ok(())
}

#[test]
fn sqlite_sync_killed_at_random_moments_is_all_or_nothing() -> Result<()> {
    crash_runs(Backend::Sqlite)
}

#[test]
fn postgres_sync_killed_at_random_moments_is_all_or_nothing() -> Result<()> {
    crash_runs(Backend::Postgres)
}
