//! What every REST request leaves behind: a server span (a child of the caller's `traceparent`,
//! so the registry calls it makes join the same trace), an access-log line, and the
//! `http_server_requests_total` and `http_server_request_duration_seconds` series by method,
//! route template and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use execenv_kit::metrics::Metrics;
use execenv_kit::propagation::extract_context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The route label of a request that matched no route (kept apart so paths cannot explode the
/// label's values).
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: String,
    route: String,
    status: u16,
}

/// The gateway's request series.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<StatusLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

fn histogram() -> Histogram {
    // 250 µs to about 8 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

impl HttpMetrics {
    /// Registers the series in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(histogram as fn() -> Histogram),
        };
        metrics.register(
            "http_server_requests",
            "REST requests answered, by method, route template and status.",
            m.requests.clone(),
        );
        metrics.register(
            "http_server_request_duration_seconds",
            "Time from receiving a REST request until its answer's head was ready.",
            m.duration.clone(),
        );
        m
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&StatusLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}

/// Middleware: runs the request in its span, then logs and counts it.
pub async fn observe(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    // A content's root and everything below it are one route.
    let route = if route == "/content/{guid}/" {
        crate::forwarding::ROUTE
    } else {
        route
    }
    .to_owned();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
    );
    let _ = span.set_parent(extract_context(request.headers()));
    let response = next.run(request).instrument(span).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.record(&method, &route, status, elapsed.as_secs_f64());
    tracing::info!(
        method = %method,
        route = %route,
        status,
        millis = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_status() {
        let metrics = Metrics::new();
        let http = HttpMetrics::register(&metrics);
        http.record("GET", "/__api__/v1/environments/{guid}", 404, 0.002);
        http.record("GET", "/__api__/v1/environments/{guid}", 404, 0.003);
        let text = metrics.encode();
        assert!(
            text.contains(
                "http_server_requests_total{method=\"GET\",route=\"/__api__/v1/environments/{guid}\",status=\"404\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"/__api__/v1/environments/{guid}\"} 2"),
            "{text}"
        );
    }
}
