//! The service in-process on port 0, over gRPC, with images in memory and a test double of the
//! registry's catalogue (`execenv_client::testing::FakeRegistry`): who may call what, the
//! statuses of unreadable images, the checks by list, get and watch, CheckNow and /metrics.
#![allow(clippy::unwrap_used)]

use execenv_client::testing::FakeRegistry;
use execenv_proto::environments::v1 as env_pb;
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use super::*;
use crate::testing::{DEADLINE, MemorySource, MemoryTree, environment, guid};
use crate::{Config, Running, start_with};

const TOKEN: &str = "s3cret";
const IMAGE: &str = "127.0.0.1:5000/python:3";

type Client = ImageExaminerClient<tonic::transport::Channel>;

fn config(registry_url: String) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    c.registry.url = registry_url;
    c.auth.service_token = Some(TOKEN.into());
    c
}

/// A request with the service token, acting for `role` (None: the service itself).
fn request<T>(message: T, role: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    let md = r.metadata_mut();
    md.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    if let Some(role) = role {
        md.insert("x-execenv-user", "alice".parse().unwrap());
        md.insert("x-execenv-role", role.parse().unwrap());
    }
    r
}

fn examine(image: &str) -> pb::ExamineRequest {
    pb::ExamineRequest {
        image: image.into(),
        ..Default::default()
    }
}

struct Served {
    fake: FakeRegistry,
    registry: execenv_client::testing::Served,
    running: Running,
    client: Client,
}

async fn serve(source: MemorySource, environments: &[execenv_core::Environment]) -> Served {
    let fake = FakeRegistry::new(Some(TOKEN));
    for e in environments {
        fake.upsert(env_pb::Environment::from(e));
    }
    let registry = fake.serve().await;
    let running = start_with(config(registry.url()), Shutdown::new(), source)
        .await
        .unwrap();
    let client = Client::connect(format!("http://{}", running.addr))
        .await
        .unwrap();
    Served {
        fake,
        registry,
        running,
        client,
    }
}

impl Served {
    async fn stop(self) {
        self.running.shutdown.trigger();
        self.running.done.await.unwrap();
        self.registry.stop().await;
    }

    /// Waits for the first round of checks, through a watch.
    async fn snapshot_complete(&mut self) {
        let mut watch = self
            .client
            .watch_checks(request(pb::WatchChecksRequest {}, None))
            .await
            .unwrap()
            .into_inner();
        loop {
            let event = tokio::time::timeout(DEADLINE, watch.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Some(pb::check_event::Event::SnapshotComplete(_)) = event.event {
                return;
            }
        }
    }

    /// One HTTP/1.1 GET of the admin port's /metrics.
    async fn metrics(&self) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.running.admin_addr)
            .await
            .unwrap();
        let get = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        stream.write_all(get.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }
}

#[tokio::test]
async fn administrators_examine_an_image_and_the_second_answer_is_cached() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut s = serve(source, &[]).await;

    let first = s
        .client
        .examine(request(examine(IMAGE), Some("administrator")))
        .await
        .unwrap()
        .into_inner()
        .examination
        .unwrap();
    assert_eq!(
        (first.image.as_str(), first.digest.as_str()),
        (IMAGE, "sha256:a")
    );
    assert_eq!(
        (first.platform.as_str(), first.layers, first.layer_bytes),
        ("linux/amd64", 2, 1000)
    );
    assert!(!first.cached);
    assert_eq!(first.installations.len(), 1);
    let python = &first.installations[0];
    assert_eq!(
        (
            python.language.as_str(),
            python.path.as_str(),
            python.version.as_str()
        ),
        ("python", "/opt/python/3.11.9/bin/python3", "3.11.9")
    );
    assert_eq!(
        python.version_file,
        "/opt/python/3.11.9/include/python3.11/patchlevel.h"
    );
    assert!(first.notes.is_empty(), "{:?}", first.notes);

    let again = s
        .client
        .examine(request(examine(IMAGE), None))
        .await
        .unwrap()
        .into_inner()
        .examination
        .unwrap();
    assert!(
        again.cached,
        "the service itself may examine too, and the digest was read"
    );
    s.stop().await;
}

