//! The Grafana dashboards the chart ships (charts/execenv/dashboards), checked three ways:
//! their shape and PromQL (parsed with promql-parser, Grafana's macros and variables replaced);
//! the metric names they use against the scrapes of the real binaries after a scenario; and
//! every panel's queries evaluated by a real Prometheus (`e2e/infra/prometheus`, EXECENV_PROMETHEUS)
//! that scraped the `make run` set of services during that scenario, each of which must return
//! data. `promtool` checks the Prometheus configuration and lints each real scrape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, anyhow, ensure};
use execenv_e2e::dashboards::{self, all_queries};
use execenv_e2e::drift_images::DriftImages;
use execenv_e2e::prometheus::{self, PrometheusServer, unix_now};
use execenv_e2e::stack::LocalStack;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

/// The dashboards the chart must ship.
const EXPECTED: [&str; 4] = [
    "catalogue-sync.json",
    "launches.json",
    "overview.json",
    "selection.json",
];

/// What `$__rate_interval` stands for when a query is only parsed.
const PARSE_INTERVAL: &str = "1m";
/// A `$__rate_interval` no one would write by hand: every range must come out as this.
const MARKER_INTERVAL: (&str, Duration) = ("7m13s", Duration::from_secs(433));

/// The metric names `expr` reads: each selector's name, or its `__name__` matcher (`=`, or `=~`
/// with plain names separated by `|`). A selector naming no metric that way is an error.
fn metric_names(expr: &str) -> Result<BTreeSet<String>> {
    Ok(parse(expr)?.names)
}

/// `expr` parsed: the metric names it reads (see [`metric_names`]) and its ranges (range
/// vectors and subqueries).
fn parse(expr: &str) -> Result<Parsed> {
    let ast = parser::parse(expr).map_err(|e| anyhow!("{expr:?} does not parse: {e}"))?;
    let mut parsed = Parsed::default();
    walk_expr(&mut parsed, &ast).map_err(|e| anyhow!("{expr:?}: {e}"))?;
    ensure!(!parsed.names.is_empty(), "{expr:?} reads no metric");
    Ok(parsed)
}

#[derive(Default)]
struct Parsed {
    names: BTreeSet<String>,
    ranges: Vec<Duration>,
}

impl ExprVisitor for Parsed {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let selector = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => {
                self.ranges.push(ms.range);
                &ms.vs
            }
            Expr::Subquery(sq) => {
                self.ranges.push(sq.range);
                return Ok(true);
            }
            _ => return Ok(true),
        };
        if let Some(name) = &selector.name {
            self.names.insert(name.clone());
            return Ok(true);
        }
        let by_name: Vec<_> = selector
            .matchers
            .matchers
            .iter()
            .filter(|m| m.name == "__name__")
            .collect();
        if by_name.is_empty() {
            return Err(format!("the selector {selector} names no metric"));
        }
        for matcher in by_name {
            let plain = |n: &str| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            };
            match &matcher.op {
                MatchOp::Equal => {
                    self.names.insert(matcher.value.clone());
                }
                MatchOp::Re(_) if matcher.value.split('|').all(plain) => {
                    self.names
                        .extend(matcher.value.split('|').map(str::to_owned));
                }
                _ => {
                    return Err(format!(
                        "the selector {selector} picks metrics by a pattern; list their names (`a|b`) so they can be checked"
                    ));
                }
            }
        }
        Ok(true)
    }
}

