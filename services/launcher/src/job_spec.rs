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
//! | `/mnt/content` | `execenv-data` | data PVC, subPath `content/<content guid>/<bundle id>` |
//! | `/mnt/cache` | `execenv-cache` | package cache PVC, subPath [`cache_sub_path`] of the image; read-only for RUN |
//! | each environment mount's target | `execenv-env-<i>` | NFS or PVC, read-only as declared |
//!
//! Input is checked before anything is built, and every problem is reported at once as
//! `InvalidArgument`: ids that are not safe as label values or path segments, environment mounts
//! on a reserved path ([`RESERVED_PATHS`] or below), malformed resource quantities, and request
//! environment variables that clash with the ones the launcher sets.
//!
//! The optional base template is merged last; see [`crate::template`] for the merge order.

use std::collections::BTreeMap;

use execenv_core::{Environment, Error, Language};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, LocalObjectReference, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::template::JobTemplate;
use check::check;
pub use check::check_request;
pub(crate) use check::reserved_path;
use volumes::{mount, volumes};

mod check;
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
}

impl LaunchKind {
    /// `build` or `run`: the runner's subcommand and the component label.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchKind::Build => "build",
            LaunchKind::Run => "run",
        }
    }
}

/// Resource requests and limits of the content container, as Kubernetes quantities (`500m`, `1Gi`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `requests.cpu`.
    pub cpu_request: Option<String>,
    /// `limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `requests.memory`.
    pub memory_request: Option<String>,
    /// `limits.memory`.
    pub memory_limit: Option<String>,
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

/// Security settings of the pod and its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurity {
    /// Pod `runAsNonRoot`.
    pub run_as_non_root: bool,
    /// Pod `runAsUser`.
    pub run_as_user: Option<i64>,
    /// Pod `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// Pod `fsGroup` (lets a non-root user write the PVCs).
    pub fs_group: Option<i64>,
    /// Pod `seccompProfile: RuntimeDefault`.
    pub seccomp_runtime_default: bool,
    /// Container `allowPrivilegeEscalation`.
    pub allow_privilege_escalation: bool,
    /// Container `capabilities.drop: [ALL]`.
    pub drop_all_capabilities: bool,
}

impl Default for PodSecurity {
    /// The restricted Pod Security Standard: non-root, RuntimeDefault seccomp, no escalation, no
    /// capabilities.
    fn default() -> Self {
        PodSecurity {
            run_as_non_root: true,
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            seccomp_runtime_default: true,
            allow_privilege_escalation: false,
            drop_all_capabilities: true,
        }
    }
}

/// The launcher's Kubernetes settings that shape every Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// Namespace the Jobs are created in.
    pub namespace: String,
    /// The runtime-components image run by the init container.
    pub runtime_image: String,
    /// The runner's path inside the content container.
    pub runner_path: String,
    /// Claim holding content bundles and work folders (`content/<guid>/<bundle>/…`).
    pub data_pvc: String,
    /// Claim holding the package caches, one folder per image.
    pub package_cache_pvc: String,
    /// `ttlSecondsAfterFinished` of every Job.
    pub ttl_seconds_after_finished: Option<i32>,
    /// `activeDeadlineSeconds` of BUILD Jobs.
    pub build_active_deadline_seconds: Option<i64>,
    /// Service account when the request names none.
    pub default_service_account: Option<String>,
    /// `automountServiceAccountToken` (false unless configured).
    pub automount_service_account_token: bool,
    /// `imagePullSecrets` names.
    pub image_pull_secrets: Vec<String>,
    /// Pod and container security contexts.
    pub security: PodSecurity,
    /// The administrator's job base, merged under our fields.
    pub base_template: Option<JobTemplate>,
}

/// The Job name for a request id: `execenv-` + the first 16 hex digits of its SHA-256.
///
/// Deterministic, so a repeated launch meets its own Job (AlreadyExists → adopt it), and a valid
/// DNS-1123 label of 24 characters whatever the request id. The kind is deliberately not part of
/// the name: the request id alone is the idempotency key, so a BUILD and a RUN sent with the same
/// id collide instead of silently making two launches.
pub fn job_name(request_id: &str) -> String {
    format!("execenv-{}", short_hash(request_id, 16))
}

/// The package cache's subPath for an image: the image name made filesystem-safe, then 12 hex
/// digits of the name's SHA-256 (so two names that sanitise alike still get their own folder).
///
/// Keyed by image NAME, not environment: environments sharing an image share a cache.
pub fn cache_sub_path(image: &str) -> String {
    let mut safe: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    safe = safe.trim_start_matches(['.', '-']).to_string();
    safe.truncate(100);
    if safe.is_empty() {
        format!("image-{}", short_hash(image, 12))
    } else {
        format!("{safe}-{}", short_hash(image, 12))
    }
}

