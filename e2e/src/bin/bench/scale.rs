//! `execenv-bench scale`: the cost curve from 1,000 to 100,000 environments, as a new user meets
//! it. For each size N a declarative file of N environments (one Python and one R installation
//! each) is synced by the real config-sync into a fresh registry while the real selector
//! watches; the bench prints one row per size and database:
//!
//! - the file's size, and the sync as config-sync timed it (read, parse, validate, plan and the
//!   registry's one transaction);
//! - each service's resident memory (VmRSS) once the selector holds all N, and its peak
//!   (VmHWM) over the whole life so far; for the selector twice: the one that followed the sync
//!   change by change, and one started afterwards that lists the N at once ("listing");
//! - selection p50/p99 in-process (the selector's own code over the same N) and through the
//!   selector's gRPC API with one client, one call at a time.
//!
//! The sizes are 1k, 10k, 50k and 100k, or those of EXECENV_BENCH_SCALE (e.g. `1000,100000`).
//! SQLite always; PostgreSQL too when EXECENV_TEST_DATABASE_URL (or `make bench`) gives a server.
//! Numbers are printed, never asserted: a slope that bends shows as a row that grows faster
//! than N.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::{RegistryProcess, ServiceProcess, drop_postgres_database, http_get, psql};
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;

use super::common::{in_process_selection, list_all, metric_value, percentiles, wait_for_metric};
use super::memory::status_field;

/// The sizes measured unless EXECENV_BENCH_SCALE names others.
const SIZES: [usize; 4] = [1_000, 10_000, 50_000, 100_000];

/// How many selections each way of asking is timed over.
const SELECTIONS: usize = 2_000;

/// How many selections through gRPC go untimed first.
const WARM_UP: usize = 100;

/// Runs the curve on SQLite, and on PostgreSQL when `postgres` gives a way to make a database.
pub async fn scale_bench(dir: &Path, postgres: Option<&dyn Fn() -> Result<String>>) -> Result<()> {
    let sizes = sizes()?;
    println!(
        "scale: N environments (1 Python + 1 R each) synced by config-sync from a file, the selector watching"
    );
    println!(
        "scale: {:>8} {:>7} {:>8} {:>9} | {:>17} {:>17} {:>17} {:>17} | {:>19} {:>19}",
        "backend N",
        "file",
        "sync",
        "to select",
        "registry RSS/peak",
        "selector RSS/peak",
        "listing RSS/peak",
        "config-sync peak",
        "in-process p50/p99",
        "gRPC p50/p99",
    );
    for &n in &sizes {
        let here = dir.join(format!("scale-sqlite-{n}"));
        std::fs::create_dir_all(&here)?;
        let db = format!("sqlite://{}", here.join("registry.db").display());
        one_size("sqlite", n, &db, &here).await?;
    }
    if let Some(database) = postgres {
        for &n in &sizes {
            let here = dir.join(format!("scale-postgres-{n}"));
            std::fs::create_dir_all(&here)?;
            let url = database()?;
            let measured = one_size("postgres", n, &url, &here).await;
            // Its services are stopped: a database of 100,000 environments is 170 MB.
            if let Err(e) = drop_postgres_database(&url) {
                eprintln!("scale: {e:#}");
            }
            measured?;
        }
    }
    Ok(())
}

/// The sizes to measure: EXECENV_BENCH_SCALE, or [`SIZES`].
fn sizes() -> Result<Vec<usize>> {
    match std::env::var("EXECENV_BENCH_SCALE") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim().replace('_', "").parse::<usize>().with_context(|| {
                    format!("EXECENV_BENCH_SCALE: {n:?} is not a number of environments")
                })
            })
            .collect(),
        Err(_) => Ok(SIZES.to_vec()),
    }
}

