//! The series of interactive content, registered when the gateway starts so that each is there
//! (at 0) before the first request: instances starting or ready, cold starts by outcome,
//! requests by status, the time to a proxied answer's head, open WebSockets and idle stops.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Serialize;

/// How a cold start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdStart {
    /// The instance became ready within `content.start_timeout_s`.
    Ready,
    /// Its launch failed or was cancelled first.
    Failed,
    /// It was not ready within `content.start_timeout_s`.
    Timeout,
}

impl ColdStart {
    fn label(self) -> &'static str {
        match self {
            ColdStart::Ready => "ready",
            ColdStart::Failed => "failed",
            ColdStart::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: u16,
}

/// How many proxied requests' latencies the percentiles of [`Totals`] are taken over.
pub const RECENT_REQUESTS: usize = 1000;

/// What the content of this gateway did since it started, as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Cold starts, whatever their outcome.
    pub cold_starts: u64,
    /// Instances stopped when idle.
    pub idle_stops: u64,
    /// Requests proxied to an instance.
    pub requests: u64,
    /// Median time to the answer's head over the last [`RECENT_REQUESTS`]; null before one.
    pub request_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub request_p99_ms: Option<f64>,
}

/// The counts behind [`Totals`].
#[derive(Debug, Default)]
struct Counts {
    cold_starts: u64,
    idle_stops: u64,
    requests: u64,
    recent_seconds: VecDeque<f64>,
}

/// The gateway's series of interactive content.
#[derive(Clone)]
pub struct ContentMetrics {
    instances: Gauge,
    cold_starts: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
    requests: Family<CodeLabels, Counter>,
    duration: Histogram,
    websockets: Gauge<i64, std::sync::atomic::AtomicI64>,
    idle_stops: Counter<u64, AtomicU64>,
    counts: Arc<Mutex<Counts>>,
}

/// 0.25 s to about 17 minutes: a cold start builds an environment when it must.
fn cold_start_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 13))
}

