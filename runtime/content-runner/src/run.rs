//! The `run` step: start the content in the environment `build` restored, forward SIGTERM and
//! SIGINT to it, and exit with its exit code — or refuse when that build is missing or stale.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use tokio::process::Command;

use crate::bundle::{Bundle, absolute};
use crate::manifest::Manifest;
use crate::plan::{Plan, resolve_program};
use crate::process::{Signals, describe, exit_code};
use crate::record::{BuildRecord, WorkDir, check_build};
use crate::status::{Durations, Outcome, Status, Step, millis};
use crate::{Error, Interpreters, PROGRAM};

/// What `run` starts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The bundle folder; the content's working directory.
    pub bundle: PathBuf,
    /// The work folder `build` filled.
    pub work: PathBuf,
    /// The chosen installations.
    pub interpreters: Interpreters,
    /// The command after `--`; empty to derive it from the manifest.
    pub command: Vec<OsString>,
    /// `PATH`, where interpreters not given are looked up and which the content inherits.
    pub path_var: Option<OsString>,
}

/// Runs the content and reports it: the status file (when given) and the one-line summary.
/// Returns the exit code: the content's, or the runner's own on refusal or invalid input.
pub async fn execute(options: &RunOptions, status_file: Option<&Path>) -> i32 {
    let started = Instant::now();
    let result = run(options).await;
    let durations = Durations {
        total_ms: millis(started.elapsed()),
        install_ms: None,
    };
    let (outcome, exit_code, reason) = match result {
        Ok(status) if status.success() => (Outcome::Succeeded, 0, String::new()),
        Ok(status) => (
            Outcome::Failed,
            exit_code(status),
            format!("the content {}", describe(status)),
        ),
        Err(err @ Error::Refused(_)) => (Outcome::Refused, err.exit_code(), err.to_string()),
        Err(err) => (Outcome::Failed, err.exit_code(), err.to_string()),
    };
    let status = Status {
        step: Step::Run,
        outcome,
        exit_code,
        reason,
        cache_hit: None,
        durations,
        runner: crate::status::this_runner(),
    };
    crate::status::report(&status, status_file);
    status.exit_code
}

/// Starts the content and waits for it; the error says why it did not start.
pub async fn run(options: &RunOptions) -> Result<ExitStatus, Error> {
    // Handlers first: a SIGTERM from now on reaches the content instead of killing the runner.
    let mut signals =
        Signals::install().map_err(|err| Error::io("cannot install signal handlers", err))?;
    let bundle = Bundle::open(&options.bundle)?;
    let work = WorkDir::new(absolute(&options.work)?);
    let record = BuildRecord::read(&work.record()).map_err(Error::Refused)?;
    let Some(record) = record else {
        return Err(Error::Refused(format!(
            "no build record at {}",
            work.record().display()
        )));
    };
    let plan = bundle.plan(&options.interpreters, options.path_var.as_deref())?;
    check_build(Some(&record), &plan.digest(), &work).map_err(Error::Refused)?;

    let (program, args) = content_command(&bundle.manifest, options, &plan, &work)?;
    let mut command = Command::new(&program);
    command.args(&args).current_dir(&bundle.folder);
    // Only additions: the content keeps every variable (and the umask) the supervisor set.
    if plan.python.is_some() {
        let bin = work.venv().join("bin");
        let path = std::env::split_paths(options.path_var.as_deref().unwrap_or_default());
        let path = std::env::join_paths(std::iter::once(bin).chain(path)).map_err(|err| {
            Error::Invalid(format!("PATH cannot hold the virtual environment: {err}"))
        })?;
        command.env("VIRTUAL_ENV", work.venv()).env("PATH", path);
    }
    if plan.r.is_some() {
        command.env("R_LIBS_USER", work.r_library());
    }
    let mut child = command.spawn().map_err(|err| {
        Error::NotStarted(format!(
            "the content command {} could not be started: {err}",
            program.to_string_lossy()
        ))
    })?;
    signals
        .wait(&mut child)
        .await
        .map_err(|err| Error::io("waiting for the content failed", err))
}

