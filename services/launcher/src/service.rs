//! The `execenv.launcher.v1.Launcher` gRPC service. Every call needs a publisher or an
//! administrator (or the calling service); the selector then applies the caller's environment
//! permissions to the choice. A launch belongs to who asked: a publisher sees, follows, reads the
//! logs of and cancels only their own ([`crate::ownership`]).

use std::sync::Arc;
use std::time::Instant;

use execenv_client::ServiceAuth;
use execenv_client::to_status;
use execenv_core::{Caller, Error, ErrorKind};
use execenv_kit::WatchBound;
use execenv_kit::limits::watch_client;
use execenv_proto::launcher::v1 as pb;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::backend::Backend;
use crate::launch::{Launch, Plan, State};
use crate::limits::{AccountRules, AccountVerdict, Policy};
use crate::ownership::{Scope, not_found, owner_of};
use crate::selector::GrpcSelector;
use crate::table::{Filter, Launches};
use crate::wire;

/// The launcher's gRPC service.
#[derive(Clone)]
pub struct LauncherService {
    launches: Launches,
    backend: Arc<Backend>,
    selector: GrpcSelector,
    auth: ServiceAuth,
    policy: Arc<Policy>,
    watches: WatchBound,
}

impl LauncherService {
    /// The service over `launches`, starting workloads on `backend` in environments chosen by
    /// `selector`; `auth` says who may call; `policy` says what a launch may take.
    pub fn new(
        launches: Launches,
        backend: Arc<Backend>,
        selector: GrpcSelector,
        auth: ServiceAuth,
        policy: Policy,
    ) -> Self {
        LauncherService {
            launches,
            backend,
            selector,
            auth,
            watches: WatchBound::new(&execenv_kit::ServerConfig::with_ports(0, 0)),
            policy: Arc::new(policy),
        }
    }

