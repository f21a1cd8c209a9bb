//! The launcher's configuration: where it listens, which backend runs content, the selector it
//! asks, and each backend's settings; every setting documented for `--help`, `--print-settings`
//! and docs/configuration.md. The backend and the local supervisor had variables without a
//! section in earlier releases (`EXECENV_BACKEND`, `EXECENV_SUPERVISOR`); those are still read,
//! with a warning, for one release.

use std::path::PathBuf;

use execenv_kit::config::{AuthConfig, SelectorConfig, ServerConfig, TelemetryConfig};
use execenv_kit::settings::{self, Renamed, ServiceConfig, Setting};
use execenv_kit::{Secret, TlsConfig};
use serde::{Deserialize, Serialize};

use crate::job_spec::{DEFAULT_RUNNER_PATH, Resources};
use crate::launch::BackendKind;
use crate::limits::LimitsConfig;

/// The launcher's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// Which backend runs content (`EXECENV_LAUNCHER__BACKEND`).
    #[serde(default)]
    pub launcher: BackendConfig,
    /// The selector that chooses environments.
    #[serde(default)]
    pub selector: SelectorConfig,
    /// The local backend.
    #[serde(default)]
    pub local: LocalConfig,
    /// The Kubernetes backend.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token, sent to the selector and required from callers.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The caps on what a launch may ask for, per role and per group (`EXECENV_LIMITS__…`).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// TLS: serving it, verifying the services called, mutual TLS (`EXECENV_TLS__…`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// The durable launch history every replica shares (`EXECENV_HISTORY__…`).
    #[serde(default)]
    pub history: HistoryConfig,
}

/// The durable launch history (`EXECENV_HISTORY__…`; see [`crate::history`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryConfig {
    /// `postgres://…` (the registry's database, shared by every replica) or
    /// `sqlite://PATH?mode=rwc` (one local launcher); empty: no durable history.
    pub database_url: Secret,
    /// Final launches that finished more days ago than this are purged; 0 keeps them.
    pub retention_days: u32,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            database_url: Secret::from(""),
            retention_days: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50054, 9454),
            launcher: BackendConfig::default(),
            selector: SelectorConfig::default(),
            local: LocalConfig::default(),
            kubernetes: KubernetesConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            tls: TlsConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

/// Which backend runs content (`EXECENV_LAUNCHER__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendConfig {
    /// `local` (default) or `kubernetes`.
    pub backend: BackendKind,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            backend: BackendKind::Local,
        }
    }
}

/// The local backend (`EXECENV_LOCAL__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalConfig {
    /// The data folder: `content/<guid>/<bundle>/bundle` is read, `…/work`, `cache/<image>` and
    /// `launches/<id>/` are written (`EXECENV_LOCAL__DATA_DIR`).
    pub data_dir: PathBuf,
    /// The content runner; default: `execenv-content-runner` next to the launcher's binary, else
    /// on PATH (`EXECENV_LOCAL__RUNNER`).
    pub runner: Option<PathBuf>,
    /// How many build and run launches run at once; the rest wait PENDING with reason Queued
    /// (`EXECENV_LOCAL__MAX_CONCURRENT`).
    pub max_concurrent: usize,
    /// After Cancel's SIGTERM, how long to wait before SIGKILL (`EXECENV_LOCAL__CANCEL_GRACE_MS`).
    pub cancel_grace_ms: u64,
    /// A supervisor program every local launch runs under (`EXECENV_LOCAL__SUPERVISOR`);
    /// per-environment supervisors are paths inside images, used by the Kubernetes backend.
    pub supervisor: Option<String>,
    /// How many interactive launches run at once, apart from the build and run slots; one more is
    /// refused (`EXECENV_LOCAL__MAX_INTERACTIVE`).
    pub max_interactive: usize,
    /// The longest wait before an interactive app that exited is restarted; the waits double
    /// from 1 s up to it (`EXECENV_LOCAL__RESTART_BACKOFF_MAX_MS`).
    pub restart_backoff_max_ms: u64,
}

impl LocalConfig {
    /// The supervisor, if one is set (an empty value is none).
    pub fn supervisor(&self) -> Option<String> {
        self.supervisor.clone().filter(|s| !s.is_empty())
    }
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            data_dir: PathBuf::from("execenv-data"),
            runner: None,
            max_concurrent: 2,
            cancel_grace_ms: 10_000,
            supervisor: None,
            max_interactive: 20,
            restart_backoff_max_ms: 30_000,
        }
    }
}

