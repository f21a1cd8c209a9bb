//! The image examiner's configuration: where it listens, the registry whose catalogue it checks,
//! and how it reads images (platform, credentials, plain-HTTP registries, extra CAs, timeouts,
//! how much it reads at once and keeps); every setting documented for `--help`,
//! `--print-settings` and docs/configuration.md.

use std::path::PathBuf;
use std::time::Duration;

use execenv_kit::TlsConfig;
use execenv_kit::config::{AuthConfig, RegistryConfig, ServerConfig, TelemetryConfig};
use execenv_kit::settings::{self, ServiceConfig, Setting};
use serde::{Deserialize, Serialize};

/// The image examiner's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// The registry whose catalogue is checked against the images.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// How images are read and how often environments are checked.
    #[serde(default)]
    pub examiner: ExaminerConfig,
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
            server: ServerConfig::with_ports(50055, 9456),
            registry: RegistryConfig::default(),
            examiner: ExaminerConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// How images are read and environments checked (`EXECENV_EXAMINER__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExaminerConfig {
    /// The platform chosen from a multi-platform image (`EXECENV_EXAMINER__PLATFORM`).
    pub platform: String,
    /// A Docker config.json with registry credentials; unset: anonymous
    /// (`EXECENV_EXAMINER__DOCKER_CONFIG`).
    pub docker_config: Option<PathBuf>,
    /// Registry hosts spoken to over plain HTTP (`EXECENV_EXAMINER__INSECURE_REGISTRIES`).
    pub insecure_registries: Vec<String>,
    /// The only registry hosts read; empty: every one (`EXECENV_EXAMINER__ALLOWED_REGISTRIES`).
    pub allowed_registries: Vec<String>,
    /// Extra PEM CA files trusted for HTTPS registries (`EXECENV_EXAMINER__CA_FILES`).
    pub ca_files: Vec<PathBuf>,
    /// Seconds between two checks of every environment (`EXECENV_EXAMINER__CHECK_INTERVAL_S`).
    pub check_interval_s: u64,
    /// Seconds one registry request may take (`EXECENV_EXAMINER__REQUEST_TIMEOUT_S`).
    pub request_timeout_s: u64,
    /// Images read at once (`EXECENV_EXAMINER__MAX_CONCURRENT_READS`).
    pub max_concurrent_reads: usize,
    /// Merged image trees kept in memory (`EXECENV_EXAMINER__CACHED_TREES`).
    pub cached_trees: usize,
}

impl Default for ExaminerConfig {
    fn default() -> Self {
        ExaminerConfig {
            platform: "linux/amd64".to_owned(),
            docker_config: None,
            insecure_registries: Vec::new(),
            allowed_registries: Vec::new(),
            ca_files: Vec::new(),
            check_interval_s: 300,
            request_timeout_s: 30,
            max_concurrent_reads: 2,
            cached_trees: 8,
        }
    }
}

