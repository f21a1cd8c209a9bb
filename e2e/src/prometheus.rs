//! A real Prometheus server for the dashboard tests: one with Kubernetes service discovery
//! (`e2e/infra/prometheus` builds it from its Go module and prints its path, which
//! `EXECENV_PROMETHEUS` carries), started on loopback — or inside the testbed node's network
//! namespace, where pods are reachable — with its own temporary data folder and stopped by pid
//! when dropped; and its `promtool`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::binaries::InfraBuild;
use crate::process::{wait_answering, with_free_ports};
use crate::{Process, http_get};

/// How often the test server scrapes its targets.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// The Prometheus server: `e2e/infra/run-tests` sets `EXECENV_PROMETHEUS` to the path the
/// script printed, or `EXECENV_PROMETHEUS_UNAVAILABLE` to why it could not install one.
pub const BUILD: InfraBuild = InfraBuild {
    variable: "EXECENV_PROMETHEUS",
    what: "Prometheus",
    made: "installed",
    command: "e2e/infra/prometheus",
};

/// The Prometheus server binary: `EXECENV_PROMETHEUS`, else `prometheus` on PATH; fails loudly
/// saying why `e2e/infra/prometheus` could not build it, or naming that script.
pub fn binary() -> Result<PathBuf> {
    if let Some(path) = BUILD.path()? {
        ensure!(
            path.is_file(),
            "EXECENV_PROMETHEUS={} is not a file: run `e2e/infra/prometheus`, which builds Prometheus and prints its path",
            path.display()
        );
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file());
    on_path.context(
        "EXECENV_PROMETHEUS is not set and no `prometheus` is on PATH: run `export EXECENV_PROMETHEUS=$(e2e/infra/prometheus)` (it builds Prometheus from its Go module), or use `make test`",
    )
}

/// `promtool`, beside the server binary.
pub fn promtool() -> Result<PathBuf> {
    let server = binary()?;
    let tool = server.with_file_name("promtool");
    ensure!(
        tool.is_file(),
        "no promtool beside {}: use the Prometheus `e2e/infra/prometheus` builds",
        server.display()
    );
    Ok(tool)
}

/// Runs `promtool ARGS…` with `stdin`; fails with its output unless it exits 0.
pub fn run_promtool(args: &[&str], stdin: &str) -> Result<String> {
    let mut child = Command::new(promtool()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start promtool")?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    Ok(text)
}

/// Lints one `/metrics` scrape with `promtool check metrics`; fails with what it reports.
///
/// The services answer in OpenMetrics, where a counter's `# HELP`/`# TYPE` name its family
/// (`x`) and its sample is `x_total`; promtool (2.42 and 3.16 alike) reads only the Prometheus text format, where
/// they name the sample, and would report every counter as a family without help. So the scrape
/// is given to it in that format first: the same samples, counters' family lines naming
/// `x_total`, without the OpenMetrics-only `# UNIT` and `# EOF` lines.
pub fn check_metrics(openmetrics: &str) -> Result<()> {
    run_promtool(&["check", "metrics"], &to_text_format(openmetrics)).map(drop)
}

/// An OpenMetrics scrape in the Prometheus text format (see [`check_metrics`]).
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::new();
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let family_line = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(family_line.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

/// The configuration of a server scraping each `(job, host:port)` every [`SCRAPE_INTERVAL`].
pub fn scrape_config(targets: &[(&str, &str)]) -> String {
    let interval = format!("{}s", SCRAPE_INTERVAL.as_secs());
    let mut yaml = format!(
        "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\nscrape_configs:\n"
    );
    for (job, address) in targets {
        yaml.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{address}']\n"
        ));
    }
    yaml
}

/// A running Prometheus server.
pub struct PrometheusServer {
    process: Process,
    /// Its `host:port`.
    pub address: String,
    // The data folder and the configuration; removed after the process is gone.
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Writes `config`, checks it with `promtool check config`, starts the server on a free
    /// loopback port with a temporary data folder, and waits until it is ready.
    pub fn start(config: &str, logs: &Path) -> Result<PrometheusServer> {
        Self::launch(config, logs, None, "127.0.0.1")
    }

    /// The same, but the server runs in the network namespace `netns` (`ip netns` name: it
    /// scrapes what is reachable from there) and listens on `host`, an address of that namespace
    /// this machine reaches (a free port of this machine is chosen; taken there, another).
    pub fn start_in_network_namespace(
        config: &str,
        logs: &Path,
        netns: &str,
        host: &str,
    ) -> Result<PrometheusServer> {
        Self::launch(config, logs, Some(netns), host)
    }

