use std::collections::BTreeMap;

use execenv_core::{
    Environment, EnvironmentSpec, ErrorKind, Language, Matching, VolumeMount as EnvMount,
    VolumeSource,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use uuid::Uuid;

use super::*;
use crate::config::KubernetesConfig;
use crate::template::JobTemplate;

pub(super) const IMAGE: &str = "ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204";
pub(super) const CONTENT: &str = "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c";
/// The Job of request "req-42": "execenv-" and the first 16 hex digits of the SHA-256 of the
/// request id (`printf %s req-42 | sha256sum`).
pub(super) const JOB_OF_REQ_42: &str = "execenv-fd1180d9f0c0819f";
/// IMAGE's package cache folder: the name lower-cased with every character outside
/// `[a-z0-9._-]` made '-', then '-' and the first 12 hex digits of the name's SHA-256.
const CACHE_OF_IMAGE: &str = "ghcr.io-rstudio-content-base-r4.4.1-py3.12.4-ubuntu2204-8b96ed0b6db5";

pub(super) fn environment(supervisor: Option<&str>, mounts: Vec<EnvMount>) -> Environment {
    Environment {
        id: 1,
        guid: Uuid::parse_str("6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50").expect("uuid"),
        spec: EnvironmentSpec {
            name: IMAGE.into(),
            title: None,
            description: None,
            cluster_name: "Kubernetes".into(),
            matching: Matching::Any,
            supervisor: supervisor.map(str::to_string),
            python: vec![],
            r: vec![],
            quarto: vec![],
            tensorflow: vec![],
            volume_mounts: mounts,
        },
        environment_type: "Kubernetes".into(),
        managed_by: None,
        permissions: vec![],
        created_time: Default::default(),
        updated_time: Default::default(),
        revision: 1,
    }
}

pub(super) fn launch(kind: LaunchKind) -> LaunchRequest {
    LaunchRequest {
        request_id: "req-42".into(),
        kind,
        content_guid: CONTENT.into(),
        bundle_id: "17".into(),
        command: vec![],
        env: vec![],
        resources: Resources::default(),
        service_account: None,
    }
}

pub(super) fn installations() -> Vec<ChosenInstallation> {
    vec![
        ChosenInstallation {
            language: Language::Python,
            version: "3.12.4".into(),
            path: "/opt/python/3.12.4/bin/python3".into(),
        },
        ChosenInstallation {
            language: Language::R,
            version: "4.4.1".into(),
            path: "/opt/R/4.4.1/bin/R".into(),
        },
        ChosenInstallation {
            language: Language::Quarto,
            version: "1.5.57".into(),
            path: "/opt/quarto/1.5.57/bin/quarto".into(),
        },
    ]
}

pub(super) fn settings() -> JobSettings {
    JobSettings {
        config: KubernetesConfig {
            kubeconfig: None,
            namespace: "content".into(),
            runtime_image: "ghcr.io/execenv/runtime:0.1.0".into(),
            runner_path: DEFAULT_RUNNER_PATH.into(),
            data_pvc: "execenv-data".into(),
            package_cache_pvc: "execenv-cache".into(),
            data_sub_path_prefix: String::new(),
            package_cache_sub_path_prefix: String::new(),
            role: None,
            owner_config_map: None,
            ttl_seconds_after_finished: Some(600),
            build_active_deadline_seconds: Some(3600),
            default_service_account: None,
            automount_service_account_token: false,
            image_pull_secrets: vec![],
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
            job_template: None,
            interactive_port: 8080,
            ..KubernetesConfig::default()
        },
        base_template: None,
    }
}

fn build(l: &LaunchRequest, e: &Environment, s: &JobSettings) -> Job {
    build_job(l, e, &installations(), s).expect("job")
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn content(job: &Job) -> &Container {
    pod(job)
        .containers
        .iter()
        .find(|c| c.name == CONTENT_CONTAINER_NAME)
        .expect("content container")
}

fn init(job: &Job) -> &Container {
    pod(job)
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == INIT_CONTAINER_NAME)
        .expect("init container")
}

fn mount_at<'a>(c: &'a Container, path: &str) -> &'a VolumeMount {
    c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == path)
        .unwrap_or_else(|| panic!("no mount at {path}"))
}

fn volume<'a>(job: &'a Job, name: &str) -> &'a Volume {
    pod(job)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

