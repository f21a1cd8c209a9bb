#![allow(clippy::unwrap_used)]

use execenv_core::validate::VolumeMountDraft;
use execenv_core::{Installation, VolumeSource};

use super::*;

fn inst(v: &str, p: &str) -> Installation {
    Installation {
        version: v.into(),
        path: p.into(),
    }
}

#[test]
fn create_draft_carries_image_guid_and_fields() {
    let fields = FieldArgs {
        title: Some("Py".into()),
        matching: Some("exact".into()),
        python: vec![inst("3.11.9", "/py")],
        ..Default::default()
    };
    let d = create_draft("img:1", Some("g"), &fields);
    assert_eq!(d.name.as_deref(), Some("img:1"));
    assert_eq!(d.guid.as_deref(), Some("g"));
    assert_eq!(d.title.as_deref(), Some("Py"));
    assert_eq!(d.matching.as_deref(), Some("exact"));
    assert_eq!(d.python, [inst("3.11.9", "/py")]);
    assert!(d.r.is_empty());
}

#[test]
fn update_mask_names_exactly_the_given_fields() {
    let fields = FieldArgs {
        title: Some("New".into()),
        supervisor: Some("/sup".into()),
        ..Default::default()
    };
    let u = build_update(&fields, &[]).unwrap();
    assert_eq!(u.mask, ["title", "supervisor"]);
    assert_eq!(u.draft.title.as_deref(), Some("New"));
    assert_eq!(u.draft.name, None);
}

#[test]
fn update_mask_sends_the_whole_list_for_list_flags() {
    let fields = FieldArgs {
        python: vec![inst("3.11.9", "/a"), inst("3.12.1", "/b")],
        ..Default::default()
    };
    let u = build_update(&fields, &[]).unwrap();
    assert_eq!(u.mask, ["python"]);
    assert_eq!(u.draft.python.len(), 2);
}

#[test]
fn cleared_fields_are_in_the_mask_and_unset() {
    let u = build_update(
        &FieldArgs::default(),
        &[ClearField::Supervisor, ClearField::Python],
    )
    .unwrap();
    assert_eq!(u.mask, ["supervisor", "python"]);
    assert_eq!(u.draft.supervisor, None);
    assert!(u.draft.python.is_empty());
}

#[test]
fn update_mask_follows_api_field_order_without_duplicates() {
    let fields = FieldArgs {
        mounts: vec![VolumeMountDraft::default()],
        title: Some("t".into()),
        ..Default::default()
    };
    let u = build_update(
        &fields,
        &[ClearField::R, ClearField::R, ClearField::ClusterName],
    )
    .unwrap();
    assert_eq!(u.mask, ["title", "cluster_name", "r", "volume_mounts"]);
}

#[test]
fn update_with_nothing_given_is_rejected() {
    let e = build_update(&FieldArgs::default(), &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("nothing to update"), "{}", e.message);
}

#[test]
fn setting_and_clearing_the_same_field_is_rejected() {
    let fields = FieldArgs {
        cluster_name: Some("c".into()),
        ..Default::default()
    };
    let e = build_update(&fields, &[ClearField::ClusterName]).unwrap_err();
    assert_eq!(e.violations[0].field, "--clear");
    assert!(
        e.violations[0].description.contains("--cluster-name"),
        "{:?}",
        e.violations
    );
}

const YAML: &str = "\
name: ghcr.io/acme/py:3.11
title: Python 3.11
matching: exact
supervisor: /opt/sup.sh
python:
  installations:
    - version: 3.11.9
      path: /opt/python/3.11.9/bin/python3
volume_mounts:
  - source: {volume_type: nfs, nfs_host: nfs.local, nfs_export_path: /exports/data}
    target: {path: /data, read_only: true}
  - source:
      volume_type: pvc
      pvc_name: shared
    target:
      path: /shared
";

#[test]
fn yaml_file_parses_into_a_draft() {
    let d = parse_file(YAML, false, "env.yaml").unwrap();
    assert_eq!(d.name.as_deref(), Some("ghcr.io/acme/py:3.11"));
    assert_eq!(d.title.as_deref(), Some("Python 3.11"));
    assert_eq!(d.matching.as_deref(), Some("exact"));
    assert_eq!(d.python, [inst("3.11.9", "/opt/python/3.11.9/bin/python3")]);
    assert_eq!(d.volume_mounts.len(), 2);
    assert_eq!(
        d.volume_mounts[0].source,
        Some(VolumeSource::Nfs {
            host: "nfs.local".into(),
            export_path: "/exports/data".into()
        })
    );
    assert_eq!(d.volume_mounts[0].target_path, "/data");
    assert!(d.volume_mounts[0].read_only);
    assert_eq!(
        d.volume_mounts[1].source,
        Some(VolumeSource::Pvc {
            claim_name: "shared".into()
        })
    );
    assert!(!d.volume_mounts[1].read_only);
}

