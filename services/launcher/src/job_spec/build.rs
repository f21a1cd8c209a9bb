//! Assembling the Job: labels, annotations, the init and content containers, the pod's security,
//! then the base template laid under it (see the layout in [`super`]).

use std::collections::BTreeMap;

use execenv_core::{Environment, Error};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, LocalObjectReference, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::check::check;
use super::names::job_name;
use super::runner::{RunnerFolders, runner_argv, runner_variables};
use super::settings::JobSettings;
use super::volumes::{mount, volumes};
use super::{
    ANNOTATION_BUNDLE_ID, ANNOTATION_IMAGE, ANNOTATION_VERSION_PREFIX, BUNDLE_DIR, CACHE_PATH,
    CONTENT_CONTAINER_NAME, ChosenInstallation, INIT_CONTAINER_NAME, LABEL_COMPONENT,
    LABEL_CONTENT_GUID, LABEL_ENVIRONMENT_GUID, LABEL_LAUNCH_ID, LABEL_MANAGED_BY, LaunchKind,
    LaunchRequest, MANAGED_BY, RUNTIME_INIT_PATH, RUNTIME_VOLUME, Resources, WORK_DIR,
};
use crate::config::KubernetesConfig;

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

    let config = &settings.config;
    let (volumes, content_mounts) = volumes(launch, environment, config);
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        enable_service_links: Some(false),
        automount_service_account_token: Some(config.automount_service_account_token),
        service_account_name: launch
            .service_account
            .clone()
            .or_else(|| config.default_service_account.clone()),
        image_pull_secrets: non_empty(
            config
                .image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect(),
        ),
        security_context: Some(pod_security(config)),
        init_containers: Some(vec![Container {
            name: INIT_CONTAINER_NAME.into(),
            image: Some(config.runtime_image.clone()),
            args: Some(vec![RUNTIME_INIT_PATH.into()]),
            resources: resources(&config.init_resources, None),
            volume_mounts: Some(vec![mount(RUNTIME_VOLUME, RUNTIME_INIT_PATH, None, false)]),
            // It only copies files into its emptyDir: nothing else of it need be writable.
            security_context: Some(container_security(true)),
            ..Container::default()
        }]),
        containers: vec![Container {
            name: CONTENT_CONTAINER_NAME.into(),
            image: Some(image.to_string()),
            command: Some(command(launch, environment, config)),
            env: non_empty(env(launch, installations)),
            resources: resources(&launch.resources, Some(&config.gpu_resource)),
            volume_mounts: Some(content_mounts),
            security_context: Some(container_security(config.read_only_root_filesystem)),
            ..Container::default()
        }],
        volumes: Some(volumes),
        ..PodSpec::default()
    };

    let job = Job {
        metadata: ObjectMeta {
            name: Some(job_name(&launch.request_id)),
            namespace: Some(config.namespace.clone()),
            ..metadata.clone()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: config.ttl_seconds_after_finished,
            active_deadline_seconds: match launch.kind {
                LaunchKind::Build => config.build_active_deadline_seconds,
                LaunchKind::Run | LaunchKind::Interactive => None,
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

/// The content container's command: the runner with the container's folders.
fn command(
    launch: &LaunchRequest,
    environment: &Environment,
    config: &KubernetesConfig,
) -> Vec<String> {
    let folders = RunnerFolders {
        bundle: BUNDLE_DIR.to_owned(),
        work: WORK_DIR.to_owned(),
        cache: CACHE_PATH.to_owned(),
        status: format!("{WORK_DIR}/{}-status.json", launch.kind.as_str()),
    };
    runner_argv(
        launch,
        environment.spec.supervisor.as_deref(),
        config.runner_path.clone(),
        folders,
    )
}

/// The content container's variables (see [`runner_variables`]).
fn env(launch: &LaunchRequest, installations: &[ChosenInstallation]) -> Vec<EnvVar> {
    runner_variables(launch, installations)
        .into_iter()
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect()
}

/// The container's requests and limits; GPUs (a limit of `gpu_resource`, which Kubernetes also
/// takes as the request) only for a container that may have them.
fn resources(r: &Resources, gpu_resource: Option<&str>) -> Option<ResourceRequirements> {
    let map = |entries: Vec<(&str, &Option<String>)>| {
        let map: BTreeMap<String, Quantity> = entries
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), Quantity(v.clone()))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let requests = map(vec![
        ("cpu", &r.cpu_request),
        ("memory", &r.memory_request),
        ("ephemeral-storage", &r.ephemeral_storage_request),
    ]);
    let mut limited = vec![
        ("cpu", &r.cpu_limit),
        ("memory", &r.memory_limit),
        ("ephemeral-storage", &r.ephemeral_storage_limit),
    ];
    if let Some(name) = gpu_resource {
        limited.push((name, &r.gpu));
    }
    let limits = map(limited);
    (requests.is_some() || limits.is_some()).then(|| ResourceRequirements {
        requests,
        limits,
        ..ResourceRequirements::default()
    })
}

/// The restricted Pod Security Standard (non-root, RuntimeDefault seccomp), with the configured
/// user, group and fsGroup. Only the administrator's `kubernetes.run_as_non_root: false` lets an
/// image run as root; nothing in a launch request can change any of it.
fn pod_security(config: &KubernetesConfig) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(config.run_as_non_root),
        run_as_user: config.run_as_user,
        run_as_group: config.run_as_group,
        fs_group: config.fs_group,
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// The restricted Pod Security Standard for every container: no escalation, no privilege, no
/// capabilities; the root filesystem read-only when `read_only_root`.
fn container_security(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(read_only_root),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
