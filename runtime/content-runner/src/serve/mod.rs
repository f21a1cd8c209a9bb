//! Serving interactive content on a port: where it listens (`--port`, `--host`, `--base-path`),
//! the app modes the runner knows how to serve, and the preparation of each one's server command
//! from the bundle's own packages.
//!
//! The gateway strips the base path before it forwards a request (the app sees `/` and below), so
//! every server here answers at `/` while the URLs it writes for the browser carry the base path
//! or are relative to the page.

mod command;
mod packages;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use command::{ContentCommand, ServerSetup, server_command};
pub use packages::{check_python_server, check_r_server};

use crate::manifest::Manifest;
use crate::plan::{Plan, resolve_program};
use crate::record::WorkDir;
use crate::{Error, Interpreters};

/// Where an interactive app listens, and the public path prefix the gateway strips in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The address to bind (`--host`).
    pub host: String,
    /// The port (`--port`).
    pub port: u16,
    /// The public path prefix, e.g. `/content/<guid>`; empty at the root (`--base-path`).
    pub base_path: String,
}

impl Listen {
    /// Checks the flags; `None` when no port was given (the content is not served).
    pub fn from_flags(
        port: Option<u16>,
        host: &str,
        base_path: &str,
    ) -> Result<Option<Listen>, Error> {
        if !(base_path.is_empty() || base_path.starts_with('/') && !base_path.ends_with('/')) {
            return Err(Error::Invalid(format!(
                "--base-path {base_path:?} must be empty or a path that starts with `/` and does not end with `/`, e.g. /content/<guid> (--base-path or EXECENV_CONTENT_BASE_PATH)"
            )));
        }
        let Some(port) = port else {
            return Ok(None);
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Invalid(format!(
                "--host {host:?} is not an address to bind; give one such as 127.0.0.1 or 0.0.0.0 (--host or EXECENV_CONTENT_HOST)"
            )));
        }
        Ok(Some(Listen {
            host: host.to_owned(),
            port,
            base_path: base_path.to_owned(),
        }))
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// An app mode the runner serves by itself, by Connect's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    /// `python-fastapi`: an ASGI app (FastAPI, Starlette, Quart…).
    PythonFastapi,
    /// `python-api`: a WSGI app (Flask…).
    PythonApi,
    /// `python-shiny`: Shiny for Python.
    PythonShiny,
    /// `python-dash`: Dash.
    PythonDash,
    /// `python-streamlit`: Streamlit.
    PythonStreamlit,
    /// `python-bokeh`: a Bokeh server app.
    PythonBokeh,
    /// `shiny`: Shiny for R.
    RShiny,
    /// `api`: a Plumber API in R.
    RApi,
    /// `quarto-shiny`: a Quarto document with Shiny, served by `quarto serve`.
    QuartoShiny,
}

/// The package a server command needs from the bundle's restored packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPackage {
    /// A Python module in the build's virtual environment.
    Python(&'static str),
    /// An R package in the build's R library (or the R installation's own).
    R(&'static str),
}

const MODES: [(AppMode, &str); 9] = [
    (AppMode::PythonFastapi, "python-fastapi"),
    (AppMode::PythonApi, "python-api"),
    (AppMode::PythonShiny, "python-shiny"),
    (AppMode::PythonDash, "python-dash"),
    (AppMode::PythonStreamlit, "python-streamlit"),
    (AppMode::PythonBokeh, "python-bokeh"),
    (AppMode::RShiny, "shiny"),
    (AppMode::RApi, "api"),
    (AppMode::QuartoShiny, "quarto-shiny"),
];

impl AppMode {
    /// The mode named `name` in `metadata.appmode`, when the runner serves it.
    pub fn parse(name: &str) -> Option<AppMode> {
        MODES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(mode, _)| *mode)
    }

    /// Connect's name for the mode.
    pub fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|(mode, _)| *mode == self)
            .map_or("", |(_, name)| name)
    }

    /// The package the mode's server command runs, checked before anything starts.
    pub fn server_package(self) -> Option<ServerPackage> {
        match self {
            AppMode::PythonFastapi | AppMode::PythonApi => Some(ServerPackage::Python("uvicorn")),
            AppMode::PythonShiny => Some(ServerPackage::Python("shiny")),
            AppMode::PythonDash => Some(ServerPackage::Python("dash")),
            AppMode::PythonStreamlit => Some(ServerPackage::Python("streamlit")),
            AppMode::PythonBokeh => Some(ServerPackage::Python("bokeh")),
            AppMode::RShiny => Some(ServerPackage::R("shiny")),
            AppMode::RApi => Some(ServerPackage::R("plumber")),
            AppMode::QuartoShiny => None,
        }
    }
}

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
