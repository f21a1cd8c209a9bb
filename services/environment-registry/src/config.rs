//! The registry's configuration: where it listens, its database, change-log retention and watch
//! tuning; every setting documented for `--help`, `--print-settings` and docs/configuration.md.

use std::time::Duration;

use execenv_kit::Secret;
use execenv_kit::TlsConfig;
use execenv_kit::config::{AuthConfig, ServerConfig, TelemetryConfig};
use execenv_kit::settings::{ServiceConfig, Setting};
use serde::{Deserialize, Serialize};

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
    /// TLS: serving it, verifying the services called, mutual TLS (`EXECENV_TLS__…`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Change-log retention.
    pub history: HistoryConfig,
    /// Watch tuning.
    pub watch: WatchConfig,
    /// Failed sign-ins.
    #[serde(default)]
    pub identity: IdentityConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig {
                // A sync of 10,000 definitions is a few MiB; room for more.
                max_decoding_message_bytes: 64 << 20,
                ..ServerConfig::with_ports(50051, 9451)
            },
            database: DatabaseConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            history: HistoryConfig::default(),
            watch: WatchConfig::default(),
            identity: IdentityConfig::default(),
        }
    }
}

/// Where the catalogue is stored (`EXECENV_DATABASE__URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER:PASSWORD@HOST:PORT/DB`; shown
    /// with its password masked.
    pub url: Secret,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: Secret::from("sqlite://execenv-registry.db"),
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
            poll_interval_ms: 250,
        }
    }
}

/// When failed sign-ins become a security event (`EXECENV_IDENTITY__FAILED_SIGN_IN_THRESHOLD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityConfig {
    /// How many refused keys from one client address make a `sign_in_failures` event; 0 records
    /// none.
    pub failed_sign_in_threshold: u32,
    /// Within how many seconds those failures must come.
    pub failed_sign_in_window_s: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            failed_sign_in_threshold: 10,
            failed_sign_in_window_s: 300,
        }
    }
}

impl Config {
    /// How often the change feed polls the log (at least every 10 ms).
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.watch.poll_interval_ms.max(10))
    }
}

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-environment-registry";
    const ABOUT: &'static str = "The execenv environment registry: the catalogue of execution environments over gRPC. The default database is an embedded SQLite file, execenv-registry.db, in the working folder.";

    fn own_settings() -> Vec<Setting> {
        vec![
            Setting {
                key: "database.url",
                meaning: "the database: sqlite://PATH (embedded; created if missing) or postgres://USER:PASSWORD@HOST:PORT/DB (shown with the password masked)",
            },
            Setting {
                key: "history.retention_days",
                meaning: "changes older than this many days are compacted from the change log, and security events older than this are deleted; 0 keeps everything",
            },
            Setting {
                key: "history.compact_interval_seconds",
                meaning: "how often compaction runs",
            },
            Setting {
                key: "identity.failed_sign_in_threshold",
                meaning: "how many refused API keys from one client address (as the gateway saw it) within identity.failed_sign_in_window_s make one sign_in_failures security event; the count then starts again; 0 records none. Counted in each registry replica's memory",
            },
            Setting {
                key: "identity.failed_sign_in_window_s",
                meaning: "the window, in seconds, within which identity.failed_sign_in_threshold failures must come",
            },
            Setting {
                key: "watch.poll_interval_ms",
                meaning: "how often the change feed polls the log for changes committed by other replicas",
            },
        ]
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_password_is_masked_when_printed() {
        let mut config = Config::default();
        config.database.url = Secret::from("postgres://u:secret@h:5432/db");
        let json = serde_json::to_string(&config).unwrap_or_default();
        assert!(
            json.contains("\"url\":\"postgres://u:***@h:5432/db\""),
            "{json}"
        );
    }
}

execenv_kit::every_setting_is_documented!(Config);