pub(super) fn env_of(c: &Container) -> Vec<(String, String)> {
    c.env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn nfs(target: &str, read_only: bool) -> EnvMount {
    EnvMount {
        source: VolumeSource::Nfs {
            host: "nfs.example.com".into(),
            export_path: "/exports/shared".into(),
        },
        target_path: target.into(),
        read_only,
    }
}

fn pvc(target: &str, read_only: bool) -> EnvMount {
    EnvMount {
        source: VolumeSource::Pvc {
            claim_name: "team-data".into(),
        },
        target_path: target.into(),
        read_only,
    }
}

// --- names ---

#[test]
fn job_name_is_execenv_and_the_first_16_hex_digits_of_the_request_ids_sha256() {
    assert_eq!(job_name("req-42"), JOB_OF_REQ_42);
    // printf %s req-43 | sha256sum
    assert_eq!(job_name("req-43"), "execenv-b8b47ba8de62b22b");
}

#[test]
fn job_name_is_a_dns_label_whatever_the_request_id() {
    for id in ["", "A_B C/../é", &"x".repeat(500), "UPPER", "-"] {
        let name = job_name(id);
        assert!(is_dns1123_label(&name), "{name:?} from {id:?}");
    }
}

#[test]
fn job_is_named_from_the_request_id_in_the_settings_namespace() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    assert_eq!(job.metadata.name.as_deref(), Some(JOB_OF_REQ_42));
    assert_eq!(job.metadata.namespace.as_deref(), Some("content"));
}

#[test]
fn cache_sub_path_is_the_sanitised_image_name_and_12_hex_digits_of_its_sha256() {
    assert_eq!(cache_sub_path(IMAGE), CACHE_OF_IMAGE);
    // Names that sanitise alike still get their own folder: the digest is of the name as given
    // (printf %s 'a/b:c' | sha256sum, and so on).
    assert_eq!(cache_sub_path("a/b:c"), "a-b-c-3b07f80ca173");
    assert_eq!(cache_sub_path("a:b/c"), "a-b-c-fb7456513927");
    assert_eq!(cache_sub_path("Image"), "image-1aa4cb0bcca7");
    assert_eq!(cache_sub_path("image"), "image-6105d6cc76af");
    // Leading dots and dashes go, so no name climbs out of the cache; an empty rest is "image".
    assert_eq!(cache_sub_path("../../etc"), "etc-74ccf3c5b4c1");
    assert_eq!(cache_sub_path(".."), "image-5ec1f7e700f3");
    assert_eq!(cache_sub_path(""), "image-e3b0c44298fc");
    for odd in ["", "..", "/", "../../etc", &"x/".repeat(200)] {
        let p = cache_sub_path(odd);
        assert!(!p.is_empty() && p != "." && p != ".." && !p.contains('/') && !p.starts_with('.'));
        assert!(p.len() <= 113, "{} chars", p.len());
    }
}

// --- metadata ---

#[test]
fn job_and_pod_carry_every_label() {
    for kind in [LaunchKind::Build, LaunchKind::Run] {
        let job = build(&launch(kind), &environment(None, vec![]), &settings());
        let expected = BTreeMap::from([
            (LABEL_MANAGED_BY.to_string(), "execenv-launcher".to_string()),
            (LABEL_COMPONENT.to_string(), kind.as_str().to_string()),
            (LABEL_CONTENT_GUID.to_string(), CONTENT.to_string()),
            (
                LABEL_ENVIRONMENT_GUID.to_string(),
                "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50".to_string(),
            ),
            (LABEL_LAUNCH_ID.to_string(), "req-42".to_string()),
        ]);
        assert_eq!(job.metadata.labels.as_ref(), Some(&expected));
        let pod_meta = job
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .expect("pod metadata");
        assert_eq!(pod_meta.labels.as_ref(), Some(&expected));
    }
}

#[test]
fn annotations_name_the_image_bundle_and_chosen_versions() {
    let mut chosen = installations();
    chosen.push(ChosenInstallation {
        language: Language::Tensorflow,
        version: "2.16.1".into(),
        path: "/usr/bin/tensorflow_model_server".into(),
    });
    let job = build_job(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &chosen,
        &settings(),
    )
    .expect("job");
    let a = job.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(a.get("execenv.io/image").map(String::as_str), Some(IMAGE));
    assert_eq!(
        a.get("execenv.io/bundle-id").map(String::as_str),
        Some("17")
    );
    assert_eq!(
        a.get("execenv.io/python-version").map(String::as_str),
        Some("3.12.4")
    );
    assert_eq!(
        a.get("execenv.io/r-version").map(String::as_str),
        Some("4.4.1")
    );
    assert_eq!(
        a.get("execenv.io/quarto-version").map(String::as_str),
        Some("1.5.57")
    );
    assert_eq!(
        a.get("execenv.io/tensorflow-version").map(String::as_str),
        Some("2.16.1")
    );
    assert_eq!(a.len(), 6);
}

