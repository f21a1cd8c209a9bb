#![allow(clippy::unwrap_used)]

use super::*;
use crate::args::MatchingArg;

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
        matching: Some(MatchingArg::Exact),
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
  - source: {type: nfs, host: nfs.local, export_path: /exports/data}
    target_path: /data
    read_only: true
  - source:
      type: pvc
      claim_name: shared
    target_path: /shared
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
        {"source": {"type": "nfs", "host": "nfs.local", "export_path": "/exports/data"},
         "target_path": "/data", "read_only": true},
        {"source": {"type": "pvc", "claim_name": "shared"}, "target_path": "/shared"}
      ]
    }"#;
    assert_eq!(
        parse_file(json, true, "env.json").unwrap(),
        parse_file(YAML, false, "env.yaml").unwrap()
    );
}

#[test]
fn unknown_top_level_key_is_rejected_with_its_name() {
    for (text, json) in [
        ("name: img\nimage_name: x\n", false),
        (r#"{"name": "img", "image_name": "x"}"#, true),
    ] {
        let e = parse_file(text, json, "env.file").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.violations[0].field, "--file");
        let d = &e.violations[0].description;
        assert!(d.contains("image_name"), "{d}");
        assert!(d.starts_with("env.file: "), "{d}");
        assert!(!d.contains('\n'), "{d}");
    }
}

#[test]
fn unknown_nested_keys_are_rejected_with_their_names() {
    let cases = [
        "python:\n  installations:\n    - {version: 1.0.0, path: /p, arch: x86}\n",
        "python:\n  versions: []\n",
        "volume_mounts:\n  - {source: {type: pvc, claim_name: c, size: 1Gi}, target_path: /m}\n",
        "volume_mounts:\n  - {source: {type: pvc, claim_name: c}, target_path: /m, mode: rw}\n",
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
fn unknown_volume_source_type_is_rejected() {
    let e = parse_file(
        "volume_mounts:\n  - {source: {type: smb}, target_path: /m}\n",
        false,
        "f",
    )
    .unwrap_err();
    assert!(
        e.violations[0].description.contains("smb"),
        "{}",
        e.violations[0].description
    );
}

#[test]
fn json_is_recognised_by_extension_or_content() {
    assert!(is_json("env.JSON", "name: x"));
    assert!(is_json("env.txt", "  {\"name\": \"x\"}"));
    assert!(!is_json("env.yaml", "name: x"));
}
