//! The Identity service served in-process (next to the Registry, on port 0) and driven through
//! its real gRPC client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use execenv_client::IdentityInterceptor;
use execenv_core::Role;
use execenv_environment_registry::{Config, Running, start};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

type Client = IdentityClient<InterceptedService<Channel, IdentityInterceptor>>;

/// A registry on a temporary SQLite file, ready (its Identity health is SERVING).
struct Registry {
    running: Running,
    _dir: tempfile::TempDir,
}

impl Registry {
    async fn start(token: Option<&str>) -> Registry {
        Registry::start_with(token, Config::default()).await
    }

    async fn start_with(token: Option<&str>, mut config: Config) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.server.admin_addr = "127.0.0.1:0".parse().unwrap();
        config.database.url =
            format!("sqlite://{}", dir.path().join("registry.db").display()).into();
        config.auth.service_token = token.map(Into::into);
        let running = start(config, Shutdown::new())
            .await
            .expect("registry starts");
        let r = Registry { running, _dir: dir };
        let health = tonic_health::pb::health_client::HealthClient::new(r.channel().await);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let status = health
                .clone()
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "execenv.identity.v1.Identity".into(),
                })
                .await
                .map(|r| r.into_inner().status);
            if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready within 10 s"
            );
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.running.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn client(&self, identity: IdentityInterceptor) -> Client {
        IdentityClient::with_interceptor(self.channel().await, identity)
    }

    async fn service(&self) -> Client {
        self.client(IdentityInterceptor::service(None)).await
    }

    async fn person(&self, role: Role) -> Client {
        self.client(IdentityInterceptor {
            user: Some("someone".into()),
            role: Some(role),
            ..IdentityInterceptor::default()
        })
        .await
    }

    async fn stop(self) {
        self.running.shutdown.trigger();
        self.running.done.await.unwrap().unwrap();
    }
}

fn new_user(username: &str, role: &str) -> id::CreateUserRequest {
    id::CreateUserRequest {
        username: username.into(),
        role: role.into(),
        email: Some(format!("{username}@example.com")),
        first_name: None,
        last_name: None,
    }
}

fn authenticate(key: &str) -> id::AuthenticateRequest {
    id::AuthenticateRequest {
        key: key.into(),
        client_address: "127.0.0.1".into(),
    }
}

fn authenticate_from(key: &str, client: &str) -> id::AuthenticateRequest {
    id::AuthenticateRequest {
        key: key.into(),
        client_address: client.into(),
    }
}