// --- scalars ---

#[test]
fn job_spec_scalars_follow_the_contract() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.ttl_seconds_after_finished, Some(600));
    assert_eq!(spec.active_deadline_seconds, Some(3600));
    let p = pod(&job);
    assert_eq!(p.restart_policy.as_deref(), Some("Never"));
    assert_eq!(p.enable_service_links, Some(false));
    assert_eq!(p.automount_service_account_token, Some(false));
    assert_eq!(p.service_account_name, None);
    assert_eq!(p.image_pull_secrets, None);
}

#[test]
fn run_jobs_have_no_active_deadline() {
    let job = build(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &settings(),
    );
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.active_deadline_seconds, None);
    assert_eq!(spec.ttl_seconds_after_finished, Some(600));
}

#[test]
fn unset_ttl_and_deadline_are_left_out() {
    let mut s = settings();
    s.config.ttl_seconds_after_finished = None;
    s.config.build_active_deadline_seconds = None;
    let job = build(&launch(LaunchKind::Build), &environment(None, vec![]), &s);
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.ttl_seconds_after_finished, None);
    assert_eq!(spec.active_deadline_seconds, None);
}

#[test]
fn token_automount_and_pull_secrets_come_from_settings() {
    let mut s = settings();
    s.config.automount_service_account_token = true;
    s.config.image_pull_secrets = vec!["regcred".into(), "ghcr".into()];
    let job = build(&launch(LaunchKind::Run), &environment(None, vec![]), &s);
    let p = pod(&job);
    assert_eq!(p.automount_service_account_token, Some(true));
    let names: Vec<_> = p
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["regcred", "ghcr"]);
}

#[test]
fn the_request_service_account_wins_over_the_default() {
    let mut s = settings();
    s.config.default_service_account = Some("content-default".into());
    let env = environment(None, vec![]);
    let job = build(&launch(LaunchKind::Run), &env, &s);
    assert_eq!(
        pod(&job).service_account_name.as_deref(),
        Some("content-default")
    );
    let mut l = launch(LaunchKind::Run);
    l.service_account = Some("reports-sa".into());
    let job = build(&l, &env, &s);
    assert_eq!(
        pod(&job).service_account_name.as_deref(),
        Some("reports-sa")
    );
}

#[test]
fn security_contexts_are_restricted_by_default() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    let psc = pod(&job)
        .security_context
        .as_ref()
        .expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, None);
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );
    for c in [init(&job), content(&job)] {
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", c.name);
        assert_eq!(
            sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_string()])
        );
    }
}

#[test]
fn security_ids_follow_the_settings_and_the_contexts_stay_restricted() {
    let mut s = settings();
    s.config.run_as_user = Some(999);
    s.config.run_as_group = Some(998);
    s.config.fs_group = Some(997);
    let job = build(&launch(LaunchKind::Build), &environment(None, vec![]), &s);
    let psc = pod(&job)
        .security_context
        .as_ref()
        .expect("pod securityContext");
    assert_eq!(
        (psc.run_as_user, psc.run_as_group, psc.fs_group),
        (Some(999), Some(998), Some(997))
    );
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );
    let sc = content(&job)
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
}

// --- containers ---

#[test]
fn init_container_installs_the_runtime_into_the_empty_dir() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    let c = init(&job);
    assert_eq!(c.image.as_deref(), Some("ghcr.io/execenv/runtime:0.1.0"));
    assert_eq!(c.args, Some(vec!["/mnt/execenv-runtime".to_string()]));
    assert_eq!(c.command, None);
    let m = mount_at(c, "/mnt/execenv-runtime");
    assert_eq!((m.name.as_str(), m.read_only), ("execenv-runtime", None));
    assert_eq!(c.volume_mounts.as_ref().map(Vec::len), Some(1));
    assert!(volume(&job, "execenv-runtime").empty_dir.is_some());
    assert_eq!(pod(&job).init_containers.as_ref().map(Vec::len), Some(1));
}

#[test]
fn content_container_runs_the_environment_image_with_the_runtime_read_only() {
    let job = build(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &settings(),
    );
    assert_eq!(pod(&job).containers.len(), 1);
    let c = content(&job);
    assert_eq!(c.image.as_deref(), Some(IMAGE));
    let m = mount_at(c, "/opt/execenv/runtime");
    assert_eq!(
        (m.name.as_str(), m.read_only),
        ("execenv-runtime", Some(true))
    );
}

