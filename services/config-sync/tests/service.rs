//! config-sync in-process on port 0 against the test double of the registry
//! (`execenv_client::testing::FakeRegistry`) served over gRPC: the first sync, the
//! Status and Plan RPCs, the sync of a change, the token, and the legacy bootstrap. The real
//! registry is exercised through the binaries in e2e/.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use execenv_client::testing::FakeRegistry;
use execenv_config_sync::{Config, Running, start};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::sync::v1 as sync_pb;
use execenv_proto::sync::v1::config_sync_client::ConfigSyncClient;
use tonic::Request;

const DEADLINE: Duration = Duration::from_secs(10);

fn config(registry: SocketAddr, file: Option<PathBuf>, legacy: Option<PathBuf>) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    c.registry.url = format!("http://{registry}");
    c.sync.file = file;
    c.sync.legacy_file = legacy;
    c.sync.poll_interval_ms = 50;
    c.sync.debounce_ms = 10;
    c.auth.service_token = Some("tok".into());
    c
}

async fn client(running: &Running) -> ConfigSyncClient<tonic::transport::Channel> {
    ConfigSyncClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap()
}

fn with_token<T>(message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", "Bearer tok".parse().unwrap());
    r
}

/// `message` with the token and the identity headers of user `vera` in `role`.
fn as_role<T>(role: &str, message: T) -> Request<T> {
    let mut r = with_token(message);
    r.metadata_mut()
        .insert("x-execenv-user", "vera".parse().unwrap());
    r.metadata_mut()
        .insert("x-execenv-role", role.parse().unwrap());
    r
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn start_syncs_the_file_reports_status_and_syncs_each_change() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let addr = served.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    write(&file, "- name: ghcr.io/a/one:1\n");
    let running = start(config(addr, Some(file.clone()), None), Shutdown::new())
        .await
        .unwrap();

    {
        let applies = fake.applies();
        assert_eq!(applies.len(), 1);
        assert_eq!(applies[0].1.as_deref(), Some("Bearer tok"));
        assert_eq!(applies[0].0.field_prefix, "executionEnvironments");
    }
    let mut c = client(&running).await;
    let s = c
        .status(with_token(sync_pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.outcome, "ok");
    assert_eq!(s.managed_count, 1);
    assert_eq!(s.file, file.display().to_string());
    assert_eq!(s.digest.len(), 64);
    assert!(s.last_success_time.is_some());

    let denied = c.status(sync_pb::StatusRequest {}).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    // Viewers may not see environments, so not what a sync did to them either (as REST `/sync`).
    let viewer = c
        .status(as_role("viewer", sync_pb::StatusRequest {}))
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        viewer.message(),
        "reading config-sync's status requires the publisher or administrator role; user vera is a viewer"
    );
    let publisher = c
        .status(as_role("publisher", sync_pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(publisher.managed_count, 1);

    write(&file, "- name: ghcr.io/a/one:1\n- name: ghcr.io/a/two:1\n");
    let mut status = running.state.clone();
    tokio::time::timeout(DEADLINE, status.wait_for(|s| s.managed_count == 2))
        .await
        .expect("the change was not synced in time")
        .unwrap();
    let s = c
        .status(with_token(sync_pb::StatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.outcome.as_str(), s.managed_count), ("ok", 2));

    running.shutdown.trigger();
    tokio::time::timeout(DEADLINE, running.done)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn plan_rpc_returns_the_registrys_dry_run_of_the_current_file() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let addr = served.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    write(&file, "[]\n");
    let running = start(config(addr, Some(file.clone()), None), Shutdown::new())
        .await
        .unwrap();
    // The next sync would see this; the plan reads it now.
    write(&file, "- name: ghcr.io/a/planned:1\n");
    let plan = client(&running)
        .await
        .plan(with_token(sync_pb::PlanRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(plan.dry_run);
    assert_eq!(plan.created[0].name, "ghcr.io/a/planned:1");
    assert!(fake.applies().iter().any(|(r, _)| r.dry_run));
    running.shutdown.trigger();
}

#[tokio::test]
async fn a_legacy_file_alone_bootstraps_once_at_startup() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let addr = served.addr;
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("runtime.yaml");
    write(
        &legacy,
        "name: Kubernetes\nimages:\n  - name: ghcr.io/a/old:1\n",
    );
    let running = start(config(addr, None, Some(legacy)), Shutdown::new())
        .await
        .unwrap();
    let sent = fake.bootstraps();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].definitions[0].name, "ghcr.io/a/old:1");
    assert_eq!(
        sent[0].definitions[0].cluster_name.as_deref(),
        Some("Kubernetes")
    );
    assert!(fake.applies().is_empty());
    assert_eq!(running.state.borrow().outcome.as_str(), "never");
    running.shutdown.trigger();
}

#[tokio::test]
async fn with_both_files_only_the_declarative_one_is_used() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let addr = served.addr;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    let legacy = dir.path().join("runtime.yaml");
    write(&file, "- name: ghcr.io/a/new:1\n");
    write(
        &legacy,
        "name: Kubernetes\nimages:\n  - name: ghcr.io/a/old:1\n",
    );
    let running = start(config(addr, Some(file), Some(legacy)), Shutdown::new())
        .await
        .unwrap();
    assert!(fake.bootstraps().is_empty());
    assert_eq!(fake.applies().len(), 1);
    running.shutdown.trigger();
}