/// The command that starts the content: the one after `--`, or the manifest's entrypoint for the
/// app modes the runner knows how to start.
fn content_command(
    manifest: &Manifest,
    options: &RunOptions,
    plan: &Plan,
    work: &WorkDir,
) -> Result<(OsString, Vec<OsString>), Error> {
    if let Some((program, args)) = options.command.split_first() {
        return Ok((program.clone(), args.to_vec()));
    }
    let appmode = manifest.metadata.appmode.as_deref().unwrap_or_default();
    let entrypoint = manifest.entrypoint()?;
    let path_var = options.path_var.as_deref();
    let is_script = appmode == "python-script"
        || entrypoint
            .as_ref()
            .is_some_and(|e| e.extension() == Some(OsStr::new("py")));
    if is_script {
        let entrypoint = entrypoint.ok_or_else(|| {
            Error::Invalid("manifest.json: app mode python-script needs metadata.entrypoint (the script to run)".into())
        })?;
        let python = if plan.python.is_some() {
            work.venv_python()
        } else {
            resolve_program(options.interpreters.python.as_deref(), &["python3", "python"], path_var)
                .map_err(|why| Error::Invalid(format!("the Python interpreter {why} (--python or EXECENV_PYTHON)")))?
                .ok_or_else(|| Error::Invalid("no Python interpreter to run the script: pass --python PATH or set EXECENV_PYTHON".into()))?
        };
        return Ok((python.into(), vec![entrypoint.into()]));
    }
    if matches!(appmode, "quarto-static" | "quarto-shiny") {
        let quarto = resolve_program(options.interpreters.quarto.as_deref(), &["quarto"], path_var)
            .map_err(|why| Error::Invalid(format!("Quarto {why} (--quarto or EXECENV_QUARTO)")))?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "app mode {appmode} needs Quarto but none was given and none is on PATH; pass --quarto PATH or set EXECENV_QUARTO"
                ))
            })?;
        let mut args = vec![OsString::from("render")];
        args.extend(entrypoint.map(OsString::from));
        return Ok((quarto.into(), args));
    }
    let shown = if appmode.is_empty() {
        "(none)"
    } else {
        appmode
    };
    Err(Error::Invalid(format!(
        "app mode {shown} has no command the runner starts by itself; pass the content's command after `--`, e.g. `{PROGRAM} run --bundle B --work W -- python -m uvicorn app:app`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(command: &[&str]) -> RunOptions {
        RunOptions {
            bundle: PathBuf::from("/bundle"),
            work: PathBuf::from("/work"),
            interpreters: Interpreters {
                python: Some(PathBuf::from("/bin/sh")),
                r: None,
                quarto: None,
            },
            command: command.iter().map(OsString::from).collect(),
            path_var: None,
        }
    }

    fn manifest(appmode: &str, entrypoint: &str) -> Manifest {
        Manifest::parse(&format!(
            r#"{{"metadata": {{"appmode": "{appmode}", "entrypoint": "{entrypoint}"}}}}"#
        ))
        .expect("valid")
    }

    fn venv_plan() -> Plan {
        Plan {
            python: Some(crate::plan::PythonPlan {
                interpreter: PathBuf::from("/usr/bin/python3"),
                version: "3.11.7".into(),
                package_file: PathBuf::from("/bundle/requirements.txt"),
                packages: None,
            }),
            r: None,
        }
    }

    #[test]
    fn the_explicit_command_wins() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let (program, args) = content_command(
            &manifest("python-script", "main.py"),
            &options(&["echo", "hi"]),
            &venv_plan(),
            &work,
        )
        .expect("command");
        assert_eq!(
            (program, args),
            (OsString::from("echo"), vec![OsString::from("hi")])
        );
    }

    #[test]
    fn scripts_run_with_the_virtual_environment_python() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let (program, args) = content_command(
            &manifest("python-api", "job.py"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect("command");
        assert_eq!(program, OsString::from("/work/python/venv/bin/python"));
        assert_eq!(args, vec![OsString::from("job.py")]);
    }

    #[test]
    fn other_app_modes_need_an_explicit_command() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let err = content_command(
            &manifest("python-fastapi", "app:app"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect_err("no command");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .contains("app mode python-fastapi has no command"),
            "{err}"
        );
        assert!(err.to_string().contains("after `--`"), "{err}");
    }

    #[test]
    fn quarto_without_quarto_is_invalid_input() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let err = content_command(
            &manifest("quarto-static", "report.qmd"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect_err("no quarto");
        assert!(err.to_string().contains("needs Quarto"), "{err}");
    }
}
