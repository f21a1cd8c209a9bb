//! execenv-config-sync: keeps the registry's file-managed environments equal to the declarative
//! file (the Helm value `executionEnvironments`), and bootstraps an empty catalogue from a legacy
//! `runtime.yaml`.
//!
//! config-sync never touches the database: a sync is one `ApplyManagedSet` call, which the
//! registry applies in one transaction. The file is watched (folder notifications and polling);
//! a sync whose content did not change is skipped, and a failed one is retried on the next tick.

pub mod file;
pub mod legacy;
pub mod metrics;
pub mod registry;
pub mod report;
pub mod service;
pub mod sync;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use execenv_kit::config::RegistryConfig;
use execenv_kit::config::{AuthConfig, ServerConfig, TelemetryConfig};
use execenv_kit::shutdown::Shutdown;
use serde::{Deserialize, Serialize};

pub use registry::GrpcRegistry;
pub use sync::{Outcome, SyncStatus};

/// config-sync's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// The registry to sync into.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The files and how they are watched.
    #[serde(default)]
    pub sync: SyncConfig,
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
            server: ServerConfig::with_ports(50052, 9452),
            registry: RegistryConfig::default(),
            sync: SyncConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// The files and the watch (`EXECENV_SYNC__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncConfig {
    /// The declarative file (`EXECENV_SYNC__FILE`), a YAML or JSON list of definitions.
    pub file: Option<PathBuf>,
    /// A legacy `runtime.yaml` applied once to an empty catalogue (`EXECENV_SYNC__LEGACY_FILE`);
    /// deprecated, and skipped when `file` is set.
    pub legacy_file: Option<PathBuf>,
    /// How often the file is read even without a change notification (`EXECENV_SYNC__POLL_INTERVAL_MS`).
    pub poll_interval_ms: u64,
    /// How long a burst of change notifications is collected before one sync (`EXECENV_SYNC__DEBOUNCE_MS`).
    pub debounce_ms: u64,
    /// How long the first sync waits for an unavailable registry before start fails
    /// (`EXECENV_SYNC__STARTUP_TIMEOUT_MS`).
    pub startup_timeout_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            file: None,
            legacy_file: None,
            poll_interval_ms: 2000,
            debounce_ms: 100,
            startup_timeout_ms: 60_000,
        }
    }
}

impl SyncConfig {
    /// The watch settings.
    pub fn watch_options(&self) -> watch::WatchOptions {
        watch::WatchOptions {
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(10)),
            debounce: Duration::from_millis(self.debounce_ms),
            notify: true,
        }
    }
}

/// Why config-sync could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] execenv_kit::BindError),
    /// The proto descriptors could not be registered for reflection (a build defect).
    #[error("cannot serve gRPC reflection: {0}")]
    Reflection(tonic_reflection::server::Error),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// The first sync of the declarative file failed.
    #[error("cannot sync {}: {}", .file.display(), list(.problems))]
    Sync {
        /// The file.
        file: PathBuf,
        /// Every problem.
        problems: Vec<String>,
    },
    /// The legacy bootstrap failed.
    #[error("cannot bootstrap from the legacy file {}: {}", .file.display(), list(.problems))]
    Bootstrap {
        /// The file.
        file: PathBuf,
        /// Every problem.
        problems: Vec<String>,
    },
}

impl StartError {
    /// Every problem, one line each.
    pub fn problems(&self) -> Vec<String> {
        match self {
            StartError::Sync { problems, .. } | StartError::Bootstrap { problems, .. } => {
                problems.clone()
            }
            other => vec![other.to_string()],
        }
    }
}

fn list(problems: &[String]) -> String {
    let n = problems.len();
    let mut text = format!("{n} problem{}", if n == 1 { "" } else { "s" });
    for p in problems {
        text.push_str("\n  ");
        text.push_str(p);
    }
    text
}

/// A running config-sync.
pub struct Running {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// The status of the syncer (what the Status RPC reports).
    pub status: tokio::sync::watch::Receiver<SyncStatus>,
    /// Stops config-sync.
    pub shutdown: Shutdown,
    /// Completes when every server and the sync loop have stopped.
    pub done: tokio::task::JoinHandle<()>,
}

mod server;
pub use server::start;
