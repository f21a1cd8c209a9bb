//! The selector's configuration: where it listens, the registry it watches, the image examiner
//! it follows, how versions are matched and whether drift excludes; every setting documented for
//! `--help`, `--print-settings` and docs/configuration.md.

use execenv_kit::TlsConfig;
use execenv_kit::config::{AuthConfig, RegistryConfig, ServerConfig, TelemetryConfig};
use execenv_kit::settings::{self, ServiceConfig, Setting};
use serde::{Deserialize, Serialize};

use execenv_core::select::{MatchingSettings, VersionMatching};

/// The selector's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// The registry whose catalogue is watched.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The image examiner whose checks say which environments are in drift.
    #[serde(default)]
    pub examiner: ExaminerConfig,
    /// How versions are matched.
    #[serde(default)]
    pub selection: SelectionConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token, sent to the registry and required from callers.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS: serving it, verifying the services called, mutual TLS (`EXECENV_TLS__…`).
    #[serde(default)]
    pub tls: TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50053, 9453),
            registry: RegistryConfig::default(),
            examiner: ExaminerConfig::default(),
            selection: SelectionConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// The image examiner the selector follows (`EXECENV_EXAMINER__URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExaminerConfig {
    /// gRPC URL of execenv-image-examiner; empty (the default): no drift information.
    pub url: String,
}

impl ExaminerConfig {
    /// The URL, when one is set.
    pub fn url(&self) -> Option<&str> {
        Some(self.url.trim()).filter(|u| !u.is_empty())
    }
}

/// How a version the content was written with is matched, and whether environments in drift
/// are left out (`EXECENV_SELECTION__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectionConfig {
    /// `major-minor` (default) or `exact` (`EXECENV_SELECTION__PYTHON_VERSION_MATCHING`).
    pub python_version_matching: VersionMatching,
    /// `nearest` (default), `major-minor` or `exact` (`EXECENV_SELECTION__R_VERSION_MATCHING`).
    pub r_version_matching: VersionMatching,
    /// `nearest` (default), `major-minor` or `exact` (`EXECENV_SELECTION__QUARTO_VERSION_MATCHING`).
    pub quarto_version_matching: VersionMatching,
    /// Leave out environments the image examiner finds in drift (`EXECENV_SELECTION__SKIP_DRIFT`;
    /// default false: they are chosen as before, and `Explain` says they are in drift).
    pub skip_drift: bool,
    /// How long (ms) a request with `min_revision` waits for the catalogue to reach that
    /// revision before it is refused with UNAVAILABLE (`EXECENV_SELECTION__MIN_REVISION_WAIT_MS`;
    /// default 2000).
    pub min_revision_wait_ms: u64,
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
            skip_drift: false,
            min_revision_wait_ms: crate::service::DEFAULT_MIN_REVISION_WAIT_MS,
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

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-selector";
    const ABOUT: &'static str = "The execenv selector: chooses the execution environment a piece of content builds and runs in, from an in-memory catalogue kept current by a watch on the registry, and — with examiner.url — knows which environments' images are in drift. It is ready (/readyz 200, gRPC health SERVING) once it holds the whole catalogue.";

    fn own_settings() -> Vec<Setting> {
        vec![
            settings::REGISTRY_URL,
            Setting {
                key: "examiner.url",
                meaning: "gRPC URL of execenv-image-examiner, whose checks say which environments' images no longer match their definitions (drift); empty: no drift information. Selection goes on while the examiner is away, with the last checks it sent",
            },
            Setting {
                key: "selection.python_version_matching",
                meaning: "how a Python version the content asks for is matched: major-minor (3.11.x for 3.11.4) or exact",
            },
            Setting {
                key: "selection.r_version_matching",
                meaning: "how an R version is matched: nearest (the same major version, the nearest minor), major-minor or exact",
            },
            Setting {
                key: "selection.quarto_version_matching",
                meaning: "how a Quarto version is matched: nearest, major-minor or exact",
            },
            Setting {
                key: "selection.skip_drift",
                meaning: "true: never choose an environment the image examiner finds in drift (its verdict says why; content that targets it fails); false: choose it as before, Explain says it is in drift. An unreadable image is never skipped. Needs examiner.url",
            },
            Setting {
                key: "selection.min_revision_wait_ms",
                meaning: "how long (ms) a Select or Explain that asks for min_revision (read-your-writes: the revision a catalogue write answered with) waits for this selector's catalogue to reach it; past it the call fails with UNAVAILABLE (the gateway: 503 with Retry-After) saying which revision the catalogue is at, and the client retries. 0: never wait",
            },
        ]
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

execenv_kit::every_setting_is_documented!(Config);
