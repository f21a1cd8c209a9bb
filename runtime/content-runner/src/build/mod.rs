//! The `build` step: restore the bundle's packages into the work folder, unless the recorded
//! build already matches the bundle and interpreters (a cache hit).

mod python;
mod r;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::bundle::{Bundle, absolute};
use crate::plan::Plan;
use crate::process::Signals;
use crate::record::{BuildRecord, Installation, WorkDir, check_build, rfc3339_utc};
use crate::serve::{AppMode, ServerPackage, check_python_server};
use crate::status::{Durations, Outcome, Status, Step, millis};
use crate::{Error, Interpreters};

/// What `build` works on.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The bundle folder (with `manifest.json`).
    pub bundle: PathBuf,
    /// The work folder (`build-record.json`, `python/venv`, `r/library`).
    pub work: PathBuf,
    /// The package cache folder, shared by the builds of one image.
    pub cache: PathBuf,
    /// The chosen installations.
    pub interpreters: Interpreters,
    /// `PATH`, where interpreters not given are looked up.
    pub path_var: Option<OsString>,
}

/// What a successful build did.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The recorded build matched: nothing was installed.
    pub cache_hit: bool,
    /// Time spent creating environments and installing packages.
    pub install: Duration,
}

/// Runs the build and reports it: the status file (when given) and the one-line summary.
/// Returns the exit code.
pub async fn execute(options: &BuildOptions, status_file: Option<&Path>) -> i32 {
    let started = Instant::now();
    let result = build(options).await;
    let total_ms = millis(started.elapsed());
    let status = match result {
        Ok(built) => Status {
            step: Step::Build,
            outcome: Outcome::Succeeded,
            exit_code: 0,
            reason: String::new(),
            cache_hit: Some(built.cache_hit),
            durations: Durations {
                total_ms,
                install_ms: Some(millis(built.install)),
            },
            runner: crate::status::this_runner(),
        },
        Err(err) => Status {
            step: Step::Build,
            outcome: Outcome::Failed,
            exit_code: err.exit_code(),
            reason: err.to_string(),
            cache_hit: Some(false),
            durations: Durations {
                total_ms,
                install_ms: None,
            },
            runner: crate::status::this_runner(),
        },
    };
    crate::status::report(&status, status_file);
    status.exit_code
}

/// Builds the bundle's environment, or finds it up to date.
pub async fn build(options: &BuildOptions) -> Result<Built, Error> {
    let started = Instant::now();
    let bundle = Bundle::open(&options.bundle)?;
    let plan = bundle.plan(&options.interpreters, options.path_var.as_deref())?;
    let digest = plan.digest();
    let work = WorkDir::new(absolute(&options.work)?);
    let cache = absolute(&options.cache)?;

    let record_path = work.record();
    if let Ok(Some(record)) = BuildRecord::read(&record_path)
        && check_build(Some(&record), &digest, &work).is_ok()
    {
        // The environment may predate the bundle's app mode (the check reads the manifest, which
        // the digest leaves out); asking costs one Python start.
        check_server_package(&bundle, &plan, &work).await?;
        return Ok(Built {
            cache_hit: true,
            install: Duration::ZERO,
        });
    }
    // From here on the old record describes nothing: a build that fails half-way must not look
    // like a finished one to `run`.
    match std::fs::remove_file(&record_path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(
                format!("{}: cannot remove", record_path.display()),
                err,
            ));
        }
        _ => {}
    }
    std::fs::create_dir_all(work.root()).map_err(|err| {
        Error::io(
            format!("{}: cannot create the work folder", work.root().display()),
            err,
        )
    })?;

    let mut signals =
        Signals::install().map_err(|err| Error::io("cannot install signal handlers", err))?;
    let installing = Instant::now();
    let packages = match &plan.python {
        Some(python) => python::build(python, &work, &cache, &mut signals).await?,
        None => Vec::new(),
    };
    check_server_package(&bundle, &plan, &work).await?;
    if let Some(r) = &plan.r {
        r::restore(r, &bundle.folder, &work, &cache, &mut signals).await?;
    }
    let install = installing.elapsed();

    let record = BuildRecord {
        digest,
        python: plan
            .python
            .as_ref()
            .map(|p| installation(&p.interpreter, &p.version)),
        r: plan
            .r
            .as_ref()
            .map(|r| installation(&r.interpreter, &r.version)),
        packages,
        duration_ms: millis(started.elapsed()),
        built_at: rfc3339_utc(SystemTime::now()),
    };
    record.write(&record_path)?;
    Ok(Built {
        cache_hit: false,
        install,
    })
}

/// Fails the build of an interactive Python app mode whose virtual environment lacks the package
/// its server runs, with the refusal `run` would give, so the publisher learns it now.
async fn check_server_package(bundle: &Bundle, plan: &Plan, work: &WorkDir) -> Result<(), Error> {
    let Some(mode) = AppMode::parse(bundle.manifest.appmode()) else {
        return Ok(());
    };
    if plan.python.is_none() {
        return Ok(());
    }
    if let Some(ServerPackage::Python(package)) = mode.server_package() {
        check_python_server(mode, package, work, &bundle.manifest.package_file()?).await?;
    }
    Ok(())
}

fn installation(path: &Path, version: &str) -> Installation {
    Installation {
        path: path.to_string_lossy().into_owned(),
        version: version.to_owned(),
    }
}