/// One row: N environments on `database_url`, services logging into `dir`.
async fn one_size(backend: &str, n: usize, database_url: &str, dir: &Path) -> Result<()> {
    let file = dir.join("environments.yaml");
    std::fs::write(&file, declarative_file(n))?;
    let file_bytes = std::fs::metadata(&file)?.len();
    let registry = RegistryProcess::start(database_url, dir, &[])?;
    let selector = ServiceProcess::selector(&registry, dir, &[])?;
    let started = Instant::now();
    let sync = ServiceProcess::config_sync(
        &registry,
        dir,
        &[("EXECENV_SYNC__FILE", file.display().to_string())],
    )?;
    wait_for_catalogue(&selector.admin, n).await?;
    let to_select = started.elapsed();
    let (_, metrics) = http_get(&sync.admin, "/metrics")?;
    let sync_seconds = metric_value(&metrics, "execenv_config_sync_duration_seconds_sum");

    let (registry_pid, selector_pid) = (registry.process.id(), selector.process.id());
    let memory = |pid| {
        format!(
            "{}/{}",
            mib(status_field(pid, "VmRSS")),
            mib(status_field(pid, "VmHWM"))
        )
    };
    let (registry_memory, selector_memory, sync_peak) = (
        memory(registry_pid),
        memory(selector_pid),
        mib(status_field(sync.process.id(), "VmHWM")),
    );

    if backend == "postgres" {
        // The server shares this machine's two cores: its autovacuum of the tables the sync
        // filled would otherwise run while selections are timed, and be timed with them.
        psql(database_url, "VACUUM ANALYZE", "vacuum the synced tables")?;
    }
    let (in_p50, in_p99) = {
        let mut admin = execenv_proto::registry::v1::registry_client::RegistryClient::connect(
            registry.url.clone(),
        )
        .await?
        .max_decoding_message_size(256 << 20);
        let environments = list_all(&mut admin)
            .await?
            .into_iter()
            .map(execenv_core::Environment::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        ensure!(
            environments.len() == n,
            "the registry lists {}",
            environments.len()
        );
        let measured = in_process_selection(environments, SELECTIONS);
        (measured.p50, measured.p99)
    };
    let (grpc_p50, grpc_p99) = grpc_selection(&selector.url).await?;
    // A selector started now lists the whole catalogue at once instead of following the sync.
    let listed_dir = dir.join("listed");
    std::fs::create_dir_all(&listed_dir)?;
    let listed = ServiceProcess::selector(&registry, &listed_dir, &[])?;
    wait_for_catalogue(&listed.admin, n).await?;
    let listed_memory = memory(listed.process.id());
    println!(
        "scale: {backend:>8} {n:>7} {:>5.1} MB {:>6.2} s {:>7.2} s | {registry_memory:>17} {selector_memory:>17} {listed_memory:>17} {sync_peak:>17} | {in_p50:>7.1}/{in_p99:>7.1} us {:>7.0}/{:>7.0} us",
        file_bytes as f64 / 1e6,
        sync_seconds,
        to_select.as_secs_f64(),
        grpc_p50,
        grpc_p99,
    );
    Ok(())
}

/// The declarative file of `n` environments, as an administrator writes it (block style), each
/// with one Python and one R installation; versions spread over Python 3.8–3.12 and R 4.0–4.4.
pub fn declarative_file(n: usize) -> String {
    let mut text = String::with_capacity(n * 220);
    for i in 0..n {
        text.push_str(&format!(
            "- name: ghcr.io/acme/team-{i}:1\n  title: Team {i}\n  python:\n    installations:\n      - {{version: 3.{}.{}, path: /opt/python/bin/python3}}\n  r:\n    installations:\n      - {{version: 4.{}.{}, path: /opt/R/bin/R}}\n",
            8 + i % 5,
            i % 10,
            i % 5,
            i % 3
        ));
    }
    text
}

/// Waits until the selector's catalogue holds `n` environments.
async fn wait_for_catalogue(admin: &str, n: usize) -> Result<()> {
    let name = "execenv_selector_catalogue_environments";
    wait_for_metric(admin, name, n as f64, Duration::from_secs(600)).await
}

/// p50 and p99 (µs) of [`SELECTIONS`] Select calls, one client, one at a time.
async fn grpc_selection(url: &str) -> Result<(f64, f64)> {
    let mut client = SelectorClient::connect(url.to_owned()).await?;
    let request = sel::SelectRequest {
        requirements: Some(sel::Requirements {
            python_version: Some("3.11.4".into()),
            r_version: Some("4.3.1".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Warm up the connection (HTTP/2 windows, the buffers on both sides): the figure is the
    // steady state a client that keeps its connection sees.
    for _ in 0..WARM_UP {
        client.select(request.clone()).await?;
    }
    let mut samples = Vec::with_capacity(SELECTIONS);
    for _ in 0..SELECTIONS {
        let t = Instant::now();
        client.select(request.clone()).await?;
        samples.push(t.elapsed());
    }
    Ok(percentiles(&mut samples))
}

/// A /proc status size ("104520 kB") in MiB ("102.1").
fn mib(field: String) -> String {
    field
        .trim_end_matches(" kB")
        .parse::<f64>()
        .map_or(field.clone(), |kb| format!("{:.1}", kb / 1024.0))
}