/// Builds the Job for `launch` in `environment`, or `InvalidArgument` listing every problem.
pub fn build_job(
    launch: &LaunchRequest,
    environment: &Environment,
    installations: &[ChosenInstallation],
    settings: &JobSettings,
) -> Result<Job, Error> {
    check(launch, environment, installations)?;
    let image = environment.spec.name.as_str();
    let kind = launch.kind.as_str();

    let labels = BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_COMPONENT.to_string(), kind.to_string()),
        (LABEL_CONTENT_GUID.to_string(), launch.content_guid.clone()),
        (
            LABEL_ENVIRONMENT_GUID.to_string(),
            environment.guid.to_string(),
        ),
        (LABEL_LAUNCH_ID.to_string(), launch.request_id.clone()),
    ]);
    let mut annotations = BTreeMap::from([
        (ANNOTATION_IMAGE.to_string(), image.to_string()),
        (ANNOTATION_BUNDLE_ID.to_string(), launch.bundle_id.clone()),
    ]);
    for i in installations {
        annotations.insert(
            format!("{ANNOTATION_VERSION_PREFIX}{}-version", i.language.as_str()),
            i.version.clone(),
        );
    }
    let metadata = ObjectMeta {
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    };

    let (volumes, content_mounts) = volumes(launch, environment, settings);
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        enable_service_links: Some(false),
        automount_service_account_token: Some(settings.automount_service_account_token),
        service_account_name: launch
            .service_account
            .clone()
            .or_else(|| settings.default_service_account.clone()),
        image_pull_secrets: non_empty(
            settings
                .image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect(),
        ),
        security_context: Some(pod_security(&settings.security)),
        init_containers: Some(vec![Container {
            name: INIT_CONTAINER_NAME.into(),
            image: Some(settings.runtime_image.clone()),
            args: Some(vec![RUNTIME_INIT_PATH.into()]),
            volume_mounts: Some(vec![mount(RUNTIME_VOLUME, RUNTIME_INIT_PATH, None, false)]),
            security_context: Some(container_security(&settings.security)),
            ..Container::default()
        }]),
        containers: vec![Container {
            name: CONTENT_CONTAINER_NAME.into(),
            image: Some(image.to_string()),
            command: Some(command(launch, environment, settings)),
            env: non_empty(env(launch, installations)),
            resources: resources(&launch.resources),
            volume_mounts: Some(content_mounts),
            security_context: Some(container_security(&settings.security)),
            ..Container::default()
        }],
        volumes: Some(volumes),
        ..PodSpec::default()
    };

    let job = Job {
        metadata: ObjectMeta {
            name: Some(job_name(&launch.request_id)),
            namespace: Some(settings.namespace.clone()),
            ..metadata.clone()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: settings.ttl_seconds_after_finished,
            active_deadline_seconds: match launch.kind {
                LaunchKind::Build => settings.build_active_deadline_seconds,
                LaunchKind::Run => None,
            },
            template: PodTemplateSpec {
                metadata: Some(metadata),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    };
    match &settings.base_template {
        Some(base) => base.merge_under(&job),
        None => Ok(job),
    }
}

/// `[supervisor] runner build|run --bundle … --work … [--cache …] --status-file … [-- command…]`.
fn command(
    launch: &LaunchRequest,
    environment: &Environment,
    settings: &JobSettings,
) -> Vec<String> {
    let kind = launch.kind.as_str();
    let mut argv: Vec<String> = environment.spec.supervisor.iter().cloned().collect();
    argv.extend([
        settings.runner_path.clone(),
        kind.into(),
        "--bundle".into(),
        BUNDLE_DIR.into(),
        "--work".into(),
        WORK_DIR.into(),
    ]);
    if launch.kind == LaunchKind::Build {
        argv.extend(["--cache".into(), CACHE_PATH.into()]);
    }
    argv.extend([
        "--status-file".into(),
        format!("{WORK_DIR}/{kind}-status.json"),
    ]);
    if launch.kind == LaunchKind::Run && !launch.command.is_empty() {
        argv.push("--".into());
        argv.extend(launch.command.iter().cloned());
    }
    argv
}

/// The runner's interpreter variables first, then the request's variables in order.
fn env(launch: &LaunchRequest, installations: &[ChosenInstallation]) -> Vec<EnvVar> {
    let chosen = installations.iter().filter_map(|i| {
        interpreter_variable(i.language).map(|name| (name.to_string(), i.path.clone()))
    });
    chosen
        .chain(launch.env.iter().cloned())
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect()
}

/// The variable through which the runner learns an installation; TensorFlow has none (it is
/// recorded in the annotations only).
pub(crate) fn interpreter_variable(language: Language) -> Option<&'static str> {
    match language {
        Language::Python => Some("EXECENV_PYTHON"),
        Language::R => Some("EXECENV_R"),
        Language::Quarto => Some("EXECENV_QUARTO"),
        Language::Tensorflow => None,
    }
}

fn resources(r: &Resources) -> Option<ResourceRequirements> {
    let pairs = |cpu: &Option<String>, memory: &Option<String>| {
        let map: BTreeMap<String, Quantity> = [("cpu", cpu), ("memory", memory)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), Quantity(v.clone()))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let requests = pairs(&r.cpu_request, &r.memory_request);
    let limits = pairs(&r.cpu_limit, &r.memory_limit);
    (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
        requests,
        limits,
        ..ResourceRequirements::default()
    })
}

fn pod_security(s: &PodSecurity) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(s.run_as_non_root),
        run_as_user: s.run_as_user,
        run_as_group: s.run_as_group,
        fs_group: s.fs_group,
        seccomp_profile: s.seccomp_runtime_default.then(|| SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

fn container_security(s: &PodSecurity) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(s.allow_privilege_escalation),
        capabilities: s.drop_all_capabilities.then(|| Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn short_hash(s: &str, hex_digits: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(hex_digits);
    hex
}
