//! Logging and tracing: `tracing` events to stderr as text or JSON, filtered by `RUST_LOG` or the
//! configured level, and spans exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::collections::HashMap;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, TelemetryConfig};

/// The variable that turns on span export, e.g. `http://otel-collector:4317`.
pub const OTLP_ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The standard variable that renames the service in exported spans (default: the binary's name).
pub const SERVICE_NAME_VARIABLE: &str = "OTEL_SERVICE_NAME";

/// The `service.name` of exported spans: `OTEL_SERVICE_NAME` when set and not blank, else `default`.
pub fn exported_service_name(default: &str, env: &HashMap<String, String>) -> String {
    env.get(SERVICE_NAME_VARIABLE)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .unwrap_or(default)
        .to_owned()
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter directive does not parse.
    #[error(
        "{source_name}={directive:?} is not a valid log filter ({problem}); use e.g. `info` or `execenv=debug,info`"
    )]
    Filter {
        /// `RUST_LOG` or `EXECENV_TELEMETRY__LOG_LEVEL`.
        source_name: &'static str,
        /// The directive.
        directive: String,
        /// The parser's complaint.
        problem: String,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot export traces to {OTLP_ENDPOINT_VARIABLE}={endpoint:?}: {problem}")]
    Exporter {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        problem: String,
    },
    /// A global subscriber was installed already (telemetry is initialised once per process).
    #[error("telemetry is already initialised in this process: {0}")]
    AlreadyInitialised(String),
}

/// Keeps the tracer provider alive; flushes and shuts it down on [`TelemetryGuard::shutdown`] or drop.
#[derive(Debug, Default)]
#[must_use = "dropping the guard shuts span export down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported over OTLP.
    pub fn exports_spans(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes pending spans and stops the exporter; later calls do nothing.
    pub fn shutdown(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        // The batch processor exports on its own thread through tonic, which needs this runtime's
        // reactor: block in place so a multi-threaded runtime keeps driving it meanwhile.
        let run = move || {
            if let Err(e) = provider.shutdown() {
                eprintln!("execenv: flushing traces at shutdown failed: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run);
            }
            _ => run(),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Installs the global subscriber and the W3C TraceContext propagator; call once, inside a tokio
/// runtime, before serving.
pub fn init(
    service_name: &str,
    cfg: &TelemetryConfig,
    env: &HashMap<String, String>,
) -> Result<TelemetryGuard, TelemetryError> {
    let (layers, guard) = layers(service_name, cfg, env)?;
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))?;
    Ok(guard)
}

/// A boxed subscriber layer over the plain registry.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The filter, log and (optional) OpenTelemetry layers without installing them, for tests and
/// binaries that add their own layers.
pub fn layers(
    service_name: &str,
    cfg: &TelemetryConfig,
    env: &HashMap<String, String>,
) -> Result<(Vec<BoxedLayer>, TelemetryGuard), TelemetryError> {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let (source_name, directive) = match env.get("RUST_LOG").filter(|v| !v.trim().is_empty()) {
        Some(v) => ("RUST_LOG", v.clone()),
        None => ("EXECENV_TELEMETRY__LOG_LEVEL", cfg.log_level.clone()),
    };
    let filter = EnvFilter::builder()
        .parse(&directive)
        .map_err(|e| TelemetryError::Filter {
            source_name,
            directive: directive.clone(),
            problem: e.to_string(),
        })?;

    // Colours only on a terminal: a log file or a container log keeps plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let log: BoxedLayer = match cfg.log_format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    // Logs and exported spans follow the same directive, which keeps exporter volume predictable.
    let mut layers: Vec<BoxedLayer> = vec![log.with_filter(filter).boxed()];

    let mut guard = TelemetryGuard::default();
    if let Some(endpoint) = env
        .get(OTLP_ENDPOINT_VARIABLE)
        .filter(|v| !v.trim().is_empty())
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter {
                endpoint: endpoint.clone(),
                problem: e.to_string(),
            })?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(exported_service_name(service_name, env))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer(service_name.to_owned());
        opentelemetry::global::set_tracer_provider(provider.clone());
        let otel_filter =
            EnvFilter::builder()
                .parse(&directive)
                .map_err(|e| TelemetryError::Filter {
                    source_name,
                    directive: directive.clone(),
                    problem: e.to_string(),
                })?;
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(otel_filter)
                .boxed(),
        );
        guard.provider = Some(provider);
    }
    Ok((layers, guard))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn without_endpoint_only_logs_are_set_up() {
        let (layers, guard) = layers("test", &TelemetryConfig::default(), &HashMap::new()).unwrap();
        assert_eq!(layers.len(), 1);
        assert!(!guard.exports_spans());
    }

    #[test]
    fn otel_service_name_renames_the_service_unless_blank() {
        assert_eq!(
            exported_service_name("execenv-selector", &HashMap::new()),
            "execenv-selector"
        );
        let named = env(&[("OTEL_SERVICE_NAME", " selector-eu ")]);
        assert_eq!(
            exported_service_name("execenv-selector", &named),
            "selector-eu"
        );
        let blank = env(&[("OTEL_SERVICE_NAME", "  ")]);
        assert_eq!(
            exported_service_name("execenv-selector", &blank),
            "execenv-selector"
        );
    }

    #[test]
    fn bad_filter_names_its_source() {
        let cfg = TelemetryConfig {
            log_level: "info,=[".to_owned(),
            ..TelemetryConfig::default()
        };
        let err = layers("test", &cfg, &HashMap::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("EXECENV_TELEMETRY__LOG_LEVEL"), "{err}");
        let err = layers(
            "test",
            &TelemetryConfig::default(),
            &env(&[("RUST_LOG", "=[")]),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("RUST_LOG"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endpoint_turns_span_export_on_and_shutdown_is_idempotent() {
        let cfg = TelemetryConfig {
            log_format: LogFormat::Json,
            ..TelemetryConfig::default()
        };
        let vars = env(&[(OTLP_ENDPOINT_VARIABLE, "http://127.0.0.1:4317")]);
        let (layers, mut guard) = layers("execenv-test", &cfg, &vars).unwrap();
        assert_eq!(layers.len(), 2);
        assert!(guard.exports_spans());
        guard.shutdown();
        assert!(!guard.exports_spans());
        guard.shutdown();
    }
}