/// 1 ms to about 65 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl ContentMetrics {
    /// The series, registered in `metrics`, each at 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = ContentMetrics::unregistered();
        metrics.register(
            "execenv_gateway_content_instances",
            "Instances of interactive content this gateway holds, starting or ready.",
            m.instances.clone(),
        );
        metrics.register(
            "execenv_gateway_content_cold_start_seconds",
            "From the request that started an instance until it was ready, failed or timed out (content.start_timeout_s), by outcome.",
            m.cold_starts.clone(),
        );
        metrics.register(
            "execenv_gateway_content_requests",
            "Requests for interactive content (/content/{guid}/…) answered, by HTTP status.",
            m.requests.clone(),
        );
        metrics.register(
            "execenv_gateway_content_request_duration_seconds",
            "From sending a request to the content's instance until its answer's head came back.",
            m.duration.clone(),
        );
        metrics.register(
            "execenv_gateway_content_websockets",
            "WebSockets open through the gateway to instances of interactive content.",
            m.websockets.clone(),
        );
        metrics.register(
            "execenv_gateway_content_idle_stops",
            "Instances stopped because nothing used them for content.idle_timeout_s.",
            m.idle_stops.clone(),
        );
        m
    }

    /// The series, registered nowhere (tests).
    pub fn unregistered() -> Self {
        let m = ContentMetrics {
            instances: Gauge::default(),
            cold_starts: Family::new_with_constructor(cold_start_histogram as fn() -> Histogram),
            requests: Family::default(),
            duration: duration_histogram(),
            websockets: Gauge::default(),
            idle_stops: Counter::default(),
            counts: Arc::default(),
        };
        for outcome in [ColdStart::Ready, ColdStart::Failed, ColdStart::Timeout] {
            let _ = m.cold_starts.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        let _ = m.requests.get_or_create(&CodeLabels { code: 200 });
        m
    }

    /// Now `count` instances are held.
    pub fn instances(&self, count: usize) {
        self.instances.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The totals since the gateway started.
    pub fn totals(&self) -> Totals {
        let counts = self.counts();
        let mut recent: Vec<f64> = counts.recent_seconds.iter().copied().collect();
        recent.sort_by(f64::total_cmp);
        Totals {
            cold_starts: counts.cold_starts,
            idle_stops: counts.idle_stops,
            requests: counts.requests,
            request_p50_ms: percentile(&recent, 50),
            request_p99_ms: percentile(&recent, 99),
        }
    }

    /// A cold start ended as `outcome` after `seconds`.
    pub fn cold_start(&self, outcome: ColdStart, seconds: f64) {
        self.counts().cold_starts += 1;
        self.cold_starts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .observe(seconds);
    }

    /// A content request was answered `code`.
    pub fn request(&self, code: u16) {
        self.requests.get_or_create(&CodeLabels { code }).inc();
    }

    /// A proxied request's answer head came back after `seconds`.
    pub fn proxied(&self, seconds: f64) {
        self.duration.observe(seconds);
        let mut counts = self.counts();
        counts.requests += 1;
        if counts.recent_seconds.len() == RECENT_REQUESTS {
            counts.recent_seconds.pop_front();
        }
        counts.recent_seconds.push_back(seconds);
    }

    /// A WebSocket opened (`1`) or closed (`-1`).
    pub fn websockets(&self, change: i64) {
        self.websockets.inc_by(change);
    }

    /// An idle instance was stopped.
    pub fn idle_stop(&self) {
        self.idle_stops.inc();
        self.counts().idle_stops += 1;
    }
}

/// The `p`th percentile (nearest rank) of `sorted` seconds, in milliseconds.
fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).map(|s| s * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_at_zero_from_the_start() {
        let metrics = Metrics::new();
        ContentMetrics::register(&metrics);
        let text = metrics.encode();
        for line in [
            "execenv_gateway_content_instances 0",
            "execenv_gateway_content_cold_start_seconds_count{outcome=\"ready\"} 0",
            "execenv_gateway_content_cold_start_seconds_count{outcome=\"failed\"} 0",
            "execenv_gateway_content_cold_start_seconds_count{outcome=\"timeout\"} 0",
            "execenv_gateway_content_requests_total{code=\"200\"} 0",
            "execenv_gateway_content_request_duration_seconds_count 0",
            "execenv_gateway_content_websockets 0",
            "execenv_gateway_content_idle_stops_total 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn the_totals_count_and_take_percentiles_of_the_recent_requests() {
        let m = ContentMetrics::unregistered();
        assert_eq!(
            m.totals(),
            Totals {
                cold_starts: 0,
                idle_stops: 0,
                requests: 0,
                request_p50_ms: None,
                request_p99_ms: None
            }
        );
        for ms in 1..=200 {
            m.proxied(f64::from(ms) / 1000.0);
        }
        m.cold_start(ColdStart::Ready, 1.5);
        m.cold_start(ColdStart::Failed, 0.5);
        m.idle_stop();
        let totals = m.totals();
        assert_eq!(
            (totals.cold_starts, totals.idle_stops, totals.requests),
            (2, 1, 200)
        );
        assert_eq!(totals.request_p50_ms.map(f64::round), Some(100.0));
        assert_eq!(totals.request_p99_ms.map(f64::round), Some(198.0));
        // Only the last 1000 count for the percentiles.
        for _ in 0..RECENT_REQUESTS {
            m.proxied(0.004);
        }
        assert_eq!(m.totals().request_p99_ms.map(f64::round), Some(4.0));
        assert_eq!(m.totals().requests, 1200);
    }

    #[test]
    fn requests_are_counted_by_status_and_websockets_go_up_and_down() {
        let metrics = Metrics::new();
        let m = ContentMetrics::register(&metrics);
        m.request(403);
        m.request(403);
        m.websockets(1);
        m.websockets(1);
        m.websockets(-1);
        m.cold_start(ColdStart::Ready, 2.0);
        let text = metrics.encode();
        assert!(
            text.contains("execenv_gateway_content_requests_total{code=\"403\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("execenv_gateway_content_websockets 1\n"),
            "{text}"
        );
        assert!(
            text.contains("execenv_gateway_content_cold_start_seconds_sum{outcome=\"ready\"} 2.0"),
            "{text}"
        );
    }
}
