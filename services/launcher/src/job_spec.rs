//! The Kubernetes Job for one launch: a pure function from the launch, its environment, the chosen
//! installations and the launcher's settings to a `batch/v1` Job. No I/O.
//!
//! The Job has one init container, `execenv-runtime-init` (the runtime-components image), that
//! copies the content runner into the emptyDir `execenv-runtime`; the content container
//! `execenv-content` (the environment's image) mounts it read-only at `/opt/execenv/runtime` and
//! runs `[supervisor] runner build|run --bundle … --work … [--cache …] --status-file … [-- command]`.
//!
//! Mount layout inside the content container:
//!
//! | path | volume | source |
//! |---|---|---|
//! | `/opt/execenv/runtime` | `execenv-runtime` (emptyDir, read-only) | filled by the init container |
//! | `/mnt/content` | `execenv-data` | data PVC, subPath `[<data prefix>/]content/<content guid>/<bundle id>` |
//! | `/mnt/cache` | `execenv-cache` | package cache PVC, subPath `[<cache prefix>/]`[`cache_sub_path`] of the image; read-only for RUN and INTERACTIVE |
//!
//! The prefixes are the settings `kubernetes.data_sub_path_prefix` and
//! `kubernetes.package_cache_sub_path_prefix` (empty by default: the claims' roots), so that an
//! existing shared volume can hold execenv's folders under one of its own.
//! | each environment mount's target | `execenv-env-<i>` | NFS or PVC, read-only as declared |
//!
//! Input is checked before anything is built, and every problem is reported at once as
//! `InvalidArgument`: ids that are not safe as label values or path segments, environment mounts
//! on a reserved path ([`RESERVED_PATHS`] or below), malformed resource quantities, and request
//! environment variables that clash with the ones the launcher sets.
//!
//! The optional base template is merged last; see [`crate::template`] for the merge order.
//!
//! This module holds what the parts share — the request types and the layout constants — and the
//! parts are its children: `build` assembles the Job, `check` finds the input's problems,
//! `volumes` lays out the mounts, `names` derives the Job name and cache folder, `settings` holds
//! the launcher's settings that shape every Job, `runner` says how the content runner is
//! called (the local backend calls it the same way), and `interactive` turns the Job of an
//! interactive launch into the Deployment and Service that serve it.

use execenv_core::Language;

pub use build::build_job;
pub use check::check_request;
pub(crate) use check::reserved_path;
pub use interactive::{HTTP_PORT_NAME, POD_HOST, deployment_of, http_port, service_for};
pub use names::{cache_sub_path, job_name};
pub use runner::{
    CONTENT_BASE_PATH_VARIABLE, CONTENT_HOST_VARIABLE, CONTENT_PORT_VARIABLE, RunnerFolders,
    content_variables, runner_argv, runner_variables,
};
pub use settings::JobSettings;
pub use volumes::check_sub_path_prefixes;

mod build;
mod check;
mod interactive;
mod names;
mod runner;
#[cfg(test)]
mod security_tests;
mod settings;
#[cfg(test)]
mod tests;
mod volumes;

/// Where the content runner sits inside the content container (the runtime emptyDir's `bin/`).
pub const DEFAULT_RUNNER_PATH: &str = "/opt/execenv/runtime/bin/execenv-content-runner";
/// Name of the init container that installs the runtime.
pub const INIT_CONTAINER_NAME: &str = "execenv-runtime-init";
/// Name of the container that builds or runs the content.
pub const CONTENT_CONTAINER_NAME: &str = "execenv-content";
/// Where the init container sees the runtime emptyDir.
pub const RUNTIME_INIT_PATH: &str = "/mnt/execenv-runtime";
/// Where the content container sees the runtime emptyDir (read-only).
pub const RUNTIME_PATH: &str = "/opt/execenv/runtime";
/// Where the content's bundle and work folders are mounted.
pub const CONTENT_PATH: &str = "/mnt/content";
/// Where the package cache is mounted.
pub const CACHE_PATH: &str = "/mnt/cache";
/// Paths (and everything below them) that an environment's volume mount may not target.
pub const RESERVED_PATHS: [&str; 4] = ["/opt/execenv", RUNTIME_INIT_PATH, CONTENT_PATH, CACHE_PATH];

