#![allow(clippy::unwrap_used)]

use super::*;

/// An environment exactly as `GET /__api__/v1/environments` answers it; execenvctl's and
/// config-sync's tests read the same bytes.
const ANSWERED: &str = include_str!("testdata/connect_environment.json");

fn inst(version: &str, path: &str) -> Installation {
    Installation {
        version: version.into(),
        path: path.into(),
    }
}

fn wire_installations(list: &[(&str, &str)]) -> Option<pb::Installations> {
    Some(pb::Installations {
        installations: list
            .iter()
            .map(|(version, path)| pb::Installation {
                version: (*version).into(),
                path: (*path).into(),
            })
            .collect(),
    })
}

/// The stored environment the answer shows, as the registry sends it to the gateway.
fn stored() -> pb::Environment {
    use pb::volume_mount::Source;
    pb::Environment {
        id: "7".into(),
        guid: "4f6c1c1e-0d3a-4c9e-9a57-0f6f3c2b9e11".into(),
        name: "ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204".into(),
        title: Some("R 4.4 / Python 3.12".into()),
        description: Some("The standard image".into()),
        cluster_name: "Kubernetes".into(),
        environment_type: "Kubernetes".into(),
        matching: "exact".into(),
        supervisor: Some("/opt/supervisor/run.sh".into()),
        python: wire_installations(&[("3.12.4", "/opt/python/3.12.4/bin/python3")]),
        r: wire_installations(&[("4.4.1", "/opt/R/4.4.1/bin/R")]),
        quarto: wire_installations(&[]),
        tensorflow: None,
        volume_mounts: vec![
            pb::VolumeMount {
                source: Some(Source::Nfs(pb::NfsSource {
                    host: "nfs.example.com".into(),
                    export_path: "/exports/data".into(),
                })),
                target_path: "/mnt/data".into(),
                read_only: true,
            },
            pb::VolumeMount {
                source: Some(Source::Pvc(pb::PvcSource {
                    claim_name: "shared-cache".into(),
                })),
                target_path: "/mnt/cache".into(),
                read_only: false,
            },
        ],
        managed_by: None,
        permissions: vec![],
        created_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
        updated_time: Some(prost_types::Timestamp {
            seconds: 1_769_934_600,
            nanos: 500_000_000,
        }),
        revision: 3,
    }
}

/// The environment the answer describes, as a file entry or `--file` document means it.
fn described() -> EnvironmentDraft {
    EnvironmentDraft {
        guid: Some("4f6c1c1e-0d3a-4c9e-9a57-0f6f3c2b9e11".into()),
        name: Some("ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204".into()),
        title: Some("R 4.4 / Python 3.12".into()),
        description: Some("The standard image".into()),
        cluster_name: Some("Kubernetes".into()),
        matching: Some("exact".into()),
        supervisor: Some("/opt/supervisor/run.sh".into()),
        python: vec![inst("3.12.4", "/opt/python/3.12.4/bin/python3")],
        r: vec![inst("4.4.1", "/opt/R/4.4.1/bin/R")],
        quarto: vec![],
        tensorflow: vec![],
        volume_mounts: vec![
            VolumeMountDraft {
                source: Some(VolumeSource::Nfs {
                    host: "nfs.example.com".into(),
                    export_path: "/exports/data".into(),
                }),
                target_path: "/mnt/data".into(),
                read_only: true,
            },
            VolumeMountDraft {
                source: Some(VolumeSource::Pvc {
                    claim_name: "shared-cache".into(),
                }),
                target_path: "/mnt/cache".into(),
                read_only: false,
            },
        ],
    }
}

