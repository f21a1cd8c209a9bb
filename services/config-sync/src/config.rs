//! config-sync's configuration: where it listens, the registry it syncs into, the files and how
//! they are watched; every setting documented for `--help`, `--print-settings` and
//! docs/configuration.md.

use std::path::PathBuf;
use std::time::Duration;

use execenv_kit::TlsConfig;
use execenv_kit::config::{AuthConfig, RegistryConfig, ServerConfig, TelemetryConfig};
use execenv_kit::settings::{self, ServiceConfig, Setting};
use serde::{Deserialize, Serialize};

use crate::election::{self, ElectionConfig};
use crate::watch;

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
    /// TLS: serving it, verifying the services called, mutual TLS (`EXECENV_TLS__…`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Leader election among replicas (`EXECENV_ELECTION__…`).
    #[serde(default)]
    pub election: ElectionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50052, 9452),
            registry: RegistryConfig::default(),
            sync: SyncConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            election: ElectionConfig::default(),
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

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-config-sync";

    fn own_settings() -> Vec<Setting> {
        vec![
            settings::REGISTRY_URL,
            Setting {
                key: "sync.file",
                meaning: "the declarative file (YAML or JSON list of environments; the Helm value executionEnvironments); `run --file` sets it too",
            },
            Setting {
                key: "sync.legacy_file",
                meaning: "deprecated: a runtime.yaml applied once to an empty catalogue; skipped when sync.file is set",
            },
            Setting {
                key: "sync.poll_interval_ms",
                meaning: "how often the file is checked even without a change notification (a ConfigMap update may not send one): read when its metadata changed since the last read, it changed within the last second, or 60 s passed",
            },
            Setting {
                key: "sync.debounce_ms",
                meaning: "how long a burst of change notifications is collected before one sync",
            },
            Setting {
                key: "sync.startup_timeout_ms",
                meaning: "how long the first sync waits for an unavailable registry before start fails",
            },
        ]
        .into_iter()
        .chain(election::settings())
        .collect()
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

execenv_kit::every_setting_is_documented!(Config);
