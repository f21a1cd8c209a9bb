#![allow(clippy::unwrap_used)]

use clap::CommandFactory;

use super::*;
use crate::args::OutputFormat;
use crate::bundle_args::BundleCommand;
use crate::env_args::ClearField;
use crate::launch_args::{KindArg, StateArg};
use crate::testing::parse;

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn bad_mount_flag_is_a_usage_error_naming_the_flag() {
    let e = parse(&["env", "create", "img", "--mount", "type=pvc"]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("--mount"), "{text}");
    assert!(text.contains("type=nfs,nfs_host=H"), "{text}");
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
        "type=pvc,pvc_name=c,target=/m",
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

#[test]
fn sync_commands_take_the_config_sync_address() {
    let cli = parse(&["sync", "plan", "--config-sync", "sync.local:50052"]).unwrap();
    assert!(matches!(cli.command, Command::Sync(SyncCommand::Plan)));
    assert_eq!(cli.global.config_sync, "sync.local:50052");
    let cli = parse(&["-o", "json", "sync", "status"]).unwrap();
    assert!(matches!(cli.command, Command::Sync(SyncCommand::Status)));
    assert!(parse(&["sync"]).is_err());
    assert!(parse(&["sync", "apply"]).is_err());
}

/// Parses a command line given as one string of words separated by single spaces.
fn parse_words(line: &str) -> Result<Cli, clap::Error> {
    parse(&line.split(' ').collect::<Vec<_>>())
}

#[test]
fn launch_run_takes_the_select_flags_env_resources_and_the_command_after_dashes() {
    let cli = parse_words(concat!(
        "launch run --content c --bundle 12 --python-requires >=3.8 --default-environment e ",
        "--env MODE=prod --env X=a=b --cpu-limit 2 --memory-request 512Mi --service-account sa ",
        "--wait -- python app.py --debug"
    ))
    .unwrap();
    let Command::Launch(launch) = cli.command else {
        panic!("not launch")
    };
    let LaunchCommand::Run(r) = *launch else {
        panic!("not launch run")
    };
    let a = &r.launch;
    assert_eq!((a.content.as_str(), a.bundle.as_str()), ("c", "12"));
    assert_eq!(a.request_id, None);
    assert_eq!(
        a.select.requirements.python_requires.as_deref(),
        Some(">=3.8")
    );
    assert_eq!(a.select.default_environment.as_deref(), Some("e"));
    assert_eq!(a.env[1].name, "X");
    assert_eq!(a.env[1].value, "a=b");
    assert_eq!(a.resources.cpu_limit.as_deref(), Some("2"));
    assert_eq!(a.resources.memory_request.as_deref(), Some("512Mi"));
    assert_eq!(a.service_account.as_deref(), Some("sa"));
    assert!(a.wait);
    assert_eq!(r.command, ["python", "app.py", "--debug"]);
}

#[test]
fn launch_needs_content_and_bundle() {
    assert!(parse(&["launch", "build", "--bundle", "1"]).is_err());
    assert!(parse(&["launch", "build", "--content", "c"]).is_err());
    assert!(parse(&["launch", "build", "--content", "c", "--bundle", "1"]).is_ok());
}

#[test]
fn launch_refuses_a_manifest_with_requirement_flags_as_select_does() {
    let e = parse_words("launch build --content c --bundle 1 --manifest m.json --python 3.11")
        .unwrap_err();
    assert!(e.to_string().contains("--python"), "{e}");
}

#[test]
fn launch_build_takes_no_command() {
    assert!(parse_words("launch build --content c --bundle 1 -- python").is_err());
}

#[test]
fn bad_env_flag_is_a_usage_error_naming_the_form() {
    let e = parse_words("launch run --content c --bundle 1 --env MODE").unwrap_err();
    assert!(e.to_string().contains("NAME=VALUE"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn launches_list_takes_repeated_states_and_a_kind() {
    let cli = parse_words("launches list --state pending --state running --kind run").unwrap();
    let Command::Launches(LaunchesCommand::List(l)) = cli.command else {
        panic!("not launches list")
    };
    assert_eq!(l.state, [StateArg::Pending, StateArg::Running]);
    assert_eq!(l.kind, Some(KindArg::Run));
    assert!(parse(&["launches", "list", "--state", "done"]).is_err());
}

#[test]
fn launches_watch_id_is_optional_and_logs_follow_has_a_short_flag() {
    let cli = parse(&["launches", "watch"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Launches(LaunchesCommand::Watch { id: None })
    ));
    let cli = parse(&["launches", "logs", "r-1", "-f", "--launcher", "l:50054"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Launches(LaunchesCommand::Logs { follow: true, .. })
    ));
    assert_eq!(cli.global.launcher, "l:50054");
    assert!(parse(&["launches", "get"]).is_err());
    assert!(parse(&["launches", "cancel"]).is_err());
}

#[test]
fn matching_is_passed_on_as_written_for_the_registry_to_judge() {
    let cli = parse(&["env", "create", "img", "--matching", "sometimes"]).unwrap();
    let Command::Env(EnvCommand::Create(c)) = cli.command else {
        panic!("not create")
    };
    assert_eq!(c.fields.matching.as_deref(), Some("sometimes"));
    // The list filter still knows the modes: a filter that matches nothing is a mistake.
    assert!(parse(&["env", "list", "--matching", "sometimes"]).is_err());
}

#[test]
fn permissions_and_acting_as_take_names_or_guids() {
    let cli = parse(&[
        "--as-user",
        "alice",
        "--as-groups",
        "data-science,staff",
        "--as-role",
        "publisher",
        "env",
        "permissions",
        "add",
        "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10",
        "--user",
        "alice",
    ])
    .unwrap();
    assert_eq!(cli.global.as_user.as_deref(), Some("alice"));
    assert_eq!(cli.global.as_groups, ["data-science", "staff"]);
}

#[test]
fn bundle_commands_take_a_path_or_id_and_the_content() {
    let guid = "2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f";
    let cli = parse(&[
        "bundle",
        "upload",
        "app",
        "--content",
        guid,
        "--api-key",
        "k",
    ])
    .unwrap();
    let Command::Bundle(BundleCommand::Upload { path, content }) = cli.command else {
        panic!("not upload")
    };
    assert_eq!((path.to_str(), content.as_str()), (Some("app"), guid));
    assert_eq!(cli.global.api_key.as_deref(), Some("k"));
    assert_eq!(cli.global.gateway, "http://127.0.0.1:3939");
    assert!(
        parse(&["bundle", "upload", "app"]).is_err(),
        "--content is needed"
    );
    assert!(
        parse(&["bundle", "delete", "--content", guid]).is_err(),
        "the id is needed"
    );
    assert!(
        parse(&[
            "--gateway",
            "http://gw:3939",
            "bundle",
            "list",
            "--content",
            guid
        ])
        .is_ok()
    );
}

#[test]
fn the_api_key_is_not_shown_in_help_even_when_set_in_the_environment() {
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("--api-key <KEY>"), "{help}");
    assert!(help.contains("[env: EXECENV_API_KEY]"), "{help}");
    let api_key = Cli::command()
        .get_arguments()
        .find(|a| a.get_id() == "api_key")
        .map(|a| a.is_hide_env_values_set());
    assert_eq!(api_key, Some(true));
}
