//! Serving interactive content on a port: where it listens (`--port`, `--host`, `--base-path`),
//! the app modes the runner knows how to serve, and the preparation of each one's server command
//! from the bundle's own packages.
//!
//! The gateway strips the base path before it forwards a request (the app sees `/` and below), so
//! every server here answers at `/` while the URLs it writes for the browser carry the base path
//! or are relative to the page.

mod command;
mod mode;
mod packages;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use command::{ContentCommand, ServerSetup, server_command};
pub use mode::{AppMode, Listen, ServerPackage};
pub use packages::{check_python_server, check_r_server};

use crate::manifest::Manifest;
use crate::plan::{Plan, resolve_program};
use crate::record::WorkDir;
use crate::{Error, Interpreters};

/// The server command for `mode`, once the bundle's environment is known to hold its package.
pub async fn prepare(
    mode: AppMode,
    manifest: &Manifest,
    plan: &Plan,
    work: &WorkDir,
    listen: &Listen,
    interpreters: &Interpreters,
    path_var: Option<&OsStr>,
) -> Result<ContentCommand, Error> {
    let entrypoint = manifest
        .entrypoint()?
        .map(|path| path.to_string_lossy().into_owned());
    let (program, has_uvicorn) = match mode.server_package() {
        Some(ServerPackage::Python(package)) => {
            let package_file = manifest.package_file()?;
            if plan.python.is_none() {
                return Err(Error::Invalid(format!(
                    "app mode {} needs the Python package {package} in the bundle's requirements ({}); the bundle has none, so the build made no virtual environment",
                    mode.name(),
                    package_file.display()
                )));
            }
            let has_uvicorn = check_python_server(mode, package, work, &package_file).await?;
            (work.venv_python(), has_uvicorn)
        }
        Some(ServerPackage::R(package)) => {
            let r = match &plan.r {
                Some(r) => r.interpreter.clone(),
                None => r_program(mode, interpreters, path_var)?,
            };
            let library = plan.r.as_ref().map(|_| work.r_library());
            check_r_server(mode, package, &r, library.as_deref()).await?;
            (r, false)
        }
        None => (
            quarto_program(mode.name(), interpreters.quarto.as_deref(), path_var)?,
            false,
        ),
    };
    Ok(server_command(&ServerSetup {
        mode,
        entrypoint: entrypoint.as_deref(),
        listen,
        program: &program,
        has_uvicorn,
    }))
}

/// The R program for an R app mode whose bundle has no renv.lock (so the plan names none).
fn r_program(
    mode: AppMode,
    interpreters: &Interpreters,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, Error> {
    resolve_program(interpreters.r.as_deref(), &["R"], path_var)
        .map_err(|why| Error::Invalid(format!("R {why} (--r or EXECENV_R)")))?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "app mode {} needs R but none was given and none is on PATH; pass --r PATH or set EXECENV_R",
                mode.name()
            ))
        })
}

/// The Quarto program for app mode `appmode`.
pub fn quarto_program(
    appmode: &str,
    quarto: Option<&Path>,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, Error> {
    resolve_program(quarto, &["quarto"], path_var)
        .map_err(|why| Error::Invalid(format!("Quarto {why} (--quarto or EXECENV_QUARTO)")))?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "app mode {appmode} needs Quarto but none was given and none is on PATH; pass --quarto PATH or set EXECENV_QUARTO"
            ))
        })
}
