//! The final status of a step: JSON for machines (`--status-file`) and one line for people.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::PROGRAM;
use crate::record::write_atomically;

/// Which step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Package restore.
    Build,
    /// Content execution.
    Run,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Exit code 0.
    Succeeded,
    /// Invalid input, a failed build, or content that exited non-zero.
    Failed,
    /// `run` found no matching build.
    Refused,
}

/// The machine-readable status of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `build` or `run`.
    pub step: Step,
    /// `succeeded`, `failed` or `refused`.
    pub outcome: Outcome,
    /// The runner's exit code.
    pub exit_code: i32,
    /// Why it did not succeed; empty on success.
    pub reason: String,
    /// Whether the build found its environment up to date (build only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<bool>,
    /// How long it took.
    pub durations: Durations,
    /// The runner that ran the step (its own path): in a content container, the copy the init
    /// container put in the runtime volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<PathBuf>,
}

/// This program's path, for [`Status::runner`].
pub fn this_runner() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    /// The whole step.
    pub total_ms: u64,
    /// Creating the environment and installing packages (build only; 0 on a cache hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_ms: Option<u64>,
}

impl Status {
    /// Writes the status to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json.push(b'\n');
        write_atomically(path, &json)
    }

    /// The one-line summary, e.g.
    /// `execenv-content-runner: build succeeded in 3.2 s (cache hit: nothing installed)`.
    pub fn summary(&self) -> String {
        let step = match self.step {
            Step::Build => "build",
            Step::Run => "run",
        };
        let took = seconds(Duration::from_millis(self.durations.total_ms));
        match self.outcome {
            Outcome::Succeeded => {
                let detail = match self.cache_hit {
                    Some(true) => " (cache hit: nothing installed)",
                    Some(false) => " (packages installed)",
                    None => "",
                };
                format!("{PROGRAM}: {step} succeeded in {took}{detail}")
            }
            Outcome::Failed => {
                let first = self.reason.lines().next().unwrap_or_default();
                format!(
                    "{PROGRAM}: {step} failed in {took} (exit code {}): {first}",
                    self.exit_code
                )
            }
            Outcome::Refused => format!("{PROGRAM}: {step} refused: {}", self.reason),
        }
    }
}

/// Reports a finished step: the summary line on stderr and, when asked, the status file.
pub fn report(status: &Status, status_file: Option<&Path>) {
    eprintln!("{}", status.summary());
    if let Some(path) = status_file
        && let Err(err) = status.write(path)
    {
        eprintln!(
            "{PROGRAM}: cannot write the status file {}: {err}",
            path.display()
        );
    }
}

/// `d` as seconds with one decimal, e.g. `3.2 s`.
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A duration in whole milliseconds.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_status(outcome: Outcome, exit_code: i32, reason: &str, cache_hit: bool) -> Status {
        Status {
            step: Step::Build,
            outcome,
            exit_code,
            reason: reason.into(),
            cache_hit: Some(cache_hit),
            durations: Durations {
                total_ms: 3_240,
                install_ms: Some(0),
            },
            runner: None,
        }
    }

    #[test]
    fn status_json_has_the_contract_fields() {
        let status = build_status(Outcome::Succeeded, 0, "", true);
        let json = serde_json::to_value(&status).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "step": "build", "outcome": "succeeded", "exit_code": 0, "reason": "",
                "cache_hit": true, "durations": {"total_ms": 3240, "install_ms": 0}
            })
        );
        let run = Status {
            step: Step::Run,
            outcome: Outcome::Refused,
            exit_code: 3,
            reason: "why".into(),
            cache_hit: None,
            durations: Durations {
                total_ms: 5,
                install_ms: None,
            },
            runner: Some("/opt/execenv/runtime/bin/execenv-content-runner".into()),
        };
        let json = serde_json::to_value(&run).expect("json");
        assert_eq!(json["outcome"], "refused");
        assert!(json.get("cache_hit").is_none());
        assert!(json["durations"].get("install_ms").is_none());
        assert_eq!(
            json["runner"],
            "/opt/execenv/runtime/bin/execenv-content-runner"
        );
    }

    #[test]
    fn status_file_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status.json");
        let status = build_status(Outcome::Failed, 1, "ERROR: no matching distribution", false);
        status.write(&path).expect("write");
        let read: Status =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(read, status);
    }

    #[test]
    fn summaries_are_one_line() {
        assert_eq!(
            build_status(Outcome::Succeeded, 0, "", true).summary(),
            "execenv-content-runner: build succeeded in 3.2 s (cache hit: nothing installed)"
        );
        assert_eq!(
            build_status(Outcome::Failed, 1, "ERROR: one\nERROR: two", false).summary(),
            "execenv-content-runner: build failed in 3.2 s (exit code 1): ERROR: one"
        );
        let mut refused = build_status(Outcome::Refused, 3, "the build is missing", false);
        refused.step = Step::Run;
        assert_eq!(
            refused.summary(),
            "execenv-content-runner: run refused: the build is missing"
        );
    }
}
