//! The runner binary on the host's real Python and sh: the crate's own checks of the CLI contract
//! (the end-to-end scenarios live in e2e/tests/content_runner.rs).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod support;

use support::{Fixture, RUNNER, output, stderr, terminate, wait_with_deadline};

const PYTHON_SCRIPT: &str = r#"{"metadata": {"appmode": "python-script", "entrypoint": "main.py"},
  "python": {"package_manager": {"name": "pip", "package_file": "requirements.txt"}}, "files": {}}"#;
const NO_PYTHON: &str = r#"{"metadata": {"appmode": "python-api"}, "files": {}}"#;

/// A bundle with `manifest` (and no package file), built.
fn built(manifest: &str) -> Fixture {
    let fixture = Fixture::new(manifest);
    let build = output(&mut fixture.command("build"));
    assert!(build.status.success(), "{}", stderr(&build));
    fixture
}

#[test]
fn python_build_records_the_environment_hits_the_cache_and_runs_the_entrypoint() {
    let fixture = Fixture::new(PYTHON_SCRIPT);
    fixture.write("requirements.txt", "# nothing to install\n");
    fixture.write(
        "main.py",
        "import os, sys\nprint(sys.prefix)\nprint(os.environ['VIRTUAL_ENV'])\nprint(os.getcwd())\n",
    );

    let first = output(fixture.command("build").args(["--python", "python3"]));
    assert!(first.status.success(), "{}", stderr(&first));
    let status = fixture.status();
    assert_eq!(
        (status["step"].as_str(), status["outcome"].as_str()),
        (Some("build"), Some("succeeded"))
    );
    assert_eq!(status["cache_hit"], false);
    let record = fixture.record();
    assert!(
        record["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(
        record["python"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with('/'))
    );
    let version = record["python"]["version"]
        .as_str()
        .expect("version")
        .to_owned();
    assert!(
        record["packages"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "pip"))
    );
    assert!(fixture.path("work/python/venv/bin/python").exists());
    assert!(fixture.path("cache/pip").join(&version).is_dir());

    let second = output(fixture.command("build").args(["--python", "python3"]));
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(fixture.status()["cache_hit"], true);
    assert!(
        stderr(&second).contains("build succeeded in")
            && stderr(&second).contains("(cache hit: nothing installed)")
    );

    let run = output(fixture.command("run").args(["--python", "python3"]));
    assert!(run.status.success(), "{}", stderr(&run));
    let venv = std::fs::canonicalize(fixture.path("work/python/venv")).expect("venv");
    let lines: Vec<PathBuf> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let canonical = |p: &Path| std::fs::canonicalize(p).expect("exists");
    assert_eq!(canonical(&lines[0]), venv);
    assert_eq!(canonical(&lines[1]), venv);
    assert_eq!(canonical(&lines[2]), canonical(&fixture.path("bundle")));
    assert_eq!(fixture.status()["outcome"], "succeeded");

    fixture.write("requirements.txt", "# changed\n");
    let stale = output(fixture.command("run").args(["--python", "python3"]));
    assert_eq!(stale.status.code(), Some(3));
    let message = "the build for this bundle is missing or out of date (";
    assert!(stderr(&stale).contains(message), "{}", stderr(&stale));
    assert!(stderr(&stale).contains("; run `execenv-content-runner build` first"));
    let status = fixture.status();
    assert_eq!(
        (status["outcome"].as_str(), status["exit_code"].as_i64()),
        (Some("refused"), Some(3))
    );
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains(message))
    );
}