#[test]
fn build_command_without_supervisor() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    assert_eq!(
        content(&job).command.as_deref().expect("command"),
        [
            DEFAULT_RUNNER_PATH,
            "build",
            "--bundle",
            "/mnt/content/bundle",
            "--work",
            "/mnt/content/work",
            "--cache",
            "/mnt/cache",
            "--status-file",
            "/mnt/content/work/build-status.json",
        ]
    );
    assert_eq!(content(&job).args, None);
}

#[test]
fn build_command_is_wrapped_in_the_supervisor() {
    let env = environment(Some("/usr/local/bin/supervisor.sh"), vec![]);
    let job = build(&launch(LaunchKind::Build), &env, &settings());
    let command = content(&job).command.clone().expect("command");
    assert_eq!(command[0], "/usr/local/bin/supervisor.sh");
    assert_eq!(command[1], DEFAULT_RUNNER_PATH);
    assert_eq!(command[2], "build");
    assert_eq!(command.len(), 11);
}

#[test]
fn run_command_passes_the_content_command_after_a_double_dash() {
    let env = environment(Some("/opt/sup"), vec![]);
    let mut l = launch(LaunchKind::Run);
    l.command = vec!["python".into(), "app.py".into(), "--port=8080".into()];
    let job = build(&l, &env, &settings());
    assert_eq!(
        content(&job).command.as_deref().expect("command"),
        [
            "/opt/sup",
            DEFAULT_RUNNER_PATH,
            "run",
            "--bundle",
            "/mnt/content/bundle",
            "--work",
            "/mnt/content/work",
            "--status-file",
            "/mnt/content/work/run-status.json",
            "--",
            "python",
            "app.py",
            "--port=8080",
        ]
    );
}

#[test]
fn run_command_without_content_command_has_no_double_dash() {
    let mut s = settings();
    s.config.runner_path = "/opt/execenv/runtime/bin/runner".into();
    let job = build(&launch(LaunchKind::Run), &environment(None, vec![]), &s);
    let command = content(&job).command.clone().expect("command");
    assert_eq!(command[0], "/opt/execenv/runtime/bin/runner");
    assert_eq!(
        command.last().map(String::as_str),
        Some("/mnt/content/work/run-status.json")
    );
    assert!(!command.contains(&"--".to_string()));
    assert!(!command.contains(&"--cache".to_string()));
}

