//! Prometheus metrics: the shared [`Metrics`] registry and [`GrpcMetricsLayer`], which records the
//! conventional `grpc_server_*` series for every call a tonic server handles.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// A cloneable handle on one Prometheus registry: services register their metrics, the admin
/// server encodes them.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Registers `metric` (a counter's name is given without `_total`; encoding adds it).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.with_registry(|r| r.register(name, help, metric));
    }

    /// Runs `f` with the registry locked, e.g. to register with a unit or in a sub-registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut registry)
    }

    /// The registry in OpenMetrics text format (ending with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.with_registry(|r| {
            // Writing into a String cannot fail; an error would only drop the partial output.
            if prometheus_client::encoding::text::encode(&mut out, r).is_err() {
                out.clear();
            }
        });
        out
    }
}

/// Labels of the per-method series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_service: String,
    grpc_method: String,
}

/// Labels of `grpc_server_handled_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_code: &'static str,
}

/// Latency buckets from 100 µs to 10 s.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The three gRPC server families.
struct GrpcServerMetrics {
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

/// Tower layer for a tonic server that counts calls by service, method and code and times them.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Arc<GrpcServerMetrics>,
}

impl GrpcMetricsLayer {
    /// Registers the `grpc_server_*` families in `metrics`; build one layer per registry.
    pub fn new(metrics: &Metrics) -> Self {
        let m = GrpcServerMetrics {
            started: Family::default(),
            handled: Family::default(),
            handling: Family::new_with_constructor(new_histogram as fn() -> Histogram),
        };
        metrics.with_registry(|r| {
            r.register("grpc_server_started", "RPCs started on the server.", m.started.clone());
            r.register(
                "grpc_server_handled",
                "RPCs completed on the server, regardless of success or failure.",
                m.handled.clone(),
            );
            r.register(
                "grpc_server_handling_seconds",
                "Time from receiving an RPC until its status was sent (whole stream for streaming RPCs).",
                m.handling.clone(),
            );
        });
        GrpcMetricsLayer {
            metrics: Arc::new(m),
        }
    }
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`GrpcMetricsLayer`] wraps around a tonic server.
#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<GrpcServerMetrics>,
}

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for GrpcMetricsService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Body,
{
    type Response = http::Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        let labels = MethodLabels {
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
        };
        self.metrics.started.get_or_create(&labels).inc();
        ResponseFuture {
            inner: self.inner.call(request),
            recorder: Some(Recorder {
                metrics: self.metrics.clone(),
                labels,
                start: Instant::now(),
                done: false,
            }),
        }
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`); anything else is labelled `unknown`.
fn split_path(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'))
        .unwrap_or(("unknown", "unknown"))
}

/// Records the end of one call exactly once: at its status, or as `Canceled` if dropped before.
struct Recorder {
    metrics: Arc<GrpcServerMetrics>,
    labels: MethodLabels,
    start: Instant,
    done: bool,
}

impl Recorder {
    fn finish(mut self, code: &'static str) {
        self.record(code);
    }

    fn record(&mut self, code: &'static str) {
        if self.done {
            return;
        }
        self.done = true;
        let handled = HandledLabels {
            grpc_service: self.labels.grpc_service.clone(),
            grpc_method: self.labels.grpc_method.clone(),
            grpc_code: code,
        };
        self.metrics.handled.get_or_create(&handled).inc();
        self.metrics
            .handling
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The client went away (or the server dropped the call) before a status was sent.
        self.record(code_name(tonic::Code::Cancelled));
    }
}

pin_project_lite::pin_project! {
    /// Future of [`GrpcMetricsService`]: records trailers-only responses at once, otherwise hands
    /// the recorder to the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<MetricsBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let recorder = this.recorder.take();
        Poll::Ready(match result {
            Ok(response) => {
                let recorder = match (recorder, status_from_headers(response.headers())) {
                    (Some(r), Some(code)) => {
                        r.finish(code);
                        None
                    }
                    (r, _) => r,
                };
                Ok(response.map(|inner| MetricsBody { inner, recorder }))
            }
            Err(e) => {
                if let Some(r) = recorder {
                    r.finish(code_name(tonic::Code::Unknown));
                }
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// Response body of [`GrpcMetricsService`]: records the call when the trailers (or the end of
    /// the stream) arrive.
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(f)) => f
                .trailers_ref()
                .map(|t| status_from_headers(t).unwrap_or(code_name(tonic::Code::Unknown))),
            Some(Err(_)) | None => Some(code_name(tonic::Code::Unknown)),
        };
        if let Some(code) = code
            && let Some(recorder) = this.recorder.take()
        {
            recorder.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The canonical code name from a `grpc-status` header, if present.
fn status_from_headers(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    Some(code_name(tonic::Code::from_i32(value)))
}

/// The canonical (gRPC-Go) name of a code, as community dashboards expect in `grpc_code`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
