//! The HA profile under chaos on the testbed's node (short; `make bench` runs it long): the chart
//! installed with `values-ha.yaml` on PostgreSQL, continuous catalogue edits, read-your-writes
//! selections and launches through the gateway, a pod of every service deleted with grace period
//! 0 (both registry and launcher pods, and config-sync's leader), every Deployment rolled by `helm
//! upgrade` with a new declarative file. No launch lost or duplicated, no selection older than
//! asked, the catalogue exactly the file plus the edits; the failed client requests (after one
//! retry) and the failover times are printed. See `execenv_e2e::chaos`.

use anyhow::Result;
use execenv_e2e::chaos::{self, Plan};
use execenv_e2e::log_line;

#[tokio::test(flavor = "multi_thread")]
async fn the_ha_release_loses_nothing_while_pods_of_every_service_die_and_roll() -> Result<()> {
    let report = chaos::run(Plan::short()).await?;
    for line in report.lines() {
        log_line!("chaos: {line}");
    }
    Ok(())
}
