//! Test double of the registry's API (`execenv.registry.v1.Registry`): an in-memory catalogue and
//! change log served by `WatchEnvironments` the way the real registry serves it — the catalogue
//! then SYNCED from 0, the changes after a revision then SYNCED otherwise, OUT_OF_RANGE for a
//! compacted or unknown revision, then every change. The test drives it: upsert, delete, compact,
//! end the open watches, refuse new ones, hold back SYNCED, stop serving.
//! Every other method is UNIMPLEMENTED. The real registry is exercised by the e2e tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use execenv_kit::identity::caller_from_metadata;
use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::{Registry, RegistryServer};
use execenv_proto::registry::v1::watch_environments_response::Kind;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status};

type Item = Result<reg::WatchEnvironmentsResponse, Status>;

/// The fake registry; clones share one state.
#[derive(Clone)]
pub struct FakeRegistry {
    state: Arc<Mutex<State>>,
    /// The `from_revision` of every WatchEnvironments call, in order.
    calls: watch::Sender<Vec<i64>>,
    /// While true, open watches do not send SYNCED.
    hold_synced: watch::Sender<bool>,
    token: Option<String>,
}

#[derive(Default)]
struct State {
    environments: BTreeMap<String, pb::Environment>,
    log: Vec<reg::WatchEnvironmentsResponse>,
    revision: i64,
    compacted_through: i64,
    watchers: Vec<mpsc::UnboundedSender<Item>>,
    refuse: bool,
}

impl FakeRegistry {
    /// An empty registry that requires `token` on every call when one is given.
    pub fn new(token: Option<&str>) -> Self {
        FakeRegistry {
            state: Arc::default(),
            calls: watch::Sender::new(Vec::new()),
            hold_synced: watch::Sender::new(false),
            token: token.map(str::to_owned),
        }
    }

    /// Creates or replaces an environment; returns the new revision.
    pub fn upsert(&self, mut environment: pb::Environment) -> i64 {
        let mut s = self.state.lock().unwrap();
        s.revision += 1;
        environment.revision = s.revision;
        let event = reg::WatchEnvironmentsResponse {
            kind: Kind::Upsert as i32,
            revision: s.revision,
            environment_guid: environment.guid.clone(),
            environment: Some(environment.clone()),
        };
        s.environments.insert(environment.guid.clone(), environment);
        s.commit(event);
        s.revision
    }

    /// Deletes an environment; returns the new revision.
    pub fn delete(&self, guid: &str) -> i64 {
        let mut s = self.state.lock().unwrap();
        s.revision += 1;
        s.environments.remove(guid);
        let event = reg::WatchEnvironmentsResponse {
            kind: Kind::Delete as i32,
            revision: s.revision,
            environment_guid: guid.to_owned(),
            environment: None,
        };
        s.commit(event);
        s.revision
    }

    /// Forgets the whole change log: resuming from any earlier revision is OUT_OF_RANGE.
    pub fn compact(&self) {
        let mut s = self.state.lock().unwrap();
        s.compacted_through = s.revision;
        s.log.clear();
    }

    /// Ends every open watch stream (as a registry restart would).
    pub fn end_watches(&self) {
        self.state.lock().unwrap().watchers.clear();
    }

    /// While set, new watches fail with UNAVAILABLE.
    pub fn refuse_watches(&self, refuse: bool) {
        self.state.lock().unwrap().refuse = refuse;
    }

    /// While set, watches send the catalogue but hold back SYNCED.
    pub fn hold_synced(&self, hold: bool) {
        self.hold_synced.send_replace(hold);
    }

    /// The latest revision.
    pub fn revision(&self) -> i64 {
        self.state.lock().unwrap().revision
    }

    /// The `from_revision` of every watch so far.
    pub fn watch_calls(&self) -> Vec<i64> {
        self.calls.borrow().clone()
    }

    /// Waits until some watch call satisfies `check` over all calls so far.
    pub async fn wait_for_calls(&self, check: impl Fn(&[i64]) -> bool) {
        let mut rx = self.calls.subscribe();
        tokio::time::timeout(super::DEADLINE, rx.wait_for(|c| check(c)))
            .await
            .unwrap_or_else(|_| panic!("watch calls were {:?}", self.watch_calls()))
            .unwrap();
    }

    /// Serves the fake on a free local port.
    pub async fn serve(&self) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(RegistryServer::new(self.clone()))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    shutdown.wait_owned(),
                ),
        );
        Served {
            addr,
            shutdown,
            task,
            fake: self.clone(),
        }
    }

    fn check_token(&self, request: &Request<reg::WatchEnvironmentsRequest>) -> Result<(), Status> {
        caller_from_metadata(request.metadata(), self.token.as_deref())
            .map(|_| ())
            .map_err(|e| execenv_kit::status::to_status(&e))
    }
}

impl State {
    fn commit(&mut self, event: reg::WatchEnvironmentsResponse) {
        self.log.push(event.clone());
        self.watchers.retain(|w| w.send(Ok(event.clone())).is_ok());
    }
}

/// The fake, being served.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    fake: FakeRegistry,
}

impl Served {
    /// The URL to give the selector.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: open watches end and the port closes.
    pub async fn stop(self) {
        self.fake.end_watches();
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented("not in the fake registry"))
}

#[tonic::async_trait]
impl Registry for FakeRegistry {
    type WatchEnvironmentsStream = BoxStream<'static, Item>;

    async fn watch_environments(
        &self,
        request: Request<reg::WatchEnvironmentsRequest>,
    ) -> Result<Response<Self::WatchEnvironmentsStream>, Status> {
        self.check_token(&request)?;
        let from = request.get_ref().from_revision;
        self.calls.send_modify(|c| c.push(from));
        let mut s = self.state.lock().unwrap();
        if s.refuse {
            return Err(Status::unavailable("the fake registry refuses watches"));
        }
        if from < 0 || from > s.revision || (from > 0 && from < s.compacted_through) {
            return Err(Status::out_of_range(format!(
                "revision {from} is not in the change log (compacted through {}, latest {}); watch from 0 to re-list",
                s.compacted_through, s.revision
            )));
        }
        let first: Vec<Item> = if from == 0 {
            s.environments
                .values()
                .map(|e| {
                    Ok(reg::WatchEnvironmentsResponse {
                        kind: Kind::Snapshot as i32,
                        revision: s.revision,
                        environment_guid: e.guid.clone(),
                        environment: Some(e.clone()),
                    })
                })
                .collect()
        } else {
            s.log
                .iter()
                .filter(|e| e.revision > from)
                .cloned()
                .map(Ok)
                .collect()
        };
        let synced = reg::WatchEnvironmentsResponse {
            kind: Kind::Synced as i32,
            revision: s.revision,
            ..Default::default()
        };
        // Registered under the same lock as the catalogue was read: no change is missed.
        let (tx, rx) = mpsc::unbounded_channel();
        s.watchers.push(tx);
        let mut hold = self.hold_synced.subscribe();
        let stream = stream::iter(first)
            .chain(stream::once(async move {
                let _ = hold.wait_for(|h| !*h).await;
                Ok(synced)
            }))
            .chain(UnboundedReceiverStream::new(rx));
        Ok(Response::new(stream.boxed()))
    }

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
    async fn list_changes(
        &self,
        _: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        unimplemented()
    }
    async fn apply_managed_set(
        &self,
        _: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        unimplemented()
    }
    async fn bootstrap(
        &self,
        _: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        unimplemented()
    }
}
