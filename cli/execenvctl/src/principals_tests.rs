#![allow(clippy::unwrap_used)]

use super::*;
use crate::commands::run_to;
use crate::testing::fake_identity::{ALICE, BOB, DATA_SCIENCE, FakeIdentity, STAFF};
use crate::testing::fake_launcher::{FakeLauncher, launch_args, serve_launcher};
use crate::testing::fake_registry::FakeRegistry;
use crate::testing::{NOWHERE, against, cli};

fn directory() -> Directory {
    let pair = |name: &str, guid: &str| (name.to_owned(), guid.to_owned());
    Directory {
        users: vec![pair("alice", ALICE), pair("bob", BOB)],
        groups: vec![pair("staff", STAFF), pair("data-science", DATA_SCIENCE)],
    }
}

#[test]
fn names_become_the_guids_of_their_kind_in_order() {
    let named = [
        Named::group("--as-groups", "data-science"),
        Named::user("--as-user", "bob"),
        Named::group("--as-groups", "staff"),
    ];
    assert_eq!(
        directory().guids(&named).unwrap(),
        [DATA_SCIENCE, BOB, STAFF]
    );
}

#[test]
fn a_guid_is_used_as_it_is_even_when_the_directory_does_not_know_it() {
    let unknown = "5f3c9a7e-1d2b-4e8f-9a0b-1c2d3e4f5a6b";
    let named = [
        Named::user("--user", unknown),
        Named::group("--group", &format!(" {STAFF} ")),
    ];
    assert_eq!(
        Directory::default().guids(&named).unwrap(),
        [unknown, STAFF]
    );
}

#[test]
fn a_user_name_is_not_looked_up_among_groups() {
    let e = directory()
        .guids(&[Named::user("--user", "staff")])
        .unwrap_err();
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].field, "--user");
    assert!(
        e.violations[0]
            .description
            .starts_with("no user named \"staff\"; list them with `execenvctl users list`"),
        "{}",
        e.violations[0].description
    );
}

#[test]
fn names_match_exactly() {
    let e = directory()
        .guids(&[
            Named::user("--as-user", "Alice"),
            Named::group("--as-groups", "data"),
        ])
        .unwrap_err();
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["--as-user", "--as-groups"]);
}

#[tokio::test]
async fn guids_alone_need_no_registry() {
    // Nothing listens there: a lookup would fail.
    let g = cli(&[
        "--registry",
        NOWHERE,
        "--as-user",
        ALICE,
        "--as-groups",
        STAFF,
        "--as-role",
        "publisher",
        "env",
        "list",
    ])
    .global;
    let acting = acting(&g).await.unwrap();
    assert_eq!(acting.as_user.as_deref(), Some(ALICE));
    assert_eq!(acting.as_groups, [STAFF]);
}

#[tokio::test]
async fn names_are_looked_up_as_the_service_with_the_token() {
    let identity = FakeIdentity::default();
    let registry = FakeRegistry::default().serve_with(identity.clone()).await;
    let g = against(
        &[("--registry", registry)],
        &["--as-user", "alice", "--as-role", "viewer", "env", "list"],
    )
    .global;
    let acting = acting(&g).await.unwrap();
    assert_eq!(acting.as_user.as_deref(), Some(ALICE));
    assert!(acting.as_groups.is_empty());
    // The fake refuses a caller acting as a viewer: the lookup was made as the service.
    assert_eq!(
        identity.seen.lock().unwrap().as_slice(),
        ["ListUsersRequest"]
    );
}

#[tokio::test]
async fn every_service_is_called_as_the_guids_of_the_names_given() {
    let registry = FakeRegistry::default()
        .serve_with(FakeIdentity::default())
        .await;
    let launcher = FakeLauncher::default();
    let launcher_addr = serve_launcher(launcher.clone()).await;
    let mut args = vec![
        "--as-user",
        "bob",
        "--as-groups",
        "staff",
        "--as-role",
        "publisher",
    ];
    args.extend(launch_args("build", &["--request-id", "r-1"]));
    let cli = against(
        &[("--registry", registry), ("--launcher", launcher_addr)],
        &args,
    );
    run_to(cli, &mut Vec::new()).await.unwrap();
    assert_eq!(
        launcher.calls.header(0, "x-execenv-user").as_deref(),
        Some(BOB)
    );
    assert_eq!(
        launcher.calls.header(0, "x-execenv-groups").as_deref(),
        Some(STAFF)
    );
}
