//! W3C trace context on the server side of gRPC hops: [`TraceContextLayer`] continues the caller's
//! trace in a `grpc.request` span (the client side is `execenv_client::trace`).

use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry::propagation::Extractor;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Reads propagation fields from HTTP/2 request headers.
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The OpenTelemetry context the caller sent in `traceparent`/`tracestate`, via the global propagator.
pub fn extract_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// The server span of one gRPC request, a child of the trace context in its headers.
pub fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .unwrap_or(("unknown", "unknown"));
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    // Without an OpenTelemetry layer there is nothing to attach the parent to; that is fine.
    let _ = span.set_parent(extract_context(request.headers()));
    span
}

/// Tower layer for a tonic server: runs each request inside [`request_span`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextLayer;

impl<S> tower_layer::Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

/// The service [`TraceContextLayer`] wraps around a tonic server.
#[derive(Debug, Clone)]
pub struct TraceContextService<S> {
    inner: S,
}

impl<S, B> tower_service::Service<http::Request<B>> for TraceContextService<S>
where
    S: tower_service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = request_span(&request);
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(future.instrument(span))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;
    use tonic::service::Interceptor;
    use tracing_subscriber::layer::SubscriberExt;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn subscriber() -> impl tracing::Subscriber + Send + Sync {
        use opentelemetry::trace::TracerProvider as _;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
    }

    #[test]
    fn incoming_trace_id_is_continued_and_sent_onwards() {
        let request = http::Request::builder()
            .uri("/execenv.selector.v1.Selector/Select")
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .body(())
            .unwrap();
        tracing::subscriber::with_default(subscriber(), || {
            let span = request_span(&request);
            let outgoing = span.in_scope(|| {
                execenv_client::Outgoing::new(None, None)
                    .call(tonic::Request::new(()))
                    .unwrap()
            });
            let traceparent = outgoing
                .metadata()
                .get("traceparent")
                .unwrap()
                .to_str()
                .unwrap();
            assert!(
                traceparent.starts_with(&format!("00-{TRACE_ID}-")),
                "{traceparent}"
            );
            // The outgoing parent is our server span, not the caller's span.
            assert!(!traceparent.contains("00f067aa0ba902b7"), "{traceparent}");

            let mut headers = http::HeaderMap::new();
            for (k, v) in outgoing.metadata().clone().into_headers().iter() {
                headers.insert(k, v.clone());
            }
            let cx = extract_context(&headers);
            assert_eq!(cx.span().span_context().trace_id().to_string(), TRACE_ID);
        });
    }

    #[test]
    fn layer_runs_the_handler_inside_the_callers_trace() {
        use tower::{Layer, ServiceExt};
        let request = http::Request::builder()
            .uri("/x.Y/Z")
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .body(())
            .unwrap();
        let handler = tower::service_fn(|_req: http::Request<()>| async {
            let cx = tracing::Span::current().context();
            Ok::<_, std::convert::Infallible>(cx.span().span_context().trace_id().to_string())
        });
        tracing::subscriber::with_default(subscriber(), || {
            let seen =
                futures::executor::block_on(TraceContextLayer.layer(handler).oneshot(request));
            assert_eq!(seen.unwrap(), TRACE_ID);
        });
    }

    #[test]
    fn request_without_context_starts_a_new_trace() {
        let request = http::Request::builder().uri("/x.Y/Z").body(()).unwrap();
        tracing::subscriber::with_default(subscriber(), || {
            let span = request_span(&request);
            let cx = span.context();
            let id = cx.span().span_context().trace_id();
            assert_ne!(id, opentelemetry::trace::TraceId::INVALID);
            assert_ne!(id.to_string(), TRACE_ID);
        });
    }
}