/// Label: who manages the Job.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "execenv-launcher";
/// Label: `build` or `run`.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Label: the content's guid.
pub const LABEL_CONTENT_GUID: &str = "execenv.io/content-guid";
/// Label: the environment's guid.
pub const LABEL_ENVIRONMENT_GUID: &str = "execenv.io/environment-guid";
/// Label: the launch id (the request id).
pub const LABEL_LAUNCH_ID: &str = "execenv.io/launch-id";
/// Annotation: the content image.
pub const ANNOTATION_IMAGE: &str = "execenv.io/image";
/// Annotation: the bundle id.
pub const ANNOTATION_BUNDLE_ID: &str = "execenv.io/bundle-id";
/// Annotation prefix for the chosen version of each language: `execenv.io/python-version`, ….
pub const ANNOTATION_VERSION_PREFIX: &str = "execenv.io/";

const RUNTIME_VOLUME: &str = "execenv-runtime";
const DATA_VOLUME: &str = "execenv-data";
const CACHE_VOLUME: &str = "execenv-cache";
const BUNDLE_DIR: &str = "/mnt/content/bundle";
const WORK_DIR: &str = "/mnt/content/work";

/// Whether a launch restores packages or runs the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchKind {
    /// Restore the bundle's packages (writes the package cache).
    Build,
    /// Run the content with the restored packages.
    Run,
    /// Serve the content (an app or an API) on a port until it is stopped.
    Interactive,
}

impl LaunchKind {
    /// `build`, `run` or `interactive`: the component label and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchKind::Build => "build",
            LaunchKind::Run => "run",
            LaunchKind::Interactive => "interactive",
        }
    }

    /// The runner's subcommand: `build`, or `run` (which also serves interactive content, on the
    /// port it is given).
    pub fn runner_step(self) -> &'static str {
        match self {
            LaunchKind::Build => "build",
            LaunchKind::Run | LaunchKind::Interactive => "run",
        }
    }
}

/// Resource requests and limits of a container, as Kubernetes quantities (`500m`, `1Gi`): what a
/// launch asks for, and in the settings the defaults of each kind of container and the caps of
/// each role and group ([`crate::limits`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    /// `requests.cpu`.
    pub cpu_request: Option<String>,
    /// `limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `requests.memory`.
    pub memory_request: Option<String>,
    /// `limits.memory`.
    pub memory_limit: Option<String>,
    /// GPUs, a whole number: the limit (and so the request) of `kubernetes.gpu_resource`.
    pub gpu: Option<String>,
    /// `requests.ephemeral-storage`.
    pub ephemeral_storage_request: Option<String>,
    /// `limits.ephemeral-storage`.
    pub ephemeral_storage_limit: Option<String>,
}

impl Resources {
    /// Each field with its name, in the wire's order.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 7] {
        [
            ("cpu_request", &self.cpu_request),
            ("cpu_limit", &self.cpu_limit),
            ("memory_request", &self.memory_request),
            ("memory_limit", &self.memory_limit),
            ("gpu", &self.gpu),
            ("ephemeral_storage_request", &self.ephemeral_storage_request),
            ("ephemeral_storage_limit", &self.ephemeral_storage_limit),
        ]
    }

    /// Each field, to be changed, with its name.
    pub fn fields_mut(&mut self) -> [(&'static str, &mut Option<String>); 7] {
        [
            ("cpu_request", &mut self.cpu_request),
            ("cpu_limit", &mut self.cpu_limit),
            ("memory_request", &mut self.memory_request),
            ("memory_limit", &mut self.memory_limit),
            ("gpu", &mut self.gpu),
            (
                "ephemeral_storage_request",
                &mut self.ephemeral_storage_request,
            ),
            ("ephemeral_storage_limit", &mut self.ephemeral_storage_limit),
        ]
    }

    /// Every field that is unset here taken from `defaults`.
    pub fn or(mut self, defaults: &Resources) -> Resources {
        for ((_, mine), (_, default)) in self.fields_mut().into_iter().zip(defaults.fields()) {
            if mine.is_none() {
                mine.clone_from(default);
            }
        }
        self
    }
}

/// One launch as the Job builder needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    /// Idempotency key and launch id; names the Job.
    pub request_id: String,
    /// Build or run.
    pub kind: LaunchKind,
    /// The content's guid.
    pub content_guid: String,
    /// The bundle being built or run.
    pub bundle_id: String,
    /// For RUN: the content's command (passed after `--`); empty = the manifest's entrypoint.
    pub command: Vec<String>,
    /// Extra environment variables for the content container.
    pub env: Vec<(String, String)>,
    /// Resource requests and limits.
    pub resources: Resources,
    /// The content's service account; wins over the settings' default.
    pub service_account: Option<String>,
}

/// An installation the selector chose for this launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenInstallation {
    /// Its language.
    pub language: Language,
    /// Its version.
    pub version: String,
    /// Its absolute path inside the image.
    pub path: String,
}
