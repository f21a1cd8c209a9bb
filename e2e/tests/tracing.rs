//! Traces end to end: the registry, the selector and the gateway export spans over
//! OTLP to a real OpenTelemetry Collector, and one selection through the gateway is one trace
//! holding spans of all three.
//!
//! The registry's part of a selection is the gateway authenticating the caller's API key
//! (`Identity/Authenticate`, made once per key and then cached for 10 s); the selector answers
//! from the catalogue it keeps by watching the registry, so it makes no registry call per request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::gateway::user_key;
use execenv_e2e::otelcol::{Collector, ExportedSpan, SPAN_KIND_SERVER, only_span};
use execenv_e2e::{Process, RegistryProcess, ServiceProcess, eventually, http_request, sqlite_url};
use serde_json::json;

const GATEWAY: &str = "execenv-gateway";
const SELECTOR: &str = "execenv-selector";
const REGISTRY: &str = "execenv-environment-registry";
/// The gateway's span of the request, named after the route.
const SELECT_SPAN: &str = "POST /__api__/execenv/v1/select";
const SELECTOR_SPAN: &str = "execenv.selector.v1.Selector/Select";
const AUTHENTICATE_SPAN: &str = "execenv.identity.v1.Identity/Authenticate";
/// Generous for three batch exporters flushing every 100 ms on a busy machine.
const ARRIVE: Duration = Duration::from_secs(30);

/// The collector and the three services exporting to it. Dropped (also when the test fails),
/// each is stopped with SIGTERM, callers first, so their batch exporters flush what they hold.
struct Stack {
    gateway: ServiceProcess,
    selector: ServiceProcess,
    registry: RegistryProcess,
    collector: Collector,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Starts everything with one environment for Python 3.12.4 in the catalogue; returns the
    /// stack and a publisher's API key that has not been used yet.
    fn start() -> Result<(Stack, String)> {
        let dir = tempfile::tempdir()?;
        let collector = Collector::start(dir.path())?;
        let otel = [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                collector.endpoint().to_owned(),
            ),
            // The SDK's standard variable: export every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ];
        let registry = RegistryProcess::start(&sqlite_url(dir.path()), dir.path(), &otel)?;
        registry
            .ctl(&[
                "env",
                "create",
                "example/python",
                "--python",
                "3.12.4=/opt/python/3.12.4/bin/python3",
            ])?
            .ok()?;
        let key = user_key(&registry, "pat", "publisher")?;
        let selector = ServiceProcess::selector(&registry, dir.path(), &otel)?;
        let mut env = otel.to_vec();
        env.push(("EXECENV_SELECTOR__URL", selector.url.clone()));
        let gateway = ServiceProcess::gateway(&registry, dir.path(), &env)?;
        let stack = Stack {
            gateway,
            selector,
            registry,
            collector,
            _dir: dir,
        };
        Ok((stack, key))
    }

    /// Stops the services, callers first, and then the collector; each must exit cleanly.
    fn stop(&mut self) -> Result<()> {
        for (name, process) in [
            (GATEWAY, &mut self.gateway.process),
            (SELECTOR, &mut self.selector.process),
            (REGISTRY, &mut self.registry.process),
        ] {
            stop(name, process)?;
        }
        self.collector.stop()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Stops `process` with SIGTERM unless it has exited already (its pid may then be someone else's).
fn stop(name: &str, process: &mut Process) -> Result<()> {
    if !process.is_running() {
        return Ok(());
    }
    let code = process.terminate()?;
    ensure!(
        code == Some(0),
        "{name} exited with {code:?} on SIGTERM; its log:\n{}",
        process.output()
    );
    Ok(())
}

/// The spans of the trace the gateway's selection span is in, once the selector's and the
/// registry's spans of it have arrived too.
fn selection_trace(spans: &[ExportedSpan]) -> Option<Vec<ExportedSpan>> {
    let root = spans
        .iter()
        .find(|s| s.service == GATEWAY && s.name == SELECT_SPAN)?;
    let trace: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id)
        .cloned()
        .collect();
    let has =
        |service: &str, name: &str| trace.iter().any(|s| s.service == service && s.name == name);
    (has(SELECTOR, SELECTOR_SPAN) && has(REGISTRY, AUTHENTICATE_SPAN)).then_some(trace)
}

#[test]
fn one_selection_through_the_gateway_is_one_trace_across_gateway_selector_and_registry()
-> Result<()> {
    let (mut stack, key) = Stack::start()?;

    let authorization = format!("Key {key}");
    let answer = http_request(
        stack.gateway.address(),
        "POST",
        "/__api__/execenv/v1/select",
        &[("Authorization", &authorization)],
        Some(&json!({"requirements": {"python_version": "3.12.4"}})),
    )?;
    ensure!(answer.status == 200, "select answered {answer:?}");
    let chosen = answer.json()?;
    ensure!(
        chosen["environment"]["name"] == "example/python",
        "{chosen}"
    );

    // The spans arrive while the services run (the batch exporters send every 100 ms).
    let mut seen = Vec::new();
    eventually(
        ARRIVE,
        "the selection's spans from all three services",
        || {
            seen = stack.collector.spans().unwrap_or_default();
            selection_trace(&seen).is_some()
        },
    )
    .with_context(|| {
        format!(
            "spans received: {seen:#?}\ncollector log:\n{}",
            stack.collector.log()
        )
    })?;

    // Stopped, every exporter has flushed all it had: nothing else may belong to the selection.
    stack.stop()?;
    let spans = stack.collector.spans()?;
    let root = only_span(&spans, GATEWAY, SELECT_SPAN)?;
    let selected = only_span(&spans, SELECTOR, SELECTOR_SPAN)?;
    let authenticated = only_span(&spans, REGISTRY, AUTHENTICATE_SPAN)?;
    let trace = selection_trace(&spans).context("the selection's trace vanished")?;

    ensure!(
        root.parent_span_id.is_none(),
        "the gateway's request span has a parent: {root:?}"
    );
    for span in [root, selected, authenticated] {
        ensure!(span.kind == SPAN_KIND_SERVER, "not a server span: {span:?}");
        ensure!(
            span.trace_id == root.trace_id,
            "{span:?} is not in the trace of {root:?}"
        );
    }
    ensure!(
        selected.parent_span_id.as_deref() == Some(root.span_id.as_str()),
        "the selector's span {selected:?} is not a child of the gateway's {root:?}"
    );
    ensure!(
        authenticated.parent_span_id.as_deref() == Some(root.span_id.as_str()),
        "the registry's span {authenticated:?} is not a child of the gateway's {root:?}"
    );

    // The trace is one tree: one root, every other span's parent in the trace.
    let ids: BTreeSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    ensure!(ids.len() == trace.len(), "span ids repeat: {trace:#?}");
    for span in &trace {
        if span.span_id != root.span_id {
            let parent = span.parent_span_id.as_deref();
            ensure!(
                parent.is_some_and(|p| ids.contains(p)),
                "{span:?} has a parent outside the trace: {trace:#?}"
            );
        }
    }
    let services: BTreeSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    ensure!(
        services == BTreeSet::from([GATEWAY, REGISTRY, SELECTOR]),
        "the trace's services are {services:?}: {trace:#?}"
    );
    Ok(())
}
