//! The Helm chart charts/execenv read as files, with no helm and no cluster (the tests that
//! render or install it are in `kubernetes_chart.rs`).

use anyhow::{Result, ensure};
use execenv_e2e::chart::{CHART, repo};
use serde_json::Value;

#[test]
fn chart_service_charts_share_one_workload_schema() -> Result<()> {
    let charts = [
        "environment-registry",
        "config-sync",
        "selector",
        "launcher",
        "gateway",
        "image-examiner",
    ];
    let workload = |chart: &str| -> Result<Value> {
        let path = repo()
            .join(CHART)
            .join("charts")
            .join(chart)
            .join("values.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        ensure!(
            schema["$ref"] == "#/$defs/workload" && schema["unevaluatedProperties"] == false,
            "{}",
            path.display()
        );
        Ok(schema["$defs"]["workload"].clone())
    };
    let first = workload(charts[0])?;
    for chart in &charts[1..] {
        ensure!(
            workload(chart)? == first,
            "{chart}'s $defs.workload differs from {}'s: keep them equal",
            charts[0]
        );
    }
    Ok(())
}
