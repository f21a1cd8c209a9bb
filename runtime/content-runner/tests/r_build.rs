//! The R build, with a stand-in `R` script (the host has no R): the probe, the missing-renv and
//! missing-R errors, and the environment `renv::restore()` runs with.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

mod support;

use support::{Fixture, output, stderr};

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

/// A Shiny bundle with an (empty) renv.lock, so `build` restores an R library.
fn bundle_with_renv_lock() -> Fixture {
    let fixture = Fixture::new(r#"{"metadata": {"appmode": "shiny"}, "files": {}}"#);
    fixture.write(
        "renv.lock",
        r#"{"R": {"Version": "4.4.1"}, "Packages": {}}"#,
    );
    fixture
}

/// The stand-in R, written next to the bundle.
fn fake_r(fixture: &Fixture) -> PathBuf {
    let r = fixture.path("R");
    std::fs::write(&r, FAKE_R).expect("write");
    std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    r
}

#[test]
fn renv_restore_runs_in_the_bundle_with_the_cache_and_library() {
    let fixture = bundle_with_renv_lock();
    let r = fake_r(&fixture);
    let built = output(fixture.command("build").arg("--r").arg(&r));
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(
        stderr(&built).contains("[renv] restored"),
        "{}",
        stderr(&built)
    );
    let restored =
        std::fs::read_to_string(fixture.path("work/r/library/restored")).expect("restored");
    let canonical_bundle = std::fs::canonicalize(fixture.path("bundle")).expect("bundle");
    assert_eq!(
        restored,
        format!(
            "{}\n{}\n",
            fixture.path("cache/renv").display(),
            canonical_bundle.display()
        )
    );
    let record = fixture.record();
    assert_eq!(record["r"]["version"], "4.4.1");
    assert_eq!(record["r"]["path"], r.display().to_string());
    assert_eq!(record["python"], Value::Null);

    let again = output(fixture.command("build").env("EXECENV_R", &r));
    assert!(stderr(&again).contains("cache hit"), "{}", stderr(&again));
}

#[test]
fn an_r_without_renv_is_a_clear_error() {
    let fixture = bundle_with_renv_lock();
    let r = fake_r(&fixture);
    let built = output(
        fixture
            .command("build")
            .arg("--r")
            .arg(&r)
            .env("FAKE_R_NO_RENV", "1"),
    );
    assert_eq!(built.status.code(), Some(1));
    assert!(
        stderr(&built).contains("has no renv package; install renv"),
        "{}",
        stderr(&built)
    );
}

#[test]
fn a_missing_r_is_a_clear_error() {
    let fixture = bundle_with_renv_lock();
    let built = output(fixture.command("build").env("PATH", fixture.path("empty")));
    assert_eq!(built.status.code(), Some(2));
    let message = stderr(&built);
    assert!(
        message.contains("the bundle has renv.lock but R was not found")
            && message.contains("pass --r PATH"),
        "{message}"
    );
    assert!(
        fixture.status()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("R was not found"))
    );
}