#[test]
fn env_holds_the_chosen_installations_then_the_request_env() {
    let mut l = launch(LaunchKind::Run);
    l.env = vec![
        ("MPLBACKEND".into(), "Agg".into()),
        ("TZ".into(), "UTC".into()),
    ];
    let job = build(&l, &environment(None, vec![]), &settings());
    assert_eq!(
        env_of(content(&job)),
        [
            ("EXECENV_PYTHON", "/opt/python/3.12.4/bin/python3"),
            ("EXECENV_R", "/opt/R/4.4.1/bin/R"),
            ("EXECENV_QUARTO", "/opt/quarto/1.5.57/bin/quarto"),
            ("MPLBACKEND", "Agg"),
            ("TZ", "UTC"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
}

#[test]
fn no_installations_and_no_env_means_no_env_list() {
    let job = build_job(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &[],
        &settings(),
    )
    .expect("job");
    assert_eq!(content(&job).env, None);
}

#[test]
fn resources_map_to_requests_and_limits() {
    let mut l = launch(LaunchKind::Build);
    l.resources = Resources {
        cpu_request: Some("500m".into()),
        cpu_limit: Some("2".into()),
        memory_request: Some("512Mi".into()),
        memory_limit: None,
        ..Resources::default()
    };
    let job = build(&l, &environment(None, vec![]), &settings());
    let r = content(&job).resources.clone().expect("resources");
    let get = |m: &Option<BTreeMap<String, Quantity>>, k: &str| {
        m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone())
    };
    assert_eq!(get(&r.requests, "cpu").as_deref(), Some("500m"));
    assert_eq!(get(&r.requests, "memory").as_deref(), Some("512Mi"));
    assert_eq!(get(&r.limits, "cpu").as_deref(), Some("2"));
    assert_eq!(get(&r.limits, "memory"), None);
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    assert_eq!(content(&job).resources, None);
}

// --- volumes ---

#[test]
fn build_mounts_content_and_a_writable_cache() {
    let job = build(
        &launch(LaunchKind::Build),
        &environment(None, vec![]),
        &settings(),
    );
    let c = content(&job);
    let data = mount_at(c, "/mnt/content");
    assert_eq!(data.name, "execenv-data");
    assert_eq!(
        data.sub_path.as_deref(),
        Some(format!("content/{CONTENT}/17").as_str())
    );
    assert_eq!(data.read_only, None);
    let cache = mount_at(c, "/mnt/cache");
    assert_eq!(cache.name, "execenv-cache");
    assert_eq!(cache.sub_path, Some(CACHE_OF_IMAGE.to_owned()));
    assert_eq!(cache.read_only, None);
    let claim = |name| {
        volume(&job, name)
            .persistent_volume_claim
            .clone()
            .expect("pvc volume")
    };
    assert_eq!(claim("execenv-data").claim_name, "execenv-data");
    assert_eq!(claim("execenv-data").read_only, None);
    assert_eq!(claim("execenv-cache").claim_name, "execenv-cache");
    assert_eq!(claim("execenv-cache").read_only, None);
    assert_eq!(pod(&job).volumes.as_ref().map(Vec::len), Some(3));
    assert_eq!(c.volume_mounts.as_ref().map(Vec::len), Some(3));
}

#[test]
fn run_mounts_the_cache_read_only() {
    let job = build(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &settings(),
    );
    let c = content(&job);
    assert_eq!(mount_at(c, "/mnt/cache").read_only, Some(true));
    assert_eq!(
        mount_at(c, "/mnt/cache").sub_path,
        Some(CACHE_OF_IMAGE.to_owned())
    );
    assert_eq!(
        volume(&job, "execenv-cache")
            .persistent_volume_claim
            .as_ref()
            .and_then(|p| p.read_only),
        Some(true)
    );
    assert_eq!(mount_at(c, "/mnt/content").read_only, None);
}

#[test]
fn sub_path_prefixes_place_content_and_caches_inside_shared_claims() {
    let mut s = settings();
    s.config.data_sub_path_prefix = "shared/execenv".into();
    s.config.package_cache_sub_path_prefix = "shared/execenv/cache/".into();
    let job = build(&launch(LaunchKind::Build), &environment(None, vec![]), &s);
    let c = content(&job);
    assert_eq!(
        mount_at(c, "/mnt/content").sub_path.as_deref(),
        Some(format!("shared/execenv/content/{CONTENT}/17").as_str())
    );
    assert_eq!(
        mount_at(c, "/mnt/cache").sub_path,
        Some(format!("shared/execenv/cache/{CACHE_OF_IMAGE}"))
    );
    // The claims themselves are unchanged.
    assert_eq!(
        volume(&job, "execenv-data")
            .persistent_volume_claim
            .as_ref()
            .map(|p| p.claim_name.as_str()),
        Some("execenv-data")
    );
    assert!(check_sub_path_prefixes(&s.config).is_ok());
}

#[test]
fn sub_path_prefixes_must_be_relative_folders() {
    let mut s = settings();
    s.config.data_sub_path_prefix = "/exports/execenv".into();
    s.config.package_cache_sub_path_prefix = "cache/../..".into();
    let e = check_sub_path_prefixes(&s.config).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let problems: Vec<(&str, &str)> = e
        .violations
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                "kubernetes.data_sub_path_prefix",
                "\"/exports/execenv\" is absolute; write a relative folder of the claim, e.g. execenv or \
                 shared/execenv (empty: the claim's root)"
            ),
            (
                "kubernetes.package_cache_sub_path_prefix",
                "\"cache/../..\" has an empty, . or .. component; write a relative folder of the claim, e.g. \
                 execenv or shared/execenv (empty: the claim's root)"
            ),
        ]
    );
    for fine in ["", "execenv", "execenv/", "a.b/c-d_e"] {
        s.config.data_sub_path_prefix = fine.into();
        s.config.package_cache_sub_path_prefix = fine.into();
        assert!(check_sub_path_prefixes(&s.config).is_ok(), "{fine:?}");
    }
    for bad in ["a//b", "./a", "a/\tb"] {
        s.config.data_sub_path_prefix = bad.into();
        assert!(check_sub_path_prefixes(&s.config).is_err(), "{bad:?}");
    }
}

#[test]
fn environments_sharing_an_image_share_the_cache_sub_path() {
    let a = environment(None, vec![]);
    let mut b = environment(None, vec![]);
    b.guid = Uuid::new_v4();
    let sub = |e: &Environment| {
        mount_at(
            content(&build(&launch(LaunchKind::Build), e, &settings())),
            "/mnt/cache",
        )
        .sub_path
        .clone()
    };
    assert_eq!(sub(&a), sub(&b));
}

