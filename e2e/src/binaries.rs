//! The programs the tests run: the workspace's own binaries, and the peers that `e2e/infra`
//! scripts build or install (a collector, Prometheus), whose paths arrive in variables.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The folder holding the workspace's built binaries: `EXECENV_BIN_DIR` when set (the benchmark
/// uses the release build), else `target/debug` (under CARGO_TARGET_DIR when that is set).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EXECENV_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

/// The path of a workspace binary; fails with a hint when it has not been built.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir().join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the binaries first (`cargo build --workspace --bins`; `make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// A peer that an `e2e/infra` script builds or installs, and which the tests find through a
/// variable holding its path.
#[derive(Debug, Clone, Copy)]
pub struct InfraBuild {
    /// The variable holding its path (`EXECENV_OTELCOL`).
    pub variable: &'static str,
    /// What it is, for messages ("the OpenTelemetry Collector").
    pub what: &'static str,
    /// What the command does to it, for messages ("built", "installed").
    pub made: &'static str,
    /// The command that builds or installs it and prints its path (`e2e/infra/otelcol build`).
    pub command: &'static str,
}

impl InfraBuild {
    /// The variable `e2e/infra/run-tests` sets, instead of [`InfraBuild::variable`], to why the
    /// peer could not be made; the suite runs on and the tests needing the peer fail with it.
    pub fn unavailable_variable(&self) -> String {
        format!("{}_UNAVAILABLE", self.variable)
    }

    /// Its path when the variable is set; `None` when it is not and nothing says the build
    /// failed (the caller may look elsewhere); an error saying why when the build failed.
    pub fn path(&self) -> Result<Option<PathBuf>> {
        self.path_in(|name| std::env::var_os(name))
    }

    /// [`InfraBuild::path`] with the variables read through `var`.
    fn path_in(&self, var: impl Fn(&str) -> Option<OsString>) -> Result<Option<PathBuf>> {
        if let Some(path) = var(self.variable).filter(|p| !p.is_empty()) {
            return Ok(Some(PathBuf::from(path)));
        }
        if let Some(why) = var(&self.unavailable_variable()) {
            bail!(
                "{} could not be {}, so this test cannot run: `{}` failed:\n{}\n\
                 Fix that and run the tests again, or set {} to its path.",
                self.what,
                self.made,
                self.command,
                why.to_string_lossy().trim_end(),
                self.variable
            );
        }
        Ok(None)
    }

    /// Its path; fails saying why the build failed, or how to make it when nothing was tried.
    pub fn required(&self) -> Result<PathBuf> {
        match self.path()? {
            Some(path) => Ok(path),
            None => bail!(
                "{variable} is not set: get {what} with `{command}` and set {variable} to the path it prints (`make test` does both)",
                variable = self.variable,
                what = self.what,
                command = self.command
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const COLLECTOR: InfraBuild = InfraBuild {
        variable: "EXECENV_OTELCOL",
        what: "the OpenTelemetry Collector",
        made: "built",
        command: "e2e/infra/otelcol build",
    };

    fn vars(set: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let set: Vec<(String, String)> = set
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            set.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn a_built_peer_is_found_through_its_variable() {
        let found = COLLECTOR
            .path_in(vars(&[("EXECENV_OTELCOL", "/cache/otelcol-execenv")]))
            .unwrap();
        assert_eq!(found, Some(PathBuf::from("/cache/otelcol-execenv")));
    }

    #[test]
    fn a_peer_that_could_not_be_built_fails_the_test_naming_the_command_and_why() {
        let error = COLLECTOR
            .path_in(vars(&[(
                "EXECENV_OTELCOL_UNAVAILABLE",
                "otelcol: Go is not installed\n",
            )]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "the OpenTelemetry Collector could not be built, so this test cannot run: \
             `e2e/infra/otelcol build` failed:\notelcol: Go is not installed\n\
             Fix that and run the tests again, or set EXECENV_OTELCOL to its path."
        );
    }

    #[test]
    fn a_peer_nobody_tried_to_build_is_left_to_the_caller() {
        assert_eq!(COLLECTOR.path_in(vars(&[])).unwrap(), None);
    }
}
