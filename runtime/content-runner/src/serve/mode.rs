//! What the runner serves: where an app listens (`--port`, `--host`, `--base-path`) and the app
//! modes it knows, with the package each one's server needs.

use crate::Error;

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