    fn launch(
        config: &str,
        logs: &Path,
        netns: Option<&str>,
        host: &str,
    ) -> Result<PrometheusServer> {
        let dir = tempfile::tempdir()?;
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config)?;
        let config_path = config_file.display().to_string();
        run_promtool(&["check", "config", &config_path], "")?;
        let server = binary()?.display().to_string();
        let data = dir.path().join("data");
        let data = data.display().to_string();
        // nsenter joins the namespace and then execs the server: the pid stays the server's.
        let (program, enter) = match netns {
            Some(name) => ("nsenter", vec![format!("--net=/run/netns/{name}"), server]),
            None => (server.as_str(), Vec::new()),
        };
        let (process, address) = with_free_ports(|port, _, attempt| {
            let address = format!("{host}:{port}");
            let mut args: Vec<&str> = enter.iter().map(String::as_str).collect();
            let flags = [
                format!("--config.file={config_path}"),
                format!("--storage.tsdb.path={data}"),
                format!("--web.listen-address={address}"),
            ];
            args.extend(flags.iter().map(String::as_str));
            args.push("--log.level=warn");
            let mut process = Process::spawn(
                Path::new(program),
                &args,
                &[],
                logs.join(format!("prometheus-{attempt}.log")),
            )?;
            wait_answering(&mut process, &address, "/-/ready", "Prometheus")?;
            Ok((process, address))
        })?;
        Ok(PrometheusServer {
            process,
            address,
            _dir: dir,
        })
    }

    /// The targets it scrapes now (`/api/v1/targets?state=active`: `activeTargets`, each with
    /// its `labels`, `scrapeUrl`, `health`…).
    pub fn active_targets(&self) -> Result<Vec<Value>> {
        let (status, body) = http_get(&self.address, "/api/v1/targets?state=active")?;
        let answer: Value = serde_json::from_str(&body)
            .with_context(|| format!("Prometheus answered {status} without JSON: {body}"))?;
        ensure!(answer["status"] == "success", "/api/v1/targets: {answer}");
        Ok(answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// Evaluates `query` now through `/api/v1/query`; the whole answer (status, data, warnings).
    pub fn query(&self, query: &str) -> Result<Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let (status, body) = http_get(&self.address, &path)?;
        let answer: Value = serde_json::from_str(&body)
            .with_context(|| format!("Prometheus answered {status} without JSON: {body}"))?;
        Ok(answer)
    }

    /// The samples of `query` now; fails unless Prometheus answered `success` without warnings.
    pub fn samples(&self, query: &str) -> Result<Vec<Value>> {
        let answer = self.query(query)?;
        ensure!(
            answer["status"] == "success",
            "Prometheus could not evaluate {query:?}: {answer}"
        );
        ensure!(
            answer["warnings"].as_array().is_none_or(Vec::is_empty),
            "Prometheus warned about {query:?}: {answer}"
        );
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits until every target was scraped successfully twice after `since` (Unix seconds), so
    /// that every series that existed by then has two samples and rates over it have data.
    pub fn wait_for_scrapes_after(&self, since: f64, targets: usize) -> Result<()> {
        // A scrape starting more than one interval after `since` follows another after it.
        let after = since + SCRAPE_INTERVAL.as_secs_f64() * 1.5;
        let query = format!("count(timestamp(up == 1) > {after:.3})");
        let mut last = String::new();
        crate::eventually(
            Duration::from_secs(30),
            "Prometheus scraping every target after the scenario",
            || match self.samples(&query) {
                Ok(samples) => {
                    last = format!("{samples:?}");
                    samples.first().and_then(value_of) == Some(targets as f64)
                }
                Err(e) => {
                    last = e.to_string();
                    false
                }
            },
        )
        .with_context(|| format!("last answer: {last}; log:\n{}", self.process.output()))
    }
}

/// Now, in Unix seconds (what [`PrometheusServer::wait_for_scrapes_after`] takes).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The number in a vector sample (`{"metric": …, "value": [time, "number"]}`).
pub fn value_of(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

/// `text` with every byte but the unreserved ones percent-encoded, for a URL query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"sum(rate(x{a=~"b|c"}[1m])) / 2"#),
            "sum%28rate%28x%7Ba%3D~%22b%7Cc%22%7D%5B1m%5D%29%29%20%2F%202"
        );
    }

    #[test]
    fn openmetrics_counters_are_named_by_their_samples_in_the_text_format() {
        let openmetrics = "# HELP a_seconds Time.\n# TYPE a_seconds histogram\n# UNIT a_seconds seconds\na_seconds_count 1\n# HELP b Calls.\n# TYPE b counter\nb_total{x=\"1\"} 2\n# EOF\n";
        assert_eq!(
            to_text_format(openmetrics),
            "# HELP a_seconds Time.\n# TYPE a_seconds histogram\na_seconds_count 1\n# HELP b_total Calls.\n# TYPE b_total counter\nb_total{x=\"1\"} 2\n"
        );
    }

    #[test]
    fn the_scrape_config_lists_each_target_as_a_job() {
        let yaml = scrape_config(&[("selector", "127.0.0.1:1"), ("gateway", "127.0.0.1:2")]);
        assert!(yaml.contains("scrape_interval: 1s"), "{yaml}");
        assert!(
            yaml.contains(
                "  - job_name: selector\n    static_configs:\n      - targets: ['127.0.0.1:1']\n"
            ),
            "{yaml}"
        );
        assert!(yaml.contains("job_name: gateway"), "{yaml}");
    }
}
