//! Refusals that come before a body is read keep the connection open. A request refused on its
//! head alone — a 401 of the key check, a 413 of a declared length over the limit, a 403 — is
//! answered at once; if the connection were then closed with the client still sending, the
//! client's next write would fail ("broken pipe") and it might never read the answer. So the
//! body reaches the routes through a small channel fed by a task that owns the connection's
//! body: when the route drops its end, the task reads the rest and throws it away — at most
//! [`LINGER_BYTES`] for at most [`LINGER`], so a refused upload is still not read to its end —
//! and the client reads the refusal (as nginx's lingering close does).
//!
//! Only API requests that carry a body go through it; interactive content (`/content/…`) gets
//! its body untouched.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Longest time the rest of a refused body is read for.
pub const LINGER: Duration = Duration::from_secs(10);

/// Most bytes of a refused body read after the refusal; past them the connection is closed.
pub const LINGER_BYTES: u64 = 16 << 20;

/// Pieces of a body waiting for its route at most.
const IN_FLIGHT: usize = 2;

/// Middleware: an API request with a body gets it through a forwarding task that reads what
/// the route leaves unread.
pub async fn linger(request: Request, next: Next) -> Response {
    use http_body::Body as _;
    if request.body().is_end_stream() || !request.uri().path().starts_with("/__api__") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let remaining = body.size_hint().exact();
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let path = parts.uri.path().to_owned();
    tokio::spawn(forward(body, tx, path));
    let body = Body::new(Forwarded { rx, remaining });
    next.run(Request::from_parts(parts, body)).await
}

/// Hands `body` to the route piece by piece; once the route has dropped it, reads the rest and
/// drops it (at most [`LINGER_BYTES`] for at most [`LINGER`]).
async fn forward(body: Body, tx: mpsc::Sender<Result<Bytes, axum::Error>>, path: String) {
    let mut pieces = body.into_data_stream();
    loop {
        let next = tokio::select! {
            next = pieces.next() => next,
            () = tx.closed() => break,
        };
        match next {
            Some(Ok(piece)) => {
                if tx.send(Ok(piece)).await.is_err() {
                    break;
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            None => return,
        }
    }
    let mut dropped: u64 = 0;
    let drained = tokio::time::timeout(LINGER, async {
        while dropped < LINGER_BYTES
            && let Some(Ok(piece)) = pieces.next().await
        {
            dropped += piece.len() as u64;
        }
    })
    .await;
    match drained {
        Ok(()) if dropped < LINGER_BYTES => {
            tracing::debug!(%path, bytes = dropped, "read the rest of a body its route left");
        }
        _ => tracing::debug!(
            %path,
            bytes = dropped,
            "stopped reading the rest of a refused body ({} bytes or {} s at most); closing the connection",
            LINGER_BYTES,
            LINGER.as_secs()
        ),
    }
}

/// The route's end of a forwarded body; its size hint is what the client declared, less what
/// has come.
struct Forwarded {
    rx: mpsc::Receiver<Result<Bytes, axum::Error>>,
    remaining: Option<u64>,
}

impl http_body::Body for Forwarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                if let Some(remaining) = self.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(piece.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map(SizeHint::with_exact).unwrap_or_default()
    }
}
