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
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
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
    id::AuthenticateRequest { key: key.into() }
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
