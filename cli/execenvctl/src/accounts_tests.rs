#![allow(clippy::unwrap_used)]
//! `users`, `groups` and `keys` against an in-process Identity service on port 0 that answers
//! with fixed accounts and records what it receives.

use std::net::SocketAddr;

use execenv_core::ErrorKind;
use uuid::Uuid;

use super::*;
use crate::cli::Cli;
use crate::commands::run;
use crate::testing::fake_identity::{ALICE, FakeIdentity, SECRET};
use crate::testing::{against, closed_address, parse, serve};

async fn serve_identity(fake: FakeIdentity) -> SocketAddr {
    serve(tonic::transport::Server::builder().add_service(fake.server())).await
}

fn cli(addr: SocketAddr, args: &[&str]) -> Cli {
    against(&[("--registry", addr)], args)
}

#[tokio::test]
async fn users_create_sends_the_role_and_names_and_prints_the_user() {
    let fake = FakeIdentity::default();
    let addr = serve_identity(fake.clone()).await;
    let report = run(cli(
        addr,
        &[
            "users",
            "create",
            "alice",
            "--role",
            "publisher",
            "--email",
            "a@example.com",
            "--last-name",
            "Smith",
        ],
    ))
    .await
    .unwrap();
    assert!(report.stdout.starts_with("guid:"), "{}", report.stdout);
    assert!(
        report.stdout.contains("username:      alice\n"),
        "{}",
        report.stdout
    );
    let seen = fake.seen.lock().unwrap();
    assert!(seen[0].contains("username: \"alice\", role: \"publisher\", email: Some(\"a@example.com\"), first_name: None, last_name: Some(\"Smith\")"), "{}", seen[0]);
}

#[tokio::test]
async fn users_disable_and_enable_send_only_the_disabled_flag() {
    let fake = FakeIdentity::default();
    let addr = serve_identity(fake.clone()).await;
    let report = run(cli(addr, &["users", "disable", "alice"]))
        .await
        .unwrap();
    assert!(
        report.stdout.contains("disabled:      yes"),
        "{}",
        report.stdout
    );
    run(cli(addr, &["-o", "json", "users", "enable", "alice"]))
        .await
        .unwrap();
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen[0],
        "UpdateUserRequest { user: \"alice\", role: None, disabled: Some(true), email: None, first_name: None, last_name: None }"
    );
    assert!(seen[1].contains("disabled: Some(false)"), "{}", seen[1]);
}

#[tokio::test]
async fn users_update_without_a_change_fails_before_connecting() {
    let addr = closed_address().await;
    let e = run(cli(addr, &["users", "update", "alice"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("nothing to update"), "{}", e.message);
}

#[tokio::test]
async fn users_list_is_a_table_with_a_count_or_a_json_array() {
    let addr = serve_identity(FakeIdentity::default()).await;
    let report = run(cli(addr, &["users", "list"])).await.unwrap();
    let lines: Vec<&str> = report.stdout.lines().collect();
    assert!(
        lines[0].starts_with("GUID") && lines[0].contains("USERNAME  ROLE"),
        "{}",
        report.stdout
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[2].contains("bob") && lines[2].ends_with("yes"),
        "{}",
        report.stdout
    );
    assert_eq!(report.note.as_deref(), Some("2 users"));
    let json = run(cli(addr, &["-o", "json", "users", "list"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json[1]["username"], "bob");
    assert_eq!(json[1]["role"], "publisher");
}

#[tokio::test]
async fn keys_create_prints_the_secret_once_with_a_note() {
    let fake = FakeIdentity::default();
    let addr = serve_identity(fake.clone()).await;
    let report = run(cli(addr, &["keys", "create", "alice", "--name", "laptop"]))
        .await
        .unwrap();
    assert!(
        report.stdout.starts_with(&format!("key:  {SECRET}\n")),
        "{}",
        report.stdout
    );
    assert!(report.note.unwrap().contains("cannot be shown again"));
    let json = run(cli(
        addr,
        &["-o", "yaml", "keys", "create", "alice", "--name", "laptop"],
    ))
    .await
    .unwrap();
    assert!(
        json.stdout.contains(&format!("key: {SECRET}")),
        "{}",
        json.stdout
    );
    assert!(fake.seen.lock().unwrap()[0].contains("user: \"alice\", name: \"laptop\""));
}

#[tokio::test]
async fn keys_list_shows_the_prefix_never_the_secret() {
    let addr = serve_identity(FakeIdentity::default()).await;
    let report = run(cli(addr, &["keys", "list", "--user", "alice"]))
        .await
        .unwrap();
    assert!(
        report.stdout.contains(&format!("{}…", &SECRET[..9])),
        "{}",
        report.stdout
    );
    assert!(!report.stdout.contains(SECRET));
    let disabled = run(cli(addr, &["keys", "disable", &Uuid::nil().to_string()]))
        .await
        .unwrap();
    assert!(
        disabled.stdout.contains("disabled:        yes"),
        "{}",
        disabled.stdout
    );
    let deleted = run(cli(addr, &["keys", "delete", "k1"])).await.unwrap();
    assert_eq!(deleted.stdout, "deleted API key k1\n");
}

#[tokio::test]
async fn groups_commands_send_group_and_user() {
    let fake = FakeIdentity::default();
    let addr = serve_identity(fake.clone()).await;
    let added = run(cli(addr, &["groups", "add-member", "staff", "alice"]))
        .await
        .unwrap();
    assert!(
        added.stdout.contains("name:          staff"),
        "{}",
        added.stdout
    );
    run(cli(addr, &["groups", "remove-member", "staff", "bob"]))
        .await
        .unwrap();
    let listed = run(cli(addr, &["groups", "list"])).await.unwrap();
    let staff: Vec<&str> = listed
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells[1] == "staff")
        .unwrap();
    assert_eq!(staff[2], "2", "{}", listed.stdout);
    let deleted = run(cli(addr, &["groups", "delete", "staff"]))
        .await
        .unwrap();
    assert_eq!(deleted.stdout, "deleted group staff\n");
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen[0],
        "GroupMemberRequest { group: \"staff\", user: \"alice\" }"
    );
    assert_eq!(
        seen[1],
        "GroupMemberRequest { group: \"staff\", user: \"bob\" }"
    );
}

#[tokio::test]
async fn a_refusal_from_the_registry_is_reported_as_is() {
    let addr = serve_identity(FakeIdentity::default()).await;
    let e = run(cli(
        addr,
        &[
            "--as-user",
            ALICE,
            "--as-role",
            "publisher",
            "users",
            "list",
        ],
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert_eq!(render::exit_code(&e), 1);
}

#[test]
fn users_create_needs_a_role_and_keys_create_a_name() {
    assert!(parse(&["users", "create", "alice"]).is_err());
    assert!(parse(&["users", "create", "alice", "--role", "owner"]).is_err());
    assert!(parse(&["keys", "create", "alice"]).is_err());
    assert!(parse(&["keys", "create", "alice", "--name", "ci"]).is_ok());
}
