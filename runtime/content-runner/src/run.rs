//! The `run` step: start the content in the environment `build` restored — with a port, an
//! interactive app mode's server (see [`crate::serve`]) — forward SIGTERM and SIGINT to it, and
//! exit with its exit code; or refuse when that build is missing or stale.

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
use crate::serve::{self, AppMode, ContentCommand, Listen, quarto_program};
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
    /// The port to serve on (`--port`); with it, the app mode chooses the server command.
    pub port: Option<u16>,
    /// The address to bind (`--host`).
    pub host: String,
    /// The public path prefix the gateway strips (`--base-path`); empty at the root.
    pub base_path: String,
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
    let listen = Listen::from_flags(options.port, &options.host, &options.base_path)?;
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

    let appmode = bundle.manifest.appmode();
    let content = match (&listen, AppMode::parse(appmode)) {
        (Some(listen), Some(mode)) if options.command.is_empty() => {
            serve::prepare(
                mode,
                &bundle.manifest,
                &plan,
                &work,
                listen,
                &options.interpreters,
                options.path_var.as_deref(),
            )
            .await?
        }
        _ => content_command(&bundle.manifest, options, &plan, &work)?,
    };
    let mut command = Command::new(&content.program);
    command
        .args(&content.args)
        .envs(content.env.iter().map(|(name, value)| (name, value)))
        .current_dir(&bundle.folder);
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
    if let Some(listen) = &listen {
        command.env("PORT", listen.port.to_string());
        eprintln!("{}", serving_line(appmode, listen, &content));
    }
    let mut child = command.spawn().map_err(|err| {
        Error::NotStarted(format!(
            "the content command {} could not be started: {err}",
            content.program.to_string_lossy()
        ))
    })?;
    signals
        .wait(&mut child)
        .await
        .map_err(|err| Error::io("waiting for the content failed", err))
}

/// The line the runner logs before it starts content on a port.
fn serving_line(appmode: &str, listen: &Listen, content: &ContentCommand) -> String {
    let base = if listen.base_path.is_empty() {
        "none"
    } else {
        &listen.base_path
    };
    format!(
        "{PROGRAM}: serving {} on {} (base path {base}): {}",
        shown(appmode),
        listen.address(),
        content.display()
    )
}

/// An app mode for a message; `(none)` when the manifest names none.
fn shown(appmode: &str) -> &str {
    if appmode.is_empty() {
        "(none)"
    } else {
        appmode
    }
}

/// The command that starts the content when it is not served by an app mode's server: the one
/// after `--`, or the manifest's entrypoint for the app modes that run to an end.
fn content_command(
    manifest: &Manifest,
    options: &RunOptions,
    plan: &Plan,
    work: &WorkDir,
) -> Result<ContentCommand, Error> {
    if let Some((program, args)) = options.command.split_first() {
        return Ok(ContentCommand::new(program, args.to_vec()));
    }
    let appmode = manifest.appmode();
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
        return Ok(ContentCommand::new(python, vec![entrypoint.into()]));
    }
    if matches!(appmode, "quarto-static" | "quarto-shiny") {
        let quarto = quarto_program(appmode, options.interpreters.quarto.as_deref(), path_var)?;
        let mut args = vec![OsString::from("render")];
        args.extend(entrypoint.map(OsString::from));
        return Ok(ContentCommand::new(quarto, args));
    }
    if AppMode::parse(appmode).is_some() {
        return Err(Error::Invalid(format!(
            "app mode {appmode} serves on a port and none was given; pass --port PORT (or set EXECENV_CONTENT_PORT), or pass the content's command after `--`"
        )));
    }
    Err(Error::Invalid(format!(
        "app mode {} has no command the runner starts by itself; pass the content's command after `--`, e.g. `{PROGRAM} run --bundle B --work W -- python -m uvicorn app:app`",
        shown(appmode)
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
            port: None,
            host: "127.0.0.1".into(),
            base_path: String::new(),
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
        let command = content_command(
            &manifest("python-script", "main.py"),
            &options(&["echo", "hi"]),
            &venv_plan(),
            &work,
        )
        .expect("command");
        assert_eq!(
            command,
            ContentCommand::new("echo", vec![OsString::from("hi")])
        );
    }

    #[test]
    fn scripts_run_with_the_virtual_environment_python() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let command = content_command(
            &manifest("python-api", "job.py"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect("command");
        assert_eq!(
            command,
            ContentCommand::new(
                "/work/python/venv/bin/python",
                vec![OsString::from("job.py")]
            )
        );
    }

    #[test]
    fn interactive_app_modes_without_a_port_need_one_or_a_command() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let err = content_command(
            &manifest("python-fastapi", "app:app"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect_err("no port");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "app mode python-fastapi serves on a port and none was given; pass --port PORT (or set EXECENV_CONTENT_PORT), or pass the content's command after `--`"
        );
    }

    #[test]
    fn unknown_app_modes_need_an_explicit_command() {
        let work = WorkDir::new(PathBuf::from("/work"));
        let err = content_command(
            &manifest("jupyter-voila", "notebook.ipynb"),
            &options(&[]),
            &venv_plan(),
            &work,
        )
        .expect_err("no command");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "app mode jupyter-voila has no command the runner starts by itself; pass the content's command after `--`, e.g. `execenv-content-runner run --bundle B --work W -- python -m uvicorn app:app`"
        );
    }

    #[test]
    fn the_serving_line_names_mode_address_base_path_and_command() {
        let listen = Listen::from_flags(Some(8080), "0.0.0.0", "/content/abc")
            .expect("valid")
            .expect("a port");
        let command = ContentCommand::new(
            "/w/bin/python",
            vec![OsString::from("-m"), OsString::from("uvicorn")],
        );
        assert_eq!(
            serving_line("python-fastapi", &listen, &command),
            "execenv-content-runner: serving python-fastapi on 0.0.0.0:8080 (base path /content/abc): /w/bin/python -m uvicorn"
        );
        let root = Listen::from_flags(Some(8080), "127.0.0.1", "")
            .expect("valid")
            .expect("a port");
        assert_eq!(
            serving_line("", &root, &command),
            "execenv-content-runner: serving (none) on 127.0.0.1:8080 (base path none): /w/bin/python -m uvicorn"
        );
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