async fn security_events(c: &mut Client, kinds: &[&str]) -> Vec<id::SecurityEvent> {
    c.list_security_events(id::ListSecurityEventsRequest {
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
}

#[tokio::test]
async fn refused_keys_from_one_client_make_one_sign_in_failures_event() {
    let mut config = Config::default();
    config.identity.failed_sign_in_threshold = 3;
    config.identity.failed_sign_in_window_s = 300;
    let r = Registry::start_with(None, config).await;
    let mut c = r.service().await;
    c.create_user(new_user("alice", "publisher")).await.unwrap();
    let key = c
        .create_api_key(id::CreateApiKeyRequest {
            user: "alice".into(),
            name: "laptop".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .key;
    let wrong = format!("{}x", &key[..key.len() - 1]);
    for (presented, client) in [
        (wrong.as_str(), "192.0.2.7"),
        ("not a key", "192.0.2.7"),
        (wrong.as_str(), "192.0.2.8"),
        (key.as_str(), "192.0.2.7"),
        (wrong.as_str(), "192.0.2.8"),
    ] {
        let _ = c.authenticate(authenticate_from(presented, client)).await;
    }
    assert_eq!(security_events(&mut c, &["sign_in_failures"]).await, vec![]);
    let refused = c
        .authenticate(authenticate_from(&wrong, "192.0.2.7"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let events = security_events(&mut c, &["sign_in_failures"]).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (
            e.kind.as_str(),
            e.actor.as_str(),
            e.client_address.as_deref(),
            e.failures
        ),
        ("sign_in_failures", "", Some("192.0.2.7"), Some(3))
    );
    // The count starts again: two more failures make no second event.
    for _ in 0..2 {
        let _ = c.authenticate(authenticate_from(&wrong, "192.0.2.7")).await;
    }
    assert_eq!(
        security_events(&mut c, &["sign_in_failures"]).await.len(),
        1
    );
    r.stop().await;
}

#[tokio::test]
async fn key_changes_are_security_events_that_only_administrators_read() {
    let r = Registry::start(None).await;
    let mut c = r.service().await;
    let alice = c
        .create_user(new_user("alice", "publisher"))
        .await
        .unwrap()
        .into_inner();
    let created = c
        .create_api_key(id::CreateApiKeyRequest {
            user: "alice".into(),
            name: "laptop".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .api_key
        .unwrap();
    let mut admin = r.person(Role::Administrator).await;
    admin
        .disable_api_key(id::DisableApiKeyRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
    let events = security_events(&mut admin, &[]).await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.actor.as_str(),
                e.user_guid.as_deref(),
                e.api_key_id.as_deref(),
                e.api_key_prefix.as_deref(),
                e.revocation.as_deref(),
            )
        })
        .collect();
    let key = Some(created.id.as_str());
    let prefix = Some(created.prefix.as_str());
    assert_eq!(
        summary,
        vec![
            (
                "api_key_created",
                "service",
                Some(alice.guid.as_str()),
                key,
                prefix,
                None
            ),
            (
                "api_key_revoked",
                "someone",
                Some(alice.guid.as_str()),
                key,
                prefix,
                Some("disabled")
            ),
        ]
    );
    assert!(events[0].id < events[1].id);
    // Paged: one event a page, the token resumes after the last id.
    let first = admin
        .list_security_events(id::ListSecurityEventsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events, events[..1]);
    let second = admin
        .list_security_events(id::ListSecurityEventsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.events, events[1..]);

    for role in [Role::Publisher, Role::Viewer] {
        let refused = r
            .person(role)
            .await
            .list_security_events(id::ListSecurityEventsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{role:?}");
    }
    let bad = admin
        .list_security_events(id::ListSecurityEventsRequest {
            kinds: vec!["key_stolen".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("api_key_created"),
        "{}",
        bad.message()
    );
    r.stop().await;
}

#[tokio::test]
async fn a_key_authenticates_its_user_with_groups_until_it_is_disabled() {
    let r = Registry::start(None).await;
    let mut c = r.service().await;
    let alice = c
        .create_user(new_user("alice", "publisher"))
        .await
        .unwrap()
        .into_inner();
    let staff = c
        .create_group(id::CreateGroupRequest {
            name: "staff".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let group = c
        .add_group_member(id::GroupMemberRequest {
            group: "staff".into(),
            user: alice.guid.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(group.member_guids, vec![alice.guid.clone()]);
    let created = c
        .create_api_key(id::CreateApiKeyRequest {
            user: "alice".into(),
            name: "laptop".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        created.key.starts_with("ee_") && created.key.len() == 46,
        "{}",
        created.key
    );
    let listed = created.api_key.unwrap();
    assert!(created.key.starts_with(&listed.prefix));
    assert!(listed.last_used_time.is_none());

    let user = c
        .authenticate(authenticate(&created.key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user.guid, alice.guid);
    assert_eq!(user.role, "publisher");
    assert_eq!(user.group_guids, vec![staff.guid]);
    let keys = c
        .list_api_keys(id::ListApiKeysRequest {
            user: Some("alice".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].last_used_time.is_some(), "the use is recorded");

    c.disable_api_key(id::DisableApiKeyRequest {
        id: listed.id.clone(),
    })
    .await
    .unwrap();
    let disabled = c
        .authenticate(authenticate(&created.key))
        .await
        .unwrap_err();
    let unknown = c
        .authenticate(authenticate(&format!("ee_{}", "A".repeat(43))))
        .await
        .unwrap_err();
    let malformed = c.authenticate(authenticate("not a key")).await.unwrap_err();
    for e in [&disabled, &unknown, &malformed] {
        assert_eq!(e.code(), Code::Unauthenticated);
        // The same words whatever the reason.
        assert_eq!(e.message(), disabled.message());
    }
    r.stop().await;
}

#[tokio::test]
async fn a_disabled_user_cannot_authenticate_and_deleting_them_deletes_their_keys() {
    let r = Registry::start(None).await;
    let mut c = r.service().await;
    c.create_user(new_user("bob", "viewer")).await.unwrap();
    let key = c
        .create_api_key(id::CreateApiKeyRequest {
            user: "bob".into(),
            name: "ci".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .key;
    c.authenticate(authenticate(&key)).await.unwrap();
    let update = id::UpdateUserRequest {
        user: "bob".into(),
        disabled: Some(true),
        ..id::UpdateUserRequest::default()
    };
    assert!(c.update_user(update).await.unwrap().into_inner().disabled);
    let e = c.authenticate(authenticate(&key)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    c.delete_user(id::DeleteUserRequest { user: "bob".into() })
        .await
        .unwrap();
    let keys = c
        .list_api_keys(id::ListApiKeysRequest { user: None })
        .await
        .unwrap();
    assert!(keys.into_inner().api_keys.is_empty());
    let e = c
        .get_user(id::GetUserRequest { user: "bob".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    r.stop().await;
}

#[tokio::test]
async fn invalid_users_are_refused_with_every_violation() {
    let r = Registry::start(None).await;
    let mut c = r.service().await;
    let mut bad = new_user("-x y", "owner");
    bad.email = Some("nowhere".into());
    let e = c.create_user(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let err = execenv_client::from_status(&e);
    let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["username", "username", "role", "email"]);
    c.create_user(new_user("alice", "viewer")).await.unwrap();
    let e = c
        .create_user(new_user("alice", "viewer"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert!(e.message().contains("\"alice\""), "{}", e.message());
    assert!(
        c.list_users(id::ListUsersRequest {})
            .await
            .unwrap()
            .into_inner()
            .users
            .len()
            == 1
    );
    r.stop().await;
}

#[tokio::test]
async fn only_administrators_manage_accounts() {
    let r = Registry::start(None).await;
    for role in [Role::Publisher, Role::Viewer] {
        let mut c = r.person(role).await;
        let e = c
            .create_user(new_user("eve", "administrator"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role:?}");
        let e = c
            .list_api_keys(id::ListApiKeysRequest { user: None })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role:?}");
    }
    let mut admin = r.person(Role::Administrator).await;
    admin.create_user(new_user("eve", "viewer")).await.unwrap();
    r.stop().await;
}

#[tokio::test]
async fn authenticate_is_for_the_calling_service_only() {
    let r = Registry::start(None).await;
    let mut admin = r.person(Role::Administrator).await;
    let e = admin.authenticate(authenticate("ee_x")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("without identity headers"),
        "{}",
        e.message()
    );
    r.stop().await;
}

#[tokio::test]
async fn calls_without_the_configured_service_token_are_unauthenticated() {
    let r = Registry::start(Some("s3cret")).await;
    let e = r
        .service()
        .await
        .list_users(id::ListUsersRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut c = r
        .client(IdentityInterceptor::service(Some("s3cret".into())))
        .await;
    c.list_users(id::ListUsersRequest {}).await.unwrap();
    r.stop().await;
}