#[test]
fn json_file_parses_into_the_same_draft_as_yaml() {
    let json = r#"{
      "name": "ghcr.io/acme/py:3.11", "title": "Python 3.11", "matching": "exact",
      "supervisor": "/opt/sup.sh",
      "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
      "volume_mounts": [
        {"source": {"volume_type": "nfs", "nfs_host": "nfs.local", "nfs_export_path": "/exports/data"},
         "target": {"path": "/data", "read_only": true}},
        {"source": {"volume_type": "pvc", "pvc_name": "shared"}, "target": {"path": "/shared"}}
      ]
    }"#;
    assert_eq!(
        parse_file(json, true, "env.json").unwrap(),
        parse_file(YAML, false, "env.yaml").unwrap()
    );
}

/// An environment exactly as `GET /__api__/v1/environments` answers it: the same bytes
/// config-sync's declarative file is tested with.
const ANSWERED: &str =
    include_str!("../../../libs/proto/src/convert/testdata/connect_environment.json");

#[test]
fn an_environment_copied_from_an_answer_is_a_file_as_it_is() {
    let d = parse_file(ANSWERED, true, "env.json").unwrap();
    assert_eq!(
        d,
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
    );
}

#[test]
fn unknown_top_level_keys_are_rejected_together_with_their_names() {
    for (text, json) in [
        ("name: img\nimage_name: x\nlabels: {}\n", false),
        (r#"{"name": "img", "image_name": "x", "labels": {}}"#, true),
    ] {
        let e = parse_file(text, json, "env.file").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.violations.len(), 2, "{:?}", e.violations);
        for (v, key) in e.violations.iter().zip(["image_name", "labels"]) {
            assert_eq!(v.field, "--file");
            assert!(
                v.description
                    .starts_with(&format!("env.file: unknown key {key:?};")),
                "{}",
                v.description
            );
        }
    }
}

#[test]
fn unknown_nested_keys_are_rejected_with_their_names() {
    let cases = [
        "python:\n  installations:\n    - {version: 1.0.0, path: /p, arch: x86}\n",
        "python:\n  versions: []\n",
        "volume_mounts:\n  - {source: {volume_type: pvc, pvc_name: c, size: 1Gi}, target: {path: /m}}\n",
        "volume_mounts:\n  - {source: {volume_type: pvc, pvc_name: c}, target: {path: /m, mode: rw}}\n",
    ];
    for (text, key) in cases.iter().zip(["arch", "versions", "size", "mode"]) {
        let e = parse_file(text, false, "f").unwrap_err();
        assert!(
            e.violations[0].description.contains(key),
            "{key}: {}",
            e.violations[0].description
        );
    }
}

#[test]
fn a_mount_in_the_former_shape_is_refused_naming_connects_fields() {
    let e = parse_file(
        "volume_mounts:\n  - {source: {type: pvc, claim_name: c}, target_path: /m, read_only: true}\n",
        false,
        "env.yaml",
    )
    .unwrap_err();
    let lines: Vec<&str> = e
        .violations
        .iter()
        .map(|v| {
            v.description
                .strip_suffix(", as Connect's API names it")
                .unwrap()
        })
        .collect();
    assert_eq!(
        lines,
        [
            "env.yaml: volume_mounts[0].target_path: is now target.path",
            "env.yaml: volume_mounts[0].read_only: is now target.read_only",
            "env.yaml: volume_mounts[0].source.type: is now source.volume_type",
            "env.yaml: volume_mounts[0].source.claim_name: is now source.pvc_name",
        ]
    );
}

#[test]
fn unknown_volume_source_type_is_rejected() {
    let e = parse_file(
        "volume_mounts:\n  - {source: {volume_type: smb}, target: {path: /m}}\n",
        false,
        "f",
    )
    .unwrap_err();
    assert_eq!(
        e.violations[0].description,
        "f: volume_mounts[0].source.volume_type: \"smb\" is not a volume type; use nfs or pvc"
    );
}

#[test]
fn a_syntax_error_names_the_file_on_one_line() {
    let e = parse_file("name: [unclosed\n", false, "env.yaml").unwrap_err();
    assert_eq!(e.violations[0].field, "--file");
    let d = &e.violations[0].description;
    assert!(d.starts_with("env.yaml: "), "{d}");
    assert!(!d.contains('\n'), "{d}");
}

#[test]
fn json_is_recognised_by_extension_or_content() {
    assert!(is_json("env.JSON", "name: x"));
    assert!(is_json("env.txt", "  {\"name\": \"x\"}"));
    assert!(!is_json("env.yaml", "name: x"));
}
