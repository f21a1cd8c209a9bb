//! The admin HTTP server on its own port: `/metrics` (OpenMetrics text), `/healthz` (liveness) and
//! `/readyz` (readiness).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// Content type of `/metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct AdminState {
    metrics: Metrics,
    readiness: Readiness,
}

/// The admin routes, for embedding in another axum server.
pub fn router(metrics: Metrics, readiness: Readiness) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState { metrics, readiness })
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin server listening (/metrics, /healthz, /readyz)");
    }
    crate::http::serve(
        listener,
        router(metrics, readiness),
        Some(crate::http::DEFAULT_HEADER_READ_TIMEOUT),
        shutdown,
    )
    .await
}

async fn metrics_handler(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    match state.readiness.reason() {
        None => (StatusCode::OK, "ready".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends one HTTP/1.1 GET and returns (status code, headers and body as text).
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        (status, response)
    }

    #[tokio::test]
    async fn admin_endpoints_report_liveness_readiness_and_metrics() {
        let metrics = Metrics::new();
        let requests = Counter::<u64>::default();
        metrics.register("execenv_test_requests", "Test requests.", requests.clone());
        requests.inc();
        let readiness = Readiness::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = crate::shutdown::Shutdown::new();
        let server = tokio::spawn(serve_admin(
            listener,
            metrics,
            readiness.clone(),
            shutdown.wait_owned(),
        ));

        let (status, body) = get(addr, "/healthz").await;
        assert_eq!(status, 200);
        assert!(body.ends_with("ok"), "{body}");

        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("not ready: starting"), "{body}");
        readiness.set_ready().await;
        let (status, _) = get(addr, "/readyz").await;
        assert_eq!(status, 200);

        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            body.to_ascii_lowercase()
                .contains(&format!("content-type: {OPENMETRICS_CONTENT_TYPE}")),
            "{body}"
        );
        assert!(body.contains("execenv_test_requests_total 1\n"), "{body}");
        assert!(body.contains("# EOF"), "{body}");

        shutdown.trigger();
        server.await.unwrap().unwrap();
    }
}
