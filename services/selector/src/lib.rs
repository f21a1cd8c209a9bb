//! execenv-selector: chooses the execution environment a piece of content builds and runs in.
//!
//! The selector owns nothing durable. It keeps an in-memory [`Catalogue`](select::Catalogue) that
//! a watch on the registry's `WatchEnvironments` stream keeps current, and answers `Select` and
//! `Explain` from it with the pure rules of `execenv_core::select`. It reports NOT_SERVING until
//! it holds a full catalogue; after that it keeps answering — also while the registry is away —
//! and every answer says which revision it was made from and how old the catalogue is.

pub mod backoff;
pub mod catalogue;
pub mod metrics;
pub mod registry;
pub mod service;

use std::net::SocketAddr;

pub use execenv_kit::config::RegistryConfig;
use execenv_kit::config::{AuthConfig, ServerConfig, TelemetryConfig};
use execenv_kit::shutdown::Shutdown;
use serde::{Deserialize, Serialize};

pub use catalogue::SharedCatalogue;
pub use service::SelectorService;

/// The selection rules (`execenv_core::select`), re-exported for the crate's modules.
pub(crate) use execenv_core::select;

use select::{MatchingSettings, VersionMatching};

/// The selector's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// The registry whose catalogue is watched.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// How versions are matched.
    #[serde(default)]
    pub selection: SelectionConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token, sent to the registry and required from callers.
    #[serde(default)]
    pub auth: AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50053, 9453),
            registry: RegistryConfig::default(),
            selection: SelectionConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// How a version the content was written with is matched (`EXECENV_SELECTION__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectionConfig {
    /// `major-minor` (default) or `exact` (`EXECENV_SELECTION__PYTHON_VERSION_MATCHING`).
    pub python_version_matching: VersionMatching,
    /// `nearest` (default), `major-minor` or `exact` (`EXECENV_SELECTION__R_VERSION_MATCHING`).
    pub r_version_matching: VersionMatching,
    /// `nearest` (default), `major-minor` or `exact` (`EXECENV_SELECTION__QUARTO_VERSION_MATCHING`).
    pub quarto_version_matching: VersionMatching,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig::from(&MatchingSettings::default())
    }
}

impl From<&MatchingSettings> for SelectionConfig {
    fn from(m: &MatchingSettings) -> Self {
        SelectionConfig {
            python_version_matching: m.python,
            r_version_matching: m.r,
            quarto_version_matching: m.quarto,
        }
    }
}

impl SelectionConfig {
    /// The settings the rules take; fails when a combination is not allowed (Python `nearest`).
    pub fn settings(&self) -> Result<MatchingSettings, execenv_core::Error> {
        let settings = MatchingSettings {
            python: self.python_version_matching,
            r: self.r_version_matching,
            quarto: self.quarto_version_matching,
        };
        settings.validate().map_err(|e| {
            // Name the setting as it is configured, not as the rules call it.
            let violations = e
                .violations
                .into_iter()
                .map(|v| {
                    let language = v.field.split('.').next().unwrap_or_default().to_owned();
                    let key = format!("{language}_version_matching");
                    execenv_core::FieldViolation::new(
                        format!(
                            "selection.{key} ({})",
                            execenv_kit::config::variable_for_key(&format!("selection.{key}"))
                        ),
                        v.description,
                    )
                })
                .collect();
            execenv_core::Error::invalid(violations)
        })?;
        Ok(settings)
    }
}

/// Why the selector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] execenv_kit::BindError),
    /// The proto descriptors could not be registered for reflection (a build defect).
    #[error("cannot serve gRPC reflection: {0}")]
    Reflection(tonic_reflection::server::Error),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A running selector.
pub struct Running {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// The catalogue the selector answers from.
    pub catalogue: SharedCatalogue,
    /// Stops the selector.
    pub shutdown: Shutdown,
    /// Completes when every server and the watch have stopped.
    pub done: tokio::task::JoinHandle<()>,
}

mod server;
pub use server::start;
