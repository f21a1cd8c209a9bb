#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn installation_splits_version_and_path() {
    let i = parse_installation("3.11.9=/opt/python/3.11.9/bin/python3").unwrap();
    assert_eq!(i.version, "3.11.9");
    assert_eq!(i.path, "/opt/python/3.11.9/bin/python3");
}

#[test]
fn installation_splits_at_the_first_equals_sign() {
    let i = parse_installation("1.0.0=/opt/a=b").unwrap();
    assert_eq!(i.path, "/opt/a=b");
}

#[test]
fn installation_without_equals_sign_is_rejected_with_the_expected_form() {
    let e = parse_installation("3.11.9").unwrap_err();
    assert!(e.contains("no '='"), "{e}");
    assert!(e.contains("VERSION=PATH"), "{e}");
}

#[test]
fn installation_with_empty_parts_is_rejected() {
    assert!(
        parse_installation("=/opt/py")
            .unwrap_err()
            .contains("no version")
    );
    assert!(
        parse_installation("3.11.9=")
            .unwrap_err()
            .contains("no path")
    );
    assert!(
        parse_installation(" = ")
            .unwrap_err()
            .contains("no version")
    );
}

#[test]
fn nfs_mount_spec_parses() {
    let m = parse_mount("type=nfs,nfs_host=nfs.local,nfs_export_path=/exports/data,target=/data")
        .unwrap();
    assert_eq!(
        m.source,
        Some(VolumeSource::Nfs {
            host: "nfs.local".into(),
            export_path: "/exports/data".into()
        })
    );
    assert_eq!(m.target_path, "/data");
    assert!(!m.read_only);
}

#[test]
fn pvc_mount_spec_parses_with_readonly() {
    let m = parse_mount("type=pvc,pvc_name=shared-data,target=/mnt/shared,readonly").unwrap();
    assert_eq!(
        m.source,
        Some(VolumeSource::Pvc {
            claim_name: "shared-data".into()
        })
    );
    assert_eq!(m.target_path, "/mnt/shared");
    assert!(m.read_only);
}

#[test]
fn mount_spec_readonly_accepts_explicit_boolean() {
    assert!(
        !parse_mount("type=pvc,pvc_name=c,target=/m,readonly=false")
            .unwrap()
            .read_only
    );
    assert!(
        parse_mount("type=pvc,pvc_name=c,target=/m,readonly=true")
            .unwrap()
            .read_only
    );
    assert!(parse_mount("type=pvc,pvc_name=c,target=/m,readonly=yes").is_err());
}

#[test]
fn mount_spec_without_target_is_rejected() {
    let e = parse_mount("type=pvc,pvc_name=c").unwrap_err();
    assert!(e.contains("no target="), "{e}");
    assert!(e.contains(MOUNT_FORMS), "{e}");
}

#[test]
fn mount_spec_with_unknown_type_is_rejected() {
    let e = parse_mount("type=smb,nfs_host=h,target=/m").unwrap_err();
    assert!(e.contains("unknown mount type \"smb\""), "{e}");
}

#[test]
fn mount_spec_with_unknown_key_is_rejected_naming_it() {
    let e = parse_mount("type=pvc,pvc_name=c,target=/m,size=10Gi").unwrap_err();
    assert!(e.contains("unknown key \"size\""), "{e}");
}

#[test]
fn mount_spec_missing_source_fields_is_rejected() {
    assert!(
        parse_mount("type=nfs,nfs_host=h,target=/m")
            .unwrap_err()
            .contains("needs nfs_export_path=")
    );
    assert!(
        parse_mount("type=pvc,target=/m")
            .unwrap_err()
            .contains("needs pvc_name=")
    );
    assert!(
        parse_mount("nfs_host=h,nfs_export_path=/e,target=/m")
            .unwrap_err()
            .contains("no type=")
    );
}

#[test]
fn mount_spec_with_keys_of_the_other_type_is_rejected() {
    assert!(
        parse_mount("type=pvc,pvc_name=c,nfs_host=h,target=/m")
            .unwrap_err()
            .contains("nfs_host= does not apply to a pvc mount")
    );
    assert!(
        parse_mount("type=nfs,nfs_host=h,nfs_export_path=/e,pvc_name=c,target=/m")
            .unwrap_err()
            .contains("pvc_name= does not apply to a nfs mount")
    );
}

#[test]
fn mount_spec_with_repeated_or_empty_values_is_rejected() {
    assert!(
        parse_mount("type=pvc,pvc_name=c,target=/m,target=/n")
            .unwrap_err()
            .contains("twice")
    );
    assert!(
        parse_mount("type=pvc,pvc_name=,target=/m")
            .unwrap_err()
            .contains("no value")
    );
    assert!(
        parse_mount("type=pvc,,pvc_name=c,target=/m")
            .unwrap_err()
            .contains("empty item")
    );
}

#[test]
fn mount_spec_with_a_former_key_names_the_key_that_replaced_it() {
    for (spec, says) in [
        (
            "type=nfs,host=h,nfs_export_path=/e,target=/m",
            "host= is now nfs_host=",
        ),
        (
            "type=nfs,nfs_host=h,export=/e,target=/m",
            "export= is now nfs_export_path=",
        ),
        ("type=pvc,claim=c,target=/m", "claim= is now pvc_name="),
        (
            "type=pvc,claim_name=c,target=/m",
            "claim_name= is now pvc_name=",
        ),
        (
            "type=pvc,pvc_name=c,target_path=/m",
            "target_path= is now target=",
        ),
    ] {
        let e = parse_mount(spec).unwrap_err();
        assert!(e.starts_with(says), "{spec}: {e}");
        assert!(e.ends_with(MOUNT_FORMS), "{spec}: {e}");
    }
}

#[test]
fn mount_spec_takes_read_only_as_connect_spells_it() {
    assert!(
        parse_mount("type=pvc,pvc_name=c,target=/m,read_only=true")
            .unwrap()
            .read_only
    );
    assert!(parse_mount("type=pvc,pvc_name=c,target=/m,ro").is_err());
}

#[test]
fn env_var_splits_at_the_first_equals_sign_and_keeps_the_value_as_given() {
    assert_eq!(
        parse_env_var("OPTS=--a=1 --b").unwrap(),
        EnvVar {
            name: "OPTS".into(),
            value: "--a=1 --b".into()
        }
    );
    assert_eq!(parse_env_var("EMPTY=").unwrap().value, "");
}

#[test]
fn env_var_without_equals_sign_or_name_is_rejected_with_the_expected_form() {
    let e = parse_env_var("MODE").unwrap_err();
    assert!(e.contains("no '='") && e.contains("NAME=VALUE"), "{e}");
    assert!(parse_env_var("=prod").unwrap_err().contains("no name"));
}
