//! Test double of the registry's gRPC API (`execenv.registry.v1.Registry`), for the unit and
//! service tests of the crates that call the registry (config-sync, the selector). It is a double
//! because those tests drive situations the real registry cannot be made to show on demand (a
//! watch ended mid-stream, SYNCED held back, a compacted log, watches refused); the real registry
//! is exercised through the binaries in e2e/.
//!
//! What it serves:
//! - `WatchEnvironments` the way the registry does: from 0, the catalogue then SYNCED; from a
//!   revision, the changes after it then SYNCED; OUT_OF_RANGE for a compacted or unknown revision;
//!   then every change as it is made ([`FakeRegistry::upsert`], [`FakeRegistry::delete`]). On
//!   demand it misbehaves the ways a client must survive: SYNCED held back, watches ended or
//!   refused, the change at the revision resumed from sent again.
//! - `ApplyManagedSet` "creates" every definition it is sent, `Bootstrap` reports itself applied;
//!   both record what they received ([`FakeRegistry::applies`], [`FakeRegistry::bootstraps`]).
//! - Every other method is UNIMPLEMENTED.
//!
//! Every call must carry the service token the fake was made with, if any.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::{Registry, RegistryServer};
use execenv_proto::registry::v1::watch_environments_response::Kind;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status};

use crate::identity::ServiceAuth;
use crate::status::to_status;

/// How long [`FakeRegistry::wait_for_calls`] waits before it fails the test.
pub const DEADLINE: Duration = Duration::from_secs(10);

type Item = Result<reg::WatchEnvironmentsResponse, Status>;

/// An `ApplyManagedSet` request the fake received and its `authorization` header.
pub type Received = (reg::ApplyManagedSetRequest, Option<String>);

/// The fake registry; clones share one state.
#[derive(Clone)]
pub struct FakeRegistry {
    state: Arc<Mutex<State>>,
    /// The `from_revision` of every WatchEnvironments call, in order.
    calls: watch::Sender<Vec<i64>>,
    /// While true, open watches do not send SYNCED.
    hold_synced: watch::Sender<bool>,
    /// Bumped by [`FakeRegistry::end_watches`]: ends watches that are holding SYNCED back too.
    ends: watch::Sender<u64>,
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
    repeat_on_resume: bool,
    applies: Vec<Received>,
    bootstraps: Vec<reg::BootstrapRequest>,
}

impl FakeRegistry {
    /// An empty registry that requires `token` on every call when one is given.
    pub fn new(token: Option<&str>) -> Self {
        FakeRegistry {
            state: Arc::default(),
            calls: watch::Sender::new(Vec::new()),
            hold_synced: watch::Sender::new(false),
            ends: watch::Sender::new(0),
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

    /// Ends every open watch stream (as a registry restart would), also one that is holding
    /// SYNCED back: its listing is cut short.
    pub fn end_watches(&self) {
        let mut s = self.state.lock().unwrap();
        s.watchers.clear();
        self.ends.send_modify(|n| *n += 1);
    }

    /// While set, new watches fail with UNAVAILABLE.
    pub fn refuse_watches(&self, refuse: bool) {
        self.state.lock().unwrap().refuse = refuse;
    }

    /// While set, a watch resuming from a revision first sends the change at that revision again
    /// (as a registry whose read of its log overlaps would): a client must not apply it twice.
    pub fn repeat_on_resume(&self, repeat: bool) {
        self.state.lock().unwrap().repeat_on_resume = repeat;
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

    /// Every `ApplyManagedSet` request so far, with its `authorization` header.
    pub fn applies(&self) -> Vec<Received> {
        self.state.lock().unwrap().applies.clone()
    }

    /// Every `Bootstrap` request so far.
    pub fn bootstraps(&self) -> Vec<reg::BootstrapRequest> {
        self.state.lock().unwrap().bootstraps.clone()
    }

    /// Waits until the watch calls so far satisfy `check`; fails the test after [`DEADLINE`].
    pub async fn wait_for_calls(&self, check: impl Fn(&[i64]) -> bool) {
        let mut rx = self.calls.subscribe();
        tokio::time::timeout(DEADLINE, rx.wait_for(|c| check(c)))
            .await
            .unwrap_or_else(|_| panic!("watch calls were {:?}", self.watch_calls()))
            .unwrap();
    }

    /// Serves the fake on a free loopback port.
    pub async fn serve(&self) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(RegistryServer::new(self.clone()))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Served {
            addr,
            stop,
            task,
            fake: self.clone(),
        }
    }

    /// Opens a watch from `from`, or refuses it.
    fn open_watch(&self, from: i64) -> Result<BoxStream<'static, Item>, Status> {
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
            let first = if s.repeat_on_resume { from } else { from + 1 };
            s.log
                .iter()
                .filter(|e| e.revision >= first)
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
        let mut ended = self.ends.subscribe();
        let synced = stream::once(async move {
            tokio::select! {
                _ = hold.wait_for(|h| !*h) => Some(Ok(synced)),
                // Ended while holding SYNCED back: `rx` is closed too, so the stream ends.
                _ = ended.changed() => None,
            }
        })
        .filter_map(std::future::ready);
        let stream = stream::iter(first)
            .chain(synced)
            .chain(UnboundedReceiverStream::new(rx));
        Ok(stream.boxed())
    }

    fn check_token<T>(&self, request: &Request<T>) -> Result<(), Status> {
        ServiceAuth::new(self.token.clone(), None)
            .caller(request)
            .map(|_| ())
            .map_err(|e| to_status(&e))
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
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    fake: FakeRegistry,
}

impl Served {
    /// The URL to give the service under test.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: open watches end and the port closes.
    pub async fn stop(self) {
        self.fake.end_watches();
        let _ = self.stop.send(());
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
        let watch = self.open_watch(from);
        // Recorded once the watch is open (or refused): a test that saw the call may end it.
        self.calls.send_modify(|c| c.push(from));
        watch.map(Response::new)
    }

    async fn apply_managed_set(
        &self,
        request: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        self.check_token(&request)?;
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request = request.into_inner();
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
        let mut s = self.state.lock().unwrap();
        s.applies.push((request, authorization));
        Ok(Response::new(reg::ApplyManagedSetResponse {
            created,
            revision: i64::try_from(s.applies.len()).unwrap(),
            dry_run,
            ..Default::default()
        }))
    }

    async fn bootstrap(
        &self,
        request: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        self.check_token(&request)?;
        self.state
            .lock()
            .unwrap()
            .bootstraps
            .push(request.into_inner());
        Ok(Response::new(reg::BootstrapResponse {
            applied: true,
            created: vec![],
        }))
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
    /// The change log as revisions only: a `Change` with just its revision for each one after
    /// `after_revision`, up to `page_size` (default 100).
    async fn list_changes(
        &self,
        request: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        self.check_token(&request)?;
        let request = request.into_inner();
        let limit = i64::from(if request.page_size == 0 {
            100
        } else {
            request.page_size
        });
        let newest = self.state.lock().unwrap().revision;
        let first = request.after_revision.max(0) + 1;
        let changes = (first..=newest.min(first + limit - 1))
            .map(|revision| reg::Change {
                revision,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(reg::ListChangesResponse {
            changes,
            next_page_token: String::new(),
        }))
    }
}
