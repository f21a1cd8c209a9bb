//! The registry served in-process on port 0 and driven through its real gRPC client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use execenv_client::IdentityInterceptor;
use execenv_core::{Actor, ChangeSource, ManagedBy};
use execenv_environment_registry::{Config, Running, start};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::registry::v1::watch_environments_response::Kind;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = RegistryClient<InterceptedService<Channel, IdentityInterceptor>>;

struct Registry {
    running: Running,
    db_url: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    async fn start() -> Registry {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config)) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("registry.db").display());
        let mut config = Config::default();
        config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.server.admin_addr = "127.0.0.1:0".parse().unwrap();
        config.database.url = db_url.clone().into();
        config.watch.poll_interval_ms = 50;
        tweak(&mut config);
        let running = start(config, Shutdown::new())
            .await
            .expect("registry starts");
        let r = Registry {
            running,
            db_url,
            _dir: dir,
        };
        r.wait_ready().await;
        r
    }

    async fn wait_ready(&self) {
        let health = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        eventually(|| {
            let mut health = health.clone();
            async move {
                health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: "execenv.registry.v1.Registry".into(),
                    })
                    .await
                    .is_ok_and(|r| {
                        r.into_inner().status
                            == tonic_health::pb::health_check_response::ServingStatus::Serving
                                as i32
                    })
            }
        })
        .await;
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.running.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn client(&self, identity: IdentityInterceptor) -> Client {
        RegistryClient::with_interceptor(self.channel().await, identity)
    }

    async fn admin(&self) -> Client {
        self.client(IdentityInterceptor::service(None)).await
    }

    /// Creates a user (publisher) and returns their guid.
    async fn user(&self, username: &str) -> String {
        IdentityClient::with_interceptor(self.channel().await, IdentityInterceptor::service(None))
            .create_user(id::CreateUserRequest {
                username: username.into(),
                role: "publisher".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .guid
    }

    /// Creates a group and returns its guid.
    async fn group(&self, name: &str) -> String {
        IdentityClient::with_interceptor(self.channel().await, IdentityInterceptor::service(None))
            .create_group(id::CreateGroupRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
            .guid
    }

    async fn stop(self) {
        self.running.shutdown.trigger();
        self.running.done.await.unwrap().unwrap();
    }
}

async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 10 s"
        );
    }
}

fn spec(name: &str, title: &str) -> pb::EnvironmentSpec {
    pb::EnvironmentSpec {
        name: name.into(),
        title: Some(title.into()),
        python: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: "3.11.9".into(),
                path: "/opt/python/3.11.9/bin/python3".into(),
            }],
        }),
        ..Default::default()
    }
}

async fn create(c: &mut Client, name: &str, title: &str) -> pb::Environment {
    c.create_environment(reg::CreateEnvironmentRequest {
        environment: Some(spec(name, title)),
    })
    .await
    .expect("create")
    .into_inner()
}

async fn get(c: &mut Client, guid: &str) -> pb::Environment {
    c.get_environment(reg::GetEnvironmentRequest {
        guid: guid.to_owned(),
    })
    .await
    .expect("get")
    .into_inner()
}

/// A watch of the catalogue from `from_revision`.
async fn watch(
    c: &mut Client,
    from_revision: i64,
) -> tonic::Streaming<reg::WatchEnvironmentsResponse> {
    c.watch_environments(reg::WatchEnvironmentsRequest { from_revision })
        .await
        .expect("watch")
        .into_inner()
}

