#![allow(clippy::unwrap_used)]

use clap::{CommandFactory, Parser};

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("execenvctl").chain(args.iter().copied()))
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

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
    let m = parse_mount("type=nfs,host=nfs.local,export=/exports/data,target=/data").unwrap();
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
    let m = parse_mount("type=pvc,claim=shared-data,target=/mnt/shared,readonly").unwrap();
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
        !parse_mount("type=pvc,claim=c,target=/m,readonly=false")
            .unwrap()
            .read_only
    );
    assert!(
        parse_mount("type=pvc,claim=c,target=/m,readonly=true")
            .unwrap()
            .read_only
    );
    assert!(parse_mount("type=pvc,claim=c,target=/m,readonly=yes").is_err());
}

#[test]
fn mount_spec_without_target_is_rejected() {
    let e = parse_mount("type=pvc,claim=c").unwrap_err();
    assert!(e.contains("no target="), "{e}");
    assert!(e.contains(MOUNT_FORMS), "{e}");
}

#[test]
fn mount_spec_with_unknown_type_is_rejected() {
    let e = parse_mount("type=smb,host=h,target=/m").unwrap_err();
    assert!(e.contains("unknown mount type \"smb\""), "{e}");
}

#[test]
fn mount_spec_with_unknown_key_is_rejected_naming_it() {
    let e = parse_mount("type=pvc,claim=c,target=/m,size=10Gi").unwrap_err();
    assert!(e.contains("unknown key \"size\""), "{e}");
}

#[test]
fn mount_spec_missing_source_fields_is_rejected() {
    assert!(
        parse_mount("type=nfs,host=h,target=/m")
            .unwrap_err()
            .contains("needs export=")
    );
    assert!(
        parse_mount("type=pvc,target=/m")
            .unwrap_err()
            .contains("needs claim=")
    );
    assert!(
        parse_mount("host=h,export=/e,target=/m")
            .unwrap_err()
            .contains("no type=")
    );
}

#[test]
fn mount_spec_with_keys_of_the_other_type_is_rejected() {
    assert!(
        parse_mount("type=pvc,claim=c,host=h,target=/m")
            .unwrap_err()
            .contains("host=")
    );
    assert!(
        parse_mount("type=nfs,host=h,export=/e,claim=c,target=/m")
            .unwrap_err()
            .contains("claim=")
    );
}

#[test]
fn mount_spec_with_repeated_or_empty_values_is_rejected() {
    assert!(
        parse_mount("type=pvc,claim=c,target=/m,target=/n")
            .unwrap_err()
            .contains("twice")
    );
    assert!(
        parse_mount("type=pvc,claim=,target=/m")
            .unwrap_err()
            .contains("no value")
    );
    assert!(
        parse_mount("type=pvc,,claim=c,target=/m")
            .unwrap_err()
            .contains("empty item")
    );
}

#[test]
fn bad_mount_flag_is_a_usage_error_naming_the_flag() {
    let e = parse(&["env", "create", "img", "--mount", "type=pvc"]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("--mount"), "{text}");
    assert!(text.contains("type=nfs,host=H"), "{text}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn create_accepts_repeated_installations_and_mounts() {
    let cli = parse(&[
        "env",
        "create",
        "img:1",
        "--python",
        "3.11.9=/py311",
        "--python",
        "3.12.1=/py312",
        "--mount",
        "type=pvc,claim=c,target=/m",
    ])
    .unwrap();
    let Command::Env(EnvCommand::Create(c)) = cli.command else {
        panic!("not create")
    };
    assert_eq!(c.image.as_deref(), Some("img:1"));
    assert_eq!(c.fields.python.len(), 2);
    assert_eq!(c.fields.mounts.len(), 1);
}

#[test]
fn create_needs_an_image_or_a_file_but_not_both() {
    assert!(parse(&["env", "create"]).is_err());
    assert!(parse(&["env", "create", "--file", "x.yaml"]).is_ok());
    assert!(parse(&["env", "create", "img", "--file", "x.yaml"]).is_err());
    assert!(parse(&["env", "create", "--file", "x.yaml", "--title", "t"]).is_err());
}

#[test]
fn permission_add_needs_exactly_one_of_user_and_group() {
    let g = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";
    assert!(parse(&["env", "permissions", "add", g]).is_err());
    assert!(
        parse(&[
            "env",
            "permissions",
            "add",
            g,
            "--user",
            "u",
            "--group",
            "g"
        ])
        .is_err()
    );
    assert!(parse(&["env", "permissions", "add", g, "--group", "g"]).is_ok());
}

#[test]
fn list_rejects_managed_with_unmanaged_and_version_without_language() {
    assert!(parse(&["env", "list", "--managed", "--unmanaged"]).is_err());
    assert!(parse(&["env", "list", "--language-version", "3.11"]).is_err());
    assert!(
        parse(&[
            "env",
            "list",
            "--language",
            "python",
            "--language-version",
            "3.11"
        ])
        .is_ok()
    );
}

#[test]
fn global_flags_are_accepted_after_the_subcommand() {
    let cli = parse(&[
        "env",
        "list",
        "-o",
        "json",
        "--as-user",
        "u",
        "--as-role",
        "publisher",
    ])
    .unwrap();
    assert_eq!(cli.global.output, OutputFormat::Json);
    assert_eq!(cli.global.as_user.as_deref(), Some("u"));
}

#[test]
fn acting_as_a_user_needs_a_role() {
    assert!(parse(&["--as-user", "u", "env", "list"]).is_err());
    let cli = parse(&["--as-groups", "a,b", "--as-role", "viewer", "env", "list"]).unwrap();
    assert_eq!(cli.global.as_groups, ["a", "b"]);
}

#[test]
fn clear_accepts_api_field_names() {
    let g = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";
    let cli = parse(&[
        "env",
        "update",
        g,
        "--clear",
        "cluster_name",
        "--clear",
        "volume_mounts",
    ])
    .unwrap();
    let Command::Env(EnvCommand::Update(u)) = cli.command else {
        panic!("not update")
    };
    assert_eq!(u.clear, [ClearField::ClusterName, ClearField::VolumeMounts]);
}

#[test]
fn changes_times_must_be_rfc3339() {
    assert!(parse(&["changes", "--since", "2026-01-31T12:00:00Z"]).is_ok());
    let e = parse(&["changes", "--since", "yesterday"]).unwrap_err();
    assert!(e.to_string().contains("RFC 3339"));
}
