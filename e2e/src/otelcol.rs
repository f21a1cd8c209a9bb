//! A real OpenTelemetry Collector for the tracing tests: the distribution `e2e/infra/otelcol
//! build` makes (the OTLP receiver and the file exporter), receiving OTLP/gRPC on a free port of
//! loopback (or of another address of this machine) and writing every span it receives to a
//! file as OTLP JSON, one export a line.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::binaries::InfraBuild;
use crate::{Process, free_port};

/// The collector binary: `e2e/infra/run-tests` sets `EXECENV_OTELCOL` to the path the build
/// printed, or `EXECENV_OTELCOL_UNAVAILABLE` to why the build failed.
pub const BUILD: InfraBuild = InfraBuild {
    variable: "EXECENV_OTELCOL",
    what: "the OpenTelemetry Collector",
    made: "built",
    command: "e2e/infra/otelcol build",
};

/// The OTLP span kind of a server span (`SPAN_KIND_SERVER`).
pub const SPAN_KIND_SERVER: i64 = 2;

/// A running collector; killed on drop, stopped gracefully by [`Collector::stop`].
pub struct Collector {
    process: Process,
    endpoint: String,
    output: PathBuf,
}

impl Collector {
    /// Starts the collector named by `EXECENV_OTELCOL` on loopback with its configuration and
    /// output in `dir`, and waits until its OTLP/gRPC port accepts connections; fails saying why
    /// when the collector could not be built.
    pub fn start(dir: &Path) -> Result<Collector> {
        Self::start_on(dir, "127.0.0.1")
    }

    /// The same, listening on `host`, an address of this machine (the testbed's pods reach it
    /// on [`crate::testbed::host_address`]).
    pub fn start_on(dir: &Path, host: &str) -> Result<Collector> {
        let binary = BUILD.required()?;
        for _ in 0..5 {
            let port = free_port()?;
            let output = dir.join(format!("otelcol-{port}.jsonl"));
            let config = dir.join(format!("otelcol-{port}.yaml"));
            std::fs::write(&config, configuration(host, port, &output))?;
            let config_arg = format!("--config={}", config.display());
            let mut process = Process::spawn(
                &binary,
                &[&config_arg],
                &[],
                dir.join(format!("otelcol-{port}.log")),
            )?;
            if wait_listening(&mut process, host, port)? {
                return Ok(Collector {
                    process,
                    endpoint: format!("http://{host}:{port}"),
                    output,
                });
            }
        }
        bail!("five attempts found their free port taken before the collector could bind it")
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://HOST:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span written so far (a line still being written is left for the next read).
    pub fn spans(&self) -> Result<Vec<ExportedSpan>> {
        let text = match std::fs::read_to_string(&self.output) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context(format!("cannot read {}", self.output.display())),
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let mut spans = Vec::new();
        for line in complete.lines().filter(|l| !l.trim().is_empty()) {
            let export: Value = serde_json::from_str(line).with_context(|| {
                format!(
                    "{} holds a line that is not JSON: {line}",
                    self.output.display()
                )
            })?;
            spans.extend(ExportedSpan::from_export(&export)?);
        }
        Ok(spans)
    }

    /// Stops it with SIGTERM, so that what it received is written out; does nothing once it
    /// has exited.
    pub fn stop(&mut self) -> Result<()> {
        if !self.process.is_running() {
            return Ok(());
        }
        self.process.terminate().map(drop)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }
}

/// One span as the collector wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSpan {
    /// The `service.name` of the resource that sent it.
    pub service: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex id of the parent span; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The span's name.
    pub name: String,
    /// The OTLP span kind (2 = server, 3 = client).
    pub kind: i64,
}

impl ExportedSpan {
    /// The spans of one OTLP JSON `ExportTraceServiceRequest`.
    pub fn from_export(export: &Value) -> Result<Vec<ExportedSpan>> {
        let mut spans = Vec::new();
        for resource in array(export, "resourceSpans") {
            let service = array(&resource["resource"], "attributes")
                .iter()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .with_context(|| format!("a resource without service.name: {resource}"))?
                .to_owned();
            for scope in array(resource, "scopeSpans") {
                for span in array(scope, "spans") {
                    let text = |key: &str| {
                        span[key]
                            .as_str()
                            .map(str::to_owned)
                            .with_context(|| format!("a span without {key}: {span}"))
                    };
                    spans.push(ExportedSpan {
                        service: service.clone(),
                        trace_id: text("traceId")?,
                        span_id: text("spanId")?,
                        parent_span_id: span["parentSpanId"]
                            .as_str()
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned),
                        name: text("name")?,
                        kind: span["kind"].as_i64().unwrap_or_default(),
                    });
                }
            }
        }
        Ok(spans)
    }
}

