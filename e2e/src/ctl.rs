//! Running the real `execenvctl`, and what it printed.

use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

use crate::binary;

/// Runs `execenvctl` with `connection` flags, then `args`.
pub fn ctl(connection: &[&str], args: &[&str]) -> Result<CtlOutput> {
    let out = Command::new(binary("execenvctl")?)
        .args(connection)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    Ok(CtlOutput::from(out))
}

/// What one `execenvctl` run printed.
#[derive(Debug)]
pub struct CtlOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for CtlOutput {
    fn from(o: Output) -> Self {
        CtlOutput {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl CtlOutput {
    /// Fails unless the run exited 0.
    pub fn ok(self) -> Result<CtlOutput> {
        if self.code != 0 {
            bail!(
                "execenvctl exited {}:\nstdout: {}\nstderr: {}",
                self.code,
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("execenvctl printed no JSON: {}", self.stdout))
    }
}

/// The text field `name` of a JSON object `execenvctl` printed (a guid, a key).
pub fn field(value: &serde_json::Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {name} in {value}"))
}