#[tokio::test]
async fn examine_is_for_administrators_and_says_why_an_image_cannot_be_read() {
    let mut s = serve(MemorySource::default(), &[]).await;
    let denied = s
        .client
        .examine(request(examine(IMAGE), Some("publisher")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "examining an image requires the administrator role; user alice has the publisher role"
    );
    let no_token = s
        .client
        .examine(Request::new(examine(IMAGE)))
        .await
        .unwrap_err();
    assert_eq!(no_token.code(), Code::Unauthenticated);

    let missing = s
        .client
        .examine(request(examine("127.0.0.1:5000/gone:1"), None))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        missing.message(),
        "127.0.0.1:5000/gone:1 was not found in memory: no such repository or tag"
    );
    let empty = s
        .client
        .examine(request(examine("  "), None))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    s.stop().await;
}

#[tokio::test]
async fn publishers_read_the_checks_and_a_watch_starts_with_them() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut s = serve(source, &[environment(1, IMAGE, "3.12.4", 1)]).await;

    let mut watch = s
        .client
        .watch_checks(request(pb::WatchChecksRequest {}, Some("publisher")))
        .await
        .unwrap()
        .into_inner();
    let mut state = None;
    loop {
        let event = tokio::time::timeout(DEADLINE, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event.event.unwrap() {
            pb::check_event::Event::Check(c) => state = Some(c.state),
            pb::check_event::Event::SnapshotComplete(_) => break,
            pb::check_event::Event::RemovedGuid(g) => panic!("removed {g}"),
        }
    }
    assert_eq!(state, Some(pb::CheckState::Drift as i32));

    let list = s
        .client
        .list_checks(request(pb::ListChecksRequest {}, Some("publisher")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.interval_seconds, 300);
    assert_eq!(list.checks.len(), 1);
    let check = &list.checks[0];
    assert_eq!(check.guid, guid(1).to_string());
    assert_eq!(check.findings[0].kind, pb::FindingKind::Missing as i32);

    let got = s
        .client
        .get_check(request(
            pb::GetCheckRequest {
                guid: guid(1).to_string(),
            },
            Some("publisher"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&got, check);
    let unknown = s
        .client
        .get_check(request(
            pb::GetCheckRequest {
                guid: guid(9).to_string(),
            },
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // A fixed definition reaches the watch.
    s.fake.upsert(env_pb::Environment::from(&environment(
        1, IMAGE, "3.11.9", 2,
    )));
    loop {
        let event = tokio::time::timeout(DEADLINE, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(pb::check_event::Event::Check(c)) = event.event
            && c.state == pb::CheckState::Ok as i32
        {
            break;
        }
    }
    let metrics = s.metrics().await;
    for line in [
        "execenv_examiner_environments{state=\"ok\"} 1",
        "execenv_examiner_environments{state=\"drift\"} 0",
        "execenv_examiner_examinations_total{result=\"read\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    s.stop().await;
}

/// Environment `n` that only user `user` may use (one permission entry naming them).
fn restricted(n: u128, revision: i64, user: &str) -> execenv_core::Environment {
    let mut e = environment(n, IMAGE, "3.11.9", revision);
    e.permissions = vec![execenv_core::Permission {
        guid: guid(100 + n),
        environment_guid: e.guid,
        principal: execenv_core::Principal::User(user.to_owned()),
    }];
    e
}

/// The next event of `watch` that is not SNAPSHOT_COMPLETE.
async fn next_change(watch: &mut tonic::Streaming<pb::CheckEvent>) -> pb::check_event::Event {
    loop {
        let event = tokio::time::timeout(DEADLINE, watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        if !matches!(event, pb::check_event::Event::SnapshotComplete(_)) {
            return event;
        }
    }
}

#[tokio::test]
async fn viewers_are_refused_the_checks_and_publishers_see_only_the_environments_they_may_use() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut s = serve(
        source,
        &[environment(1, IMAGE, "3.11.9", 1), restricted(2, 1, "bob")],
    )
    .await;
    s.snapshot_complete().await;

    let viewer = "reading the checks of environments requires the publisher or administrator role; user alice is a viewer";
    let list = s
        .client
        .list_checks(request(pb::ListChecksRequest {}, Some("viewer")))
        .await
        .unwrap_err();
    assert_eq!(
        (list.code(), list.message()),
        (Code::PermissionDenied, viewer)
    );
    let get = pb::GetCheckRequest {
        guid: guid(1).to_string(),
    };
    let got = s
        .client
        .get_check(request(get.clone(), Some("viewer")))
        .await
        .unwrap_err();
    assert_eq!(
        (got.code(), got.message()),
        (Code::PermissionDenied, viewer)
    );
    let watch = s
        .client
        .watch_checks(request(pb::WatchChecksRequest {}, Some("viewer")))
        .await
        .unwrap_err();
    assert_eq!(
        (watch.code(), watch.message()),
        (Code::PermissionDenied, viewer)
    );

    // alice, a publisher, is not named by environment 2: as the registry, it does not exist.
    let guids = |checks: &[pb::EnvironmentCheck]| -> Vec<String> {
        checks.iter().map(|c| c.guid.clone()).collect()
    };
    let alices = s
        .client
        .list_checks(request(pb::ListChecksRequest {}, Some("publisher")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(guids(&alices.checks), vec![guid(1).to_string()]);
    let hidden = s
        .client
        .get_check(request(
            pb::GetCheckRequest {
                guid: guid(2).to_string(),
            },
            Some("publisher"),
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let everyone = s
        .client
        .list_checks(request(pb::ListChecksRequest {}, Some("administrator")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        guids(&everyone.checks),
        vec![guid(1).to_string(), guid(2).to_string()]
    );

    let mut watch = s
        .client
        .watch_checks(request(pb::WatchChecksRequest {}, Some("publisher")))
        .await
        .unwrap()
        .into_inner();
    match next_change(&mut watch).await {
        pb::check_event::Event::Check(c) => assert_eq!(c.guid, guid(1).to_string()),
        other => panic!("expected environment 1's check, got {other:?}"),
    }
    // Permitted now: the watch shows it; no longer: the watch says it is gone.
    s.fake
        .upsert(env_pb::Environment::from(&restricted(2, 2, "alice")));
    match next_change(&mut watch).await {
        pb::check_event::Event::Check(c) => assert_eq!(c.guid, guid(2).to_string()),
        other => panic!("expected environment 2's check, got {other:?}"),
    }
    s.fake
        .upsert(env_pb::Environment::from(&restricted(2, 3, "bob")));
    assert_eq!(
        next_change(&mut watch).await,
        pb::check_event::Event::RemovedGuid(guid(2).to_string())
    );
    s.stop().await;
}

#[tokio::test]
async fn check_now_is_for_administrators_and_answers_with_every_check() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut s = serve(source.clone(), &[environment(1, IMAGE, "3.12.4", 1)]).await;

    let denied = s
        .client
        .check_now(request(pb::CheckNowRequest {}, Some("publisher")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    s.snapshot_complete().await;
    source.tag(IMAGE, "sha256:b", MemoryTree::python("3.12.4"));
    let checks = s
        .client
        .check_now(request(pb::CheckNowRequest {}, Some("administrator")))
        .await
        .unwrap()
        .into_inner()
        .checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].state, pb::CheckState::Ok as i32);
    assert_eq!(checks[0].digest, "sha256:b");
    s.stop().await;
}
