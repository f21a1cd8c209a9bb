#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn stored() -> pb::Environment {
    pb::Environment {
        id: "42".to_owned(),
        guid: "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70".to_owned(),
        name: "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy".to_owned(),
        title: Some("Base".to_owned()),
        description: None,
        cluster_name: "Kubernetes".to_owned(),
        environment_type: "Kubernetes".to_owned(),
        matching: "any".to_owned(),
        supervisor: None,
        python: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: "3.11.9".to_owned(),
                path: "/opt/python/3.11.9/bin/python3".to_owned(),
            }],
        }),
        r: None,
        quarto: None,
        tensorflow: None,
        volume_mounts: vec![
            pb::VolumeMount {
                source: Some(Source::Pvc(pb::PvcSource {
                    claim_name: "shared".to_owned(),
                })),
                target_path: "/data".to_owned(),
                read_only: true,
            },
            pb::VolumeMount {
                source: Some(Source::Nfs(pb::NfsSource {
                    host: "nfs.local".to_owned(),
                    export_path: "/exports/a".to_owned(),
                })),
                target_path: "/mnt/a".to_owned(),
                read_only: false,
            },
        ],
        managed_by: Some(String::new()),
        permissions: Vec::new(),
        created_time: Some(prost_types::Timestamp {
            seconds: 1_705_312_800,
            nanos: 0,
        }),
        updated_time: Some(prost_types::Timestamp {
            seconds: 1_705_312_800,
            nanos: 500_000_000,
        }),
        revision: 7,
    }
}

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn a_stored_environment_has_connects_shape_with_every_editable_key() {
    let json = serde_json::to_value(ConnectEnvironment::from(&stored())).unwrap();
    assert_eq!(
        json,
        json!({
            "id": "42",
            "guid": "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70",
            "created_time": "2024-01-15T10:00:00Z",
            "updated_time": "2024-01-15T10:00:00.500Z",
            "title": "Base",
            "description": null,
            "cluster_name": "Kubernetes",
            "name": "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy",
            "environment_type": "Kubernetes",
            "matching": "any",
            "supervisor": null,
            "managed_by": null,
            "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
            "quarto": {"installations": []},
            "r": {"installations": []},
            "tensorflow": {"installations": []},
            "volume_mounts": [
                {"source": {"volume_type": "pvc", "pvc_name": "shared"},
                 "target": {"path": "/data", "read_only": true}},
                {"source": {"volume_type": "nfs", "nfs_host": "nfs.local", "nfs_export_path": "/exports/a"},
                 "target": {"path": "/mnt/a", "read_only": false}}
            ]
        })
    );
}

#[test]
fn a_file_managed_environment_says_so() {
    let mut env = stored();
    env.managed_by = Some("config-file".to_owned());
    let json = serde_json::to_value(ConnectEnvironment::from(&env)).unwrap();
    assert_eq!(json["managed_by"], "config-file");
}

#[test]
fn what_rsconnect_add_sends_becomes_the_spec() {
    let input = parse_input(
        &body(json!({
            "cluster_name": "Kubernetes",
            "name": "ghcr.io/acme/py:3.11",
            "title": "Py",
            "matching": "exact",
            "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
            "volume_mounts": [{"source": {"volume_type": "pvc", "pvc_name": "cache"},
                               "target": {"path": "/data", "read_only": null}}]
        })),
        true,
    )
    .unwrap();
    let spec = &input.spec;
    assert_eq!(spec.name, "ghcr.io/acme/py:3.11");
    assert_eq!(spec.title.as_deref(), Some("Py"));
    assert_eq!(spec.matching.as_deref(), Some("exact"));
    assert_eq!(
        spec.python.as_ref().unwrap().installations[0].version,
        "3.11.9"
    );
    assert_eq!(
        spec.volume_mounts,
        vec![pb::VolumeMount {
            source: Some(Source::Pvc(pb::PvcSource {
                claim_name: "cache".to_owned()
            })),
            target_path: "/data".to_owned(),
            read_only: false,
        }]
    );
}

#[test]
fn a_partial_put_names_only_the_keys_sent() {
    let input = parse_input(&body(json!({"title": "new-title"})), false).unwrap();
    assert_eq!(input.present, vec!["title".to_owned()]);
    assert_eq!(input.spec.title.as_deref(), Some("new-title"));
}

