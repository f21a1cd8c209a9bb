#![allow(clippy::unwrap_used)]

use super::*;
use crate::error::ErrorKind;

pub(super) const IMAGE: &str = "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy";

pub(super) fn draft(name: &str) -> EnvironmentDraft {
    EnvironmentDraft {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

pub(super) fn inst(version: &str, path: &str) -> Installation {
    Installation {
        version: version.to_owned(),
        path: path.to_owned(),
    }
}

fn nfs(host: &str, export_path: &str, target_path: &str) -> VolumeMountDraft {
    VolumeMountDraft {
        source: Some(VolumeSource::Nfs {
            host: host.to_owned(),
            export_path: export_path.to_owned(),
        }),
        target_path: target_path.to_owned(),
        read_only: false,
    }
}

pub(super) fn pvc(claim_name: &str, target_path: &str) -> VolumeMountDraft {
    VolumeMountDraft {
        source: Some(VolumeSource::Pvc {
            claim_name: claim_name.to_owned(),
        }),
        target_path: target_path.to_owned(),
        read_only: false,
    }
}

/// The violations of an invalid draft (panics when the draft is valid).
fn violations_of(d: &EnvironmentDraft) -> Vec<FieldViolation> {
    let err = validate_new(d).expect_err("the draft should be invalid");
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(!err.violations.is_empty());
    err.violations
}

/// Asserts `d` has exactly one violation, on `field`, whose description contains `part`.
fn assert_one_violation(d: &EnvironmentDraft, field: &str, part: &str) {
    let v = violations_of(d);
    assert_eq!(v.len(), 1, "expected one violation, got {v:?}");
    assert_eq!(v[0].field, field, "{v:?}");
    assert!(
        v[0].description.contains(part),
        "{:?} should contain {part:?}",
        v[0].description
    );
}

fn assert_valid(d: &EnvironmentDraft) -> EnvironmentSpec {
    match validate_new(d) {
        Ok((_, spec)) => spec,
        Err(e) => panic!("expected {d:?} to be valid, got {e}"),
    }
}

pub(super) fn fields(v: &[FieldViolation]) -> Vec<&str> {
    v.iter().map(|f| f.field.as_str()).collect()
}

fn with_guid(guid: &str) -> EnvironmentDraft {
    EnvironmentDraft {
        guid: Some(guid.to_owned()),
        ..draft(IMAGE)
    }
}

fn with_language(language: Language, installations: Vec<Installation>) -> EnvironmentDraft {
    let mut d = draft(IMAGE);
    match language {
        Language::Python => d.python = installations,
        Language::R => d.r = installations,
        Language::Quarto => d.quarto = installations,
        Language::Tensorflow => d.tensorflow = installations,
    }
    d
}

fn with_mounts(mounts: Vec<VolumeMountDraft>) -> EnvironmentDraft {
    EnvironmentDraft {
        volume_mounts: mounts,
        ..draft(IMAGE)
    }
}

// ---------------------------------------------------------------------------------------------
// defaults

#[test]
fn minimal_environment_gets_defaults() {
    let (guid, spec) = validate_new(&draft(IMAGE)).expect("valid");
    assert_eq!(guid, None);
    assert_eq!(spec.name, IMAGE);
    assert_eq!(spec.cluster_name, "Kubernetes");
    assert_eq!(spec.matching, Matching::Any);
    assert_eq!(spec.supervisor, None);
    assert!(spec.python.is_empty() && spec.volume_mounts.is_empty());
}

// ---------------------------------------------------------------------------------------------
// the image name (its grammar is tested in image_reference/tests.rs)

#[test]
fn a_valid_image_reference_is_kept_as_the_name() {
    let digest = format!("img@sha256:{}", "a".repeat(64));
    for name in [
        "ubuntu",
        IMAGE,
        "localhost:5000/team/img:v1",
        digest.as_str(),
    ] {
        let spec = assert_valid(&draft(name));
        assert_eq!(spec.name, name);
    }
}

#[test]
fn missing_image_reference_is_required() {
    assert_one_violation(&EnvironmentDraft::default(), "name", "is required");
    assert_one_violation(&draft(""), "name", "is required");
}

#[test]
fn malformed_image_references_are_rejected_on_name() {
    for (name, why) in [
        ("Ubuntu", "path component \"Ubuntu\""),
        ("img:-x", "the tag must be"),
        ("img@sha256:xyz", "the digest must be"),
    ] {
        assert_one_violation(
            &draft(name),
            "name",
            "is not a valid container image reference",
        );
        assert_one_violation(&draft(name), "name", why);
    }
}

// ---------------------------------------------------------------------------------------------
// guid

#[test]
fn random_v4_guid_is_accepted_and_returned() {
    let g = Uuid::new_v4();
    let (guid, _) = validate_new(&with_guid(&g.to_string())).expect("valid");
    assert_eq!(guid, Some(g));
}

#[test]
fn empty_guid_means_none_chosen() {
    let (guid, _) = validate_new(&with_guid("")).expect("valid");
    assert_eq!(guid, None);
}

#[test]
fn guid_of_version_1_is_rejected_naming_its_version() {
    assert_one_violation(
        &with_guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        "guid",
        "is a version-1 UUID; environments use random version-4 UUIDs",
    );
}

#[test]
fn guid_of_version_7_is_rejected_naming_its_version() {
    assert_one_violation(
        &with_guid("01890a5d-ac96-774b-bcce-b302099a8057"),
        "guid",
        "is a version-7 UUID",
    );
}

#[test]
fn nil_guid_is_rejected() {
    let v = violations_of(&with_guid("00000000-0000-0000-0000-000000000000"));
    assert_eq!(fields(&v), ["guid"]);
    assert!(
        v[0].description
            .contains("00000000-0000-0000-0000-000000000000")
    );
    assert!(
        v[0].description.contains("is not an RFC 4122 UUID"),
        "{}",
        v[0].description
    );
}

#[test]
fn guid_with_microsoft_variant_is_rejected_naming_the_variant() {
    // A version-4 layout whose variant nibble is 'c' (110x: Microsoft).
    assert_one_violation(
        &with_guid("0b6f0c8e-5d0c-4d8b-cd2a-7c1f3e2a9b10"),
        "guid",
        "is not an RFC 4122 UUID (its variant is Microsoft)",
    );
}

#[test]
fn guid_with_ncs_variant_is_rejected_naming_the_variant() {
    // Variant nibble '7' (0xxx: NCS).
    assert_one_violation(
        &with_guid("0b6f0c8e-5d0c-4d8b-7d2a-7c1f3e2a9b10"),
        "guid",
        "its variant is NCS",
    );
}

#[test]
fn non_uuid_guid_is_rejected_as_not_a_uuid() {
    for text in [
        "not-a-guid",
        "12345",
        "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b1z",
        " ",
    ] {
        let v = violations_of(&with_guid(text));
        assert_eq!(fields(&v), ["guid"], "{text:?}");
        assert!(
            v[0].description.contains("is not a UUID"),
            "{text:?}: {}",
            v[0].description
        );
    }
}

#[test]
fn parse_guid_accepts_only_version_4() {
    let g = Uuid::new_v4();
    assert_eq!(parse_guid(&g.to_string()), Ok(g));
    assert!(
        parse_guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
            .unwrap_err()
            .contains("version-1")
    );
}

#[test]
fn require_guid_of_empty_text_is_required() {
    let e = require_guid("environment_guid", "").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(fields(&e.violations), ["environment_guid"]);
    assert_eq!(e.violations[0].description, "is required");
}

#[test]
fn require_guid_names_the_field_for_a_bad_guid() {
    let e = require_guid("guid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap_err();
    assert_eq!(fields(&e.violations), ["guid"]);
    assert!(e.violations[0].description.contains("version-1"));
    let g = Uuid::new_v4();
    assert_eq!(require_guid("guid", &g.to_string()), Ok(g));
}

// ---------------------------------------------------------------------------------------------
// versions

#[test]
fn semantic_versions_are_accepted_for_every_language() {
    for language in Language::ALL {
        let d = with_language(
            language,
            vec![
                inst("3.11.9", "/opt/a/bin/x"),
                inst("4.4.1", "/opt/b/bin/x"),
                inst("1.4.557", "/opt/c/bin/x"),
                inst("1.0.0-rc.1", "/opt/d/bin/x"),
            ],
        );
        let spec = assert_valid(&d);
        let versions: Vec<&str> = spec
            .installations(language)
            .iter()
            .map(|i| i.version.as_str())
            .collect();
        assert_eq!(versions, ["3.11.9", "4.4.1", "1.4.557", "1.0.0-rc.1"]);
    }
}

#[test]
fn two_part_version_is_rejected_suggesting_the_three_part_one() {
    for language in Language::ALL {
        let d = with_language(language, vec![inst("3.11", "/opt/bin/x")]);
        let field = format!("{}.installations[0].version", language.as_str());
        assert_one_violation(&d, &field, "give all three parts");
        assert_one_violation(&d, &field, "(e.g. 3.11.0)");
    }
}

#[test]
fn one_part_version_is_rejected_suggesting_a_valid_version() {
    let d = with_language(Language::R, vec![inst("4", "/opt/R/bin/R")]);
    assert_one_violation(&d, "r.installations[0].version", "(e.g. 4.0.0)");
    assert!(check_semver("4.0.0").is_ok());
}

#[test]
fn malformed_versions_are_rejected_for_every_language() {
    for language in Language::ALL {
        for (version, why) in [
            (
                "v3.11.0",
                "\"v3.11.0\" is not a semantic version (expected MAJOR.MINOR.PATCH",
            ),
            (
                "3.11.x",
                "\"3.11.x\" is not a semantic version (expected MAJOR.MINOR.PATCH",
            ),
            ("", "is required (a semantic version"),
        ] {
            let d = with_language(
                language,
                vec![inst("1.2.3", "/opt/a/bin/x"), inst(version, "/opt/b/bin/x")],
            );
            let field = format!("{}.installations[1].version", language.as_str());
            assert_one_violation(&d, &field, why);
        }
    }
}

#[test]
fn duplicate_version_within_a_language_is_rejected_naming_the_earlier_index() {
    let d = with_language(
        Language::Python,
        vec![
            inst("3.11.9", "/opt/python/3.11.9/bin/python3"),
            inst("3.12.4", "/opt/python/3.12.4/bin/python3"),
            inst("3.11.9", "/usr/bin/python3"),
        ],
    );
    assert_one_violation(
        &d,
        "python.installations[2].version",
        "\"3.11.9\" is listed twice (also python.installations[0])",
    );
}

#[test]
fn same_version_in_two_languages_is_accepted() {
    let d = EnvironmentDraft {
        python: vec![inst("1.4.1", "/opt/python/bin/python3")],
        quarto: vec![inst("1.4.1", "/opt/quarto/bin/quarto")],
        ..draft(IMAGE)
    };
    let spec = assert_valid(&d);
    assert_eq!(spec.python[0].version, "1.4.1");
    assert_eq!(spec.quarto[0].version, "1.4.1");
}

// ---------------------------------------------------------------------------------------------
// paths

const BAD_PATHS: [(&str, &str); 5] = [
    (
        "opt/python/bin/python3",
        "is not an absolute path; it must start with /",
    ),
    ("", "is required (an absolute path"),
    ("/opt/../etc/passwd", "contains a \"..\" component"),
    ("/opt/python/..", "contains a \"..\" component"),
    ("/opt/py\nthon", "contains control characters"),
];

#[test]
fn bad_installation_paths_are_rejected_on_their_path() {
    for (path, why) in BAD_PATHS {
        let d = with_language(
            Language::R,
            vec![inst("4.3.3", "/opt/R/4.3.3/bin/R"), inst("4.4.1", path)],
        );
        assert_one_violation(&d, "r.installations[1].path", why);
    }
}

#[test]
fn bad_supervisor_paths_are_rejected_on_supervisor() {
    for (path, why) in BAD_PATHS {
        if path.is_empty() {
            continue; // an empty supervisor means "none"
        }
        let d = EnvironmentDraft {
            supervisor: Some(path.to_owned()),
            ..draft(IMAGE)
        };
        assert_one_violation(&d, "supervisor", why);
    }
}

#[test]
fn empty_supervisor_means_none() {
    let d = EnvironmentDraft {
        supervisor: Some(String::new()),
        ..draft(IMAGE)
    };
    assert_eq!(assert_valid(&d).supervisor, None);
}

#[test]
fn absolute_supervisor_is_kept() {
    let d = EnvironmentDraft {
        supervisor: Some("/opt/supervisor.sh".to_owned()),
        ..draft(IMAGE)
    };
    assert_eq!(
        assert_valid(&d).supervisor.as_deref(),
        Some("/opt/supervisor.sh")
    );
}

#[test]
fn bad_volume_target_paths_are_rejected_on_target_path() {
    for (path, why) in BAD_PATHS {
        let d = with_mounts(vec![pvc("data", path)]);
        assert_one_violation(&d, "volume_mounts[0].target_path", why);
    }
}

#[test]
fn dot_dot_inside_a_name_is_not_a_parent_component() {
    let d = with_language(
        Language::Python,
        vec![inst("3.11.9", "/opt/..py/bin/python3")],
    );
    assert_valid(&d);
}

// ---------------------------------------------------------------------------------------------
// matching

#[test]
fn matching_modes_are_accepted_and_default_to_any() {
    for (input, expected) in [
        (None, Matching::Any),
        (Some(""), Matching::Any),
        (Some("any"), Matching::Any),
        (Some("exact"), Matching::Exact),
        (Some("none"), Matching::None),
    ] {
        let d = EnvironmentDraft {
            matching: input.map(str::to_owned),
            ..draft(IMAGE)
        };
        assert_eq!(assert_valid(&d).matching, expected, "{input:?}");
    }
}

#[test]
fn unknown_matching_mode_is_rejected_naming_the_allowed_values() {
    for m in ["Any", "sometimes", "EXACT"] {
        let d = EnvironmentDraft {
            matching: Some(m.to_owned()),
            ..draft(IMAGE)
        };
        assert_one_violation(
            &d,
            "matching",
            &format!("{m:?} is not a matching mode; use any, exact or none"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// volume mounts

#[test]
fn nfs_mount_without_host_is_rejected_on_its_host() {
    let d = with_mounts(vec![nfs("", "/exports/data", "/mnt/data")]);
    assert_one_violation(
        &d,
        "volume_mounts[0].source.nfs.host",
        "is required for an NFS volume",
    );
    let d = with_mounts(vec![nfs("  ", "/exports/data", "/mnt/data")]);
    assert_one_violation(&d, "volume_mounts[0].source.nfs.host", "is required");
}

#[test]
fn nfs_host_with_a_slash_or_space_is_rejected() {
    for host in ["nfs.example.com/exports", "nfs example"] {
        let d = with_mounts(vec![nfs(host, "/exports/data", "/mnt/data")]);
        assert_one_violation(
            &d,
            "volume_mounts[0].source.nfs.host",
            "is not a host name or address",
        );
    }
}

#[test]
fn nfs_mount_needs_an_absolute_export_path() {
    for (export, why) in [
        ("", "is required"),
        ("exports/data", "is not an absolute path"),
    ] {
        let d = with_mounts(vec![nfs("nfs.example.com", export, "/mnt/data")]);
        assert_one_violation(&d, "volume_mounts[0].source.nfs.export_path", why);
    }
}

#[test]
fn pvc_claim_name_must_be_a_kubernetes_name() {
    for claim in [
        "My_Claim",
        "-data",
        "data-",
        "data..set",
        "data.-set",
        "da ta",
    ] {
        let d = with_mounts(vec![pvc(claim, "/mnt/data")]);
        assert_one_violation(
            &d,
            "volume_mounts[0].source.pvc.claim_name",
            "is not a valid Kubernetes name",
        );
    }
    let d = with_mounts(vec![pvc(&"a".repeat(254), "/mnt/data")]);
    assert_one_violation(
        &d,
        "volume_mounts[0].source.pvc.claim_name",
        "at most 253 characters",
    );
    let d = with_mounts(vec![pvc("", "/mnt/data")]);
    assert_one_violation(
        &d,
        "volume_mounts[0].source.pvc.claim_name",
        "is required for a PVC volume",
    );
}

#[test]
fn valid_kubernetes_names_are_accepted_as_claims() {
    for claim in ["data", "team-data.v2", "0data9", "a"] {
        assert_valid(&with_mounts(vec![pvc(claim, "/mnt/data")]));
    }
}

#[test]
fn mount_without_a_source_is_rejected_on_its_source() {
    let d = with_mounts(vec![VolumeMountDraft {
        source: None,
        target_path: "/mnt/data".to_owned(),
        read_only: true,
    }]);
    assert_one_violation(
        &d,
        "volume_mounts[0].source",
        "is required: give an nfs source",
    );
}

#[test]
fn duplicate_mount_target_is_rejected_naming_the_earlier_mount() {
    let d = with_mounts(vec![
        pvc("a", "/mnt/data"),
        pvc("b", "/mnt/other"),
        nfs("nfs.example.com", "/exports/c", "/mnt/data"),
    ]);
    assert_one_violation(
        &d,
        "volume_mounts[2].target_path",
        "\"/mnt/data\" is already the target of volume_mounts[0]",
    );
}

#[test]
fn valid_mounts_are_kept_in_order_with_read_only() {
    let mut first = nfs("10.0.0.5", "/exports/data", "/mnt/data");
    first.read_only = true;
    let second = pvc("scratch", "/mnt/scratch");
    let spec = assert_valid(&with_mounts(vec![first, second]));
    assert_eq!(
        spec.volume_mounts,
        [
            VolumeMount {
                source: VolumeSource::Nfs {
                    host: "10.0.0.5".to_owned(),
                    export_path: "/exports/data".to_owned(),
                },
                target_path: "/mnt/data".to_owned(),
                read_only: true,
            },
            VolumeMount {
                source: VolumeSource::Pvc {
                    claim_name: "scratch".to_owned(),
                },
                target_path: "/mnt/scratch".to_owned(),
                read_only: false,
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// cluster name, title, description

#[test]
fn cluster_name_defaults_to_kubernetes_and_keeps_an_explicit_value() {
    assert_eq!(assert_valid(&draft(IMAGE)).cluster_name, "Kubernetes");
    let d = EnvironmentDraft {
        cluster_name: Some("gpu-cluster".to_owned()),
        ..draft(IMAGE)
    };
    assert_eq!(assert_valid(&d).cluster_name, "gpu-cluster");
}

#[test]
fn explicit_empty_cluster_name_is_rejected() {
    for c in ["", "   "] {
        let d = EnvironmentDraft {
            cluster_name: Some(c.to_owned()),
            ..draft(IMAGE)
        };
        assert_one_violation(&d, "cluster_name", "must not be empty");
    }
}

#[test]
fn title_longer_than_256_characters_is_rejected() {
    let d = EnvironmentDraft {
        title: Some("é".repeat(MAX_TITLE_LEN + 1)),
        ..draft(IMAGE)
    };
    assert_one_violation(&d, "title", "is longer than 256 characters");
    // Counted in characters, not bytes.
    let d = EnvironmentDraft {
        title: Some("é".repeat(MAX_TITLE_LEN)),
        ..draft(IMAGE)
    };
    assert_valid(&d);
}

#[test]
fn description_longer_than_4096_characters_is_rejected() {
    let d = EnvironmentDraft {
        description: Some("x".repeat(MAX_DESCRIPTION_LEN + 1)),
        ..draft(IMAGE)
    };
    assert_one_violation(&d, "description", "is longer than 4096 characters");
    let d = EnvironmentDraft {
        description: Some("x".repeat(MAX_DESCRIPTION_LEN)),
        ..draft(IMAGE)
    };
    assert_valid(&d);
}

// ---------------------------------------------------------------------------------------------
// every violation at once

#[test]
fn every_violation_of_one_input_is_reported_in_field_order() {
    let d = EnvironmentDraft {
        guid: Some("6ba7b810-9dad-11d1-80b4-00c04fd430c8".to_owned()),
        name: Some("Bad Image".to_owned()),
        title: Some("t".repeat(300)),
        description: None,
        cluster_name: Some(String::new()),
        matching: Some("sometimes".to_owned()),
        supervisor: Some("supervisor.sh".to_owned()),
        python: vec![inst("3.11", "python3")],
        r: vec![inst("4.4.1", "/opt/R/bin/R"), inst("4.4.1", "/usr/bin/R")],
        quarto: Vec::new(),
        tensorflow: vec![inst("v2.16.1", "/opt/tf")],
        volume_mounts: vec![
            VolumeMountDraft {
                source: None,
                target_path: "/mnt/a".to_owned(),
                read_only: false,
            },
            pvc("My_Claim", "/mnt/a"),
        ],
    };
    let err = validate_new(&d).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        fields(&err.violations),
        [
            "guid",
            "name",
            "title",
            "cluster_name",
            "matching",
            "supervisor",
            "python.installations[0].version",
            "python.installations[0].path",
            "r.installations[1].version",
            "tensorflow.installations[0].version",
            "volume_mounts[0].source",
            "volume_mounts[1].source.pvc.claim_name",
            "volume_mounts[1].target_path",
        ]
    );
    assert!(err.message.contains("13 problems"), "{}", err.message);
}

#[test]
fn check_spec_prefixes_every_field_path() {
    let d = EnvironmentDraft {
        matching: Some("sometimes".to_owned()),
        python: vec![inst("3.11", "/usr/bin/python3")],
        ..draft("")
    };
    let mut violations = vec![FieldViolation::new("earlier", "kept")];
    assert_eq!(
        check_spec(&d, "executionEnvironments[3].", &mut violations),
        None
    );
    assert_eq!(
        fields(&violations),
        [
            "earlier",
            "executionEnvironments[3].name",
            "executionEnvironments[3].matching",
            "executionEnvironments[3].python.installations[0].version",
        ]
    );
}

#[test]
fn check_spec_returns_the_spec_despite_earlier_violations_of_other_drafts() {
    let mut violations = vec![FieldViolation::new("other", "problem")];
    let spec = check_spec(&draft(IMAGE), "x.", &mut violations);
    assert_eq!(spec.map(|s| s.name), Some(IMAGE.to_owned()));
    assert_eq!(violations.len(), 1);
}
