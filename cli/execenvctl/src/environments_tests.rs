#![allow(clippy::unwrap_used)]
//! `env …` and `changes` against an in-process registry (and its Identity service) on port 0.

use std::net::SocketAddr;

use execenv_core::ErrorKind;

use super::*;
use crate::cli::{Cli, Command};
use crate::commands::run;
use crate::testing::fake_identity::{ALICE, DATA_SCIENCE, FakeIdentity, STAFF};
use crate::testing::fake_registry::FakeRegistry;
use crate::testing::{GUID, NOWHERE, TOKEN, against, assert_unreachable, cli, closed_address};

/// A fake registry, and where it and its Identity service are served.
async fn registry() -> (FakeRegistry, SocketAddr) {
    let fake = FakeRegistry::default();
    let addr = fake.clone().serve_with(FakeIdentity::default()).await;
    (fake, addr)
}

fn with_registry(addr: SocketAddr, args: &[&str]) -> Cli {
    against(&[("--registry", addr)], args)
}

fn create_args(args: &[&str]) -> CreateArgs {
    let mut all = vec!["env", "create"];
    all.extend_from_slice(args);
    match cli(&all).command {
        Command::Env(EnvCommand::Create(a)) => a,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn list_all_follows_every_page_and_sends_the_identity() {
    let (fake, addr) = registry().await;
    let groups = format!("{STAFF},{DATA_SCIENCE}");
    let report = run(with_registry(
        addr,
        &[
            "env",
            "list",
            "--all",
            "--as-user",
            ALICE,
            "--as-groups",
            &groups,
            "--as-role",
            "publisher",
        ],
    ))
    .await
    .unwrap();
    assert!(
        report.stdout.contains("img:page1") && report.stdout.contains("img:page2"),
        "{}",
        report.stdout
    );
    assert_eq!(report.note.as_deref(), Some("2 of 2 environments"));
    assert_eq!(fake.seen.lock().unwrap().list_tokens, ["", "p2"]);
    let header = |key| fake.calls.header(0, key);
    assert_eq!(header("x-execenv-user").as_deref(), Some(ALICE));
    assert_eq!(header("x-execenv-groups"), Some(groups.clone()));
    assert_eq!(header("x-execenv-role").as_deref(), Some("publisher"));
    assert_eq!(header("authorization"), Some(format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn acting_as_a_user_and_groups_by_name_sends_their_guids() {
    let (fake, addr) = registry().await;
    let report = run(with_registry(
        addr,
        &[
            "--as-user",
            "alice",
            "--as-groups",
            "staff,data-science",
            "--as-role",
            "publisher",
            "env",
            "list",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(
        report.note.as_deref(),
        Some("1 of 2 environments; next page: --page-token p2 (or --all)")
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-user").as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-groups"),
        Some(format!("{STAFF},{DATA_SCIENCE}"))
    );
}

#[tokio::test]
async fn acting_as_a_name_nobody_has_is_refused_before_the_call() {
    let (fake, addr) = registry().await;
    let e = run(with_registry(
        addr,
        &[
            "--as-user",
            "alcie",
            "--as-groups",
            "staff,data-sceince",
            "--as-role",
            "publisher",
            "env",
            "list",
        ],
    ))
    .await
    .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    assert_eq!(
        render::error_text(&e),
        "error: invalid input (2 problems):\n  \
         - --as-user: no user named \"alcie\"; list them with `execenvctl users list`, and give a \
         guid or a user name from there\n  \
         - --as-groups: no group named \"data-sceince\"; list them with `execenvctl groups list`, \
         and give a guid or a group name from there"
    );
    assert_eq!(fake.calls.count(), 0, "the registry was not asked to list");
}

#[tokio::test]
async fn list_without_all_prints_one_page_and_the_next_token() {
    let (_, addr) = registry().await;
    let report = run(with_registry(addr, &["-o", "json", "env", "list"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["environments"].as_array().unwrap().len(), 1);
    assert_eq!(json["total_count"], 2);
    assert_eq!(json["next_page_token"], "p2");
}

#[tokio::test]
async fn service_calls_carry_no_identity_headers() {
    let (fake, addr) = registry().await;
    run(with_registry(addr, &["env", "get", GUID]))
        .await
        .unwrap();
    assert_eq!(fake.calls.header(0, "x-execenv-user"), None);
    assert_eq!(fake.calls.header(0, "x-execenv-role"), None);
}

#[tokio::test]
async fn invalid_argument_from_the_registry_keeps_every_violation_in_connects_names() {
    let (_, addr) = registry().await;
    let e = run(with_registry(
        addr,
        &[
            "env",
            "create",
            "bad image",
            "--python",
            "3.11=/py",
            "--mount",
            "type=pvc,pvc_name=Bad_Claim,target=/m",
        ],
    ))
    .await
    .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    assert_eq!(
        render::error_text(&e),
        "error: invalid input (3 problems):\n  \
         - name: is not a valid container image reference\n  \
         - python.installations[0].version: \"3.11\" is not a semantic version\n  \
         - volume_mounts[0].source.pvc_name: \"Bad_Claim\" is not a Kubernetes name"
    );
}

#[test]
fn a_matching_mode_is_left_for_the_registry_to_judge() {
    let request = create_request(&create_args(&["img:1", "--matching", "sometimes"])).unwrap();
    assert_eq!(
        request.environment.unwrap().matching.as_deref(),
        Some("sometimes")
    );
}

#[tokio::test]
async fn update_sends_the_mask_and_the_expected_revision() {
    let (fake, addr) = registry().await;
    let report = run(with_registry(
        addr,
        &[
            "env",
            "update",
            GUID,
            "--title",
            "T",
            "--clear",
            "supervisor",
            "--expected-revision",
            "5",
        ],
    ))
    .await
    .unwrap();
    assert!(report.stdout.contains("img:updated"), "{}", report.stdout);
    let seen = fake.seen.lock().unwrap();
    let update = seen.update.as_ref().unwrap();
    assert_eq!(
        update.update_mask.as_ref().unwrap().paths,
        ["title", "supervisor"]
    );
    assert_eq!(update.expected_revision, 5);
    let spec = update.environment.as_ref().unwrap();
    assert_eq!(spec.title.as_deref(), Some("T"));
    assert_eq!(spec.supervisor, None);
}

#[tokio::test]
async fn update_with_nothing_to_change_fails_before_connecting() {
    // No registry listens there: the local error must come first.
    let e = run(cli(&["--registry", NOWHERE, "env", "update", GUID]))
        .await
        .unwrap_err();
    assert!(e.message.contains("nothing to update"), "{}", e.message);
    assert_eq!(render::exit_code(&e), 2);
}

#[tokio::test]
async fn a_local_problem_comes_before_looking_up_names() {
    // No registry listens there: the names cannot be looked up, the missing file is reported.
    let e = run(cli(&[
        "--registry",
        NOWHERE,
        "--as-user",
        "alice",
        "--as-role",
        "administrator",
        "env",
        "create",
        "--file",
        "/nonexistent/env.yaml",
    ]))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "--file");
}

#[tokio::test]
async fn delete_and_permissions_print_their_results() {
    let (_, addr) = registry().await;
    let deleted = run(with_registry(addr, &["env", "delete", GUID]))
        .await
        .unwrap();
    assert_eq!(deleted.stdout, format!("deleted environment {GUID}\n"));
    let added = run(with_registry(
        addr,
        &["env", "permissions", "add", GUID, "--group", STAFF],
    ))
    .await
    .unwrap();
    assert!(
        added.stdout.starts_with("PERMISSION GUID"),
        "{}",
        added.stdout
    );
    assert!(added.stdout.contains(STAFF), "{}", added.stdout);
    let listed = run(with_registry(addr, &["env", "permissions", "list", GUID]))
        .await
        .unwrap();
    assert!(listed.note.unwrap().contains("every publisher"));
}

#[tokio::test]
async fn permissions_add_stores_the_guid_of_a_user_or_group_given_by_name() {
    let (fake, addr) = registry().await;
    for args in [["--user", "alice"], ["--group", "data-science"]] {
        let mut all = vec!["env", "permissions", "add", GUID];
        all.extend(args);
        run(with_registry(addr, &all)).await.unwrap();
    }
    let seen = fake.seen.lock().unwrap();
    let stored: Vec<(Option<&str>, Option<&str>)> = seen
        .permissions
        .iter()
        .map(|p| (p.user_guid.as_deref(), p.group_guid.as_deref()))
        .collect();
    assert_eq!(stored, [(Some(ALICE), None), (None, Some(DATA_SCIENCE))]);
}

#[tokio::test]
async fn permissions_add_for_a_name_nobody_has_stores_nothing() {
    let (fake, addr) = registry().await;
    let e = run(with_registry(
        addr,
        &["env", "permissions", "add", GUID, "--user", "mallory"],
    ))
    .await
    .unwrap_err();
    assert_eq!(e.violations[0].field, "--user");
    assert!(
        e.violations[0]
            .description
            .starts_with("no user named \"mallory\"; list them with `execenvctl users list`"),
        "{}",
        e.violations[0].description
    );
    assert!(fake.seen.lock().unwrap().permissions.is_empty());
}

#[tokio::test]
async fn unavailable_status_names_the_registry_and_the_fix() {
    let (_, addr) = registry().await;
    let e = run(with_registry(
        addr,
        &["env", "permissions", "remove", GUID, GUID],
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(
        e.message.contains(&format!("http://{addr}")),
        "{}",
        e.message
    );
    assert!(e.message.contains("database is down"), "{}", e.message);
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn unreachable_registry_is_reported_with_a_hint() {
    let addr = closed_address().await;
    let e = run(cli(&[
        "--registry",
        &format!("http://{addr}"),
        "env",
        "list",
    ]))
    .await
    .unwrap_err();
    assert_unreachable(
        &e,
        "the registry",
        addr,
        "is execenv-environment-registry running? set --registry (or EXECENV_REGISTRY)",
    );
}

#[tokio::test]
async fn changes_json_has_before_and_after_as_values() {
    let (_, addr) = registry().await;
    let report = run(with_registry(
        addr,
        &["-o", "json", "changes", "--after-revision", "3"],
    ))
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json[0]["before"]["title"], "old");
    assert_eq!(json[0]["after"]["title"], "new");
    assert_eq!(json[0]["time"], "2026-01-31T12:00:00Z");
}

#[test]
fn create_request_reads_a_yaml_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.yaml");
    std::fs::write(&path, "name: img:1\ntitle: From file\n").unwrap();
    let spec = create_request(&create_args(&["--file", path.to_str().unwrap()]))
        .unwrap()
        .environment
        .unwrap();
    assert_eq!(spec.name, "img:1");
    assert_eq!(spec.title.as_deref(), Some("From file"));
}

#[test]
fn create_request_sends_an_environment_copied_from_an_answer_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.json");
    std::fs::write(
        &path,
        include_str!("../../../libs/proto/src/convert/testdata/connect_environment.json"),
    )
    .unwrap();
    let spec = create_request(&create_args(&["--file", path.to_str().unwrap()]))
        .unwrap()
        .environment
        .unwrap();
    assert_eq!(spec.guid, "4f6c1c1e-0d3a-4c9e-9a57-0f6f3c2b9e11");
    assert_eq!(spec.matching.as_deref(), Some("exact"));
    let claim = match &spec.volume_mounts[1].source {
        Some(pb::volume_mount::Source::Pvc(p)) => p.claim_name.as_str(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (claim, spec.volume_mounts[1].target_path.as_str()),
        ("shared-cache", "/mnt/cache")
    );
}

#[test]
fn create_request_for_a_missing_file_names_it() {
    let e = create_request(&create_args(&["--file", "/nonexistent/env.yaml"])).unwrap_err();
    assert_eq!(e.violations[0].field, "--file");
    assert!(
        e.violations[0]
            .description
            .contains("/nonexistent/env.yaml")
    );
}

#[test]
fn list_request_maps_every_filter() {
    let args = match cli(&[
        "env",
        "list",
        "--search",
        "py",
        "--name",
        "img",
        "--matching",
        "exact",
        "--unmanaged",
        "--language",
        "r",
        "--language-version",
        "4.4",
        "--sort",
        "python",
        "--desc",
        "--page-size",
        "10",
        "--page-token",
        "t",
    ])
    .command
    {
        Command::Env(EnvCommand::List(a)) => a,
        other => panic!("{other:?}"),
    };
    let r = list_request(&args);
    assert_eq!(r.search, "py");
    assert_eq!(r.name.as_deref(), Some("img"));
    assert_eq!(r.matching.as_deref(), Some("exact"));
    assert_eq!(r.managed, Some(false));
    assert_eq!(r.language.as_deref(), Some("r"));
    assert_eq!(r.language_version.as_deref(), Some("4.4"));
    assert_eq!(r.sort, reg::SortField::PythonVersion as i32);
    assert!(r.descending);
    assert_eq!(r.page_size, 10);
    assert_eq!(r.page_token, "t");
}

#[test]
fn next_page_stops_at_the_end_and_on_a_repeated_token() {
    assert!(!next_page("", "", true).unwrap());
    assert!(!next_page("", "t", false).unwrap());
    assert!(next_page("", "t", true).unwrap());
    assert!(next_page("t", "t", true).is_err());
}

#[test]
fn server_url_defaults_to_plain_http() {
    use crate::connection::server_url;
    assert_eq!(server_url("registry:50051"), "http://registry:50051");
    assert_eq!(server_url("https://r.example.com"), "https://r.example.com");
}

#[test]
fn a_refused_permission_names_the_flag_that_gave_the_user_or_group() {
    use crate::environments::with_permission_flags;
    let refused = Error::invalid_field(
        "group_guid",
        "no group has guid 6f1c2b7a-3d4e-4f50-8a9b-0c1d2e3f4a5b; a permission must name an existing group",
    );
    let e = with_permission_flags(refused);
    assert_eq!(e.violations[0].field, "--group");
    assert_eq!(
        e.message,
        "invalid input (1 problem): --group: no group has guid 6f1c2b7a-3d4e-4f50-8a9b-0c1d2e3f4a5b; a permission must name an existing group"
    );
    let other = Error::new(ErrorKind::NotFound, "environment e does not exist");
    assert_eq!(with_permission_flags(other.clone()), other);
}
