//! `execenv-bench memory`: the registry's resident memory, phase by phase, with 10,000
//! environments on SQLite (no PostgreSQL, no Kubernetes). The registry binary runs as a process;
//! after each phase the bench prints its VmRSS (resident now), the anonymous part of it (heap,
//! as opposed to the mapped binary) and VmHWM (the peak so far) from /proc.
//!
//! The phases: started; after one ApplyManagedSet of 10,000 definitions; after a paged listing
//! of all of them; after the selector's watch snapshot (the selector's own memory too); after a
//! second, unchanged apply; after an apply that changes half of them while the selector watches;
//! and the same process again after [`SETTLE`] without requests, when the allocator has given
//! back what the phases freed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use execenv_e2e::{RegistryProcess, ServiceProcess};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;

use super::common::{DEFINITIONS, apply, list_all, ms, three_language_catalogue, wait_for_metric};

/// How long the registry is left alone before the last reading: longer than the 10 s in which
/// jemalloc returns freed pages by default (the registry has it return them at once), so the
/// reading is what stays resident when nothing happens.
const SETTLE: Duration = Duration::from_secs(15);

/// Runs the phases and prints one line per phase.
pub async fn memory_bench(dir: &Path) -> Result<()> {
    let db = format!("sqlite://{}", dir.join("memory.db").display());
    let registry = RegistryProcess::start(&db, dir, &[])?;
    let pid = registry.process.id();
    report("registry", "started", pid);

    let mut client = RegistryClient::connect(registry.url.clone())
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let all = three_language_catalogue();
    let (took, _) = apply_checked(&mut client, all, |r| r.created.len(), DEFINITIONS).await?;
    report("registry", &format!("after the apply ({took:.0} ms)"), pid);

    let listed = list_all(&mut client).await?.len();
    ensure!(
        listed == DEFINITIONS,
        "the listing returned {listed} environments"
    );
    report("registry", "after the paged listing", pid);

    // The selector is ready once its watch delivered the whole snapshot.
    let selector = ServiceProcess::selector(&registry, dir, &[])?;
    report("registry", "after the selector's watch snapshot", pid);
    report("selector", "holding the catalogue", selector.process.id());

    let same = three_language_catalogue();
    let (took, _) = apply_checked(&mut client, same, |r| r.unchanged.len(), DEFINITIONS).await?;
    report(
        "registry",
        &format!("after an unchanged apply ({took:.0} ms)"),
        pid,
    );

    let mut changed = three_language_catalogue();
    for definition in changed.iter_mut().step_by(2) {
        let title = definition.title.take().unwrap_or_default();
        definition.title = Some(format!("{title} (changed)"));
    }
    let half = DEFINITIONS / 2;
    let (took, revision) = apply_checked(&mut client, changed, |r| r.updated.len(), half).await?;
    wait_for_revision(&selector.admin, revision).await?;
    report(
        "registry",
        &format!("after changing 5,000, watched ({took:.0} ms)"),
        pid,
    );

    tokio::time::sleep(SETTLE).await;
    report(
        "registry",
        &format!("{} s later, without requests", SETTLE.as_secs()),
        pid,
    );
    Ok(())
}

/// Applies `definitions`; fails unless `count` of the response (created, unchanged or updated)
/// is `expected`. Returns the milliseconds the apply took and the revision it reached.
async fn apply_checked(
    client: &mut RegistryClient<tonic::transport::Channel>,
    definitions: Vec<pb::EnvironmentSpec>,
    count: fn(&reg::ApplyManagedSetResponse) -> usize,
    expected: usize,
) -> Result<(f64, i64)> {
    let (took, response) = apply(client, definitions).await?;
    ensure!(
        count(&response) == expected,
        "the apply reported {} environments where {expected} were expected",
        count(&response)
    );
    Ok((ms(took), response.revision))
}

/// Waits until the selector's catalogue reached `revision` (its watch delivered every change).
async fn wait_for_revision(admin: &str, revision: i64) -> Result<()> {
    let name = "execenv_selector_catalogue_revision";
    wait_for_metric(admin, name, revision as f64, Duration::from_secs(60)).await
}

fn report(service: &str, phase: &str, pid: u32) {
    println!(
        "memory {service:8} {phase:44} VmRSS {:>10} (anonymous {:>10})  VmHWM (peak) {:>10}",
        status_field(pid, "VmRSS"),
        status_field(pid, "RssAnon"),
        status_field(pid, "VmHWM")
    );
}

/// A field of /proc/PID/status (e.g. `VmRSS`), as written there ("104520 kB").
pub fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