fn publisher(user: &str, groups: &[&str]) -> IdentityInterceptor {
    IdentityInterceptor {
        user: Some(user.into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        role: Some(execenv_core::Role::Publisher),
        token: None,
    }
}

#[tokio::test]
async fn watch_resumed_from_last_revision_delivers_every_change_exactly_once() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let a = create(&mut c, "ghcr.io/acme/a:1", "A").await;

    // First session: the catalogue (A), then live changes.
    let mut stream = watch(&mut c, 0).await;
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (first.kind, first.environment_guid.as_str()),
        (Kind::Snapshot as i32, a.guid.as_str())
    );
    let synced = stream.next().await.unwrap().unwrap();
    assert_eq!(synced.kind, Kind::Synced as i32);
    let b = create(&mut c, "ghcr.io/acme/b:1", "B").await;
    let live = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (live.kind, live.environment_guid.as_str()),
        (Kind::Upsert as i32, b.guid.as_str())
    );
    let mut seen = vec![live.revision];
    let last = live.revision;
    drop(stream);

    // While disconnected: update A, delete B, create C.
    c.update_environment(reg::UpdateEnvironmentRequest {
        guid: a.guid.clone(),
        environment: Some(pb::EnvironmentSpec {
            title: Some("A2".into()),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        expected_revision: 0,
    })
    .await
    .unwrap();
    c.delete_environment(reg::DeleteEnvironmentRequest {
        guid: b.guid.clone(),
        expected_revision: 0,
    })
    .await
    .unwrap();
    let cc = create(&mut c, "ghcr.io/acme/c:1", "C").await;

    // Second session resumes from the last revision it saw.
    let mut stream = watch(&mut c, last).await;
    let mut got = Vec::new();
    loop {
        let ev = stream.next().await.unwrap().unwrap();
        if ev.kind == Kind::Synced as i32 {
            break;
        }
        got.push((ev.kind, ev.environment_guid.clone(), ev.revision));
    }
    assert_eq!(
        got.iter()
            .map(|(k, g, _)| (*k, g.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (Kind::Upsert as i32, a.guid.as_str()),
            (Kind::Delete as i32, b.guid.as_str()),
            (Kind::Upsert as i32, cc.guid.as_str())
        ]
    );
    seen.extend(got.iter().map(|(_, _, rev)| *rev));
    // A change after resuming arrives live, once.
    let d = create(&mut c, "ghcr.io/acme/d:1", "D").await;
    let ev = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (ev.kind, ev.environment_guid.as_str()),
        (Kind::Upsert as i32, d.guid.as_str())
    );
    seen.push(ev.revision);
    // Every revision once, contiguous, none repeated.
    let expected: Vec<i64> = (seen[0]..seen[0] + seen.len() as i64).collect();
    assert_eq!(seen, expected);
    drop(stream);
    r.stop().await;
}

/// The value of a metric on the registry's admin port (0 when absent).
async fn metric(r: &Registry, name: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut http = tokio::net::TcpStream::connect(r.running.admin_addr)
        .await
        .unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).await.unwrap();
    response
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_watcher_that_falls_behind_a_large_sync_gets_every_change_once_in_order() {
    const N: usize = 3_000;
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let mut stream = watch(&mut c, 0).await;
    let synced = stream.next().await.unwrap().unwrap();
    assert_eq!(synced.kind, Kind::Synced as i32);
    let applied = c
        .apply_managed_set(reg::ApplyManagedSetRequest {
            definitions: (0..N)
                .map(|i| spec(&format!("ghcr.io/acme/many-{i}:1"), "many"))
                .collect(),
            dry_run: false,
            field_prefix: String::new(),
            fence: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.created.len(), N);
    // Read nothing until the feed has broadcast every change: far more than the watch buffers,
    // so this watcher falls behind and has to catch up from the log.
    eventually(|| async {
        metric(&r, "execenv_registry_revision").await >= applied.revision as f64
    })
    .await;
    let mut revisions = Vec::with_capacity(N);
    while revisions.len() < N {
        let ev = stream.next().await.unwrap().unwrap();
        assert_eq!(ev.kind, Kind::Upsert as i32);
        revisions.push(ev.revision);
    }
    let expected: Vec<i64> = (synced.revision + 1..=applied.revision).collect();
    assert_eq!(revisions, expected);
    drop(stream);
    r.stop().await;
}

/// The guids a sync gives the environments it creates are random (version 4), and ascend in
/// the order of the file, as do their revisions: the catalogue's guid indexes grow at their end.
#[tokio::test]
async fn a_sync_gives_the_environments_it_creates_ascending_random_guids_in_file_order() {
    const N: usize = 40;
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let names: Vec<String> = (0..N)
        .map(|i| format!("ghcr.io/acme/ordered-{i}:1"))
        .collect();
    let applied = c
        .apply_managed_set(reg::ApplyManagedSetRequest {
            definitions: names.iter().map(|name| spec(name, "ordered")).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let created: Vec<&str> = applied.created.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(created, names);
    let guids: Vec<uuid::Uuid> = applied
        .created
        .iter()
        .map(|p| uuid::Uuid::parse_str(&p.guid).unwrap())
        .collect();
    assert!(guids.iter().all(|g| g.get_version_num() == 4), "{guids:?}");
    assert!(guids.windows(2).all(|w| w[0] < w[1]), "{guids:?}");
    let mut by_revision = Vec::with_capacity(N);
    for guid in &guids {
        by_revision.push(get(&mut c, &guid.to_string()).await.revision);
    }
    assert!(
        by_revision.windows(2).all(|w| w[0] < w[1]),
        "{by_revision:?}"
    );
    r.stop().await;
}

#[tokio::test]
async fn watch_from_a_compacted_revision_is_out_of_range() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let a = create(&mut c, "ghcr.io/acme/a:1", "A").await;
    create(&mut c, "ghcr.io/acme/b:1", "B").await;
    create(&mut c, "ghcr.io/acme/c:1", "C").await;
    let store = execenv_store::open(&r.db_url).await.unwrap();
    let deleted = store
        .compact_changes(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(deleted, 2, "all but the newest change are compacted");
    let err = c
        .watch_environments(reg::WatchEnvironmentsRequest {
            from_revision: a.revision,
        })
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::OutOfRange);
    assert!(err.message().contains("re-list"), "{}", err.message());
    // Watching from 0 still works: the catalogue itself is intact.
    let mut stream = watch(&mut c, 0).await;
    let mut snapshot = 0;
    while let Some(ev) = stream.next().await {
        let ev = ev.unwrap();
        if ev.kind == Kind::Synced as i32 {
            break;
        }
        snapshot += 1;
    }
    assert_eq!(snapshot, 3);
    drop(stream);
    r.stop().await;
}

#[tokio::test]
async fn file_managed_environment_refuses_update_and_delete_but_accepts_permissions() {
    let r = Registry::start().await;
    let store = execenv_store::open(&r.db_url).await.unwrap();
    let (_, spec) =
        execenv_core::validate::validate_new(&execenv_core::validate::EnvironmentDraft {
            name: Some("ghcr.io/acme/managed:1".into()),
            ..Default::default()
        })
        .unwrap();
    let guid = uuid::Uuid::new_v4();
    store
        .create_environment(
            guid,
            &spec,
            Some(ManagedBy::ConfigFile),
            &Actor {
                name: "config-sync".into(),
                source: ChangeSource::ConfigFile,
            },
        )
        .await
        .unwrap();
    let mut c = r.admin().await;
    let err = c
        .update_environment(reg::UpdateEnvironmentRequest {
            guid: guid.to_string(),
            environment: Some(pb::EnvironmentSpec {
                title: Some("x".into()),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("managed by the configuration file"),
        "{}",
        err.message()
    );
    let err = c
        .delete_environment(reg::DeleteEnvironmentRequest {
            guid: guid.to_string(),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let alice = r.user("alice").await;
    c.add_permission(reg::AddPermissionRequest {
        environment_guid: guid.to_string(),
        user_guid: Some(alice),
        group_guid: None,
    })
    .await
    .expect("permissions of a managed environment can change");
    let env = get(&mut c, &guid.to_string()).await;
    assert_eq!(env.managed_by.as_deref(), Some("config-file"));
    assert_eq!(env.permissions.len(), 1);
    r.stop().await;
}

#[tokio::test]
async fn invalid_create_reports_every_violation_and_changes_nothing() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let bad = pb::EnvironmentSpec {
        name: "Not A Valid/Image".into(),
        matching: Some("sometimes".into()),
        supervisor: Some("relative/sup.sh".into()),
        python: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: "3.11".into(),
                path: "python3".into(),
            }],
        }),
        ..Default::default()
    };
    let err = c
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(bad),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let e = execenv_client::from_status(&err);
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "matching",
            "supervisor",
            "python.installations[0].version",
            "python.installations[0].path"
        ]
    );
    let list = c
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_count, 0);
    let changes = c
        .list_changes(reg::ListChangesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(changes.changes.is_empty());
    r.stop().await;
}

#[tokio::test]
async fn update_cannot_change_the_image_name() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let a = create(&mut c, "ghcr.io/acme/a:1", "A").await;
    let err = c
        .update_environment(reg::UpdateEnvironmentRequest {
            guid: a.guid.clone(),
            environment: Some(pb::EnvironmentSpec {
                name: "ghcr.io/acme/other:2".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("cannot be changed"),
        "{}",
        err.message()
    );
    r.stop().await;
}

#[tokio::test]
async fn publishers_see_only_environments_they_may_use_and_viewers_nothing() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let open = create(&mut c, "ghcr.io/acme/open:1", "Open").await;
    let team = create(&mut c, "ghcr.io/acme/team:1", "Team").await;
    let other = create(&mut c, "ghcr.io/acme/other:1", "Other").await;
    let data_science = r.group("data-science").await;
    let bob = r.user("bob").await;
    let alice = r.user("alice").await;
    c.add_permission(reg::AddPermissionRequest {
        environment_guid: team.guid.clone(),
        user_guid: None,
        group_guid: Some(data_science.clone()),
    })
    .await
    .unwrap();
    c.add_permission(reg::AddPermissionRequest {
        environment_guid: other.guid.clone(),
        user_guid: Some(bob),
        group_guid: None,
    })
    .await
    .unwrap();

    let mut alice = r.client(publisher(&alice, &[&data_science])).await;
    let list = alice
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut titles: Vec<_> = list
        .environments
        .iter()
        .filter_map(|e| e.title.clone())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Open", "Team"]);
    assert_eq!(list.total_count, 2);
    let err = alice
        .get_environment(reg::GetEnvironmentRequest {
            guid: other.guid.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    alice
        .get_environment(reg::GetEnvironmentRequest {
            guid: open.guid.clone(),
        })
        .await
        .expect("open environment is visible");
    let err = alice
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(spec("ghcr.io/acme/x:1", "X")),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut viewer = r
        .client(IdentityInterceptor {
            user: Some("vic".into()),
            groups: vec![],
            role: Some(execenv_core::Role::Viewer),
            token: None,
        })
        .await;
    let err = viewer
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    r.stop().await;
}

#[tokio::test]
async fn a_permission_naming_no_user_or_group_is_refused_and_changes_nothing() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let env = create(&mut c, "ghcr.io/acme/team:1", "Team").await;
    let alice = r.user("alice").await;
    let staff = r.group("staff").await;
    let unknown = "6f1c2b7a-3d4e-4f50-8a9b-0c1d2e3f4a5b";
    let cases = [
        (
            Some("AAA"),
            None,
            "user_guid: \"AAA\" is not the guid of a user",
        ),
        (
            Some("nobody-at-all"),
            None,
            "user_guid: \"nobody-at-all\" is not the guid",
        ),
        (Some(unknown), None, "user_guid: no user has guid 6f1c2b7a"),
        (
            None,
            Some(unknown),
            "group_guid: no group has guid 6f1c2b7a",
        ),
        (
            Some("alice"),
            None,
            "user_guid: \"alice\" is the name of user \"alice\"",
        ),
        (
            None,
            Some("staff"),
            "group_guid: \"staff\" is the name of group \"staff\"",
        ),
    ];
    for (user, group, says) in cases {
        let err = c
            .add_permission(reg::AddPermissionRequest {
                environment_guid: env.guid.clone(),
                user_guid: user.map(Into::into),
                group_guid: group.map(Into::into),
            })
            .await
            .unwrap_err();
        let expected = if says.contains(": no ") {
            Code::NotFound
        } else {
            Code::InvalidArgument
        };
        assert_eq!(err.code(), expected, "{says}");
        assert!(err.message().contains(says), "{}", err.message());
    }
    let unchanged = c
        .list_permissions(reg::ListPermissionsRequest {
            environment_guid: env.guid.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.permissions, vec![]);
    for (user, group) in [(Some(alice.clone()), None), (None, Some(staff.clone()))] {
        c.add_permission(reg::AddPermissionRequest {
            environment_guid: env.guid.clone(),
            user_guid: user,
            group_guid: group,
        })
        .await
        .expect("an existing user or group is granted");
    }
    r.stop().await;
}

#[tokio::test]
async fn calls_without_the_configured_service_token_are_unauthenticated() {
    let r = Registry::start_with(|c| c.auth.service_token = Some("s3cret".into())).await;
    let mut anonymous = r.admin().await;
    let err = anonymous
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut service = r
        .client(IdentityInterceptor::service(Some("s3cret".into())))
        .await;
    service
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .expect("token accepted");
    r.stop().await;
}

#[tokio::test]
async fn health_is_not_serving_and_calls_unavailable_while_the_database_is_unreachable() {
    // Port 1 on loopback refuses connections: the database stays unavailable.
    let r = {
        let mut config = Config::default();
        config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.server.admin_addr = "127.0.0.1:0".parse().unwrap();
        config.database.url = "postgres://execenv@127.0.0.1:1/execenv".into();
        start(config, Shutdown::new()).await.unwrap()
    };
    let channel = Channel::from_shared(format!("http://{}", r.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "execenv.registry.v1.Registry".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    let mut c = RegistryClient::new(channel);
    let err = c
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.message().contains("migrations"), "{}", err.message());
    r.shutdown.trigger();
    r.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_sqlite_path_that_cannot_be_opened_stops_the_registry_with_the_reason() {
    let mut config = Config::default();
    config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    config.database.url = "sqlite:///nonexistent-execenv-folder/registry.db".into();
    let running = start(config, Shutdown::new()).await.unwrap();
    let err = running.done.await.unwrap().expect_err("the registry stops");
    let text = err.to_string();
    assert!(
        text.contains("nonexistent-execenv-folder") && text.contains("folder exists"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_completes_while_clients_keep_their_connections_and_watches_open() {
    let r = Registry::start().await;
    let mut idle = r.admin().await;
    create(&mut idle, "ghcr.io/acme/a:1", "A").await;
    let mut watcher = r.admin().await;
    let mut stream = watch(&mut watcher, 0).await;
    while let Some(ev) = stream.next().await {
        if ev.unwrap().kind == Kind::Synced as i32 {
            break;
        }
    }
    r.running.shutdown.trigger();
    // The idle client and the open watch must not hold the registry up.
    tokio::time::timeout(Duration::from_secs(5), r.running.done)
        .await
        .expect("the registry stops within 5 s")
        .unwrap()
        .unwrap();
    drop((idle, stream));
}

#[tokio::test]
async fn a_sync_from_a_deposed_leader_is_refused_logged_and_counted() {
    let r = Registry::start().await;
    let mut c = r.admin().await;
    let sync = |name: &str, holder: &str, term: i64| reg::ApplyManagedSetRequest {
        definitions: vec![spec(name, "fenced")],
        dry_run: false,
        field_prefix: String::new(),
        fence: Some(reg::SyncFence {
            lease: "execenv/execenv-config-sync".to_owned(),
            holder: holder.to_owned(),
            term,
        }),
    };
    // The successor (term 8) syncs; the deposed leader (term 7) then tries with its own file.
    let applied = c
        .apply_managed_set(sync("ghcr.io/acme/successor:1", "pod-b", 8))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.created.len(), 1);
    let refused = c
        .apply_managed_set(sync("ghcr.io/acme/deposed:1", "pod-a", 7))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused
            .message()
            .contains("already applied a sync of term 8 by pod-b"),
        "{refused:?}"
    );
    let listed = c
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["ghcr.io/acme/successor:1"]);
    assert_eq!(metric(&r, "execenv_registry_syncs_fenced_total").await, 1.0);

    // A fence without a Lease or holder, or with a negative term, is every problem at once.
    let bad = c
        .apply_managed_set(reg::ApplyManagedSetRequest {
            fence: Some(reg::SyncFence {
                lease: String::new(),
                holder: " ".to_owned(),
                term: -1,
            }),
            ..sync("ghcr.io/acme/bad:1", "x", 0)
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    for field in ["fence.lease", "fence.holder", "fence.term"] {
        assert!(bad.message().contains(field), "{field}: {bad:?}");
    }
    r.stop().await;
}

/// A sync request from a client that is not config-sync, whose second definition is not an
/// EnvironmentSpec message (cut short), is refused naming that definition, and nothing is
/// written — the first, valid one included.
#[tokio::test]
async fn a_sync_whose_definition_cannot_be_decoded_is_refused_at_its_place_and_changes_nothing() {
    use execenv_proto::apply::ReceivedApplyRequest;
    use prost::Message;

    let r = Registry::start().await;
    let request = ReceivedApplyRequest {
        definitions: vec![
            spec("ghcr.io/acme/good:1", "Good").encode_to_vec().into(),
            // Field 1 (the image name) announcing 127 bytes, and none following.
            prost::bytes::Bytes::from_static(&[0x0a, 0x7f]),
        ],
        rest: reg::ApplyManagedSetRequest {
            field_prefix: "executionEnvironments".to_owned(),
            ..Default::default()
        },
    };
    let service = InterceptedService::new(r.channel().await, IdentityInterceptor::service(None));
    let mut grpc = tonic::client::Grpc::new(service);
    grpc.ready().await.unwrap();
    let refused = grpc
        .unary(
            tonic::Request::new(request),
            http::uri::PathAndQuery::from_static("/execenv.registry.v1.Registry/ApplyManagedSet"),
            tonic_prost::ProstCodec::<ReceivedApplyRequest, reg::ApplyManagedSetResponse>::default(
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("executionEnvironments[1] is not an EnvironmentSpec message"),
        "{refused:?}"
    );
    assert!(
        !refused.message().contains("executionEnvironments[0]"),
        "{refused:?}"
    );
    let listed = r
        .admin()
        .await
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.environments.is_empty(), "{listed:?}");
    r.stop().await;
}
