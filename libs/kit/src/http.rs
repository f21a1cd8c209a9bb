//! Serving an axum `Router` over HTTP/1.1, as `axum::serve` does, with the bound it leaves out:
//! a client must send a request's head (its line and headers) within a time, or its connection
//! is closed. Without it one client opening connections and sending a header a minute
//! ("slowloris") holds them open for ever. Each connection gets its peer's address as
//! `ConnectInfo<SocketAddr>`, upgrades (WebSockets to content) work, and on shutdown the
//! listener stops accepting and every connection finishes the request it is answering.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a client may take to send a request's head when nothing else is set (hyper's own
/// default, which it applies only when given a timer).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on the connections `listener` accepts until `shutdown` completes, closing a
/// connection whose client takes longer than `header_read_timeout` (none: no bound) to send a
/// request's head; then waits for the connections to finish the requests they are answering.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    header_read_timeout: Option<Duration>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                // A client that went away, or took too long to send its request's head.
                tracing::debug!(%peer, error = %e, "HTTP connection closed");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
