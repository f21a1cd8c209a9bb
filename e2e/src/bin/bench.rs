//! `make bench`: measures the sync targets of DESIGN.md against the real release binaries.
//!
//! - ApplyManagedSet with 10,000 definitions: create all, update half, then a no-op — on SQLite
//!   and on PostgreSQL (EXECENV_TEST_DATABASE_URL; `make bench` starts a server when unset);
//! - detect-to-commit latency: from writing the declarative file to the change arriving on the
//!   registry's watch stream, through a running config-sync.
//!
//! Numbers are printed, never asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use execenv_e2e::{ConfigSyncProcess, RegistryProcess, fresh_postgres_database};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use tokio_stream::StreamExt;

const DEFINITIONS: usize = 10_000;

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

async fn apply(
    client: &mut RegistryClient<tonic::transport::Channel>,
    defs: Vec<pb::EnvironmentSpec>,
) -> Result<(Duration, reg::ApplyManagedSetResponse)> {
    let started = Instant::now();
    let response = client
        .apply_managed_set(reg::ApplyManagedSetRequest {
            definitions: defs,
            dry_run: false,
            field_prefix: "executionEnvironments".into(),
        })
        .await?
        .into_inner();
    Ok((started.elapsed(), response))
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
    let _sync = ConfigSyncProcess::start(
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    sync_bench("sqlite", &sqlite, dir.path()).await?;
    let postgres = fresh_postgres_database()?;
    sync_bench("postgres", &postgres, dir.path()).await?;
    latency_bench(dir.path()).await?;
    Ok(())
}
