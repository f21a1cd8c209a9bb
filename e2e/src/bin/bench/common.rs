//! What the benchmark parts share: the catalogue sizes and shapes, registry calls, and how
//! numbers are read and shown.

use std::time::{Duration, Instant};

use anyhow::Result;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;

/// How many environments every part works with.
pub const DEFINITIONS: usize = 10_000;

/// Applies `defs` as the declarative file's whole set; how long it took and the registry's report.
pub async fn apply(
    client: &mut RegistryClient<tonic::transport::Channel>,
    defs: Vec<pb::EnvironmentSpec>,
) -> Result<(Duration, reg::ApplyManagedSetResponse)> {
    let started = Instant::now();
    let response = client
        .apply_managed_set(reg::ApplyManagedSetRequest {
            definitions: defs,
            dry_run: false,
            field_prefix: "executionEnvironments".into(),
            fence: None,
        })
        .await?
        .into_inner();
    Ok((started.elapsed(), response))
}

/// 10,000 environments with Python, R and Quarto installations, as definitions.
pub fn three_language_catalogue() -> Vec<pb::EnvironmentSpec> {
    (0..DEFINITIONS)
        .map(|i| {
            let one = |version: String, path: &str| {
                Some(pb::Installations {
                    installations: vec![pb::Installation {
                        version,
                        path: path.into(),
                    }],
                })
            };
            pb::EnvironmentSpec {
                name: format!("ghcr.io/acme/select-{i}:1"),
                title: Some(format!("select {i}")),
                python: one(
                    format!("3.{}.{}", 8 + i % 5, i % 10),
                    "/opt/python/bin/python3",
                ),
                r: one(format!("4.{}.{}", i % 5, i % 3), "/opt/R/bin/R"),
                quarto: one(
                    format!("1.{}.{}", 3 + i % 3, i % 50),
                    "/opt/quarto/bin/quarto",
                ),
                ..Default::default()
            }
        })
        .collect()
}

/// Every environment of the registry, read a page of 1,000 at a time.
pub async fn list_all(
    client: &mut RegistryClient<tonic::transport::Channel>,
) -> Result<Vec<pb::Environment>> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_environments(reg::ListEnvironmentsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        all.extend(page.environments);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// Percentiles of sorted samples, in microseconds.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

/// The value of the first sample named `name` in a Prometheus text exposition (0 when absent).
pub fn metric_value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What [`in_process_selection`] measured.
pub struct InProcess {
    /// How many environments the catalogue held.
    pub environments: usize,
    /// How long building the catalogue took.
    pub build: Duration,
    /// Median selection, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
}

/// Builds the selector's catalogue from `environments` and times `samples` selections in
/// process: Python 3.11.4, R 4.3.1 and Quarto 1.4.20 (languages an environment does not list
/// rule it out), for a publisher, with the default matching.
pub fn in_process_selection(
    environments: Vec<execenv_core::Environment>,
    samples: usize,
) -> InProcess {
    use execenv_core::select::{
        Catalogue, ContentSettings, Exclusions, LanguageNeed, MatchingSettings, Requirements,
        select,
    };
    let started = Instant::now();
    let catalogue = Catalogue::new(1, environments);
    let build = started.elapsed();
    let has_quarto = catalogue.environments().any(|e| !e.spec.quarto.is_empty());
    let need = |version: &str| LanguageNeed {
        version: Some(version.into()),
        constraint: None,
    };
    let needs = Requirements {
        python: need("3.11.4"),
        r: need("4.3.1"),
        quarto: if has_quarto {
            need("1.4.20")
        } else {
            LanguageNeed::default()
        },
        ..Default::default()
    };
    let caller = execenv_core::Caller {
        user: Some("alice".into()),
        groups: vec![],
        role: execenv_core::Role::Publisher,
    };
    let settings = MatchingSettings::default();
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let chosen = select(
            &catalogue,
            &needs,
            &ContentSettings::default(),
            &caller,
            &settings,
            &Exclusions::default(),
        )
        .selection
        .map(|s| s.environment.guid);
        times.push(t.elapsed());
        std::hint::black_box(chosen.ok());
    }
    let (p50, p99) = percentiles(&mut times);
    InProcess {
        environments: catalogue.len(),
        build,
        p50,
        p99,
    }
}

/// Waits until the metric `name` on the admin address `admin` is at least `at_least`, reading
/// /metrics every 20 ms; fails after `within`.
pub async fn wait_for_metric(
    admin: &str,
    name: &str,
    at_least: f64,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let (_, metrics) = execenv_e2e::http_get(admin, "/metrics")?;
        if metric_value(&metrics, name) >= at_least {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} on {admin} did not reach {at_least} within {} s",
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
