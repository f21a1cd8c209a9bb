//! The Python build: a virtual environment made with the chosen interpreter, packages installed
//! with pip through a cache per Python version.

use std::path::Path;

use serde::Deserialize;
use tokio::process::Command;

use crate::Error;
use crate::plan::PythonPlan;
use crate::process::{Signals, describe, run_to_success};
use crate::record::{Package, WorkDir};

/// Creates `WORK/python/venv` afresh and installs the package file into it; returns the packages
/// it then holds. Package index settings (`PIP_INDEX_URL`, `PIP_FIND_LINKS`, `PIP_NO_INDEX`, …)
/// pass through from the environment untouched.
pub async fn build(
    plan: &PythonPlan,
    work: &WorkDir,
    cache: &Path,
    signals: &mut Signals,
) -> Result<Vec<Package>, Error> {
    let venv = work.venv();
    if venv.exists() {
        // An interpreter change needs a new environment, and a requirements change must not
        // leave packages it dropped behind.
        std::fs::remove_dir_all(&venv).map_err(|err| {
            Error::io(
                format!(
                    "{}: cannot remove the old virtual environment",
                    venv.display()
                ),
                err,
            )
        })?;
    }
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| Error::io(format!("{}: cannot create", parent.display()), err))?;
    }
    let mut create = Command::new(&plan.interpreter);
    create.arg("-m").arg("venv").arg(&venv);
    let interpreter = plan.interpreter.display();
    run_to_success(
        &mut create,
        "venv",
        signals,
        &format!("cannot start {interpreter} -m venv"),
        &format!(
            "creating the virtual environment {} with {interpreter} failed",
            venv.display()
        ),
    )
    .await?;

    if plan.packages.is_some() {
        let pip_cache = cache.join("pip").join(&plan.version);
        std::fs::create_dir_all(&pip_cache).map_err(|err| {
            Error::io(
                format!("{}: cannot create the pip cache", pip_cache.display()),
                err,
            )
        })?;
        let mut install = Command::new(work.venv_python());
        install
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
            .arg(&plan.package_file)
            .env("PIP_CACHE_DIR", &pip_cache)
            // pip's output must reach the log as it happens, not when a pipe buffer fills.
            .env("PYTHONUNBUFFERED", "1");
        run_to_success(
            &mut install,
            "pip",
            signals,
            "cannot start pip in the virtual environment",
            &format!("pip could not install {}", plan.package_file.display()),
        )
        .await?;
    }
    installed_packages(&work.venv_python()).await
}

/// The packages `pip list` reports in the virtual environment.
async fn installed_packages(python: &Path) -> Result<Vec<Package>, Error> {
    #[derive(Deserialize)]
    struct Listed {
        name: String,
        version: String,
    }
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "list",
            "--format=json",
            "--disable-pip-version-check",
        ])
        .output()
        .await
        .map_err(|err| Error::io("cannot start pip list", err))?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "pip list failed in the virtual environment ({}): {}",
            describe(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let listed: Vec<Listed> = serde_json::from_slice(&output.stdout).map_err(|err| {
        Error::Failed(format!(
            "pip list printed something other than its JSON list: {err}"
        ))
    })?;
    Ok(listed
        .into_iter()
        .map(|p| Package {
            name: p.name,
            version: p.version,
        })
        .collect())
}