#[test]
fn environment_nfs_and_pvc_mounts_are_mounted_as_declared() {
    let env = environment(
        None,
        vec![nfs("/data/shared", true), pvc("/data/team", false)],
    );
    let job = build(&launch(LaunchKind::Run), &env, &settings());
    let c = content(&job);
    let m0 = mount_at(c, "/data/shared");
    assert_eq!(
        (m0.name.as_str(), m0.read_only),
        ("execenv-env-0", Some(true))
    );
    let n = volume(&job, "execenv-env-0").nfs.clone().expect("nfs");
    assert_eq!(
        (n.server.as_str(), n.path.as_str(), n.read_only),
        ("nfs.example.com", "/exports/shared", Some(true))
    );
    let m1 = mount_at(c, "/data/team");
    assert_eq!(
        (m1.name.as_str(), m1.read_only, m1.sub_path.clone()),
        ("execenv-env-1", None, None)
    );
    let p = volume(&job, "execenv-env-1")
        .persistent_volume_claim
        .clone()
        .expect("pvc");
    assert_eq!((p.claim_name.as_str(), p.read_only), ("team-data", None));
    assert_eq!(pod(&job).volumes.as_ref().map(Vec::len), Some(5));
}

#[test]
fn mounts_on_reserved_paths_are_rejected_naming_mount_and_path() {
    for target in [
        "/opt/execenv",
        "/opt/execenv/runtime",
        "/opt/execenv/",
        "//opt/./execenv/x",
        "/mnt/execenv-runtime",
        "/mnt/content",
        "/mnt/content/bundle",
        "/mnt/cache",
        "/mnt/x/../cache/y",
    ] {
        let env = environment(None, vec![pvc("/ok", false), nfs(target, true)]);
        let e = build_job(&launch(LaunchKind::Run), &env, &[], &settings()).expect_err(target);
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{target}");
        assert_eq!(e.violations.len(), 1, "{target}");
        assert_eq!(
            e.violations[0].field,
            "environment.volume_mounts[1].target_path"
        );
        assert!(e.message.contains(target), "{}", e.message);
        assert!(
            e.message.contains("NFS nfs.example.com:/exports/shared"),
            "{}",
            e.message
        );
    }
}

#[test]
fn paths_that_only_look_reserved_are_allowed() {
    for target in [
        "/opt/execenv-data",
        "/opt",
        "/mnt/contents",
        "/mnt/cache2",
        "/mnt",
    ] {
        let env = environment(None, vec![pvc(target, false)]);
        assert!(
            build_job(&launch(LaunchKind::Run), &env, &[], &settings()).is_ok(),
            "{target}"
        );
    }
}

// --- input checks ---

#[test]
fn every_input_problem_is_reported_at_once() {
    let mut l = launch(LaunchKind::Build);
    l.request_id = "not a label!".into();
    l.content_guid = String::new();
    l.bundle_id = "..".into();
    l.command = vec!["python".into()];
    l.env = vec![
        ("EXECENV_PYTHON".into(), "/usr/bin/python3".into()),
        ("A=B".into(), "x".into()),
        ("TZ".into(), "UTC".into()),
        ("TZ".into(), "CET".into()),
    ];
    l.resources.memory_limit = Some("1 GB".into());
    let env = environment(None, vec![pvc("/opt/execenv", false)]);
    let e = build_job(&l, &env, &installations(), &settings()).expect_err("invalid");
    let fields: Vec<_> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "request_id",
            "content_guid",
            "bundle_id",
            "command",
            "env[0].name",
            "env[1].name",
            "env[3].name",
            "resources.memory_limit",
            "environment.volume_mounts[0].target_path",
        ]
    );
}

#[test]
fn bundle_ids_cannot_escape_the_content_folder() {
    for bad in ["../other", "a/b", "/abs", ".", ""] {
        let mut l = launch(LaunchKind::Run);
        l.bundle_id = bad.into();
        let e = build_job(&l, &environment(None, vec![]), &[], &settings()).expect_err(bad);
        assert_eq!(e.violations[0].field, "bundle_id", "{bad}");
    }
}

#[test]
fn quantities_follow_the_kubernetes_grammar() {
    for ok in [
        "1", "500m", "0.5", ".5", "1.", "2Gi", "128Mi", "1e3", "1E-2", "+1k", "3Ti",
    ] {
        assert!(check::is_quantity(ok), "{ok}");
    }
    for bad in [
        "", "m", "1 Gi", "1GB", "1.2.3", "e3", "1e", "Gi", "--1", "1ki",
    ] {
        assert!(!check::is_quantity(bad), "{bad}");
    }
}

