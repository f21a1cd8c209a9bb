//! The Job's resources (GPUs, ephemeral storage, the init container's defaults) and its security
//! context: locked down unless the administrator's settings relax it.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};

use super::tests::{environment, installations, launch, settings};
use super::*;

fn build(l: &LaunchRequest, s: &JobSettings) -> Job {
    build_job(l, &environment(None, vec![]), &installations(), s).expect("job")
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn container<'a>(job: &'a Job, name: &str) -> &'a Container {
    let p = pod(job);
    p.containers
        .iter()
        .chain(p.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .expect("container")
}

/// Requests and limits as plain strings.
fn quantities(
    r: Option<&ResourceRequirements>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let plain =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default()
        };
    (
        plain(r.and_then(|r| r.requests.as_ref())),
        plain(r.and_then(|r| r.limits.as_ref())),
    )
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn gpus_and_ephemeral_storage_become_the_content_containers_resources() {
    let mut l = launch(LaunchKind::Run);
    l.resources = Resources {
        gpu: Some("2".into()),
        ephemeral_storage_request: Some("1Gi".into()),
        ephemeral_storage_limit: Some("4Gi".into()),
        ..Resources::default()
    };
    let mut s = settings();
    s.config.gpu_resource = "amd.com/gpu".into();
    let job = build(&l, &s);
    let (requests, limits) = quantities(container(&job, CONTENT_CONTAINER_NAME).resources.as_ref());
    assert_eq!(requests, map(&[("ephemeral-storage", "1Gi")]));
    assert_eq!(
        limits,
        map(&[("amd.com/gpu", "2"), ("ephemeral-storage", "4Gi")])
    );
}

#[test]
fn the_init_container_has_its_own_defaults_and_never_gpus() {
    let mut s = settings();
    s.config.init_resources = Resources {
        cpu_request: Some("50m".into()),
        memory_limit: Some("64Mi".into()),
        gpu: Some("1".into()),
        ..Resources::default()
    };
    let job = build(&launch(LaunchKind::Build), &s);
    let (requests, limits) = quantities(container(&job, INIT_CONTAINER_NAME).resources.as_ref());
    assert_eq!(requests, map(&[("cpu", "50m")]));
    assert_eq!(limits, map(&[("memory", "64Mi")]));
    assert_eq!(
        container(&job, CONTENT_CONTAINER_NAME).resources,
        None,
        "the init container's defaults are its own"
    );
}

#[test]
fn a_malformed_gpu_count_or_storage_is_refused_with_its_field() {
    let mut l = launch(LaunchKind::Run);
    l.resources = Resources {
        gpu: Some("0.5".into()),
        ephemeral_storage_limit: Some("lots".into()),
        ..Resources::default()
    };
    let e = check_request(&l).expect_err("refused");
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["resources.gpu", "resources.ephemeral_storage_limit"]
    );
}

#[test]
fn content_pods_are_locked_down_by_default() {
    let job = build(&launch(LaunchKind::Run), &settings());
    let p = pod(&job);
    let psc = p.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(p.automount_service_account_token, Some(false));
    assert_eq!(p.host_network, None);
    assert_eq!(p.host_pid, None);
    assert_eq!(p.host_ipc, None);
    for (name, read_only) in [(INIT_CONTAINER_NAME, true), (CONTENT_CONTAINER_NAME, false)] {
        let sc = container(&job, name)
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
        assert_eq!(sc.privileged, Some(false), "{name}");
        assert_eq!(sc.read_only_root_filesystem, Some(read_only), "{name}");
        assert_eq!(
            sc.capabilities
                .as_ref()
                .map(|c| (c.drop.clone(), c.add.clone())),
            Some((Some(vec!["ALL".to_owned()]), None)),
            "{name}"
        );
    }
}

#[test]
fn only_the_administrators_settings_relax_the_security_context() {
    let mut s = settings();
    s.config.run_as_non_root = false;
    s.config.run_as_user = Some(0);
    s.config.read_only_root_filesystem = true;
    let job = build(&launch(LaunchKind::Run), &s);
    let psc = pod(&job)
        .security_context
        .as_ref()
        .expect("pod securityContext");
    assert_eq!(
        (psc.run_as_non_root, psc.run_as_user),
        (Some(false), Some(0))
    );
    let sc = container(&job, CONTENT_CONTAINER_NAME)
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false), "never relaxed");
}

#[test]
fn an_interactive_deployment_keeps_the_jobs_resources_and_security() {
    let mut l = launch(LaunchKind::Interactive);
    l.resources.gpu = Some("1".into());
    let job = build(&l, &settings());
    let deployment = deployment_of(job.clone(), &l, 8080);
    let template = deployment.spec.expect("spec").template;
    let p = template.spec.expect("pod");
    let c = p
        .containers
        .iter()
        .find(|c| c.name == CONTENT_CONTAINER_NAME)
        .expect("content");
    let (_, limits) = quantities(c.resources.as_ref());
    assert_eq!(limits, map(&[("nvidia.com/gpu", "1")]));
    assert_eq!(
        p.security_context,
        pod(&job).security_context,
        "the Deployment's pod is the Job's"
    );
}
