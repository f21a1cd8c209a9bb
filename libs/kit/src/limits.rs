//! What one gRPC client may ask of a service, from the shared `server.*` settings: the largest
//! message a service reads and writes ([`SizeBounded`], applied by
//! [`GrpcServer::add_service`](crate::GrpcServer::add_service)), the streams one HTTP/2
//! connection may hold at once ([`connection_limits`]), and the watch streams one client may
//! hold open ([`WatchBound`]: the registry's `WatchEnvironments`, the launcher's `Watch`, the
//! image examiner's `WatchChecks`). A request over the size limit is answered RESOURCE_EXHAUSTED
//! naming the setting ([`MessageSizeLayer`]; tonic itself says OUT_OF_RANGE).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::examiner::v1::image_examiner_server::ImageExaminerServer;
use execenv_proto::identity::v1::identity_server::IdentityServer;
use execenv_proto::launcher::v1::launcher_server::LauncherServer;
use execenv_proto::registry::v1::registry_server::RegistryServer;
use execenv_proto::selector::v1::selector_server::SelectorServer;
use execenv_proto::sync::v1::config_sync_server::ConfigSyncServer;
use tonic_health::pb::health_server::HealthServer;

pub use crate::config::{
    MAX_CONCURRENT_STREAMS, MAX_DECODING_MESSAGE_BYTES, MAX_ENCODING_MESSAGE_BYTES,
    MAX_WATCHES_PER_CLIENT, ServerConfig,
};

/// A generated gRPC server whose message sizes can be bounded.
pub trait SizeBounded {
    /// The server reading messages of at most `decoding` bytes and writing at most `encoding`.
    fn size_bounded(self, decoding: usize, encoding: usize) -> Self;
}

macro_rules! size_bounded {
    ($($server:ident),* $(,)?) => {
        $(
            impl<T> SizeBounded for $server<T> {
                fn size_bounded(self, decoding: usize, encoding: usize) -> Self {
                    self.max_decoding_message_size(decoding)
                        .max_encoding_message_size(encoding)
                }
            }
        )*
    };
}

size_bounded!(
    RegistryServer,
    IdentityServer,
    ConfigSyncServer,
    SelectorServer,
    LauncherServer,
    ImageExaminerServer,
    HealthServer,
);

/// `service` with the message sizes of `server`.
pub fn bound_messages<S: SizeBounded>(service: S, server: &ServerConfig) -> S {
    service.size_bounded(
        server.max_decoding_message_bytes,
        server.max_encoding_message_bytes,
    )
}

/// A gRPC server builder holding at most `server.max_concurrent_streams` streams per connection.
pub fn connection_limits(server: &ServerConfig) -> tonic::transport::Server {
    tonic::transport::Server::builder().max_concurrent_streams(server.max_concurrent_streams)
}

/// The message of a request refused for its size.
fn too_large(limit: usize) -> String {
    format!(
        "the request is larger than {limit} bytes, the most this service reads (EXECENV_SERVER__MAX_DECODING_MESSAGE_BYTES)"
    )
}

/// Tower layer: tonic's OUT_OF_RANGE refusal of a request message over the size limit becomes
/// RESOURCE_EXHAUSTED naming the setting, as gRPC specifies for messages over a limit.
#[derive(Debug, Clone, Copy)]
pub struct MessageSizeLayer {
    limit: usize,
}

impl MessageSizeLayer {
    /// The layer for the limit of `server`.
    pub fn new(server: &ServerConfig) -> Self {
        MessageSizeLayer {
            limit: server.max_decoding_message_bytes,
        }
    }
}

impl<S> tower_layer::Layer<S> for MessageSizeLayer {
    type Service = MessageSize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageSize {
            inner,
            limit: self.limit,
        }
    }
}

/// The service [`MessageSizeLayer`] wraps around a tonic server.
#[derive(Debug, Clone)]
pub struct MessageSize<S> {
    inner: S,
    limit: usize,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for MessageSize<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<SizeBody<ResBody>>;
    type Error = S::Error;
    type Future = SizeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        SizeFuture {
            inner: self.inner.call(request),
            limit: self.limit,
        }
    }
}

pin_project_lite::pin_project! {
    /// Future of [`MessageSize`]: rewrites a trailers-only size refusal, and hands the limit to
    /// the body for one in the trailers.
    pub struct SizeFuture<F> {
        #[pin]
        inner: F,
        limit: usize,
    }
}

impl<F, ResBody, E> Future for SizeFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<SizeBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        restate(response.headers_mut(), *this.limit);
        let limit = *this.limit;
        Poll::Ready(Ok(response.map(|inner| SizeBody { inner, limit })))
    }
}

pin_project_lite::pin_project! {
    /// Response body of [`MessageSize`]: rewrites a size refusal in the trailers.
    pub struct SizeBody<B> {
        #[pin]
        inner: B,
        limit: usize,
    }
}

impl<B: http_body::Body> http_body::Body for SizeBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(f)) = &mut frame
            && let Some(trailers) = f.trailers_mut()
        {
            restate(trailers, *this.limit);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Rewrites tonic's OUT_OF_RANGE size refusal in `headers` (or trailers) as RESOURCE_EXHAUSTED.
fn restate(headers: &mut http::HeaderMap, limit: usize) {
    let refused_for_size = headers
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == b"11")
        && headers.get("grpc-message").is_some_and(|m| {
            // tonic percent-encodes the message's spaces.
            m.to_str().is_ok_and(|m| {
                m.replace("%20", " ")
                    .contains("decoded message length too large")
            })
        });
    if refused_for_size && let Ok(message) = http::HeaderValue::from_str(&too_large(limit)) {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        headers.insert("grpc-message", message);
    }
}

/// Who a watch is counted against: the peer's address and the person it acts as (or the
/// service itself), so replicas of a service and the people a gateway acts for count apart.
pub fn watch_client<T>(request: &tonic::Request<T>, caller: &Caller) -> String {
    let peer = request
        .remote_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    let who = caller.user.as_deref().unwrap_or("the service");
    format!("{peer} as {who}")
}

/// The open watch streams of each client, at most `max` each.
#[derive(Debug, Clone)]
pub struct WatchBound {
    max: u32,
    variable: &'static str,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl WatchBound {
    /// At most `server.max_watches_per_client` watches per client.
    pub fn new(server: &ServerConfig) -> Self {
        WatchBound::with_setting(
            server.max_watches_per_client,
            "EXECENV_SERVER__MAX_WATCHES_PER_CLIENT",
        )
    }

    /// At most `max` streams per client, named by `variable` in the refusal.
    pub fn with_setting(max: u32, variable: &'static str) -> Self {
        WatchBound {
            max,
            variable,
            open: Arc::default(),
        }
    }

    /// A permit for one more stream of `what` (e.g. "catalogue watches") for `client`, held for
    /// as long as the stream is open; ResourceExhausted when the client holds `max` already.
    pub fn open(&self, client: String, what: &str) -> Result<WatchPermit, Error> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client.clone()).or_default();
        if *count >= self.max {
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "{client} holds {} {what} open already, the most one client may ({}); close one first, or raise the limit",
                    self.max, self.variable
                ),
            ));
        }
        *count += 1;
        Ok(WatchPermit {
            client,
            open: Arc::clone(&self.open),
        })
    }

    /// How many streams `client` holds open.
    pub fn count(&self, client: &str) -> u32 {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(client).copied().unwrap_or(0)
    }
}

/// One open stream; dropping it (with the stream) frees its place.
#[derive(Debug)]
pub struct WatchPermit {
    client: String,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for WatchPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
