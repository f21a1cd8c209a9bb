//! W3C trace context on outgoing calls: the current span's context is written into the call's
//! metadata (`traceparent`, `tracestate`) through the global OpenTelemetry propagator. Without a
//! propagator installed (the CLI, tests) nothing is written.

use opentelemetry::propagation::Injector;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes propagation fields into outgoing gRPC metadata.
pub struct MetadataInjector<'a>(pub &'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Writes `cx` into `metadata` as `traceparent`/`tracestate`, via the global propagator.
pub fn inject_context(cx: &opentelemetry::Context, metadata: &mut tonic::metadata::MetadataMap) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut MetadataInjector(metadata))
    });
}

/// Writes the current span's trace context into `metadata`.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    inject_context(&tracing::Span::current().context(), metadata);
}