#[test]
fn a_failing_install_reports_pips_errors() {
    let fixture = Fixture::new(PYTHON_SCRIPT);
    fixture.write("requirements.txt", "execenv-no-such-package==1.0\n");
    std::fs::create_dir(fixture.path("wheels")).expect("mkdir");
    let failed = output(
        fixture
            .command("build")
            .args(["--python", "python3"])
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", fixture.path("wheels")),
    );
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains(
            "[pip] ERROR: No matching distribution found for execenv-no-such-package==1.0"
        )
    );
    let status = fixture.status();
    assert_eq!(status["outcome"], "failed");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ERROR: No matching distribution")),
        "{status}"
    );
    assert!(!fixture.path("work/build-record.json").exists());
    let refused = output(fixture.command("run").args(["--python", "python3"]));
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        stderr(&refused).contains("no build record at"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_missing_manifest_is_invalid_input() {
    let fixture = Fixture::new("{}");
    std::fs::remove_file(fixture.path("bundle/manifest.json")).expect("rm");
    let missing = output(&mut fixture.command("build"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("manifest.json: cannot read the bundle's manifest"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(fixture.status()["exit_code"], 2);
    fixture.write("manifest.json", "{not json");
    let invalid = output(&mut fixture.command("build"));
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        stderr(&invalid).contains("not a valid manifest"),
        "{}",
        stderr(&invalid)
    );
}

#[test]
fn run_needs_a_port_or_a_command_for_app_modes_that_serve() {
    let fixture = built(NO_PYTHON);
    let run = output(&mut fixture.command("run"));
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("app mode python-api serves on a port and none was given; pass --port PORT (or set EXECENV_CONTENT_PORT), or pass the content's command after `--`"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn run_needs_a_command_for_app_modes_it_cannot_start() {
    let fixture = built(r#"{"metadata": {"appmode": "jupyter-voila"}, "files": {}}"#);
    let run = output(fixture.command("run").args(["--port", "8080"]));
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("app mode jupyter-voila has no command the runner starts by itself; pass the content's command after `--`"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn run_checks_the_address_flags_and_their_variables() {
    let fixture = built(NO_PYTHON);
    let trailing = output(
        fixture
            .command("run")
            .env("EXECENV_CONTENT_BASE_PATH", "/content/abc/")
            .args(["--port", "8080", "--", "true"]),
    );
    assert_eq!(trailing.status.code(), Some(2));
    assert!(
        stderr(&trailing).contains("--base-path \"/content/abc/\" must be empty or a path that starts with `/` and does not end with `/`"),
        "{}",
        stderr(&trailing)
    );
    assert_eq!(fixture.status()["exit_code"], 2);
    let zero = output(fixture.command("run").args(["--port", "0", "--", "true"]));
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("--port"), "{}", stderr(&zero));
}

#[test]
fn a_given_command_gets_the_port_and_the_serving_line() {
    let fixture = built(NO_PYTHON);
    let run = output(
        fixture
            .command("run")
            .env("EXECENV_CONTENT_PORT", "8181")
            .env("EXECENV_CONTENT_HOST", "0.0.0.0")
            .args([
                "--base-path",
                "/content/abc",
                "--",
                "sh",
                "-c",
                "echo $PORT",
            ]),
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "8181\n");
    assert!(
        stderr(&run).contains("execenv-content-runner: serving python-api on 0.0.0.0:8181 (base path /content/abc): sh -c 'echo $PORT'\n"),
        "{}",
        stderr(&run)
    );
}

/// Starts `run -- sh -c SCRIPT` and waits until the content prints `ready`.
fn start_content(fixture: &Fixture, script: &str) -> Child {
    assert!(output(&mut fixture.command("build")).status.success());
    let mut child = fixture
        .command("run")
        .args(["--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line, "ready\n");
    child
}

#[test]
fn sigterm_reaches_the_content_and_its_exit_code_comes_back() {
    let fixture = Fixture::new(NO_PYTHON);
    let mut child = start_content(
        &fixture,
        "trap 'exit 7' TERM; echo ready; while :; do sleep 1 & wait $!; done",
    );
    terminate(&child);
    assert_eq!(wait_with_deadline(&mut child).code(), Some(7));
    let status = fixture.status();
    assert_eq!(
        (status["outcome"].as_str(), status["exit_code"].as_i64()),
        (Some("failed"), Some(7))
    );
}

#[test]
fn content_killed_by_a_signal_exits_with_128_plus_the_signal() {
    let fixture = Fixture::new(NO_PYTHON);
    let mut child = start_content(&fixture, "echo ready; exec sleep 600");
    terminate(&child);
    assert_eq!(wait_with_deadline(&mut child).code(), Some(143));
    assert!(
        fixture.status()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signal 15"))
    );
}

#[test]
fn content_inherits_the_supervisors_environment_and_umask() {
    let fixture = built(NO_PYTHON);
    let supervisor = fixture.path("supervisor.sh");
    std::fs::write(
        &supervisor,
        "umask 027\nexport SUPERVISED=yes\nexec \"$@\"\n",
    )
    .expect("write");
    let mut run = fixture.command("run");
    run.args(["--", "sh", "-c", "umask; echo $SUPERVISED"]);
    let mut wrapped = Command::new("sh");
    wrapped
        .arg(&supervisor)
        .arg(run.get_program())
        .args(run.get_args());
    let output = output(wrapped.env_remove("EXECENV_PYTHON"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0027\nyes\n");
}

#[test]
fn install_runtime_copies_the_runner_and_needs_its_destination() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = output(
        Command::new(RUNNER)
            .arg("install-runtime")
            .arg(dir.path().join("absent")),
    );
    assert_eq!(absent.status.code(), Some(1));
    assert!(
        stderr(&absent).contains("absent: no such folder"),
        "{}",
        stderr(&absent)
    );

    let installed = output(Command::new(RUNNER).arg("install-runtime").arg(dir.path()));
    assert!(installed.status.success(), "{}", stderr(&installed));
    let copy = dir.path().join("bin/execenv-content-runner");
    assert_eq!(
        std::fs::read(&copy).expect("copy"),
        std::fs::read(RUNNER).expect("runner")
    );
    let version = output(Command::new(&copy).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("execenv-content-runner "));
}