#[test]
fn nulls_clear_and_count_as_sent() {
    let input = parse_input(
        &body(json!({"description": null, "r": null, "volume_mounts": null, "supervisor": null})),
        false,
    )
    .unwrap();
    let mut present = input.present.clone();
    present.sort();
    assert_eq!(present, ["description", "r", "supervisor", "volume_mounts"]);
    assert_eq!(input.spec.description, None);
    assert_eq!(input.spec.r, Some(pb::Installations::default()));
    assert!(input.spec.volume_mounts.is_empty());
}

#[test]
fn what_a_get_answers_can_be_put_back_without_the_server_keys() {
    let mut json = serde_json::to_value(ConnectEnvironment::from(&stored())).unwrap();
    let object = json.as_object_mut().unwrap();
    for key in [
        "id",
        "guid",
        "created_time",
        "updated_time",
        "environment_type",
        "managed_by",
        "name",
        "cluster_name",
    ] {
        object.remove(key);
    }
    let input = parse_input(object, false).unwrap();
    assert_eq!(input.present.len(), 9);
    assert_eq!(input.spec.volume_mounts, stored().volume_mounts);
    assert_eq!(input.spec.python, stored().python);
}

#[test]
fn bad_keys_are_reported_together_with_their_paths() {
    let err = parse_input(
        &body(json!({
            "title": 3,
            "colour": "blue",
            "id": "1",
            "python": {"installations": [{"version": "3.11.9"}]},
            "volume_mounts": [{"source": {"volume_type": "s3"}, "target": {"path": "/x"}}]
        })),
        false,
    )
    .unwrap_err();
    let mut fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "colour",
            "id",
            "python.installations[0].path",
            "title",
            "volume_mounts[0].source.volume_type"
        ]
    );
}

#[test]
fn a_bad_volume_is_code_254_and_a_bad_installation_is_173() {
    let volume = parse_input(
        &body(json!({"volume_mounts": [{"source": {}, "target": {"path": "/x"}}]})),
        false,
    )
    .unwrap_err();
    assert_eq!(volume.connect_status(), (400, 254));
    let path = parse_input(
        &body(json!({"r": {"installations": [{"version": "4.4.1"}]}})),
        false,
    )
    .unwrap_err();
    assert_eq!(path.connect_status(), (400, 173));
}

#[test]
fn nodejs_is_accepted_only_empty() {
    assert!(parse_input(&body(json!({"nodejs": {"installations": []}})), false).is_ok());
    let err = parse_input(
        &body(
            json!({"nodejs": {"installations": [{"version": "20.1.0", "path": "/usr/bin/node"}]}}),
        ),
        false,
    )
    .unwrap_err();
    assert_eq!(err.connect_status(), (400, 179));
}

#[test]
fn a_permission_has_all_three_keys_rsconnect_reads() {
    let json = serde_json::to_value(ConnectPermission::from(&pb::Permission {
        guid: "p1".to_owned(),
        environment_guid: "e1".to_owned(),
        user_guid: Some("u1".to_owned()),
        group_guid: None,
        // An AddPermission answer's revision goes in X-Execenv-Revision, not the body.
        revision: 9,
    }))
    .unwrap();
    assert_eq!(
        json,
        json!({"id": "p1", "guid": "p1", "environment_guid": "e1", "user_guid": "u1", "group_guid": null})
    );
}

#[test]
fn guids_are_taken_only_as_the_registry_writes_them() {
    let v4 = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
    assert_eq!(canonical_guid("guid", v4, true).unwrap(), v4);
    for other in [
        "6F1C2A9E-3B7D-4C51-9A0E-2D8F4B6C1E70",
        "6f1c2a9e3b7d4c519a0e2d8f4b6c1e70",
        "{6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70}",
        " 6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70",
        "nope",
    ] {
        let e = canonical_guid("guid", other, true).unwrap_err();
        assert_eq!(e.connect_status(), (400, 3), "{other}");
    }
    let v1 = "6f1c2a9e-3b7d-1c51-9a0e-2d8f4b6c1e70";
    assert_eq!(canonical_guid("permission_guid", v1, false).unwrap(), v1);
    assert_eq!(
        canonical_guid("guid", v1, true)
            .unwrap_err()
            .connect_status(),
        (400, 3)
    );
}

#[test]
fn a_new_environments_guid_must_be_canonical_or_empty() {
    let body = |guid: &str| {
        json!({"name": "img", "guid": guid})
            .as_object()
            .unwrap()
            .clone()
    };
    assert_eq!(parse_input(&body(""), true).unwrap().spec.guid, "");
    let e = parse_input(&body("6F1C2A9E-3B7D-4C51-9A0E-2D8F4B6C1E70"), true).unwrap_err();
    assert_eq!(e.violations[0].field, "guid");
}