/// The Kubernetes backend (`EXECENV_KUBERNETES__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// A kubeconfig file; default: `KUBECONFIG`, `~/.kube/config`, or the in-cluster account.
    pub kubeconfig: Option<PathBuf>,
    /// The namespace Jobs are created in.
    pub namespace: String,
    /// The runtime-components image the init container runs.
    pub runtime_image: String,
    /// The runner's path inside the content container.
    pub runner_path: String,
    /// The claim holding bundles and work folders.
    pub data_pvc: String,
    /// The claim holding package caches.
    pub package_cache_pvc: String,
    /// A folder of the data claim that holds `content/<guid>/<bundle>` (empty: the claim's root),
    /// so that one existing volume can serve several purposes.
    pub data_sub_path_prefix: String,
    /// A folder of the package cache claim that holds the per-image caches (empty: its root).
    pub package_cache_sub_path_prefix: String,
    /// The Role (in `namespace`) that grants the launcher its rights, named in permission errors.
    pub role: Option<String>,
    /// A ConfigMap (in `namespace`) made the owner of every Job and interactive Deployment, so that
    /// deleting it (`helm uninstall`) deletes them and their pods; none: Jobs stay until their TTL.
    pub owner_config_map: Option<String>,
    /// `ttlSecondsAfterFinished` of every Job, and how long a finished interactive Deployment is
    /// kept (none: they stay until deleted).
    pub ttl_seconds_after_finished: Option<i32>,
    /// `activeDeadlineSeconds` of BUILD Jobs.
    pub build_active_deadline_seconds: Option<i64>,
    /// The pod's service account when the request names none.
    pub default_service_account: Option<String>,
    /// Mount the service account token into content pods.
    pub automount_service_account_token: bool,
    /// `imagePullSecrets` of every pod.
    pub image_pull_secrets: Vec<String>,
    /// The pod's `runAsUser` (none: the image's user, which must not be root).
    pub run_as_user: Option<i64>,
    /// The pod's `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// The pod's `fsGroup`.
    pub fs_group: Option<i64>,
    /// A job base template (YAML Job) merged under every Job (`EXECENV_KUBERNETES__JOB_TEMPLATE`).
    pub job_template: Option<PathBuf>,
    /// The port interactive content listens on in its pod, and its Service's port
    /// (`EXECENV_KUBERNETES__INTERACTIVE_PORT`).
    pub interactive_port: u16,
    /// The extended resource a launch's `gpu` asks for.
    pub gpu_resource: String,
    /// What a BUILD launch's content container gets for what its request leaves unset.
    pub build_resources: Resources,
    /// What a RUN or INTERACTIVE launch's content container gets for what its request leaves unset.
    pub run_resources: Resources,
    /// The runtime init container's requests and limits (`gpu` is not used).
    pub init_resources: Resources,
    /// Service accounts a launch may name besides the default.
    pub service_accounts: Vec<String>,
    /// A label (`key` or `key=value`) that makes a ServiceAccount in the namespace one a launch
    /// may name, looked up through the API.
    pub service_account_label: Option<String>,
    /// The pods' `runAsNonRoot`; only an administrator's `false` lets an image run as root.
    pub run_as_non_root: bool,
    /// The content container's `readOnlyRootFilesystem` (the init container's is always true).
    pub read_only_root_filesystem: bool,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            namespace: "default".to_owned(),
            runtime_image: format!(
                "ghcr.io/execenv/runtime-components:{}",
                env!("CARGO_PKG_VERSION")
            ),
            runner_path: DEFAULT_RUNNER_PATH.to_owned(),
            data_pvc: "execenv-data".to_owned(),
            package_cache_pvc: "execenv-package-cache".to_owned(),
            data_sub_path_prefix: String::new(),
            package_cache_sub_path_prefix: String::new(),
            role: None,
            owner_config_map: None,
            ttl_seconds_after_finished: Some(3600),
            build_active_deadline_seconds: Some(3600),
            default_service_account: None,
            automount_service_account_token: false,
            image_pull_secrets: Vec::new(),
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            job_template: None,
            interactive_port: 8080,
            gpu_resource: "nvidia.com/gpu".to_owned(),
            build_resources: Resources::default(),
            run_resources: Resources::default(),
            init_resources: Resources::default(),
            service_accounts: Vec::new(),
            service_account_label: None,
            run_as_non_root: true,
            read_only_root_filesystem: false,
        }
    }
}

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-launcher";
    const ABOUT: &'static str = "The execenv launcher: builds and runs content in the execution environment the selector chooses, as Kubernetes Jobs (launcher.backend = kubernetes) or as local processes (local, the default).";
    const LISTS: &'static [&'static str] = &[
        "kubernetes.image_pull_secrets",
        "kubernetes.service_accounts",
    ];
    const RENAMED: &'static [Renamed] = &[
        Renamed {
            variable: "EXECENV_BACKEND",
            key: "launcher.backend",
        },
        Renamed {
            variable: "EXECENV_SUPERVISOR",
            key: "local.supervisor",
        },
    ];

    fn own_settings() -> Vec<Setting> {
        let mut settings = vec![
            Setting {
                key: "launcher.backend",
                meaning: "what runs content: local (processes on this host) or kubernetes (Jobs)",
            },
            settings::SELECTOR_URL,
            Setting {
                key: "history.database_url",
                meaning: "the durable launch history every launcher replica shares (the table execenv_launches): postgres://USER@HOST:PORT/DATABASE (the registry's database; required for several replicas) or sqlite://PATH?mode=rwc (one local launcher); empty: none, launches are known only from the backend (a cancelled launch, or one whose Job its TTL removed, is forgotten at a restart)",
            },
            Setting {
                key: "history.retention_days",
                meaning: "days a finished launch stays in the launch history; a purge every hour removes older ones (0: kept for ever)",
            },
            Setting {
                key: "local.data_dir",
                meaning: "local: the data folder; content/<guid>/<bundle>/bundle is read, work folders, cache/<image> and launches/<id>/ are written",
            },
            Setting {
                key: "local.runner",
                meaning: "local: the content runner; unset: execenv-content-runner next to the launcher's binary, else on PATH",
            },
            Setting {
                key: "local.max_concurrent",
                meaning: "local: build and run launches running at once; the rest wait PENDING (Queued)",
            },
            Setting {
                key: "local.cancel_grace_ms",
                meaning: "local: after a cancel's SIGTERM, how long to wait before SIGKILL",
            },
            Setting {
                key: "local.supervisor",
                meaning: "local: a program every launch runs under (the Kubernetes backend uses each environment's own supervisor instead)",
            },
            Setting {
                key: "local.max_interactive",
                meaning: "local: interactive launches running at once, apart from local.max_concurrent; one more is refused (UNAVAILABLE)",
            },
            Setting {
                key: "local.restart_backoff_max_ms",
                meaning: "local: the longest wait before an interactive app that exited is restarted (the waits double from 1 s)",
            },
            Setting {
                key: "kubernetes.kubeconfig",
                meaning: "kubernetes: a kubeconfig file; unset: KUBECONFIG, ~/.kube/config, or the in-cluster service account",
            },
            Setting {
                key: "kubernetes.namespace",
                meaning: "kubernetes: the namespace Jobs (and the Deployments and Services of interactive content) are created in",
            },
            Setting {
                key: "kubernetes.runtime_image",
                meaning: "kubernetes: the runtime-components image the init container copies the content runner from",
            },
            Setting {
                key: "kubernetes.runner_path",
                meaning: "kubernetes: where the content runner is inside the content container",
            },
            Setting {
                key: "kubernetes.data_pvc",
                meaning: "kubernetes: the PersistentVolumeClaim holding bundles and work folders",
            },
            Setting {
                key: "kubernetes.package_cache_pvc",
                meaning: "kubernetes: the PersistentVolumeClaim holding package caches (one sub-path per image)",
            },
            Setting {
                key: "kubernetes.data_sub_path_prefix",
                meaning: "kubernetes: a relative folder of the data claim under which content/<guid>/<bundle> lies; empty: the claim's root",
            },
            Setting {
                key: "kubernetes.package_cache_sub_path_prefix",
                meaning: "kubernetes: a relative folder of the package cache claim under which the per-image caches lie; empty: the claim's root",
            },
            Setting {
                key: "kubernetes.owner_config_map",
                meaning: "kubernetes: a ConfigMap in the namespace that owns every content Job and interactive Deployment (an ownerReference), so deleting it deletes them (the Helm chart sets it: `helm uninstall` removes the release's Jobs and Deployments); unset: Jobs stay until their TTL, Deployments until they are cancelled",
            },
            Setting {
                key: "kubernetes.role",
                meaning: "kubernetes: the Role in the namespace that grants the launcher's service account its rights, named in permission errors (the Helm chart sets it)",
            },
            Setting {
                key: "kubernetes.ttl_seconds_after_finished",
                meaning: "kubernetes: ttlSecondsAfterFinished of every Job, and how long the launcher keeps the Deployment of an interactive launch that could not start (its runner refused) before deleting it; unset: they stay until deleted",
            },
            Setting {
                key: "kubernetes.build_active_deadline_seconds",
                meaning: "kubernetes: activeDeadlineSeconds of build Jobs; unset: no limit",
            },
            Setting {
                key: "kubernetes.default_service_account",
                meaning: "kubernetes: the pods' service account when the request names none",
            },
            Setting {
                key: "kubernetes.automount_service_account_token",
                meaning: "kubernetes: mount the service account token into content pods",
            },
            Setting {
                key: "kubernetes.image_pull_secrets",
                meaning: "kubernetes: imagePullSecrets of every pod: secret names, comma-separated in the variable",
            },
            Setting {
                key: "kubernetes.run_as_user",
                meaning: "kubernetes: the pods' runAsUser; unset: the image's user, which must not be root",
            },
            Setting {
                key: "kubernetes.run_as_group",
                meaning: "kubernetes: the pods' runAsGroup",
            },
            Setting {
                key: "kubernetes.fs_group",
                meaning: "kubernetes: the pods' fsGroup",
            },
            Setting {
                key: "kubernetes.job_template",
                meaning: "kubernetes: a YAML Job merged under every Job the launcher makes, and under the pod of every interactive Deployment (labels, tolerations, sidecars, …)",
            },
            Setting {
                key: "kubernetes.interactive_port",
                meaning: "kubernetes: the port interactive content listens on in its pod (EXECENV_CONTENT_PORT) and the port of its Service",
            },
            Setting {
                key: "kubernetes.gpu_resource",
                meaning: "kubernetes: the extended resource a launch's gpu asks for (set as the content container's limit, which Kubernetes also takes as its request)",
            },
            Setting {
                key: "kubernetes.service_accounts",
                meaning: "kubernetes: service accounts a launch may name besides kubernetes.default_service_account, comma-separated in the variable; a launch naming any other is refused (PERMISSION_DENIED) unless it carries kubernetes.service_account_label",
            },
            Setting {
                key: "kubernetes.service_account_label",
                meaning: "kubernetes: a label, key or key=value, that makes a ServiceAccount in the namespace one a launch may name (looked up through the API; the launcher's Role needs get on serviceaccounts); unset: only kubernetes.service_accounts",
            },
            Setting {
                key: "kubernetes.run_as_non_root",
                meaning: "kubernetes: the content pods' runAsNonRoot; false lets images run as root (an administrator's decision: a launch request cannot change it)",
            },
            Setting {
                key: "kubernetes.read_only_root_filesystem",
                meaning: "kubernetes: the content container's readOnlyRootFilesystem (the runtime init container's is always true); off by default because installers write outside the mounted folders",
            },
        ];
        settings.extend(resource_settings!(
            "kubernetes.build_resources",
            "kubernetes: for build launches' content container, unless the request gives it: "
        ));
        settings.extend(resource_settings!(
            "kubernetes.run_resources",
            "kubernetes: for run and interactive launches' content container, unless the request gives it: "
        ));
        settings.extend(resource_settings!(
            "kubernetes.init_resources",
            "kubernetes: the runtime init container's (gpu is not used): "
        ));
        settings.extend(crate::limits::settings());
        settings
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_backend_and_the_supervisor_are_ordinary_settings() {
        let env = HashMap::from([
            (
                "EXECENV_LAUNCHER__BACKEND".to_owned(),
                "kubernetes".to_owned(),
            ),
            (
                "EXECENV_LOCAL__SUPERVISOR".to_owned(),
                "/usr/bin/env".to_owned(),
            ),
        ]);
        let config: Config = execenv_kit::config::load(&Config::default(), None, &env).unwrap();
        assert_eq!(config.launcher.backend, BackendKind::Kubernetes);
        assert_eq!(config.local.supervisor().as_deref(), Some("/usr/bin/env"));
    }

    #[test]
    fn image_pull_secrets_take_a_comma_separated_variable() {
        let env = HashMap::from([(
            "EXECENV_KUBERNETES__IMAGE_PULL_SECRETS".to_owned(),
            "registry-a,registry-b".to_owned(),
        )]);
        let config: Config = execenv_kit::bootstrap::load(
            &execenv_kit::bootstrap::ServiceArgs::default(),
            &env,
            &[],
        )
        .unwrap();
        assert_eq!(
            config.kubernetes.image_pull_secrets,
            ["registry-a", "registry-b"]
        );
    }

    #[test]
    fn an_empty_supervisor_is_none() {
        let env = HashMap::from([("EXECENV_LOCAL__SUPERVISOR".to_owned(), String::new())]);
        let config: Config = execenv_kit::config::load(&Config::default(), None, &env).unwrap();
        assert_eq!(config.local.supervisor(), None);
    }

    #[test]
    fn a_backend_that_does_not_exist_names_the_variable() {
        let env = HashMap::from([("EXECENV_LAUNCHER__BACKEND".to_owned(), "nomad".to_owned())]);
        let err = execenv_kit::config::load(&Config::default(), None, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("EXECENV_LAUNCHER__BACKEND"), "{err}");
        assert!(err.contains("nomad"), "{err}");
    }
}

execenv_kit::every_setting_is_documented!(Config);
