//! The Grafana dashboards the chart ships (`charts/execenv/dashboards/*.json`), read as the tests
//! need them: every query of every panel (rows' panels included) and of every template
//! variable, with Grafana's macros and variables replaced so that Prometheus can run them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::prometheus::{PrometheusServer, SCRAPE_INTERVAL, unix_now, value_of};

/// The folder of the dashboards in the repository.
pub fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/execenv/dashboards")
}

/// One dashboard file.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The file name (`overview.json`).
    pub file: String,
    /// Its JSON.
    pub json: Value,
}

/// Every dashboard in [`folder`], by file name; fails when there is none or one is not JSON.
pub fn load_all() -> Result<Vec<Dashboard>> {
    let dir = folder();
    let mut dashboards = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let json = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dashboards.push(Dashboard { file, json });
    }
    dashboards.sort_by(|a, b| a.file.cmp(&b.file));
    if dashboards.is_empty() {
        bail!("no dashboard in {}", dir.display());
    }
    Ok(dashboards)
}

/// One query of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    /// `file: panel title [refId]`, to name it in failures.
    pub place: String,
    /// The PromQL as written in the dashboard.
    pub expr: String,
}

/// A panel that is not a row: its title and JSON.
#[derive(Debug, Clone)]
pub struct Panel<'a> {
    /// The panel's title.
    pub title: String,
    /// The panel.
    pub json: &'a Value,
}

impl Dashboard {
    /// The dashboard's `uid`, if it has one.
    pub fn uid(&self) -> Option<&str> {
        self.json["uid"].as_str()
    }