/// The sample names in a scrape (what Prometheus stores: `x_total`, `x_bucket`, `x_sum`, …).
fn sample_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn dashboards_are_well_formed_and_every_query_parses() -> Result<()> {
    let dashboards = dashboards::load_all()?;
    let files: Vec<&str> = dashboards.iter().map(|d| d.file.as_str()).collect();
    ensure!(files == EXPECTED, "the dashboards are {files:?}");
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for d in &dashboards {
        match d.uid() {
            Some(uid) if !uid.is_empty() => {
                if !uids.insert(uid.to_owned()) {
                    problems.push(format!("{}: uid {uid} is used twice", d.file));
                }
            }
            _ => problems.push(format!("{}: no fixed uid", d.file)),
        }
        if d.json["schemaVersion"].as_u64().is_none_or(|v| v < 36) {
            problems.push(format!("{}: schemaVersion below 36", d.file));
        }
        let datasource = d.variables().iter().find(|v| v["name"] == "datasource");
        if !datasource.is_some_and(|v| v["type"] == "datasource" && v["query"] == "prometheus") {
            problems.push(format!(
                "{}: no `datasource` variable of type datasource for prometheus",
                d.file
            ));
        }
        for v in d.variables().iter().filter(|v| v["type"] == "query") {
            if v["datasource"]["uid"] != "${datasource}" {
                problems.push(format!(
                    "{}: variable {} does not query ${{datasource}}",
                    d.file, v["name"]
                ));
            }
        }
        let panels = d.panels();
        if panels.is_empty() {
            problems.push(format!("{}: no panel", d.file));
        }
        for panel in panels {
            let targets = dashboards::targets(panel.json);
            if targets.is_empty() {
                problems.push(format!("{}: {}: no target", d.file, panel.title));
            }
            let sources = std::iter::once(&panel.json["datasource"])
                .chain(targets.iter().map(|t| &t["datasource"]));
            if sources
                .into_iter()
                .any(|s| s["uid"] != "${datasource}" || s["type"] != "prometheus")
            {
                problems.push(format!(
                    "{}: {}: a data source other than ${{datasource}}",
                    d.file, panel.title
                ));
            }
        }
    }
    // Every query parses with `$__rate_interval` as 1m; with it as an unusual marker, every
    // range must come out as the marker (no range written by hand).
    for (interval, check_ranges) in [(PARSE_INTERVAL, false), (MARKER_INTERVAL.0, true)] {
        match all_queries(&dashboards, interval, &BTreeMap::new()) {
            Ok(queries) => {
                for q in &queries {
                    match parse(&q.expr) {
                        Err(e) => problems.push(format!("{}: {e}", q.place)),
                        Ok(parsed) if check_ranges => {
                            if parsed.ranges.iter().any(|r| *r != MARKER_INTERVAL.1) {
                                problems.push(format!(
                                    "{}: a range other than [$__rate_interval] in {}",
                                    q.place, q.expr
                                ));
                            }
                        }
                        Ok(_) => {}
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    ensure!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn metric_names_come_from_names_and_name_matchers_only() -> Result<()> {
    assert_eq!(
        metric_names(r#"sum(rate(a_total{x="1"}[1m])) / on() b + {__name__=~"c|d_sum"}"#)?,
        BTreeSet::from(["a_total", "b", "c", "d_sum"].map(str::to_owned))
    );
    assert!(metric_names(r#"{__name__=~"grpc_.*"}"#).is_err());
    assert!(metric_names("sum(rate(x[1m])").is_err(), "unclosed");
    assert!(metric_names("time()").is_err(), "reads no metric");
    assert_eq!(
        parse("max_over_time(rate(a[2m])[5m:1m])")?.ranges,
        [Duration::from_secs(300), Duration::from_secs(120)]
    );
    Ok(())
}

#[test]
fn every_metric_the_dashboards_use_is_exported_by_the_running_services() -> Result<()> {
    let dashboards = dashboards::load_all()?;
    let images_dir = tempfile::tempdir()?;
    let images = DriftImages::push(images_dir.path())?;
    let stack = LocalStack::start_examining(&images)?;
    stack.run_scenario()?;
    let mut exported = BTreeSet::new();
    for (_, scrape) in stack.scrape_all()? {
        exported.extend(sample_names(&scrape));
    }
    let mut missing = BTreeMap::<String, Vec<String>>::new();
    for query in all_queries(&dashboards, PARSE_INTERVAL, &BTreeMap::new())? {
        for name in metric_names(&query.expr)? {
            if !exported.contains(&name) {
                missing.entry(name).or_default().push(query.place.clone());
            }
        }
    }
    ensure!(
        missing.is_empty(),
        "metrics used by the dashboards that no service exported after the scenario (of {} sample names exported), with the queries using them:\n{missing:#?}",
        exported.len()
    );
    Ok(())
}

#[test]
fn every_dashboard_panel_has_data_in_a_real_prometheus() -> Result<()> {
    // Fails at once, naming the install script, when there is no Prometheus.
    prometheus::promtool()?;
    let dashboards = dashboards::load_all()?;
    let images_dir = tempfile::tempdir()?;
    let images = DriftImages::push(images_dir.path())?;
    let stack = LocalStack::start_examining(&images)?;
    let server = PrometheusServer::start(
        &prometheus::scrape_config(&stack.admin_targets()),
        stack.dir(),
    )?;
    let targets = stack.admin_targets().len();
    // Every target is up and scraped before the scenario starts.
    server.wait_for_scrapes_after(unix_now(), targets)?;

    let started = unix_now();
    stack.run_scenario()?;
    let ended = unix_now();

    let mut lint = Vec::new();
    for (job, scrape) in stack.scrape_all()? {
        if let Err(e) = prometheus::check_metrics(&scrape) {
            lint.push(format!("{job}: {e}"));
        }
    }
    ensure!(
        lint.is_empty(),
        "promtool check metrics found problems:\n{}",
        lint.join("\n")
    );

    server.wait_for_scrapes_after(ended, targets)?;
    let interval = dashboards::rate_interval_since(started);
    let queries = all_queries(&dashboards, &interval, &BTreeMap::new())?;
    dashboards::ensure_every_query_has_data(&server, &queries, &interval)
}