    /// Refuses a service account the policy does not allow: by the list, else by its label as
    /// the backend finds it.
    async fn check_account(&self, account: Option<&str>) -> Result<(), Error> {
        let Some(account) = account else {
            return Ok(());
        };
        let rules = &self.policy.accounts;
        let verdict = rules.verdict(account);
        let allowed = match &verdict {
            AccountVerdict::Allowed => true,
            AccountVerdict::IfLabelled(key, _) if key.is_empty() => false,
            AccountVerdict::IfLabelled(..) => {
                let labels = self.backend.service_account_labels(account).await?;
                AccountRules::labelled(&verdict, labels.as_ref())
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(rules.refusal(account))
        }
    }

    /// The same service holding each client to the watches `watches` allows.
    pub fn with_watch_bound(mut self, watches: WatchBound) -> Self {
        self.watches = watches;
        self
    }

    fn caller<T>(&self, request: &Request<T>, action: &str) -> Result<Caller, Error> {
        let caller = self.auth.caller(request)?;
        caller.require_publisher(action)?;
        Ok(caller)
    }

    /// The caller and the launches they may see.
    fn scoped<T>(&self, request: &Request<T>, action: &str) -> Result<Scope, Error> {
        Scope::of(&self.caller(request, action)?)
    }

    /// Launch `id`, when it exists and is in `scope`; another's is not found, like a missing one.
    /// One the table lacks is looked up in the history (another replica accepted it, and this
    /// one's watch has not seen its Job yet) and kept in the table.
    async fn known(&self, scope: &Scope, id: &str) -> Result<Launch, Error> {
        if id.is_empty() {
            return Err(Error::invalid_field("id", "give the launch id"));
        }
        let found = match (self.launches.get(id), self.launches.history()) {
            (Some(l), _) => Some(l),
            (None, Some(history)) => history.get(id).await?.map(|l| self.launches.restore(l)),
            (None, None) => None,
        };
        found
            .filter(|l| scope.includes(l))
            .ok_or_else(|| not_found(id))
    }

    /// Launch, as an execenv result.
    async fn launch(&self, request: Request<pb::LaunchRequest>) -> Result<Launch, Error> {
        let started = Instant::now();
        let caller = self.caller(&request, "launching content")?;
        let scope = Scope::of(&caller)?;
        let mut parsed = wire::parse_launch(request.get_ref()).inspect_err(|_| {
            self.launches.metrics().request("invalid");
        })?;
        let id = parsed.request.request_id.clone();
        if let Some(existing) = self.launches.get(&id) {
            self.launches.metrics().request("existing");
            return mine(&scope, existing);
        }
        let allowed = self
            .policy
            .resolve(&caller, parsed.request.kind, &parsed.request.resources);
        let checked = match allowed {
            Ok(resources) => {
                parsed.request.resources = resources;
                self.check_account(parsed.request.service_account.as_deref())
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            self.launches.metrics().request("invalid");
            tracing::info!(launch = %id, owner = %owner_of(&caller), error = %e.message, "launch refused");
            return Err(e);
        }
        let selection = match self.selector.select(&caller, parsed.select).await {
            Ok(s) => s,
            Err(e) => {
                let outcome = match e.kind {
                    ErrorKind::FailedPrecondition | ErrorKind::NotFound => "no_environment",
                    ErrorKind::InvalidArgument => "invalid",
                    _ => "error",
                };
                self.launches.metrics().request(outcome);
                return Err(e);
            }
        };
        let mut launch = Launch::new(
            &parsed.request,
            &selection.environment,
            &selection.installations,
            &selection.selected_by,
            self.backend.kind(),
        );
        (launch.job_name, launch.namespace) = self.backend.placement(&id);
        launch.owner_guid = owner_of(&caller);
        let launch = match self.launches.insert_new(launch) {
            Ok(l) => l,
            // The same request arrived twice at once: the first one owns it.
            Err(existing) => {
                self.launches.metrics().request("existing");
                return mine(&scope, *existing);
            }
        };
        // With a history, the replica that adds the launch there accepted it; another one given
        // the same request id answers it as existing, but still makes sure its Job exists (the
        // create meets the Job and adopts it): the replica that accepted it may have stopped
        // before creating it.
        let mut accepted_here = true;
        if let Some(history) = self.launches.history() {
            match history.accept(&launch).await {
                Ok(None) => {}
                Ok(Some(held)) => {
                    accepted_here = false;
                    self.launches.remove(&id);
                    self.launches.metrics().request("existing");
                    let held = mine(&scope, held)?;
                    if held.state.is_terminal() {
                        return Ok(self.launches.restore(held));
                    }
                    self.launches.restore(held.clone());
                    tracing::info!(launch = %id, "launch already accepted by another launcher; making sure its workload exists");
                }
                Err(e) => {
                    self.launches.remove(&id);
                    self.launches.metrics().request("error");
                    return Err(e);
                }
            }
        }
        let launch = self.launches.get(&id).unwrap_or(launch);
        tracing::info!(launch = %id, kind = launch.kind.as_str(), content = %launch.content_guid,
            environment = %launch.environment_guid, image = %launch.image,
            selected_by = %launch.selected_by, backend = launch.backend.as_str(),
            owner = %launch.owner_guid, "launch accepted");
        let plan = Plan {
            request: parsed.request,
            environment: selection.environment,
            installations: selection.installations,
            launch,
        };
        match self.backend.start(plan).await {
            Ok(l) if accepted_here => {
                self.launches.metrics().request("created");
                self.launches.metrics().launch_call(started.elapsed());
                Ok(l)
            }
            Ok(l) => Ok(l),
            Err(e) if accepted_here => {
                tracing::warn!(launch = %id, error = %e.message, "launch could not be started");
                self.launches.remove(&id);
                if let Some(history) = self.launches.history() {
                    history.forget(&id).await;
                }
                self.launches.metrics().request(match e.kind {
                    ErrorKind::InvalidArgument => "invalid",
                    _ => "error",
                });
                Err(e)
            }
            Err(e) => {
                tracing::warn!(launch = %id, error = %e.message,
                    "the workload of a launch another launcher accepted could not be made sure of");
                Err(e)
            }
        }
    }

    async fn cancel(&self, request: Request<pb::CancelLaunchRequest>) -> Result<Launch, Error> {
        let scope = self.scoped(&request, "cancelling a launch")?;
        let launch = self.known(&scope, &request.get_ref().id).await?;
        match launch.state {
            // Recorded CANCELLED (by this replica or another) while its workload may still be
            // there (its delete failed, or is under way): deleting again is harmless.
            State::Cancelled if self.backend.has_workload(&launch) => {
                self.backend.cancel(&launch).await
            }
            State::Cancelled => Ok(launch),
            s if s.is_terminal() => Err(already_finished(&launch)),
            _ => {
                if let Some(held) = self.record_cancel(&launch).await? {
                    return match held.state {
                        State::Cancelled => Ok(held),
                        _ => Err(already_finished(&held)),
                    };
                }
                let cancelled = match self.backend.cancel(&launch).await {
                    Ok(cancelled) => cancelled,
                    Err(e) if self.launches.history().is_some() => {
                        // The history says CANCELLED already: so does the table; a Cancel again
                        // deletes what is left.
                        self.launches
                            .observe(&launch.id, self.backend.cancel_observation(&launch));
                        return Err(Error::new(
                            e.kind,
                            format!(
                                "launch {:?} is recorded CANCELLED, but its workload could not be stopped: {}; Cancel it again",
                                launch.id, e.message
                            ),
                        ));
                    }
                    Err(e) => return Err(e),
                };
                tracing::info!(launch = %launch.id, state = cancelled.state.as_str(), "launch cancelled");
                Ok(cancelled)
            }
        }
    }

    /// With a history, writes the launch CANCELLED there before anything is stopped, so that
    /// another replica seeing its Job vanish knows why. Some(launch) when the history held it
    /// final already (another replica saw it end first): the table takes that end.
    async fn record_cancel(&self, launch: &Launch) -> Result<Option<Launch>, Error> {
        let Some(history) = self.launches.history() else {
            return Ok(None);
        };
        let mut cancelled = launch.clone();
        crate::table::apply(&mut cancelled, self.backend.cancel_observation(launch));
        let held = history.finalize(&cancelled).await?;
        Ok(held.map(|held| self.launches.recover(held)))
    }

    fn list(&self, request: &Request<pb::ListLaunchesRequest>) -> Result<Vec<Launch>, Error> {
        let scope = self.scoped(request, "listing launches")?;
        let m = request.get_ref();
        let states = m
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| wire::parse_state(&format!("states[{i}]"), *s))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = Filter {
            content_guid: m.content_guid.clone().filter(|g| !g.is_empty()),
            states,
            kind: wire::parse_kind_filter(m.kind)?,
            owner: scope.owner().map(str::to_owned),
        };
        Ok(self.launches.list(&filter))
    }

    /// The events of one launch (ending once it is final) or of all launches.
    async fn watch(
        &self,
        request: &Request<pb::WatchLaunchesRequest>,
    ) -> Result<EventStream, Error> {
        let caller = self.caller(request, "watching launches")?;
        let scope = Scope::of(&caller)?;
        let permit = self
            .watches
            .open(watch_client(request, &caller), "launch watches")?;
        let id = request.get_ref().id.clone();
        let launches = self.launches.clone();
        let owner = scope.owner().map(str::to_owned);
        // Subscribe before reading the current state, so no change falls in between.
        let mut events = launches.subscribe();
        let first: Vec<Launch> = if id.is_empty() {
            launches.list(&Filter {
                states: vec![State::Pending, State::Running, State::Ready],
                owner: owner.clone(),
                ..Filter::default()
            })
        } else {
            vec![self.known(&scope, &id).await?]
        };
        let stream = async_stream(move |tx| async move {
            for l in first {
                let done = !id.is_empty() && l.state.is_terminal();
                if !send(&tx, &l).await || done {
                    return;
                }
            }
            loop {
                let next = match events.recv().await {
                    Ok(l) => l,
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind: the table holds the truth; send it again.
                        let current = if id.is_empty() {
                            launches.list(&Filter {
                                owner: owner.clone(),
                                ..Filter::default()
                            })
                        } else {
                            launches.get(&id).into_iter().collect()
                        };
                        let mut finished = false;
                        for l in current {
                            finished |= !id.is_empty() && l.state.is_terminal();
                            if !send(&tx, &l).await {
                                return;
                            }
                        }
                        if finished {
                            return;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if (!id.is_empty() && next.id != id) || !scope.includes(&next) {
                    continue;
                }
                let done = !id.is_empty() && next.state.is_terminal();
                if !send(&tx, &next).await || done {
                    return;
                }
            }
        });
        // The permit is held, and the client's place taken, as long as the stream is open.
        Ok(stream
            .map(move |event| {
                let _open = &permit;
                event
            })
            .boxed())
    }
}

/// The refusal to cancel a launch that has already finished otherwise.
fn already_finished(launch: &Launch) -> Error {
    Error::new(
        ErrorKind::FailedPrecondition,
        format!(
            "launch {:?} has already finished ({}); there is nothing to cancel",
            launch.id,
            launch.state.as_str()
        ),
    )
}

/// A launch found under a repeated request id: the launch when it is the caller's; another's id
/// cannot be taken over, and is refused without saying anything about that launch.
fn mine(scope: &Scope, existing: Launch) -> Result<Launch, Error> {
    if scope.includes(&existing) {
        Ok(existing)
    } else {
        Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "request id {:?} is already used by another launch; send a fresh request id (a UUID works)",
                existing.id
            ),
        ))
    }
}

