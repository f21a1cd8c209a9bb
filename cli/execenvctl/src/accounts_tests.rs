#![allow(clippy::unwrap_used)]
//! `users`, `groups` and `keys` against an in-process Identity service on port 0 that answers
//! with fixed accounts and records what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use clap::Parser;
use execenv_core::ErrorKind;
use execenv_proto::identity::v1::identity_server::{Identity as IdentityService, IdentityServer};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::*;
use crate::args::Cli;
use crate::commands::run;

const SECRET: &str = "ee_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";

fn user(username: &str, disabled: bool) -> id::User {
    let t = chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
    id::User::from(&User {
        guid: Uuid::nil(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        first_name: None,
        last_name: None,
        role: Role::Publisher,
        group_guids: vec![Uuid::max()],
        disabled,
        created_time: t,
        updated_time: t,
    })
}

fn group(members: usize) -> id::Group {
    id::Group {
        guid: Uuid::max().to_string(),
        name: "staff".into(),
        member_guids: vec![Uuid::nil().to_string(); members],
        created_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
    }
}

fn api_key() -> id::ApiKey {
    id::ApiKey {
        id: Uuid::nil().to_string(),
        name: "laptop".into(),
        prefix: SECRET[..9].into(),
        user_guid: Uuid::nil().to_string(),
        created_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
        last_used_time: None,
        disabled: false,
    }
}

/// Every request the fake received, as debug text, in order.
#[derive(Clone, Default)]
struct FakeIdentity {
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeIdentity {
    fn answer<T: std::fmt::Debug, R>(
        &self,
        r: Request<T>,
        value: R,
    ) -> Result<Response<R>, Status> {
        if r.metadata().get("x-execenv-role").is_some() {
            return Err(Status::permission_denied(
                "managing users requires the administrator role",
            ));
        }
        self.seen
            .lock()
            .unwrap()
            .push(format!("{:?}", r.into_inner()));
        Ok(Response::new(value))
    }
}

#[tonic::async_trait]
impl IdentityService for FakeIdentity {
    async fn create_user(
        &self,
        r: Request<id::CreateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let name = r.get_ref().username.clone();
        self.answer(r, user(&name, false))
    }
    async fn get_user(&self, r: Request<id::GetUserRequest>) -> Result<Response<id::User>, Status> {
        self.answer(r, user("alice", false))
    }
    async fn list_users(
        &self,
        r: Request<id::ListUsersRequest>,
    ) -> Result<Response<id::ListUsersResponse>, Status> {
        self.answer(
            r,
            id::ListUsersResponse {
                users: vec![user("alice", false), user("bob", true)],
            },
        )
    }
    async fn update_user(
        &self,
        r: Request<id::UpdateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let disabled = r.get_ref().disabled.unwrap_or(false);
        self.answer(r, user("alice", disabled))
    }
    async fn delete_user(
        &self,
        r: Request<id::DeleteUserRequest>,
    ) -> Result<Response<id::DeleteUserResponse>, Status> {
        self.answer(r, id::DeleteUserResponse {})
    }
    async fn create_group(
        &self,
        r: Request<id::CreateGroupRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.answer(r, group(0))
    }
    async fn list_groups(
        &self,
        r: Request<id::ListGroupsRequest>,
    ) -> Result<Response<id::ListGroupsResponse>, Status> {
        self.answer(
            r,
            id::ListGroupsResponse {
                groups: vec![group(2)],
            },
        )
    }
    async fn delete_group(
        &self,
        r: Request<id::DeleteGroupRequest>,
    ) -> Result<Response<id::DeleteGroupResponse>, Status> {
        self.answer(r, id::DeleteGroupResponse {})
    }
    async fn add_group_member(
        &self,
        r: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.answer(r, group(1))
    }
    async fn remove_group_member(
        &self,
        r: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.answer(r, group(0))
    }
    async fn create_api_key(
        &self,
        r: Request<id::CreateApiKeyRequest>,
    ) -> Result<Response<id::CreateApiKeyResponse>, Status> {
        self.answer(
            r,
            id::CreateApiKeyResponse {
                key: SECRET.into(),
                api_key: Some(api_key()),
            },
        )
    }
    async fn list_api_keys(
        &self,
        r: Request<id::ListApiKeysRequest>,
    ) -> Result<Response<id::ListApiKeysResponse>, Status> {
        self.answer(
            r,
            id::ListApiKeysResponse {
                api_keys: vec![api_key()],
            },
        )
    }
    async fn disable_api_key(
        &self,
        r: Request<id::DisableApiKeyRequest>,
    ) -> Result<Response<id::ApiKey>, Status> {
        self.answer(
            r,
            id::ApiKey {
                disabled: true,
                ..api_key()
            },
        )
    }
    async fn delete_api_key(
        &self,
        r: Request<id::DeleteApiKeyRequest>,
    ) -> Result<Response<id::DeleteApiKeyResponse>, Status> {
        self.answer(r, id::DeleteApiKeyResponse {})
    }
    async fn authenticate(
        &self,
        _: Request<id::AuthenticateRequest>,
    ) -> Result<Response<id::User>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}

async fn serve(fake: FakeIdentity) -> SocketAddr {
    crate::test_server::serve(
        tonic::transport::Server::builder().add_service(IdentityServer::new(fake)),
    )
    .await
}

fn cli(addr: SocketAddr, args: &[&str]) -> Cli {
    let url = format!("http://{addr}");
    let all = ["execenvctl", "--registry", url.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    Cli::try_parse_from(all).unwrap()
}

#[tokio::test]
async fn users_create_sends_the_role_and_names_and_prints_the_user() {
    let fake = FakeIdentity::default();
    let addr = serve(fake.clone()).await;
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
    let addr = serve(fake.clone()).await;
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
    let addr = crate::test_server::closed_address().await;
    let e = run(cli(addr, &["users", "update", "alice"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("nothing to update"), "{}", e.message);
}

#[tokio::test]
async fn users_list_is_a_table_with_a_count_or_a_json_array() {
    let addr = serve(FakeIdentity::default()).await;
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
    let addr = serve(fake.clone()).await;
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
    let addr = serve(FakeIdentity::default()).await;
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
    let addr = serve(fake.clone()).await;
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
    assert!(listed.stdout.contains("staff  2 "), "{}", listed.stdout);
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
    let addr = serve(FakeIdentity::default()).await;
    let e = run(cli(
        addr,
        &["--as-user", "p", "--as-role", "publisher", "users", "list"],
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert_eq!(render::exit_code(&e), 1);
}

#[test]
fn users_create_needs_a_role_and_keys_create_a_name() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("execenvctl").chain(args.iter().copied()))
    };
    assert!(parse(&["users", "create", "alice"]).is_err());
    assert!(parse(&["users", "create", "alice", "--role", "owner"]).is_err());
    assert!(parse(&["keys", "create", "alice"]).is_err());
    assert!(parse(&["keys", "create", "alice", "--name", "ci"]).is_ok());
}
