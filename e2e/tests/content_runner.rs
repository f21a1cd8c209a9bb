//! The content runner on the host's real Python: builds a bundle offline from a wheel
//! the test makes itself, runs it, caches, refuses stale builds, forwards signals and runs under a
//! supervisor. No network: pip sees only `PIP_NO_INDEX=1` and a local `PIP_FIND_LINKS` folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::python::{host_python, make_wheel};
use execenv_e2e::{binary, eventually};
use serde_json::Value;

struct Bed {
    root: tempfile::TempDir,
    python: String,
}

impl Bed {
    fn new(requirements: &str, app: &str) -> Result<Bed> {
        let root = tempfile::tempdir()?;
        let bed = Bed {
            root,
            python: host_python()?,
        };
        std::fs::create_dir_all(bed.wheels())?;
        make_wheel(&bed.wheels(), "0.1.0")?;
        make_wheel(&bed.wheels(), "0.2.0")?;
        std::fs::create_dir_all(bed.bundle())?;
        std::fs::write(
            bed.bundle().join("manifest.json"),
            r#"{"version": 1, "metadata": {"appmode": "python-script", "entrypoint": "app.py"},
                "python": {"version": "3.11.7", "package_manager": {"name": "pip", "package_file": "requirements.txt"}},
                "files": {"app.py": {"checksum": "x"}, "requirements.txt": {"checksum": "y"}}}"#,
        )?;
        bed.requirements(requirements)?;
        std::fs::write(bed.bundle().join("app.py"), app)?;
        Ok(bed)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    fn wheels(&self) -> PathBuf {
        self.path("wheels")
    }
    fn bundle(&self) -> PathBuf {
        self.path("bundle")
    }

    fn requirements(&self, text: &str) -> Result<()> {
        Ok(std::fs::write(
            self.bundle().join("requirements.txt"),
            text,
        )?)
    }

    fn command(&self, step: &str, status: &str) -> Result<Command> {
        let mut c = Command::new(binary("execenv-content-runner")?);
        c.arg(step)
            .arg("--bundle")
            .arg(self.bundle())
            .arg("--work")
            .arg(self.path("work"))
            .arg("--python")
            .arg(&self.python)
            .arg("--status-file")
            .arg(self.path(status))
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", self.wheels())
            .stdin(Stdio::null());
        if step == "build" {
            c.arg("--cache").arg(self.path("cache"));
        }
        Ok(c)
    }

    fn build(&self) -> Result<(Output, Value)> {
        let out = self.command("build", "build-status.json")?.output()?;
        Ok((out, self.status("build-status.json")?))
    }

    fn run(&self, command: &[&str]) -> Result<(Output, Value)> {
        let mut c = self.command("run", "run-status.json")?;
        if !command.is_empty() {
            c.arg("--").args(command);
        }
        let out = c.output()?;
        Ok((out, self.status("run-status.json")?))
    }

