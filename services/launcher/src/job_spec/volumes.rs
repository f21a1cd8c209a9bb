//! The pod's volumes and the content container's mounts (see the table in [`super`]), and the
//! check of the sub-path prefixes that place them inside shared claims.

use execenv_core::{Environment, Error, FieldViolation, VolumeSource};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, NFSVolumeSource, PersistentVolumeClaimVolumeSource, Volume, VolumeMount,
};

use super::names::cache_sub_path;
use super::{
    CACHE_PATH, CACHE_VOLUME, CONTENT_PATH, DATA_VOLUME, LaunchKind, LaunchRequest, RUNTIME_PATH,
    RUNTIME_VOLUME,
};
use crate::config::KubernetesConfig;

/// The pod's volumes and the content container's mounts.
pub(super) fn volumes(
    launch: &LaunchRequest,
    environment: &Environment,
    config: &KubernetesConfig,
) -> (Vec<Volume>, Vec<VolumeMount>) {
    let cache_read_only = launch.kind != LaunchKind::Build;
    let mut volumes = vec![
        Volume {
            name: RUNTIME_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        pvc_volume(DATA_VOLUME, &config.data_pvc, false),
        pvc_volume(CACHE_VOLUME, &config.package_cache_pvc, cache_read_only),
    ];
    let mut mounts = vec![
        mount(RUNTIME_VOLUME, RUNTIME_PATH, None, true),
        mount(
            DATA_VOLUME,
            CONTENT_PATH,
            Some(under(
                &config.data_sub_path_prefix,
                &format!("content/{}/{}", launch.content_guid, launch.bundle_id),
            )),
            false,
        ),
        mount(
            CACHE_VOLUME,
            CACHE_PATH,
            Some(under(
                &config.package_cache_sub_path_prefix,
                &cache_sub_path(&environment.spec.name),
            )),
            cache_read_only,
        ),
    ];
    for (i, m) in environment.spec.volume_mounts.iter().enumerate() {
        let name = format!("execenv-env-{i}");
        volumes.push(match &m.source {
            VolumeSource::Nfs { host, export_path } => Volume {
                name: name.clone(),
                nfs: Some(NFSVolumeSource {
                    server: host.clone(),
                    path: export_path.clone(),
                    read_only: m.read_only.then_some(true),
                }),
                ..Volume::default()
            },
            VolumeSource::Pvc { claim_name } => pvc_volume(&name, claim_name, m.read_only),
        });
        mounts.push(mount(&name, &m.target_path, None, m.read_only));
    }
    (volumes, mounts)
}

/// `path` inside the folder `prefix` of a claim (checked by [`check_sub_path_prefixes`]).
fn under(prefix: &str, path: &str) -> String {
    match prefix.trim_end_matches('/') {
        "" => path.to_owned(),
        prefix => format!("{prefix}/{path}"),
    }
}

/// `Ok` when both sub-path prefixes are relative folders a volume mount accepts as a `subPath`:
/// no leading `/`, no empty, `.` or `..` component, no control characters.
pub fn check_sub_path_prefixes(config: &KubernetesConfig) -> Result<(), Error> {
    let violations: Vec<FieldViolation> = [
        ("kubernetes.data_sub_path_prefix", &config.data_sub_path_prefix),
        (
            "kubernetes.package_cache_sub_path_prefix",
            &config.package_cache_sub_path_prefix,
        ),
    ]
    .into_iter()
    .filter_map(|(key, prefix)| {
        prefix_problem(prefix).map(|why| {
            FieldViolation::new(
                key,
                format!(
                    "{prefix:?} {why}; write a relative folder of the claim, e.g. execenv or shared/execenv (empty: the claim's root)"
                ),
            )
        })
    })
    .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(violations))
    }
}

fn prefix_problem(prefix: &str) -> Option<&'static str> {
    if prefix.starts_with('/') {
        return Some("is absolute");
    }
    if prefix.chars().any(char::is_control) {
        return Some("holds a control character");
    }
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    trimmed
        .split('/')
        .any(|part| matches!(part, "" | "." | ".."))
        .then_some("has an empty, . or .. component")
}

fn pvc_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: read_only.then_some(true),
        }),
        ..Volume::default()
    }
}

pub(super) fn mount(
    volume: &str,
    path: &str,
    sub_path: Option<String>,
    read_only: bool,
) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        sub_path,
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}
