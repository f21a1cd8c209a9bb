//! `make bench`: measures the sync targets of DESIGN.md against the real release binaries.
//!
//! - ApplyManagedSet with 10,000 definitions: create all, update half, then a no-op — on SQLite
//!   and on PostgreSQL (EXECENV_TEST_DATABASE_URL; `make bench` starts a server when unset);
//! - detect-to-commit latency: from writing the declarative file to the change arriving on the
//!   registry's watch stream, through a running config-sync;
//! - selection over 10,000 environments with three languages: in-process p50/p99, and through
//!   the real selector binary with 32 concurrent gRPC clients (p50/p99, throughput), plus the
//!   resident memory of the registry and the selector;
//! - the registry's resident memory (VmRSS, and the VmHWM peak) at each phase of a life with
//!   10,000 environments on SQLite: syncs, a listing, a watch (`memory`, see [`memory`]);
//! - the cost curve from 1,000 to 100,000 environments: sync time, every service's memory and
//!   selection latency per size (`scale`, see [`scale`]);
//! - the web console with 10,000 environments in Chromium (`console`, see [`console`]);
//! - interactive content through the gateway: cold start, warm requests against the app's own
//!   address, 200 WebSocket sessions held a minute (`content`, see [`content`]);
//! - Launch calls through the real launcher on the Kubernetes testbed (`launch`, see [`launch`]);
//! - launches that build and run on the testbed's real node (`node`, see [`node`]).
//!
//! Numbers are printed, never asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use execenv_e2e::{RegistryProcess, ServiceProcess, fresh_postgres_database};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use tokio_stream::StreamExt;

use common::{
    DEFINITIONS, apply, list_all, metric_value, ms, percentiles, three_language_catalogue,
};

#[path = "bench/common.rs"]
mod common;
#[path = "bench/console.rs"]
mod console;
#[path = "bench/content.rs"]
mod content;
#[path = "bench/images.rs"]
mod images;
#[path = "bench/launch.rs"]
mod launch;
#[path = "bench/memory.rs"]
mod memory;
#[path = "bench/node.rs"]
mod node;
#[path = "bench/scale.rs"]
mod scale;

fn spec(i: usize, title: &str) -> pb::EnvironmentSpec {
    pb::EnvironmentSpec {
        name: format!("ghcr.io/acme/bench-{i}:1"),
        title: Some(title.to_owned()),
        python: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: format!("3.{}.{}", i % 13, i % 7),
                path: "/opt/python/bin/python3".into(),
            }],
        }),
        r: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: "4.4.1".into(),
                path: "/opt/R/4.4.1/bin/R".into(),
            }],
        }),
        ..Default::default()
    }
}

async fn sync_bench(backend: &str, database_url: &str, dir: &Path) -> Result<()> {
    let registry = RegistryProcess::start(database_url, dir, &[])?;
    let mut client = RegistryClient::connect(registry.url.clone())
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let all: Vec<_> = (0..DEFINITIONS).map(|i| spec(i, "first")).collect();
    let (created, r) = apply(&mut client, all).await?;
    println!(
        "{backend:8} create   {DEFINITIONS} definitions: {:>8.0} ms ({} created)",
        ms(created),
        r.created.len()
    );
    let half: Vec<_> = (0..DEFINITIONS)
        .map(|i| spec(i, if i % 2 == 0 { "second" } else { "first" }))
        .collect();
    let (updated, r) = apply(&mut client, half.clone()).await?;
    println!(
        "{backend:8} update   {:>5} of them:       {:>8.0} ms ({} updated)",
        DEFINITIONS / 2,
        ms(updated),
        r.updated.len()
    );
    let (noop, r) = apply(&mut client, half).await?;
    println!(
        "{backend:8} no-op    {DEFINITIONS} definitions: {:>8.0} ms ({} unchanged, revision {})",
        ms(noop),
        r.unchanged.len(),
        r.revision
    );
    Ok(())
}

fn file_with(titles: usize, title: &str) -> String {
    (0..titles)
        .map(|i| format!("- name: ghcr.io/acme/latency-{i}:1\n  title: {title}\n"))
        .collect()
}

async fn latency_bench(dir: &Path) -> Result<()> {
    let db = format!("sqlite://{}", dir.join("latency.db").display());
    let registry = RegistryProcess::start(&db, dir, &[])?;
    let file = dir.join("environments.yaml");
    std::fs::write(&file, file_with(100, "v0"))?;
    let _sync = ServiceProcess::config_sync(
        &registry,
        dir,
        &[
            ("EXECENV_SYNC__FILE", file.display().to_string()),
            ("EXECENV_SYNC__POLL_INTERVAL_MS", "2000".into()),
        ],
    )?;
    let mut client = RegistryClient::connect(registry.url.clone()).await?;
    let mut stream = client
        .watch_environments(reg::WatchEnvironmentsRequest { from_revision: 0 })
        .await?
        .into_inner();
    while let Some(ev) = stream.next().await {
        if ev?.kind == Kind::Synced as i32 {
            break;
        }
    }
    let mut samples = Vec::new();
    for round in 1..=15 {
        let started = Instant::now();
        std::fs::write(&file, file_with(100, &format!("v{round}")))?;
        loop {
            let ev = stream.next().await.context("watch ended")??;
            if ev.kind == Kind::Upsert as i32 {
                break;
            }
        }
        samples.push(started.elapsed());
        // Drain the rest of this round's 100 upserts.
        let mut rest = 99;
        while rest > 0 {
            let ev = stream.next().await.context("watch ended")??;
            if ev.kind == Kind::Upsert as i32 {
                rest -= 1;
            }
        }
    }
    samples.sort();
    let p = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    println!(
        "file edit -> first change on the watch stream (15 edits, notify + 2 s poll): median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        p(0.5),
        p(0.9),
        p(1.0)
    );
    Ok(())
}

