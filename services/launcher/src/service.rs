//! The `execenv.launcher.v1.Launcher` gRPC service. Every call needs a publisher or an
//! administrator (or the calling service); the selector then applies the caller's environment
//! permissions to the choice.

use std::sync::Arc;
use std::time::Instant;

use execenv_client::ServiceAuth;
use execenv_client::to_status;
use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::launcher::v1 as pb;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::backend::Backend;
use crate::launch::{Launch, Plan, State};
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
}

impl LauncherService {
    /// The service over `launches`, starting workloads on `backend` in environments chosen by
    /// `selector`; `auth` says who may call.
    pub fn new(
        launches: Launches,
        backend: Arc<Backend>,
        selector: GrpcSelector,
        auth: ServiceAuth,
    ) -> Self {
        LauncherService {
            launches,
            backend,
            selector,
            auth,
        }
    }

    fn caller<T>(&self, request: &Request<T>, action: &str) -> Result<Caller, Error> {
        let caller = self.auth.caller(request)?;
        caller.require_publisher(action)?;
        Ok(caller)
    }

    fn known(&self, id: &str) -> Result<Launch, Error> {
        if id.is_empty() {
            return Err(Error::invalid_field("id", "give the launch id"));
        }
        self.launches.get(id).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("no launch {id:?}; `execenvctl launches list` shows the known launches"),
            )
        })
    }

    /// Launch, as an execenv result.
    async fn launch(&self, request: Request<pb::LaunchRequest>) -> Result<Launch, Error> {
        let started = Instant::now();
        let caller = self.caller(&request, "launching content")?;
        let parsed = wire::parse_launch(request.get_ref()).inspect_err(|_| {
            self.launches.metrics().request("invalid");
        })?;
        let id = parsed.request.request_id.clone();
        if let Some(existing) = self.launches.get(&id) {
            self.launches.metrics().request("existing");
            return Ok(existing);
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
        let launch = match self.launches.insert_new(launch) {
            Ok(l) => l,
            // The same request arrived twice at once: the first one owns it.
            Err(existing) => {
                self.launches.metrics().request("existing");
                return Ok(*existing);
            }
        };
        tracing::info!(launch = %id, kind = launch.kind.as_str(), content = %launch.content_guid,
            environment = %launch.environment_guid, image = %launch.image,
            selected_by = %launch.selected_by, backend = launch.backend.as_str(), "launch accepted");
        let plan = Plan {
            request: parsed.request,
            environment: selection.environment,
            installations: selection.installations,
            launch,
        };
        match self.backend.start(plan).await {
            Ok(l) => {
                self.launches.metrics().request("created");
                self.launches.metrics().launch_call(started.elapsed());
                Ok(l)
            }
            Err(e) => {
                tracing::warn!(launch = %id, error = %e.message, "launch could not be started");
                self.launches.remove(&id);
                self.launches.metrics().request(match e.kind {
                    ErrorKind::InvalidArgument => "invalid",
                    _ => "error",
                });
                Err(e)
            }
        }
    }

    async fn cancel(&self, request: Request<pb::CancelLaunchRequest>) -> Result<Launch, Error> {
        self.caller(&request, "cancelling a launch")?;
        let launch = self.known(&request.get_ref().id)?;
        match launch.state {
            State::Cancelled => Ok(launch),
            s if s.is_terminal() => Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "launch {:?} has already finished ({}); there is nothing to cancel",
                    launch.id,
                    s.as_str()
                ),
            )),
            _ => {
                let cancelled = self.backend.cancel(&launch).await?;
                tracing::info!(launch = %launch.id, state = cancelled.state.as_str(), "launch cancelled");
                Ok(cancelled)
            }
        }
    }

    fn list(&self, request: &Request<pb::ListLaunchesRequest>) -> Result<Vec<Launch>, Error> {
        self.caller(request, "listing launches")?;
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
        };
        Ok(self.launches.list(&filter))
    }

    /// The events of one launch (ending once it is final) or of all launches.
    fn watch(&self, request: &Request<pb::WatchLaunchesRequest>) -> Result<EventStream, Error> {
        self.caller(request, "watching launches")?;
        let id = request.get_ref().id.clone();
        let launches = self.launches.clone();
        // Subscribe before reading the current state, so no change falls in between.
        let mut events = launches.subscribe();
        let first: Vec<Launch> = if id.is_empty() {
            launches.list(&Filter {
                states: vec![State::Pending, State::Running, State::Ready],
                ..Filter::default()
            })
        } else {
            vec![self.known(&id)?]
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
                            launches.list(&Filter::default())
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
                if !id.is_empty() && next.id != id {
                    continue;
                }
                let done = !id.is_empty() && next.state.is_terminal();
                if !send(&tx, &next).await || done {
                    return;
                }
            }
        });
        Ok(stream)
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
        self.caller(&request, "reading a launch")
            .and_then(|_| self.known(&request.get_ref().id))
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
        let launch = self
            .caller(&request, "reading a launch's logs")
            .and_then(|_| self.known(&request.get_ref().id))
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
