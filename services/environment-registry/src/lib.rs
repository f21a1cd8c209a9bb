//! execenv-environment-registry: the catalogue of execution environments, served over gRPC.
//!
//! The registry is the one writer of the catalogue. It owns the database (SQLite embedded by
//! default, PostgreSQL in production), records every change in the change log, and streams
//! changes to watchers.

pub mod feed;
pub mod list;
pub mod service;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use execenv_kit::config::{AuthConfig, ServerConfig, TelemetryConfig};
use execenv_kit::shutdown::Shutdown;
use serde::{Deserialize, Serialize};

pub use service::{IdentityService, RegistryService};

/// The registry's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Change-log retention.
    pub history: HistoryConfig,
    /// Watch tuning.
    pub watch: WatchConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50051, 9451),
            database: DatabaseConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            history: HistoryConfig::default(),
            watch: WatchConfig::default(),
        }
    }
}

/// Where the catalogue is stored (`EXECENV_DATABASE__URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://execenv-registry.db".to_owned(),
        }
    }
}

/// How long the change log is kept (`EXECENV_HISTORY__RETENTION_DAYS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryConfig {
    /// Changes older than this many days are compacted; 0 keeps everything.
    pub retention_days: u32,
    /// How often compaction runs, in seconds.
    pub compact_interval_seconds: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention_days: 90,
            compact_interval_seconds: 3600,
        }
    }
}

/// Watch tuning (`EXECENV_WATCH__POLL_INTERVAL_MS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchConfig {
    /// How often the change feed polls the log for changes committed by other replicas.
    pub poll_interval_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            poll_interval_ms: 1000,
        }
    }
}

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] execenv_kit::BindError),
    /// The proto descriptors could not be registered for reflection (a build defect).
    #[error("cannot serve gRPC reflection: {0}")]
    Reflection(tonic_reflection::server::Error),
    /// The database could not be opened or migrated.
    /// (The store's message already names the database, so it is shown as is.)
    #[error("{cause}")]
    Database {
        /// The cause.
        cause: execenv_core::Error,
    },
}

/// A running registry.
pub struct Running {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// Stops the registry.
    pub shutdown: Shutdown,
    /// Completes when every server has stopped.
    pub done: tokio::task::JoinHandle<Result<(), StartError>>,
}

mod server;
pub use server::start;

/// A database URL without its password, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn poll(config: &Config) -> Duration {
    Duration::from_millis(config.watch.poll_interval_ms.max(10))
}

/// Shared slot for the backend, filled once the database is ready.
type BackendSlot = Arc<OnceLock<service::Backend>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
