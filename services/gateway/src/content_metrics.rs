//! The series of interactive content, registered when the gateway starts so that each is there
//! (at 0) before the first request: instances starting or ready, cold starts by outcome,
//! requests by status, the time to a proxied answer's head, open WebSockets and idle stops.

use std::sync::atomic::AtomicU64;

use execenv_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

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

/// The gateway's series of interactive content.
#[derive(Clone)]
pub struct ContentMetrics {
    instances: Gauge,
    cold_starts: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
    requests: Family<CodeLabels, Counter>,
    duration: Histogram,
    websockets: Gauge<i64, std::sync::atomic::AtomicI64>,
    idle_stops: Counter<u64, AtomicU64>,
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

    /// A cold start ended as `outcome` after `seconds`.
    pub fn cold_start(&self, outcome: ColdStart, seconds: f64) {
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
    }

    /// A WebSocket opened (`1`) or closed (`-1`).
    pub fn websockets(&self, change: i64) {
        self.websockets.inc_by(change);
    }

    /// An idle instance was stopped.
    pub fn idle_stop(&self) {
        self.idle_stops.inc();
    }
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
