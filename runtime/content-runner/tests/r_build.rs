//! The R build and R app modes, with a stand-in `R` script (the host has no R): the probe, the
//! missing-renv and missing-R errors, the environment `renv::restore()` runs with, and how `run`
//! checks for and starts an R app's server.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

mod support;

use support::{Fixture, output, stderr};

/// Answers the runner's version probe (exit 42 = no renv when FAKE_R_NO_RENV is set), its
/// restore call (records what it was given in the library), its package probe (reports
/// FAKE_R_MISSING as missing) and a served app (prints what it was given, then exits).
const FAKE_R: &str = r#"#!/bin/sh
case "$*" in
  *getRversion*) printf '4.4.1'; if [ -n "$FAKE_R_NO_RENV" ]; then exit 42; fi; exit 0 ;;
  *renv::restore*) printf '%s\n%s\n' "$RENV_PATHS_CACHE" "$(pwd)" > "$R_LIBS_USER/restored"; echo restored; exit 0 ;;
  *system.file*) if [ -n "$FAKE_R_MISSING" ]; then echo "$FAKE_R_MISSING"; fi; exit 0 ;;
  *shiny::runApp*) printf 'R_LIBS_USER=%s PORT=%s\n' "$R_LIBS_USER" "$PORT"; for arg in "$@"; do echo "$arg"; done; exit 0 ;;
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

/// The Shiny bundle built with the stand-in R, and `run --r R --port 8123` over it (with
/// FAKE_R_MISSING set to `missing`, when given).
fn serve_shiny(fixture: &Fixture, missing: Option<&str>) -> std::process::Output {
    let r = fake_r(fixture);
    let built = output(fixture.command("build").arg("--r").arg(&r));
    assert!(built.status.success(), "{}", stderr(&built));
    let mut run = fixture.command("run");
    run.arg("--r")
        .arg(&r)
        .args(["--port", "8123", "--host", "0.0.0.0"]);
    if let Some(missing) = missing {
        run.env("FAKE_R_MISSING", missing);
    }
    output(&mut run)
}

#[test]
fn an_r_shiny_app_runs_run_app_with_the_restored_library() {
    let fixture = bundle_with_renv_lock();
    let run = serve_shiny(&fixture, None);
    assert!(run.status.success(), "{}", stderr(&run));
    let library = fixture.path("work/r/library");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!(
            "R_LIBS_USER={} PORT=8123\n--no-save\n--no-restore\n--no-init-file\n-e\nshiny::runApp('.', port = 8123, host = '0.0.0.0', launch.browser = FALSE)\n",
            library.display()
        )
    );
    assert!(
        stderr(&run)
            .contains("execenv-content-runner: serving shiny on 0.0.0.0:8123 (base path none): "),
        "{}",
        stderr(&run)
    );
}

#[test]
fn an_r_app_without_its_server_package_is_refused_before_it_starts() {
    let fixture = bundle_with_renv_lock();
    let run = serve_shiny(&fixture, Some("shiny"));
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "");
    assert!(
        stderr(&run).contains(&format!(
            "app mode shiny needs the R package shiny in the bundle's renv.lock; it is not installed in the build's R library at {}",
            fixture.path("work/r/library").display()
        )),
        "{}",
        stderr(&run)
    );
}