/// The one span of `service` named `name` among `spans`; fails listing them unless there is
/// exactly one.
pub fn only_span<'a>(
    spans: &'a [ExportedSpan],
    service: &str,
    name: &str,
) -> Result<&'a ExportedSpan> {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect();
    match found[..] {
        [one] => Ok(one),
        _ => bail!(
            "expected exactly one span {name:?} from {service}, found {}: {found:#?}",
            found.len()
        ),
    }
}

/// Whether `ancestor` is `span`'s parent, or its parent's parent, and so on, among `spans`.
pub fn descends_from(spans: &[ExportedSpan], span: &ExportedSpan, ancestor: &ExportedSpan) -> bool {
    let mut current = span;
    // A chain longer than the spans has a cycle.
    for _ in 0..spans.len() {
        let Some(parent) = current.parent_span_id.as_deref() else {
            return false;
        };
        if parent == ancestor.span_id && current.trace_id == ancestor.trace_id {
            return true;
        }
        match spans
            .iter()
            .find(|s| s.span_id == parent && s.trace_id == current.trace_id)
        {
            Some(next) => current = next,
            None => return false,
        }
    }
    false
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map_or(&[], Vec::as_slice)
}

/// The collector's configuration: OTLP/gRPC on `host:port`, every span to `output`, and no
/// listener of its own telemetry (its default metrics port would clash between tests).
fn configuration(host: &str, port: u16, output: &Path) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {host}:{port}
exporters:
  file:
    path: {output}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
"#,
        output = serde_json::to_string(&output.display().to_string()).unwrap_or_default(),
    )
}

/// Waits until the collector accepts connections on `host:port`: `Ok(false)` when the port was
/// taken meanwhile (worth another port), an error when it failed otherwise or took longer than
/// 30 s.
fn wait_listening(process: &mut Process, host: &str, port: u16) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !process.is_running() {
            let log = process.output();
            if log.contains("address already in use") {
                return Ok(false);
            }
            bail!("the OpenTelemetry Collector exited before it listened; its log:\n{log}");
        }
        if TcpStream::connect((host, port)).is_ok() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            bail!(
                "the OpenTelemetry Collector did not listen on {host}:{port} within 30 s; its log:\n{}",
                process.output()
            );
        }
        // Polling interval of a bounded wait, not a synchronisation point.
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_otlp_json_export_is_read_as_spans_with_their_service() {
        let export = serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "execenv-gateway"}}
            ]},
            "scopeSpans": [{"scope": {"name": "execenv-gateway"}, "spans": [
                {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
                 "parentSpanId": "", "name": "POST /x", "kind": 2},
                {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "1111111111111111",
                 "parentSpanId": "00f067aa0ba902b7", "name": "inner", "kind": 1}
            ]}]
        }]});
        let spans = ExportedSpan::from_export(&export).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].service, "execenv-gateway");
        assert_eq!(spans[0].parent_span_id, None);
        assert_eq!(spans[0].kind, SPAN_KIND_SERVER);
        assert_eq!(spans[1].parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn a_span_descends_from_its_parents_parent_and_not_from_a_sibling() {
        let span = |id: &str, parent: Option<&str>| ExportedSpan {
            service: "s".into(),
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: id.into(),
            kind: SPAN_KIND_SERVER,
        };
        let spans = [
            span("root", None),
            span("child", Some("root")),
            span("grandchild", Some("child")),
            span("sibling", Some("root")),
        ];
        assert!(descends_from(&spans, &spans[2], &spans[0]));
        assert!(descends_from(&spans, &spans[2], &spans[1]));
        assert!(!descends_from(&spans, &spans[2], &spans[3]));
        assert!(!descends_from(&spans, &spans[0], &spans[1]));
    }

    #[test]
    fn a_resource_without_a_service_name_is_an_error() {
        let export = serde_json::json!({"resourceSpans": [{"resource": {}, "scopeSpans": []}]});
        assert!(ExportedSpan::from_export(&export).is_err());
    }
}