fn entry(json: &str) -> EnvironmentEntry {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_stored_environment_is_answered_in_connects_shape() {
    let answered: serde_json::Value = serde_json::from_str(ANSWERED).unwrap();
    assert_eq!(
        serde_json::to_value(ConnectEnvironment::from(&stored())).unwrap(),
        answered
    );
}

#[test]
fn an_answered_environment_read_back_is_the_same_environment() {
    let read = entry(ANSWERED);
    assert_eq!(read.problems, []);
    assert_eq!(read.draft, described());
}

#[test]
fn an_entry_without_languages_or_mounts_has_none() {
    let read = entry(r#"{"name": "img:1", "python": null, "r": {}, "volume_mounts": null}"#);
    assert_eq!(
        read.draft,
        EnvironmentDraft {
            name: Some("img:1".into()),
            ..EnvironmentDraft::default()
        }
    );
}

#[test]
fn unknown_keys_and_permissions_are_problems_of_the_entry() {
    let read = entry(r#"{"name": "img:1", "image_name": "x", "permissions": []}"#);
    let fields: Vec<&str> = read.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["", "permissions"]);
    assert!(
        read.problems[0]
            .description
            .starts_with("unknown key \"image_name\"; an environment may have guid, name,"),
        "{}",
        read.problems[0].description
    );
    assert!(
        read.problems[1]
            .description
            .contains("execenvctl env permissions")
    );
}

#[test]
fn former_mount_spellings_are_refused_naming_connects_names() {
    let read = entry(
        r#"{"name": "img:1", "volume_mounts": [
            {"source": {"type": "nfs", "host": "h", "export_path": "/e"}, "target_path": "/m", "read_only": true},
            {"source": {"type": "pvc", "claim_name": "c"}, "target": {"path": "/n"}}]}"#,
    );
    let renames: Vec<(&str, &str)> = read
        .problems
        .iter()
        .map(|p| {
            let new = p.description.strip_suffix(", as Connect's API names it");
            (p.field.as_str(), new.unwrap())
        })
        .collect();
    assert_eq!(
        renames,
        [
            ("volume_mounts[0].target_path", "is now target.path"),
            ("volume_mounts[0].read_only", "is now target.read_only"),
            ("volume_mounts[0].source.type", "is now source.volume_type"),
            ("volume_mounts[0].source.host", "is now source.nfs_host"),
            (
                "volume_mounts[0].source.export_path",
                "is now source.nfs_export_path"
            ),
            ("volume_mounts[1].source.type", "is now source.volume_type"),
            (
                "volume_mounts[1].source.claim_name",
                "is now source.pvc_name"
            ),
        ]
    );
}

#[test]
fn an_unknown_volume_type_is_a_problem_at_its_path_and_case_does_not_matter() {
    let read = entry(
        r#"{"name": "i", "volume_mounts": [
            {"source": {"volume_type": "smb"}, "target": {"path": "/a"}},
            {"source": {"volume_type": "PVC", "pvc_name": "c"}, "target": {"path": "/b"}}]}"#,
    );
    assert_eq!(read.problems.len(), 1);
    assert_eq!(
        read.problems[0].field,
        "volume_mounts[0].source.volume_type"
    );
    assert_eq!(read.draft.volume_mounts[0].source, None);
    assert_eq!(
        read.draft.volume_mounts[1].source,
        Some(VolumeSource::Pvc {
            claim_name: "c".into()
        })
    );
}

#[test]
fn registry_paths_are_given_connects_names() {
    let e = Error::invalid(vec![
        FieldViolation::new("volume_mounts[0].source.pvc.claim_name", "bad"),
        FieldViolation::new("volume_mounts[1].source.nfs.host", "bad"),
        FieldViolation::new("volume_mounts[1].source.nfs.export_path", "bad"),
        FieldViolation::new("volume_mounts[2].target_path", "bad"),
        FieldViolation::new("python.installations[0].path", "bad"),
    ]);
    let e = with_connect_paths(e);
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "volume_mounts[0].source.pvc_name",
            "volume_mounts[1].source.nfs_host",
            "volume_mounts[1].source.nfs_export_path",
            "volume_mounts[2].target.path",
            "python.installations[0].path",
        ]
    );
    assert!(
        e.message.contains("volume_mounts[0].source.pvc_name: bad"),
        "{}",
        e.message
    );
}