// --- base template ---

const TEMPLATE: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  labels:
    team: analytics
    app.kubernetes.io/managed-by: someone-else
  annotations:
    cost-center: "42"
spec:
  backoffLimit: 6
  ttlSecondsAfterFinished: 60
  template:
    metadata:
      labels:
        team: analytics
    spec:
      serviceAccountName: template-sa
      automountServiceAccountToken: true
      nodeSelector:
        pool: content
      tolerations:
        - key: dedicated
          operator: Equal
          value: content
          effect: NoSchedule
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: kubernetes.io/arch
                    operator: In
                    values: [amd64]
      imagePullSecrets:
        - name: template-cred
      securityContext:
        fsGroup: 2000
        runAsNonRoot: false
      containers:
        - name: execenv-content
          image: template/image:ignored
          command: [/bin/false]
          env:
            - name: HTTPS_PROXY
              value: http://proxy:3128
            - name: TZ
              value: Europe/Paris
          volumeMounts:
            - name: ca-certs
              mountPath: /etc/ssl/certs
              readOnly: true
          resources:
            limits:
              nvidia.com/gpu: "1"
        - name: log-shipper
          image: fluent/fluent-bit:3
      volumes:
        - name: ca-certs
          configMap:
            name: ca-bundle
"#;

fn with_template() -> JobSettings {
    let mut s = settings();
    s.config.image_pull_secrets = vec!["regcred".into()];
    s.base_template = Some(JobTemplate::from_yaml("job-base.yaml", TEMPLATE).expect("template"));
    s
}

#[test]
fn template_maps_are_merged_with_ours_winning() {
    let mut l = launch(LaunchKind::Run);
    l.env = vec![("TZ".into(), "UTC".into())];
    let job = build(&l, &environment(None, vec![]), &with_template());
    let labels = job.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels.get("team").map(String::as_str), Some("analytics"));
    assert_eq!(
        labels.get(LABEL_MANAGED_BY).map(String::as_str),
        Some("execenv-launcher")
    );
    assert_eq!(labels.len(), 6);
    let annotations = job.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        annotations.get("cost-center").map(String::as_str),
        Some("42")
    );
    assert_eq!(
        annotations.get(ANNOTATION_IMAGE).map(String::as_str),
        Some(IMAGE)
    );
    let pod_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("pod labels");
    assert_eq!(
        pod_labels.get("team").map(String::as_str),
        Some("analytics")
    );
    assert_eq!(
        pod_labels.get(LABEL_LAUNCH_ID).map(String::as_str),
        Some("req-42")
    );
    let p = pod(&job);
    assert_eq!(
        p.node_selector
            .as_ref()
            .and_then(|n| n.get("pool"))
            .map(String::as_str),
        Some("content")
    );
    assert!(p.affinity.is_some());
    let psc = p.security_context.as_ref().expect("securityContext");
    assert_eq!(psc.fs_group, Some(2000));
    assert_eq!(psc.run_as_non_root, Some(true));
}

#[test]
fn template_scalars_lose_to_ours_and_stay_where_we_set_none() {
    let job = build(
        &launch(LaunchKind::Run),
        &environment(None, vec![]),
        &with_template(),
    );
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.ttl_seconds_after_finished, Some(600));
    let p = pod(&job);
    assert_eq!(p.automount_service_account_token, Some(false));
    // Neither the request nor the settings name a service account: the template's stays.
    assert_eq!(p.service_account_name.as_deref(), Some("template-sa"));
    let c = content(&job);
    assert_eq!(c.image.as_deref(), Some(IMAGE));
    // Argument lists are replaced, never appended.
    assert_eq!(
        c.command.as_ref().map(|c| c[0].as_str()),
        Some(DEFAULT_RUNNER_PATH)
    );
    assert!(!c.command.iter().flatten().any(|a| a == "/bin/false"));

    let mut l = launch(LaunchKind::Run);
    l.service_account = Some("mine".into());
    let job = build(&l, &environment(None, vec![]), &with_template());
    assert_eq!(pod(&job).service_account_name.as_deref(), Some("mine"));
}