type EventStream = BoxStream<'static, Result<pb::LaunchEvent, Status>>;
type Sender = tokio::sync::mpsc::Sender<Result<pb::LaunchEvent, Status>>;

async fn send(tx: &Sender, l: &Launch) -> bool {
    tx.send(Ok(pb::LaunchEvent {
        launch: Some(wire::launch(l)),
    }))
    .await
    .is_ok()
}

/// A stream fed by a task; the task stops when the receiver is dropped (the client went away).
fn async_stream<F, Fut>(body: F) -> EventStream
where
    F: FnOnce(Sender) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(body(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

#[tonic::async_trait]
impl pb::launcher_server::Launcher for LauncherService {
    async fn launch(
        &self,
        request: Request<pb::LaunchRequest>,
    ) -> Result<Response<pb::Launch>, Status> {
        LauncherService::launch(self, request)
            .await
            .map(|l| Response::new(wire::launch(&l)))
            .map_err(|e| to_status(&e))
    }

    async fn get(
        &self,
        request: Request<pb::GetLaunchRequest>,
    ) -> Result<Response<pb::Launch>, Status> {
        let scope = self
            .scoped(&request, "reading a launch")
            .map_err(|e| to_status(&e))?;
        self.known(&scope, &request.get_ref().id)
            .await
            .map(|l| Response::new(wire::launch(&l)))
            .map_err(|e| to_status(&e))
    }

    async fn list(
        &self,
        request: Request<pb::ListLaunchesRequest>,
    ) -> Result<Response<pb::ListLaunchesResponse>, Status> {
        LauncherService::list(self, &request)
            .map(|found| {
                Response::new(pb::ListLaunchesResponse {
                    launches: found.iter().map(wire::launch).collect(),
                })
            })
            .map_err(|e| to_status(&e))
    }

    type WatchStream = EventStream;

    async fn watch(
        &self,
        request: Request<pb::WatchLaunchesRequest>,
    ) -> Result<Response<EventStream>, Status> {
        LauncherService::watch(self, &request)
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn cancel(
        &self,
        request: Request<pb::CancelLaunchRequest>,
    ) -> Result<Response<pb::Launch>, Status> {
        LauncherService::cancel(self, request)
            .await
            .map(|l| Response::new(wire::launch(&l)))
            .map_err(|e| to_status(&e))
    }

    type LogsStream = BoxStream<'static, Result<pb::LogChunk, Status>>;

    async fn logs(
        &self,
        request: Request<pb::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let scope = self
            .scoped(&request, "reading a launch's logs")
            .map_err(|e| to_status(&e))?;
        let launch = self
            .known(&scope, &request.get_ref().id)
            .await
            .map_err(|e| to_status(&e))?;
        let chunks = self
            .backend
            .logs(&launch, request.get_ref().follow)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(
            chunks
                .map(|c| {
                    c.map(|data| pb::LogChunk { data })
                        .map_err(|e| to_status(&e))
                })
                .boxed(),
        ))
    }
}