    fn status(&self, name: &str) -> Result<Value> {
        let text = std::fs::read_to_string(self.path(name))
            .with_context(|| format!("no status file {name}"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const APP: &str = "import tinypkg\nprint(tinypkg.VALUE)\n";

#[test]
fn a_bundle_builds_offline_and_runs_a_script_that_imports_its_package() -> Result<()> {
    let bed = Bed::new("tinypkg==0.1.0\n", APP)?;
    let (out, status) = bed.build()?;
    ensure!(out.status.success(), "build failed: {}", text(&out.stderr));
    ensure!(
        status["step"] == "build"
            && status["outcome"] == "succeeded"
            && status["cache_hit"] == false,
        "{status}"
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(
        bed.path("work/build-record.json"),
    )?)?;
    ensure!(
        record["packages"].to_string().contains("tinypkg"),
        "build record lists the packages: {record}"
    );
    let (out, status) = bed.run(&[])?;
    ensure!(out.status.success(), "run failed: {}", text(&out.stderr));
    ensure!(
        text(&out.stdout).contains("hello from tinypkg 0.1.0"),
        "{}",
        text(&out.stdout)
    );
    ensure!(
        status["step"] == "run" && status["outcome"] == "succeeded" && status["exit_code"] == 0,
        "{status}"
    );
    Ok(())
}

#[test]
fn a_second_build_of_the_same_bundle_is_a_cache_hit_that_installs_nothing() -> Result<()> {
    let bed = Bed::new("tinypkg==0.1.0\n", APP)?;
    ensure!(bed.build()?.0.status.success());
    let (out, status) = bed.build()?;
    ensure!(
        out.status.success() && status["cache_hit"] == true,
        "{status}"
    );
    ensure!(
        !text(&out.stderr).contains("Installing collected packages"),
        "pip installed again: {}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn a_changed_requirements_file_rebuilds() -> Result<()> {
    let bed = Bed::new("tinypkg==0.1.0\n", APP)?;
    ensure!(bed.build()?.0.status.success());
    bed.requirements("tinypkg==0.2.0\n")?;
    let (out, status) = bed.build()?;
    ensure!(
        out.status.success() && status["cache_hit"] == false,
        "{status}"
    );
    let (out, _) = bed.run(&[])?;
    ensure!(
        text(&out.stdout).contains("hello from tinypkg 0.2.0"),
        "{}",
        text(&out.stdout)
    );
    Ok(())
}

#[test]
fn run_without_a_matching_build_refuses_and_says_to_rebuild() -> Result<()> {
    let bed = Bed::new("tinypkg==0.1.0\n", APP)?;
    let (out, status) = bed.run(&[])?;
    ensure!(
        out.status.code() == Some(3),
        "refused with exit code 3: {:?}",
        out.status
    );
    ensure!(
        text(&out.stderr).contains("execenv-content-runner build"),
        "{}",
        text(&out.stderr)
    );
    ensure!(status["outcome"] == "refused", "{status}");
    ensure!(bed.build()?.0.status.success());
    bed.requirements("tinypkg==0.2.0\n")?;
    let (out, _) = bed.run(&[])?;
    ensure!(
        out.status.code() == Some(3),
        "a build of other requirements does not count: {:?}",
        out.status
    );
    Ok(())
}

#[test]
fn a_failing_install_exits_non_zero_with_pips_reason_in_the_status_file() -> Result<()> {
    let bed = Bed::new("doesnotexist==1.0\n", APP)?;
    let (out, status) = bed.build()?;
    ensure!(!out.status.success(), "the build fails");
    ensure!(
        status["outcome"] == "failed" && status["exit_code"] != 0,
        "{status}"
    );
    let reason = status["reason"].as_str().unwrap_or_default();
    ensure!(
        reason.contains("doesnotexist"),
        "pip's reason is in the status: {reason}"
    );
    Ok(())
}

#[test]
fn sigterm_to_the_runner_reaches_the_content_and_its_exit_code_comes_back() -> Result<()> {
    let app = "import signal, sys, time, pathlib\n\
               def stop(*_):\n    print('content got SIGTERM', flush=True)\n    sys.exit(42)\n\
               signal.signal(signal.SIGTERM, stop)\n\
               pathlib.Path(sys.argv[1]).write_text('ready')\n\
               while True:\n    time.sleep(0.05)\n";
    let bed = Bed::new("tinypkg==0.1.0\n", app)?;
    ensure!(bed.build()?.0.status.success());
    let ready = bed.path("ready");
    let ready_arg = ready.display().to_string();
    let child = bed
        .command("run", "run-status.json")?
        .arg("--")
        .args(["python", "app.py", &ready_arg])
        .stdout(Stdio::piped())
        .spawn()?;
    eventually(Duration::from_secs(30), "the content to start", || {
        ready.exists()
    })?;
    let pid = child.id().to_string();
    ensure!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()?
            .success()
    );
    let out = child.wait_with_output()?;
    ensure!(
        out.status.code() == Some(42),
        "the content's exit code comes back: {:?}",
        out.status
    );
    ensure!(text(&out.stdout).contains("content got SIGTERM"));
    ensure!(bed.status("run-status.json")?["exit_code"] == 42);
    Ok(())
}

#[test]
fn a_supervisor_wraps_the_runner_and_the_content_sees_what_it_set() -> Result<()> {
    let bed = Bed::new("tinypkg==0.1.0\n", APP)?;
    ensure!(bed.build()?.0.status.success());
    let supervisor = bed.path("supervisor.sh");
    std::fs::write(
        &supervisor,
        "#!/bin/sh\nexport SUPERVISED_BY=execenv-test\numask 027\nexec \"$@\"\n",
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&supervisor, std::fs::Permissions::from_mode(0o755))?;
    let runner = bed.command("run", "run-status.json")?;
    let mut wrapped = Command::new(&supervisor);
    wrapped.arg(runner.get_program()).args(runner.get_args());
    for (k, v) in runner.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let check = "import os, tinypkg; print(os.environ.get('SUPERVISED_BY')); print(oct(os.umask(0))); print(tinypkg.VALUE)";
    let out = wrapped.args(["--", "python", "-c", check]).output()?;
    let stdout = text(&out.stdout);
    ensure!(out.status.success(), "{}", text(&out.stderr));
    ensure!(
        stdout.contains("execenv-test")
            && stdout.contains("0o27")
            && stdout.contains("tinypkg 0.1.0"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn install_runtime_copies_the_runner_and_refuses_a_missing_folder() -> Result<()> {
    let dest = tempfile::tempdir()?;
    let out = Command::new(binary("execenv-content-runner")?)
        .arg("install-runtime")
        .arg(dest.path())
        .output()?;
    ensure!(out.status.success(), "{}", text(&out.stderr));
    let copied = walk(dest.path());
    ensure!(
        copied.iter().any(|p| p.ends_with("execenv-content-runner")),
        "{copied:?}"
    );
    let missing = dest.path().join("absent");
    let out = Command::new(binary("execenv-content-runner")?)
        .arg("install-runtime")
        .arg(&missing)
        .output()?;
    ensure!(
        !out.status.success() && text(&out.stderr).contains("absent"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