impl ExaminerConfig {
    /// Every problem of these settings, one sentence each naming the setting and its variable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut at_least_one = |key: &str, value: u64| {
            if value == 0 {
                problems.push(format!(
                    "examiner.{key} ({}) is 0; give a number of at least 1",
                    execenv_kit::config::variable_for_key(&format!("examiner.{key}"))
                ));
            }
        };
        at_least_one("check_interval_s", self.check_interval_s);
        at_least_one("request_timeout_s", self.request_timeout_s);
        at_least_one(
            "max_concurrent_reads",
            u64::try_from(self.max_concurrent_reads).unwrap_or(u64::MAX),
        );
        problems
    }

    /// The time between two checks of every environment.
    pub fn check_interval(&self) -> Duration {
        Duration::from_secs(self.check_interval_s)
    }

    /// The time one registry request may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_s)
    }
}

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-image-examiner";
    const ABOUT: &'static str = "The execenv image examiner: reads images straight from their registries, without running them, to find the Python, R and Quarto installations inside (Examine), and checks every environment of the catalogue against its image every examiner.check_interval_s (drift: ListChecks, GetCheck, WatchChecks, CheckNow). It alone holds registry credentials. It is ready (/readyz 200, gRPC health SERVING) as soon as it listens; the checks start once the registry's catalogue arrives.";
    const LISTS: &'static [&'static str] = &[
        "examiner.insecure_registries",
        "examiner.allowed_registries",
        "examiner.ca_files",
    ];

    fn own_settings() -> Vec<Setting> {
        vec![
            settings::REGISTRY_URL,
            Setting {
                key: "examiner.platform",
                meaning: "the platform (os/arch[/variant]) read from a multi-platform image when a request names none; every environment is checked for it",
            },
            Setting {
                key: "examiner.docker_config",
                meaning: "a Docker config.json (or a Kubernetes dockerconfigjson Secret's .dockerconfigjson) with the credentials of each registry host; unset: every registry is read anonymously. A file that is missing or does not parse stops the service at start",
            },
            Setting {
                key: "examiner.insecure_registries",
                meaning: "registry hosts (HOST:PORT) spoken to over plain HTTP instead of HTTPS, e.g. a registry on the same machine",
            },
            Setting {
                key: "examiner.allowed_registries",
                meaning: "the only registry hosts (HOST or HOST:PORT as images name them; docker.io for Docker Hub) whose images are read; an image elsewhere is refused (403 through the gateway) and its environment's check says so, without the examiner connecting to it. Empty (the default): every registry",
            },
            Setting {
                key: "examiner.ca_files",
                meaning: "PEM files of certificate authorities trusted, besides the system's, for HTTPS registries",
            },
            Setting {
                key: "examiner.check_interval_s",
                meaning: "seconds between two checks of every environment against its image (a catalogue change checks the environment at once)",
            },
            Setting {
                key: "examiner.request_timeout_s",
                meaning: "seconds one request to an image registry may take to connect and answer before the image is unreachable",
            },
            Setting {
                key: "examiner.max_concurrent_reads",
                meaning: "images whose layers are read at the same time (reading streams every layer: bandwidth and CPU)",
            },
            Setting {
                key: "examiner.cached_trees",
                meaning: "merged file trees of images kept in memory, most recently used first, so that a changed definition is compared without reading its image again; 0: none",
            },
        ]
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

execenv_kit::every_setting_is_documented!(Config);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    fn load(env: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        execenv_kit::config::load_layers(&Config::default(), None, &env, &[], Config::LISTS)
            .unwrap()
    }

    #[test]
    fn defaults_listen_on_50055_and_9456_and_read_anonymously() {
        let c = Config::default();
        assert_eq!(c.server.grpc_addr.to_string(), "0.0.0.0:50055");
        assert_eq!(c.server.admin_addr.to_string(), "0.0.0.0:9456");
        assert_eq!(c.examiner.platform, "linux/amd64");
        assert_eq!(c.examiner.docker_config, None);
        assert_eq!(c.examiner.check_interval(), Duration::from_secs(300));
        assert_eq!(c.examiner.request_timeout(), Duration::from_secs(30));
        assert_eq!(
            (c.examiner.max_concurrent_reads, c.examiner.cached_trees),
            (2, 8)
        );
        assert_eq!(c.examiner.problems(), Vec::<String>::new());
    }

    #[test]
    fn variables_set_every_examiner_setting_with_lists_comma_separated() {
        let c = load(&[
            ("EXECENV_EXAMINER__PLATFORM", "linux/arm64/v8"),
            (
                "EXECENV_EXAMINER__DOCKER_CONFIG",
                "/etc/execenv/pull/config.json",
            ),
            (
                "EXECENV_EXAMINER__INSECURE_REGISTRIES",
                "127.0.0.1:5000, registry.local:5000",
            ),
            ("EXECENV_EXAMINER__CA_FILES", "/etc/ca/one.pem"),
            ("EXECENV_EXAMINER__CHECK_INTERVAL_S", "2"),
            ("EXECENV_EXAMINER__CACHED_TREES", "0"),
        ]);
        assert_eq!(c.examiner.platform, "linux/arm64/v8");
        assert_eq!(
            c.examiner.docker_config,
            Some(PathBuf::from("/etc/execenv/pull/config.json"))
        );
        assert_eq!(
            c.examiner.insecure_registries,
            ["127.0.0.1:5000", "registry.local:5000"]
        );
        assert_eq!(c.examiner.ca_files, [PathBuf::from("/etc/ca/one.pem")]);
        assert_eq!(c.examiner.check_interval_s, 2);
        assert_eq!(c.examiner.cached_trees, 0);
    }

    #[test]
    fn zero_interval_timeout_or_reads_is_named_with_its_variable() {
        let c = ExaminerConfig {
            check_interval_s: 0,
            max_concurrent_reads: 0,
            ..ExaminerConfig::default()
        };
        assert_eq!(
            c.problems(),
            [
                "examiner.check_interval_s (EXECENV_EXAMINER__CHECK_INTERVAL_S) is 0; give a number of at least 1",
                "examiner.max_concurrent_reads (EXECENV_EXAMINER__MAX_CONCURRENT_READS) is 0; give a number of at least 1",
            ]
        );
    }
}
