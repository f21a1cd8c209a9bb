//! The R build, with a stand-in `R` script (the host has no R): the probe, the missing-renv and
//! missing-R errors, and the environment `renv::restore()` runs with.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const RUNNER: &str = env!("CARGO_BIN_EXE_execenv-content-runner");

/// Answers the runner's version probe (exit 42 = no renv when FAKE_R_NO_RENV is set) and its
/// restore call (records what it was given in the library).
const FAKE_R: &str = r#"#!/bin/sh
case "$*" in
  *getRversion*) printf '4.4.1'; if [ -n "$FAKE_R_NO_RENV" ]; then exit 42; fi; exit 0 ;;
  *renv::restore*) printf '%s\n%s\n' "$RENV_PATHS_CACHE" "$(pwd)" > "$R_LIBS_USER/restored"; echo restored; exit 0 ;;
esac
echo "unexpected arguments: $*" >&2
exit 9
"#;

fn bundle_with_renv_lock(dir: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    std::fs::create_dir(&bundle).expect("mkdir");
    std::fs::write(
        bundle.join("manifest.json"),
        r#"{"metadata": {"appmode": "shiny"}, "files": {}}"#,
    )
    .expect("write");
    std::fs::write(
        bundle.join("renv.lock"),
        r#"{"R": {"Version": "4.4.1"}, "Packages": {}}"#,
    )
    .expect("write");
    bundle
}

fn fake_r(dir: &Path) -> PathBuf {
    let r = dir.join("R");
    std::fs::write(&r, FAKE_R).expect("write");
    std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    r
}

fn build(dir: &Path, bundle: &Path) -> Command {
    let mut command = Command::new(RUNNER);
    command
        .arg("build")
        .arg("--bundle")
        .arg(bundle)
        .arg("--work")
        .arg(dir.join("work"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .arg("--status-file")
        .arg(dir.join("status.json"))
        .env_remove("EXECENV_PYTHON")
        .env_remove("EXECENV_R");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn renv_restore_runs_in_the_bundle_with_the_cache_and_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_renv_lock(dir.path());
    let r = fake_r(dir.path());
    let output = build(dir.path(), &bundle)
        .arg("--r")
        .arg(&r)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[renv] restored"),
        "{}",
        stderr(&output)
    );
    let restored =
        std::fs::read_to_string(dir.path().join("work/r/library/restored")).expect("restored");
    let canonical_bundle = std::fs::canonicalize(&bundle).expect("bundle");
    assert_eq!(
        restored,
        format!(
            "{}\n{}\n",
            dir.path().join("cache/renv").display(),
            canonical_bundle.display()
        )
    );
    let record: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("work/build-record.json")).expect("record"),
    )
    .expect("json");
    assert_eq!(record["r"]["version"], "4.4.1");
    assert_eq!(record["r"]["path"], r.display().to_string());
    assert_eq!(record["python"], Value::Null);

    let again = build(dir.path(), &bundle)
        .env("EXECENV_R", &r)
        .output()
        .expect("run");
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));
}

#[test]
fn an_r_without_renv_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_renv_lock(dir.path());
    let r = fake_r(dir.path());
    let output = build(dir.path(), &bundle)
        .arg("--r")
        .arg(&r)
        .env("FAKE_R_NO_RENV", "1")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no renv package; install renv"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_r_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_with_renv_lock(dir.path());
    let output = build(dir.path(), &bundle)
        .env("PATH", dir.path().join("empty"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("the bundle has renv.lock but R was not found")
            && message.contains("pass --r PATH"),
        "{message}"
    );
    let status: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("status.json")).expect("status"))
            .expect("json");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("R was not found"))
    );
}
