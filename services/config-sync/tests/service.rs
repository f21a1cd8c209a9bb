//! config-sync in-process on port 0 against a fake registry served over gRPC: the first sync, the
//! Status and Plan RPCs, the sync of a change, the token, and the legacy bootstrap. The real
//! registry is exercised through the binaries in e2e/.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use execenv_config_sync::{Config, Running, start};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::{Registry as RegistryService, RegistryServer};
use execenv_proto::sync::v1 as sync_pb;
use execenv_proto::sync::v1::config_sync_client::ConfigSyncClient;
use tonic::{Request, Response, Status};

const DEADLINE: Duration = Duration::from_secs(10);

/// Test double of the registry: answers ApplyManagedSet by "creating" every definition and
/// Bootstrap by creating every image, and records what it receives.
#[derive(Clone, Default)]
struct FakeRegistry {
    applies: Arc<Mutex<Vec<Received>>>,
    bootstraps: Arc<Mutex<Vec<reg::BootstrapRequest>>>,
}

/// A request and the `authorization` header it came with.
type Received = (reg::ApplyManagedSetRequest, Option<String>);

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented("not in the fake"))
}

#[tonic::async_trait]
impl RegistryService for FakeRegistry {
    async fn create_environment(
        &self,
        _: Request<reg::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        unimplemented()
    }
    async fn get_environment(
        &self,
        _: Request<reg::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        unimplemented()
    }
    async fn update_environment(
        &self,
        _: Request<reg::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        unimplemented()
    }
    async fn delete_environment(
        &self,
        _: Request<reg::DeleteEnvironmentRequest>,
    ) -> Result<Response<reg::DeleteEnvironmentResponse>, Status> {
        unimplemented()
    }
    async fn list_environments(
        &self,
        _: Request<reg::ListEnvironmentsRequest>,
    ) -> Result<Response<reg::ListEnvironmentsResponse>, Status> {
        unimplemented()
    }
    async fn list_permissions(
        &self,
        _: Request<reg::ListPermissionsRequest>,
    ) -> Result<Response<reg::ListPermissionsResponse>, Status> {
        unimplemented()
    }
    async fn add_permission(
        &self,
        _: Request<reg::AddPermissionRequest>,
    ) -> Result<Response<pb::Permission>, Status> {
        unimplemented()
    }
    async fn remove_permission(
        &self,
        _: Request<reg::RemovePermissionRequest>,
    ) -> Result<Response<reg::RemovePermissionResponse>, Status> {
        unimplemented()
    }
    type WatchEnvironmentsStream =
        tokio_stream::Empty<Result<reg::WatchEnvironmentsResponse, Status>>;
    async fn watch_environments(
        &self,
        _: Request<reg::WatchEnvironmentsRequest>,
    ) -> Result<Response<Self::WatchEnvironmentsStream>, Status> {
        unimplemented()
    }
    async fn apply_managed_set(
        &self,
        r: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        let auth = r
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let request = r.into_inner();
        let created = request
            .definitions
            .iter()
            .map(|d| reg::PlannedChange {
                guid: "g".to_owned(),
                name: d.name.clone(),
                changed_fields: vec![],
            })
            .collect();
        let dry_run = request.dry_run;
        let mut applies = self.applies.lock().unwrap();
        applies.push((request, auth));
        Ok(Response::new(reg::ApplyManagedSetResponse {
            created,
            revision: i64::try_from(applies.len()).unwrap(),
            dry_run,
            ..Default::default()
        }))
    }
    async fn bootstrap(
        &self,
        r: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        self.bootstraps.lock().unwrap().push(r.into_inner());
        Ok(Response::new(reg::BootstrapResponse {
            applied: true,
            created: vec![],
        }))
    }
    async fn list_changes(
        &self,
        _: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        unimplemented()
    }
}

async fn serve(fake: FakeRegistry) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RegistryServer::new(fake))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

fn config(registry: SocketAddr, file: Option<PathBuf>, legacy: Option<PathBuf>) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    c.registry.url = format!("http://{registry}");
    c.sync.file = file;
    c.sync.legacy_file = legacy;
    c.sync.poll_interval_ms = 50;
    c.sync.debounce_ms = 10;
    c.auth.service_token = Some("tok".to_owned());
    c
}

async fn client(running: &Running) -> ConfigSyncClient<tonic::transport::Channel> {
    ConfigSyncClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap()
}

fn with_token<T>(message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", "Bearer tok".parse().unwrap());
    r
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn start_syncs_the_file_reports_status_and_syncs_each_change() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    write(&file, "- name: ghcr.io/a/one:1\n");
    let running = start(config(addr, Some(file.clone()), None), Shutdown::new())
        .await
        .unwrap();

    {
        let applies = fake.applies.lock().unwrap();
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

    write(&file, "- name: ghcr.io/a/one:1\n- name: ghcr.io/a/two:1\n");
    let mut status = running.status.clone();
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
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
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
    assert!(fake.applies.lock().unwrap().iter().any(|(r, _)| r.dry_run));
    running.shutdown.trigger();
}

#[tokio::test]
async fn a_legacy_file_alone_bootstraps_once_at_startup() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("runtime.yaml");
    write(
        &legacy,
        "name: Kubernetes\nimages:\n  - name: ghcr.io/a/old:1\n",
    );
    let running = start(config(addr, None, Some(legacy)), Shutdown::new())
        .await
        .unwrap();
    let sent = fake.bootstraps.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].definitions[0].name, "ghcr.io/a/old:1");
    assert_eq!(
        sent[0].definitions[0].cluster_name.as_deref(),
        Some("Kubernetes")
    );
    assert!(fake.applies.lock().unwrap().is_empty());
    assert_eq!(running.status.borrow().outcome.as_str(), "never");
    running.shutdown.trigger();
}

#[tokio::test]
async fn with_both_files_only_the_declarative_one_is_used() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
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
    assert!(fake.bootstraps.lock().unwrap().is_empty());
    assert_eq!(fake.applies.lock().unwrap().len(), 1);
    running.shutdown.trigger();
}