#[test]
fn template_lists_are_appended_after_ours() {
    let mut l = launch(LaunchKind::Run);
    l.env = vec![("TZ".into(), "UTC".into())];
    let job = build(
        &l,
        &environment(None, vec![pvc("/data/team", true)]),
        &with_template(),
    );
    let p = pod(&job);
    let containers: Vec<_> = p.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(containers, ["execenv-content", "log-shipper"]);
    let secrets: Vec<_> = p
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(secrets, ["regcred", "template-cred"]);
    assert_eq!(p.tolerations.as_ref().map(Vec::len), Some(1));
    let volumes: Vec<_> = p
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        volumes,
        [
            "execenv-runtime",
            "execenv-data",
            "execenv-cache",
            "execenv-env-0",
            "ca-certs"
        ]
    );
    let c = content(&job);
    let mounts: Vec<_> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(
        mounts,
        [
            "/opt/execenv/runtime",
            "/mnt/content",
            "/mnt/cache",
            "/data/team",
            "/etc/ssl/certs"
        ]
    );
    // Our TZ wins over the template's; the template's proxy is appended.
    let env = env_of(c);
    let names: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "EXECENV_PYTHON",
            "EXECENV_R",
            "EXECENV_QUARTO",
            "TZ",
            "HTTPS_PROXY"
        ]
    );
    assert!(env.contains(&("TZ".into(), "UTC".into())));
    // Template resources are merged into ours.
    let limits = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .expect("limits");
    assert_eq!(
        limits.get("nvidia.com/gpu").map(|q| q.0.as_str()),
        Some("1")
    );
    // Capabilities are not duplicated.
    assert_eq!(
        c.security_context
            .as_ref()
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
}

#[test]
fn template_entries_named_like_ours_are_merged_not_repeated() {
    let text = r#"
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      initContainers:
        - name: execenv-runtime-init
          imagePullPolicy: Always
          resources:
            limits:
              memory: 64Mi
      volumes:
        - name: execenv-runtime
          emptyDir:
            medium: Memory
"#;
    let mut s = settings();
    s.base_template = Some(JobTemplate::from_yaml("job-base.yaml", text).expect("template"));
    let job = build(&launch(LaunchKind::Build), &environment(None, vec![]), &s);
    let p = pod(&job);
    assert_eq!(p.init_containers.as_ref().map(Vec::len), Some(1));
    let c = init(&job);
    assert_eq!(c.image.as_deref(), Some("ghcr.io/execenv/runtime:0.1.0"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(c.args, Some(vec!["/mnt/execenv-runtime".to_string()]));
    assert!(
        c.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .is_some()
    );
    assert_eq!(p.volumes.as_ref().map(Vec::len), Some(3));
    let empty_dir = volume(&job, "execenv-runtime")
        .empty_dir
        .clone()
        .expect("emptyDir");
    assert_eq!(empty_dir.medium.as_deref(), Some("Memory"));
}

#[test]
fn template_must_be_a_batch_v1_job() {
    for bad in [
        "apiVersion: v1\nkind: Pod\n",
        "kind: Job\n",
        "apiVersion: batch/v1\nkind: CronJob\n",
        "apiVersion: batch/v1\nkind: Job\nspec: [1, 2]\n",
        ": not yaml : [",
    ] {
        let e = JobTemplate::from_yaml("job-base.yaml", bad).expect_err(bad);
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        assert!(e.message.contains("job-base.yaml"), "{}", e.message);
    }
    assert!(JobTemplate::from_yaml("job-base.yaml", "apiVersion: batch/v1\nkind: Job\n").is_ok());
}

#[test]
fn template_mounts_on_reserved_paths_are_rejected() {
    let text = r#"
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: execenv-content
          volumeMounts:
            - name: scratch
              mountPath: /opt/execenv/runtime/bin
"#;
    let e = JobTemplate::from_yaml("job-base.yaml", text).expect_err("reserved");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(
        e.message.contains("/opt/execenv/runtime/bin"),
        "{}",
        e.message
    );
    assert!(e.message.contains("scratch"), "{}", e.message);
}

// --- wire ---

#[test]
fn the_job_round_trips_through_json() {
    let mut l = launch(LaunchKind::Run);
    l.command = vec!["python".into(), "app.py".into()];
    l.env = vec![("TZ".into(), "UTC".into())];
    l.resources.cpu_limit = Some("1".into());
    let env = environment(
        Some("/opt/sup"),
        vec![nfs("/data/shared", true), pvc("/data/team", false)],
    );
    for s in [settings(), with_template()] {
        let job = build(&l, &env, &s);
        let json = serde_json::to_string(&job).expect("serialise");
        let back: Job = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, job);
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["apiVersion"], "batch/v1");
        assert_eq!(value["kind"], "Job");
        assert_eq!(value["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert!(value.get("status").is_none());
    }
}