fn request() -> sel::SelectRequest {
    sel::SelectRequest {
        requirements: Some(sel::Requirements {
            python_version: Some("3.11.4".into()),
            r_version: Some("4.3.1".into()),
            quarto_version: Some("1.4.20".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Selection in-process over the same 10,000 environments the registry serves.
fn select_in_process(environments: Vec<execenv_core::Environment>) {
    let measured = common::in_process_selection(environments, 5000);
    println!(
        "selection in-process, {} environments x 3 languages: p50 {:.1} us, p99 {:.1} us (catalogue built in {:.0} ms)",
        measured.environments,
        measured.p50,
        measured.p99,
        ms(measured.build)
    );
}

async fn select_bench(dir: &Path) -> Result<()> {
    let db = format!("sqlite://{}", dir.join("select.db").display());
    let registry = RegistryProcess::start(&db, dir, &[])?;
    let mut admin = RegistryClient::connect(registry.url.clone())
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    apply(&mut admin, three_language_catalogue()).await?;
    let selector = ServiceProcess::selector(&registry, dir, &[])?;
    let environments = list_all(&mut admin)
        .await?
        .into_iter()
        .map(execenv_core::Environment::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    select_in_process(environments);

    let channel = tonic::transport::Channel::from_shared(selector.url.clone())?
        .connect()
        .await?;
    // Warm up, and wait until the selector holds all 10,000.
    let mut warm = SelectorClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while warm
        .explain(sel::SelectRequest::default())
        .await?
        .into_inner()
        .verdicts
        .len()
        < DEFINITIONS
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the selector did not receive the catalogue"
        );
    }
    const CLIENTS: usize = 32;
    const PER_CLIENT: usize = 500;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = SelectorClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(PER_CLIENT);
            for _ in 0..PER_CLIENT {
                let t = Instant::now();
                client.select(request()).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let (p50, p99) = percentiles(&mut samples);
    println!(
        "selection over gRPC, {CLIENTS} concurrent clients, {} calls: p50 {:.2} ms, p99 {:.2} ms, {:.0} selections/s",
        samples.len(),
        p50 / 1000.0,
        p99 / 1000.0,
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    // One client, one call at a time: the latency of a selection without queueing.
    let mut single = SelectorClient::new(channel.clone());
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t = Instant::now();
        single.select(request()).await?;
        samples.push(t.elapsed());
    }
    let (p50, p99) = percentiles(&mut samples);
    println!("selection over gRPC, 1 client, one call at a time: p50 {p50:.0} us, p99 {p99:.0} us");
    let (_, metrics) = execenv_e2e::http_get(&selector.admin, "/metrics")?;
    let (sum, count) = (
        metric_value(&metrics, "execenv_selector_selection_seconds_sum"),
        metric_value(&metrics, "execenv_selector_selection_seconds_count"),
    );
    if count > 0.0 {
        println!(
            "the selector's own time per Select (its histogram): mean {:.1} us over {count} calls",
            sum / count * 1e6
        );
    }
    for (name, pid) in [
        ("registry", registry.process.id()),
        ("selector", selector.process.id()),
    ] {
        println!(
            "resident memory with {DEFINITIONS} environments: {name} {}",
            memory::status_field(pid, "VmRSS")
        );
    }
    Ok(())
}

/// What `execenv-bench --help` prints.
const USAGE: &str =
    "usage: execenv-bench [sync] [latency] [select] [memory] [scale] [console] [content] [images] [launch] [node] [chaos]

Runs the named parts of the benchmark on the release binaries (EXECENV_BIN_DIR, e.g.
target/release), or all of them when none is named. Numbers are printed, never asserted.

  sync     ApplyManagedSet of 10,000 definitions on SQLite and PostgreSQL
           (EXECENV_TEST_DATABASE_URL, or a server from e2e/infra/postgres)
  latency  from a file edit to the change on the registry's watch stream, through config-sync
  select   selection over 10,000 environments, in-process and through the selector binary
  memory   the registry's VmRSS and VmHWM (peak) after each phase with 10,000 environments on
           SQLite: started, apply, paged listing, the selector's watch, an unchanged apply, a
           change of 5,000 while watched, then 15 s later without requests (needs neither
           PostgreSQL nor Kubernetes)
  scale    the cost curve at 1k, 10k, 50k and 100k environments (EXECENV_BENCH_SCALE=1000,…
           for others): a file of N synced by config-sync while the selector watches; file
           size, sync time, resident memory and peak of the registry, the selector and
           config-sync, selection p50/p99 in-process and over gRPC (one client) — on SQLite,
           and on PostgreSQL (EXECENV_TEST_DATABASE_URL)
  console  the web console with 10,000 environments in Chromium (e2e/infra/chromium): time to
           the first rendered table, from a search keystroke to the updated table, Next
           page, and the assets' size gzipped (needs ui/node_modules: e2e/infra/ui deps)
  content  interactive content on local processes: the FastAPI test app's cold start (request
           -> answer), warm GETs through the gateway and straight to the app (p50/p99 and
           their ratio), 200 WebSocket sessions held a minute (EXECENV_TEST_WHEELHOUSE, from
           e2e/infra/wheelhouse)
  images   image examination: a generated 1 GiB image in 10 gzip layers pushed to a loopback
           registry (Debian's docker-registry), examined by the image examiner (time, its peak
           memory), examined again from its cache, and `skopeo copy` of it to disk beside
  launch   Launch calls through the launcher on the Kubernetes testbed, whose pods are kept off
           the node (EXECENV_TEST_KUBECONFIG; without a part named, only when that is set)
  node     launches that build and run on the testbed's node: cold and warm BUILD of 24 sdist
           packages, request -> content started (p50/p95, split by phase) over 20 RUNs, and 50
           concurrent RUNs (EXECENV_TEST_KUBECONFIG, as for launch)
  chaos    the chart's HA profile (values-ha.yaml, PostgreSQL) on the node under load — catalogue
           edits, read-your-writes selections, launches — while every pod of every service is
           deleted (grace period 0, three rounds) and every Deployment rolled by helm upgrade:
           failed requests after one retry, failover times (EXECENV_TEST_KUBECONFIG, as for
           launch; the node needs the service images: EXECENV_IMAGES_PROFILE=release)
";

/// The parts `execenv-bench` knows.
const PARTS: [&str; 11] = [
    "sync", "latency", "select", "memory", "scale", "console", "content", "images", "launch",
    "node", "chaos",
];

/// `execenv-bench [sync] … [chaos]`: the named parts, or all of
/// them (`launch`, `node` and `chaos` only when EXECENV_TEST_KUBECONFIG names the Kubernetes testbed); see
/// [`USAGE`].
#[tokio::main]
async fn main() -> Result<std::process::ExitCode> {
    let parts: Vec<String> = std::env::args().skip(1).collect();
    if parts.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(unknown) = parts.iter().find(|a| !PARTS.contains(&a.as_str())) {
        eprint!("execenv-bench: {unknown:?} is not a part of the benchmark\n\n{USAGE}");
        return Ok(std::process::ExitCode::from(2));
    }
    let wants = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    let dir = tempfile::tempdir()?;
    if wants("sync") {
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        sync_bench("sqlite", &sqlite, dir.path()).await?;
        let postgres = fresh_postgres_database()?;
        sync_bench("postgres", &postgres, dir.path()).await?;
    }
    if wants("latency") {
        latency_bench(dir.path()).await?;
    }
    if wants("select") {
        select_bench(dir.path()).await?;
    }
    if wants("memory") {
        memory::memory_bench(dir.path()).await?;
    }
    if wants("scale") {
        let postgres = || fresh_postgres_database();
        let postgres: Option<&dyn Fn() -> Result<String>> =
            std::env::var_os("EXECENV_TEST_DATABASE_URL").map(|_| &postgres as _);
        scale::scale_bench(dir.path(), postgres).await?;
    }
    if wants("console") {
        console::console_bench(dir.path()).await?;
    }
    if wants("content") {
        content::content_bench().await?;
    }
    if wants("images") {
        images::images_bench(dir.path()).await?;
    }
    let named = |p: &str| parts.iter().any(|a| a == p);
    let testbed = std::env::var_os("EXECENV_TEST_KUBECONFIG").is_some();
    for (part, what) in [
        ("launch", "Launch calls"),
        ("node", "launches on the node"),
        ("chaos", "the HA profile under chaos"),
    ] {
        if !(named(part) || (parts.is_empty() && testbed)) {
            if parts.is_empty() {
                println!(
                    "{part}: {what} not measured, EXECENV_TEST_KUBECONFIG is not set (start the testbed with `e2e/infra/testbed up` and run `execenv-bench {part}`)"
                );
            }
            continue;
        }
        match part {
            "launch" => launch::launch_bench(dir.path()).await?,
            "node" => node::node_bench(dir.path()).await?,
            _ => {
                let report = execenv_e2e::chaos::run(execenv_e2e::chaos::Plan::long()).await?;
                for line in report.lines() {
                    println!("chaos: {line}");
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
