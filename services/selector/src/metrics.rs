//! The selector's own Prometheus metrics, registered on the kit's [`Metrics`].

use std::time::Duration;

use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::catalogue::SharedCatalogue;

/// How a `Select` call ended (the `outcome` label of `execenv_selector_selections_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An environment was chosen.
    Selected,
    /// Nothing fits (FAILED_PRECONDITION, or a target that does not exist).
    NoMatch,
    /// The request was malformed (INVALID_ARGUMENT).
    Invalid,
    /// The caller may not select (PERMISSION_DENIED, UNAUTHENTICATED).
    Denied,
    /// No catalogue yet (UNAVAILABLE).
    Unavailable,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Selected => "selected",
            Outcome::NoMatch => "no_match",
            Outcome::Invalid => "invalid",
            Outcome::Denied => "denied",
            Outcome::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Selections by outcome and their latency, the catalogue's size (all and file-managed),
/// revision and age, the watch's reconnects, the environments in drift left out, and the
/// requests that waited for a revision (`min_revision`).
#[derive(Clone)]
pub struct SelectorMetrics {
    selections: Family<OutcomeLabels, Counter>,
    revision_waits: Family<OutcomeLabels, Counter>,
    revision_waiting: Gauge,
    selection_seconds: Histogram,
    environments: Gauge,
    managed: Gauge,
    revision: Gauge,
    reconnects: Counter,
    skipped_drift: Counter,
}

impl Default for SelectorMetrics {
    fn default() -> Self {
        SelectorMetrics {
            selections: Family::default(),
            revision_waits: Family::default(),
            revision_waiting: Gauge::default(),
            // 10 µs … ~1.3 s: in-process selection is tens of microseconds.
            selection_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 18)),
            environments: Gauge::default(),
            managed: Gauge::default(),
            revision: Gauge::default(),
            reconnects: Counter::default(),
            skipped_drift: Counter::default(),
        }
    }
}

impl SelectorMetrics {
    /// Registers the metrics on `metrics`; the catalogue age is read from `catalogue` when scraped.
    pub fn register(metrics: &Metrics, catalogue: &SharedCatalogue) -> Self {
        let m = SelectorMetrics::default();
        metrics.register(
            "execenv_selector_selections",
            "Select calls by outcome (selected, no_match, invalid, denied, unavailable)",
            m.selections.clone(),
        );
        metrics.register(
            "execenv_selector_selection_seconds",
            "Time to answer a Select call from the in-memory catalogue",
            m.selection_seconds.clone(),
        );
        metrics.register(
            "execenv_selector_catalogue_environments",
            "Environments in the catalogue the selector answers from",
            m.environments.clone(),
        );
        metrics.register(
            "execenv_selector_catalogue_managed_environments",
            "File-managed environments (managed by config-sync) in the catalogue the selector answers from",
            m.managed.clone(),
        );
        metrics.register(
            "execenv_selector_catalogue_revision",
            "Registry revision of the catalogue the selector answers from",
            m.revision.clone(),
        );
        metrics.register(
            "execenv_selector_catalogue_age_seconds",
            "Seconds since the catalogue was last known current (0 while connected to the registry)",
            CatalogueAge(catalogue.clone()),
        );
        metrics.register(
            "execenv_selector_watch_reconnects",
            "Times the watch on the registry was started again after it ended or failed",
            m.reconnects.clone(),
        );
        metrics.register(
            "execenv_selector_skipped_drift",
            "Environments in drift that a Select call left out although they fit its request (selection.skip_drift)",
            m.skipped_drift.clone(),
        );
        metrics.register(
            "execenv_selector_revision_waits",
            "Select and Explain calls that waited for the catalogue to reach their min_revision, by outcome: reached (answered), refused (UNAVAILABLE after selection.min_revision_wait_ms), abandoned (the caller went away)",
            m.revision_waits.clone(),
        );
        metrics.register(
            "execenv_selector_revision_waiting",
            "Select and Explain calls waiting now for the catalogue to reach their min_revision",
            m.revision_waiting.clone(),
        );
        m
    }

