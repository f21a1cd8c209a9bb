//! execenv-launcher: turns "build / run this content" into a workload in the chosen execution
//! environment.
//!
//! A `Launch` call is validated at the edge, the selector chooses the environment (acting as the
//! caller, so permissions hold), and one of two backends starts the workload: Kubernetes (a
//! `batch/v1` Job built by the pure [`job_spec::build_job`]) or local host processes. Both report
//! into one in-memory [`table::Launches`], from which `Get`, `List`, `Watch` are answered; the
//! durable truth is the cluster (Jobs and pods) or the local data folder, and both are read back
//! after a restart.

pub mod backend;
pub mod job_spec;
pub mod kubernetes;
pub mod launch;
pub mod local;
pub mod metrics;
pub mod selector;
pub mod service;
pub mod table;
pub mod template;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use execenv_kit::config::SelectorConfig;
use execenv_kit::config::{AuthConfig, ServerConfig, TelemetryConfig};
use execenv_kit::shutdown::Shutdown;
use serde::{Deserialize, Serialize};

pub use job_spec::{
    ChosenInstallation, DEFAULT_RUNNER_PATH, JobSettings, LaunchKind, LaunchRequest, PodSecurity,
    Resources, build_job, cache_sub_path, job_name,
};
pub use launch::{BackendKind, Launch, Observation, State};
pub use template::JobTemplate;

/// The launcher's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses (`EXECENV_SERVER__GRPC_ADDR`, `EXECENV_SERVER__ADMIN_ADDR`).
    pub server: ServerConfig,
    /// Which backend runs content: `local` (default) or `kubernetes` (`EXECENV_BACKEND`).
    #[serde(default = "default_backend")]
    pub backend: BackendKind,
    /// The selector that chooses environments.
    #[serde(default)]
    pub selector: SelectorConfig,
    /// A supervisor program every LOCAL launch runs under (`EXECENV_SUPERVISOR`); per-environment
    /// supervisors are paths inside images and used by the Kubernetes backend only.
    #[serde(default)]
    pub supervisor: Option<String>,
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
}

fn default_backend() -> BackendKind {
    BackendKind::Local
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::with_ports(50054, 9454),
            backend: default_backend(),
            selector: SelectorConfig::default(),
            supervisor: None,
            local: LocalConfig::default(),
            kubernetes: KubernetesConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
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
    /// How many launches run at once; the rest wait PENDING with reason Queued
    /// (`EXECENV_LOCAL__MAX_CONCURRENT`).
    pub max_concurrent: usize,
    /// After Cancel's SIGTERM, how long to wait before SIGKILL (`EXECENV_LOCAL__CANCEL_GRACE_MS`).
    pub cancel_grace_ms: u64,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            data_dir: PathBuf::from("execenv-data"),
            runner: None,
            max_concurrent: 2,
            cancel_grace_ms: 10_000,
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
    /// `ttlSecondsAfterFinished` of every Job (none: Jobs stay until deleted).
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
            ttl_seconds_after_finished: Some(3600),
            build_active_deadline_seconds: Some(3600),
            default_service_account: None,
            automount_service_account_token: false,
            image_pull_secrets: Vec::new(),
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            job_template: None,
        }
    }
}

impl KubernetesConfig {
    /// The Job settings, with the job base template read from its file.
    pub fn job_settings(&self) -> Result<JobSettings, execenv_core::Error> {
        let base_template = match &self.job_template {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    execenv_core::Error::invalid_field(
                        "kubernetes.job_template",
                        format!("cannot read the job template {}: {e}", path.display()),
                    )
                })?;
                Some(JobTemplate::from_yaml(&path.display().to_string(), &text)?)
            }
        };
        Ok(JobSettings {
            namespace: self.namespace.clone(),
            runtime_image: self.runtime_image.clone(),
            runner_path: self.runner_path.clone(),
            data_pvc: self.data_pvc.clone(),
            package_cache_pvc: self.package_cache_pvc.clone(),
            ttl_seconds_after_finished: self.ttl_seconds_after_finished,
            build_active_deadline_seconds: self.build_active_deadline_seconds,
            default_service_account: self.default_service_account.clone(),
            automount_service_account_token: self.automount_service_account_token,
            image_pull_secrets: self.image_pull_secrets.clone(),
            security: PodSecurity {
                run_as_user: self.run_as_user,
                run_as_group: self.run_as_group,
                fs_group: self.fs_group,
                ..PodSecurity::default()
            },
            base_template,
        })
    }
}

/// Why the launcher could not start.
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
    /// The backend could not start (no cluster, unwritable data folder, …).
    #[error("{0}")]
    Backend(String),
}

/// A running launcher.
pub struct Running {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// The launch table.
    pub launches: table::Launches,
    /// Stops the launcher.
    pub shutdown: Shutdown,
    /// Completes when every server and backend task has stopped.
    pub done: tokio::task::JoinHandle<()>,
}

mod server;
pub use server::start;
