//! config-sync's own Prometheus metrics, registered on the kit's [`Metrics`].

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// The `outcome` label of `execenv_config_sync_syncs_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Syncs by outcome, their duration, the managed environments and the last success.
#[derive(Clone)]
pub struct SyncMetrics {
    syncs: Family<OutcomeLabels, Counter>,
    duration: Histogram,
    managed: Gauge,
    last_success: Gauge<f64, AtomicU64>,
}

impl Default for SyncMetrics {
    fn default() -> Self {
        SyncMetrics {
            syncs: Family::default(),
            // 1 ms … ~16 s: a no-op is milliseconds, 10,000 definitions a second or two.
            duration: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 15,
            )),
            managed: Gauge::default(),
            last_success: Gauge::default(),
        }
    }
}

impl SyncMetrics {
    /// Registers the metrics on `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = SyncMetrics::default();
        metrics.register(
            "execenv_config_sync_syncs",
            "Syncs of the declarative file by outcome (ok, failed, unchanged = skipped because the content did not change)",
            m.syncs.clone(),
        );
        metrics.register(
            "execenv_config_sync_duration_seconds",
            "Time of a sync that read, validated and applied the file (ok or failed)",
            m.duration.clone(),
        );
        metrics.register(
            "execenv_config_sync_managed_environments",
            "File-managed environments after the last successful sync",
            m.managed.clone(),
        );
        metrics.register(
            "execenv_config_sync_last_success_timestamp_seconds",
            "Unix time of the last successful sync",
            m.last_success.clone(),
        );
        m
    }

    /// A sync applied the file.
    pub fn ok(&self, took: Duration, managed: usize, at: DateTime<Utc>) {
        self.syncs
            .get_or_create(&OutcomeLabels { outcome: "ok" })
            .inc();
        self.duration.observe(took.as_secs_f64());
        self.managed.set(i64::try_from(managed).unwrap_or(i64::MAX));
        // Milliseconds are exact in an f64.
        self.last_success.set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// A sync failed.
    pub fn failed(&self, took: Duration) {
        self.syncs
            .get_or_create(&OutcomeLabels { outcome: "failed" })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// A check found the content unchanged and skipped the registry.
    pub fn unchanged(&self) {
        self.syncs
            .get_or_create(&OutcomeLabels {
                outcome: "unchanged",
            })
            .inc();
    }
}