    /// A call starts waiting for the catalogue to reach its `min_revision`; the wait is counted
    /// when the returned [`RevisionWait`] ends or is dropped.
    pub fn revision_wait_started(&self) -> RevisionWait {
        self.revision_waiting.inc();
        RevisionWait {
            metrics: self.clone(),
            outcome: "abandoned",
        }
    }

    /// A `Select` call ended with `outcome` after `took`.
    pub fn selection(&self, outcome: Outcome, took: Duration) {
        self.selections
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.selection_seconds.observe(took.as_secs_f64());
    }

    /// A catalogue of `environments`, `managed` of them by the declarative file, at `revision`
    /// was published.
    pub fn catalogue_built(&self, environments: usize, managed: usize, revision: i64) {
        self.environments
            .set(i64::try_from(environments).unwrap_or(i64::MAX));
        self.managed.set(i64::try_from(managed).unwrap_or(i64::MAX));
        self.revision.set(revision);
    }

    /// The watch starts again.
    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    /// A `Select` call left out `n` environments in drift that fit its request.
    pub fn skipped_drift(&self, n: usize) {
        if n > 0 {
            self.skipped_drift
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }
}

/// One call waiting for a revision (see [`SelectorMetrics::revision_wait_started`]).
pub struct RevisionWait {
    metrics: SelectorMetrics,
    outcome: &'static str,
}

impl RevisionWait {
    /// The wait ended: the revision was `reached`, or the call is refused.
    pub fn ended(mut self, reached: bool) {
        self.outcome = if reached { "reached" } else { "refused" };
    }
}

impl Drop for RevisionWait {
    fn drop(&mut self) {
        self.metrics.revision_waiting.dec();
        self.metrics
            .revision_waits
            .get_or_create(&OutcomeLabels {
                outcome: self.outcome,
            })
            .inc();
    }
}

/// A gauge computed when scraped, so the age is exact without a timer task.
struct CatalogueAge(SharedCatalogue);

impl std::fmt::Debug for CatalogueAge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueAge").finish_non_exhaustive()
    }
}

impl EncodeMetric for CatalogueAge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.age().as_secs_f64())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_under_their_documented_names() {
        let registry = Metrics::new();
        let catalogue = SharedCatalogue::new();
        let m = SelectorMetrics::register(&registry, &catalogue);
        m.selection(Outcome::Selected, Duration::from_micros(40));
        m.selection(Outcome::NoMatch, Duration::from_micros(40));
        m.catalogue_built(3, 2, 17);
        m.reconnected();
        m.skipped_drift(2);
        m.skipped_drift(0);
        m.revision_wait_started().ended(true);
        m.revision_wait_started().ended(false);
        let waiting = m.revision_wait_started();
        let text = registry.encode();
        for line in [
            "execenv_selector_selections_total{outcome=\"selected\"} 1",
            "execenv_selector_selections_total{outcome=\"no_match\"} 1",
            "execenv_selector_selection_seconds_bucket{le=\"0.00001\"} 0",
            "execenv_selector_selection_seconds_count 2",
            "execenv_selector_catalogue_environments 3",
            "execenv_selector_catalogue_managed_environments 2",
            "execenv_selector_catalogue_revision 17",
            "execenv_selector_watch_reconnects_total 1",
            "execenv_selector_skipped_drift_total 2",
            "execenv_selector_revision_waits_total{outcome=\"reached\"} 1",
            "execenv_selector_revision_waits_total{outcome=\"refused\"} 1",
            "execenv_selector_revision_waiting 1",
            "# TYPE execenv_selector_catalogue_age_seconds gauge",
            "execenv_selector_catalogue_age_seconds ",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        drop(waiting);
        let text = registry.encode();
        for line in [
            "execenv_selector_revision_waits_total{outcome=\"abandoned\"} 1",
            "execenv_selector_revision_waiting 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
