//! The examiner's own Prometheus metrics, registered on the kit's [`Metrics`].

use std::time::Duration;

use execenv_core::examine::CheckState;
use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// How an examination (an `Examine` call, or one environment's check) got its answer: the
/// `result` label of `execenv_examiner_examinations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The image's layers were read from its registry.
    Read,
    /// Answered from an earlier read (or one in progress) of the same manifest.
    Cached,
    /// The image could not be resolved or read.
    Unreadable,
}

impl Served {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Read => "read",
            Served::Cached => "cached",
            Served::Unreadable => "unreadable",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Environments by check state, examinations by how they were served, read durations and the
/// bytes of layers read.
#[derive(Clone)]
pub struct ExaminerMetrics {
    environments: Family<StateLabels, Gauge>,
    examinations: Family<ResultLabels, Counter>,
    examination_seconds: Histogram,
    layer_bytes: Counter,
}

impl Default for ExaminerMetrics {
    fn default() -> Self {
        let m = ExaminerMetrics {
            environments: Family::default(),
            examinations: Family::default(),
            // 50 ms … ~14 min: a small image from a registry nearby, up to gigabytes far away.
            examination_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 15)),
            layer_bytes: Counter::default(),
        };
        // Every state is reported, 0 when no environment is in it, so that a sum or an alert
        // on one state never sees a missing series.
        for state in CheckState::ALL {
            let _ = m.environments.get_or_create(&StateLabels {
                state: state.as_str(),
            });
        }
        m
    }
}

impl ExaminerMetrics {
    /// Registers the metrics on `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = ExaminerMetrics::default();
        metrics.register(
            "execenv_examiner_environments",
            "Environments of the catalogue by the state of their last check against their image (pending, ok, drift, unreadable)",
            m.environments.clone(),
        );
        metrics.register(
            "execenv_examiner_examinations",
            "Examinations (Examine calls and environment checks) by how they were answered: read (the layers read from the registry), cached (from an earlier or concurrent read of the same manifest), unreadable",
            m.examinations.clone(),
        );
        metrics.register(
            "execenv_examiner_examination_seconds",
            "Time to read an image: every layer streamed, merged and searched (reads only)",
            m.examination_seconds.clone(),
        );
        metrics.register(
            "execenv_examiner_layer_bytes",
            "Bytes of image layers read from registries (as stored, compressed)",
            m.layer_bytes.clone(),
        );
        m
    }

    /// An examination was answered as `served`.
    pub fn examined(&self, served: Served) {
        self.examinations
            .get_or_create(&ResultLabels {
                result: served.as_str(),
            })
            .inc();
    }

    /// An image of `layer_bytes` was read in `took`.
    pub fn read(&self, took: Duration, layer_bytes: u64) {
        self.examination_seconds.observe(took.as_secs_f64());
        self.layer_bytes.inc_by(layer_bytes);
    }

    /// How many environments are in each state now.
    pub fn states(&self, counts: &[(CheckState, usize)]) {
        for state in CheckState::ALL {
            let n = counts
                .iter()
                .filter(|(s, _)| *s == state)
                .map(|(_, n)| *n)
                .sum::<usize>();
            self.environments
                .get_or_create(&StateLabels {
                    state: state.as_str(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_under_their_documented_names() {
        let registry = Metrics::new();
        let m = ExaminerMetrics::register(&registry);
        m.examined(Served::Read);
        m.examined(Served::Cached);
        m.examined(Served::Cached);
        m.read(Duration::from_millis(120), 4096);
        m.states(&[(CheckState::Drift, 1), (CheckState::Ok, 3)]);
        let text = registry.encode();
        for line in [
            "execenv_examiner_environments{state=\"pending\"} 0",
            "execenv_examiner_environments{state=\"ok\"} 3",
            "execenv_examiner_environments{state=\"drift\"} 1",
            "execenv_examiner_environments{state=\"unreadable\"} 0",
            "execenv_examiner_examinations_total{result=\"read\"} 1",
            "execenv_examiner_examinations_total{result=\"cached\"} 2",
            "execenv_examiner_examination_seconds_count 1",
            "execenv_examiner_examination_seconds_bucket{le=\"0.05\"} 0",
            "execenv_examiner_examination_seconds_bucket{le=\"0.2\"} 1",
            "execenv_examiner_layer_bytes_total 4096",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn every_state_is_present_before_any_check() {
        let registry = Metrics::new();
        ExaminerMetrics::register(&registry);
        let text = registry.encode();
        for state in ["pending", "ok", "drift", "unreadable"] {
            let line = format!("execenv_examiner_environments{{state=\"{state}\"}} 0");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }
}