    /// Its template variables.
    pub fn variables(&self) -> &[Value] {
        self.json["templating"]["list"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    /// Every panel that is not a row, the panels inside rows included (a collapsed row holds
    /// its panels; an open row's panels follow it at the top level).
    pub fn panels(&self) -> Vec<Panel<'_>> {
        let mut out = Vec::new();
        collect_panels(&self.json["panels"], &mut out);
        out
    }

    /// Every target expression of every panel.
    pub fn queries(&self) -> Vec<PanelQuery> {
        self.panels()
            .iter()
            .flat_map(|panel| {
                targets(panel.json).iter().map(move |target| PanelQuery {
                    place: format!(
                        "{}: {} [{}]",
                        self.file,
                        panel.title,
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    /// The series selector inside each query variable's `label_values(SELECTOR, label)`.
    pub fn variable_selectors(&self) -> Result<Vec<PanelQuery>> {
        self.variables()
            .iter()
            .filter(|v| v["type"] == "query")
            .map(|v| {
                let name = v["name"].as_str().unwrap_or("?");
                let query = v["query"]["query"]
                    .as_str()
                    .or_else(|| v["query"].as_str())
                    .unwrap_or_default();
                Ok(PanelQuery {
                    place: format!("{}: variable {name}", self.file),
                    expr: label_values_selector(query)
                        .with_context(|| format!("{}: variable {name}: {query:?}", self.file))?,
                })
            })
            .collect()
    }

    /// What each template variable (but the data source) stands for when "All" is chosen: its
    /// `allValue`. A variable without one cannot be substituted and is an error.
    pub fn all_values(&self) -> Result<BTreeMap<String, String>> {
        self.variables()
            .iter()
            .filter(|v| v["type"] != "datasource")
            .map(|v| {
                let name = v["name"].as_str().unwrap_or("?").to_owned();
                let all = v["allValue"].as_str().with_context(|| {
                    format!(
                        "{}: variable {name} has no allValue: give it one (\".*\")",
                        self.file
                    )
                })?;
                Ok((name, all.to_owned()))
            })
            .collect()
    }
}

fn collect_panels<'a>(panels: &'a Value, out: &mut Vec<Panel<'a>>) {
    for panel in panels.as_array().map_or(&[][..], Vec::as_slice) {
        if panel["type"] == "row" {
            collect_panels(&panel["panels"], out);
        } else {
            out.push(Panel {
                title: panel["title"].as_str().unwrap_or("(untitled)").to_owned(),
                json: panel,
            });
        }
    }
}

/// A panel's targets.
pub fn targets(panel: &Value) -> &[Value] {
    panel["targets"].as_array().map_or(&[], Vec::as_slice)
}

/// `SELECTOR` of `label_values(SELECTOR, label)`.
fn label_values_selector(query: &str) -> Result<String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .context("not label_values(SELECTOR, label)")?;
    let (selector, label) = inner
        .rsplit_once(',')
        .context("label_values needs a selector and a label")?;
    if label.trim().is_empty() || selector.trim().is_empty() {
        bail!("label_values needs a selector and a label");
    }
    Ok(selector.trim().to_owned())
}

/// `expr` with Grafana's interval macros replaced by `rate_interval` and each dashboard
/// variable (`$name`, `${name}`) by its value in `variables`. Fails naming any `$` left over.
pub fn substitute(
    expr: &str,
    rate_interval: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String> {
    let mut out = expr
        .replace("$__rate_interval", rate_interval)
        .replace("${__rate_interval}", rate_interval)
        .replace("$__interval", rate_interval)
        .replace("${__interval}", rate_interval);
    // Longest names first, so `$job` cannot eat the start of `$jobs`.
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = &variables[name];
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    if let Some(at) = out.find('$') {
        bail!(
            "{expr:?} uses {:?}, which is neither a Grafana interval macro nor a variable of its dashboard",
            &out[at..]
        );
    }
    Ok(out)
}

/// Every panel query and variable selector of every dashboard, each with its dashboard's
/// variables replaced by their value in `chosen`, or else by their "All" value, and
/// `$__rate_interval` by `interval`.
pub fn all_queries(
    dashboards: &[Dashboard],
    interval: &str,
    chosen: &BTreeMap<String, String>,
) -> Result<Vec<PanelQuery>> {
    let mut out = Vec::new();
    for dashboard in dashboards {
        let mut variables = dashboard.all_values()?;
        for (name, value) in &mut variables {
            if let Some(picked) = chosen.get(name) {
                value.clone_from(picked);
            }
        }
        for query in dashboard
            .queries()
            .into_iter()
            .chain(dashboard.variable_selectors()?)
        {
            out.push(PanelQuery {
                expr: substitute(&query.expr, interval, &variables)?,
                place: query.place,
            });
        }
    }
    Ok(out)
}

/// A `$__rate_interval` covering everything since `started` (Unix seconds) and at least four
/// scrape intervals, so that every rate has the samples of what happened since.
pub fn rate_interval_since(started: f64) -> String {
    let window = ((unix_now() - started).ceil() as u64 + 5).max(4 * SCRAPE_INTERVAL.as_secs());
    format!("{window}s")
}

/// Evaluates every query (substituted with `interval`) on `server` now; fails listing each that
/// Prometheus could not evaluate and each that returned no finite sample.
pub fn ensure_every_query_has_data(
    server: &PrometheusServer,
    queries: &[PanelQuery],
    interval: &str,
) -> Result<()> {
    let mut failed = Vec::new();
    let mut empty = Vec::new();
    for query in queries {
        match server.samples(&query.expr) {
            Err(e) => failed.push(format!("{}: {e}", query.place)),
            Ok(samples) => {
                if !samples
                    .iter()
                    .any(|s| value_of(s).is_some_and(f64::is_finite))
                {
                    empty.push(format!("{}: {} → {samples:?}", query.place, query.expr));
                }
            }
        }
    }
    if !failed.is_empty() || !empty.is_empty() {
        bail!(
            "of {} queries, {} failed and {} returned no data (a $__rate_interval of {interval}):\nfailed:\n{}\nwithout data:\n{}",
            queries.len(),
            failed.len(),
            empty.len(),
            failed.join("\n"),
            empty.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn panels_in_collapsed_and_open_rows_are_all_found() {
        let dashboard = Dashboard {
            file: "d.json".into(),
            json: json!({"panels": [
                {"type": "row", "title": "open", "panels": []},
                {"type": "timeseries", "title": "a", "targets": [{"refId": "A", "expr": "x"}]},
                {"type": "row", "title": "collapsed", "collapsed": true, "panels": [
                    {"type": "stat", "title": "b", "targets": [{"refId": "A", "expr": "y"}, {"refId": "B", "expr": "z"}]}
                ]}
            ]}),
        };
        let titles: Vec<String> = dashboard.panels().into_iter().map(|p| p.title).collect();
        assert_eq!(titles, ["a", "b"]);
        let queries = dashboard.queries();
        assert_eq!(
            queries,
            [
                PanelQuery {
                    place: "d.json: a [A]".into(),
                    expr: "x".into()
                },
                PanelQuery {
                    place: "d.json: b [A]".into(),
                    expr: "y".into()
                },
                PanelQuery {
                    place: "d.json: b [B]".into(),
                    expr: "z".into()
                },
            ]
        );
    }

    #[test]
    fn macros_and_variables_are_substituted_and_unknown_ones_refused() {
        let vars = BTreeMap::from([
            ("job".to_owned(), ".*".to_owned()),
            ("jobs".to_owned(), "a|b".to_owned()),
        ]);
        assert_eq!(
            substitute(
                r#"rate(x{job=~"$job", j=~"${jobs}", k=~"$jobs"}[$__rate_interval])"#,
                "1m",
                &vars
            )
            .unwrap(),
            r#"rate(x{job=~".*", j=~"a|b", k=~"a|b"}[1m])"#
        );
        let err = substitute("x{a=\"$cluster\"}", "1m", &vars).unwrap_err();
        assert!(err.to_string().contains("$cluster"), "{err}");
    }

    #[test]
    fn the_selector_of_label_values_is_extracted() {
        assert_eq!(
            label_values_selector(r#"label_values(up{namespace=~"$namespace"}, job)"#).unwrap(),
            r#"up{namespace=~"$namespace"}"#
        );
        assert!(label_values_selector("query_result(up)").is_err());
        assert!(label_values_selector("label_values(job)").is_err());
    }
}
