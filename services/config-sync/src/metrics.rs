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

/// The `error` label of `execenv_config_sync_last_error_timestamp_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: String,
}

/// The longest `error` label value, in characters; longer errors are cut (the whole error is in
/// the log and in `execenvctl sync status`).
pub const ERROR_LABEL_CHARS: usize = 300;

/// Syncs by outcome, their duration, the managed environments, the last success and the last
/// error.
#[derive(Clone)]
pub struct SyncMetrics {
    syncs: Family<OutcomeLabels, Counter>,
    duration: Histogram,
    managed: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    last_error: Family<ErrorLabels, Gauge<f64, AtomicU64>>,
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
            last_error: Family::default(),
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
        metrics.register(
            "execenv_config_sync_last_error_timestamp_seconds",
            "Unix time of the most recent failed sync, labelled with its error (cut to 300 characters); no series before the first failure",
            m.last_error.clone(),
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

    /// A sync failed at `at` with `error`, which replaces the previous last error.
    pub fn failed(&self, took: Duration, error: &str, at: DateTime<Utc>) {
        self.syncs
            .get_or_create(&OutcomeLabels { outcome: "failed" })
            .inc();
        self.duration.observe(took.as_secs_f64());
        let labels = ErrorLabels {
            error: cut(error, ERROR_LABEL_CHARS),
        };
        // One series only: the label holds a message, so old ones must not pile up.
        self.last_error.clear();
        self.last_error
            .get_or_create(&labels)
            .set(at.timestamp_millis() as f64 / 1000.0);
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

/// `text` cut to at most `max` characters, an ellipsis marking a cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => {
            let kept: String = text[..end].chars().take(max.saturating_sub(1)).collect();
            format!("{kept}…")
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_is_one_series_with_the_newest_error_and_its_time() {
        let registry = Metrics::new();
        let m = SyncMetrics::register(&registry);
        assert!(
            !registry
                .encode()
                .contains("execenv_config_sync_last_error_timestamp_seconds{"),
            "no series before the first failure"
        );
        let first = DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time");
        m.failed(Duration::from_millis(3), "registry down", first);
        let second = DateTime::from_timestamp(1_700_000_060, 500_000_000).expect("a valid time");
        m.failed(
            Duration::from_millis(3),
            "executionEnvironments[0].name: required",
            second,
        );
        let text = registry.encode();
        assert!(
            text.contains("# TYPE execenv_config_sync_last_error_timestamp_seconds gauge"),
            "{text}"
        );
        assert!(
            text.contains(
                "execenv_config_sync_last_error_timestamp_seconds{error=\"executionEnvironments[0].name: required\"} 1700000060.5"
            ),
            "{text}"
        );
        assert!(!text.contains("registry down"), "{text}");
        assert!(
            text.contains("execenv_config_sync_syncs_total{outcome=\"failed\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn a_long_error_is_cut_to_the_label_limit() {
        let registry = Metrics::new();
        let m = SyncMetrics::register(&registry);
        m.failed(Duration::ZERO, &"é".repeat(1000), Utc::now());
        let text = registry.encode();
        let label = text
            .split("error=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the error label");
        assert_eq!(label.chars().count(), ERROR_LABEL_CHARS, "{label}");
        assert!(label.ends_with('…'), "{label}");
        assert_eq!(cut("short", ERROR_LABEL_CHARS), "short");
    }
}
