//! The `execenv.examiner.v1.ImageExaminer` gRPC service: `Examine` through the [`Examiner`], the
//! checks from the [`CheckBoard`], `CheckNow` through the drift loop.
//!
//! Who may do what: `Examine` and `CheckNow` are for administrators (and the calling service
//! itself); the checks (`ListChecks`, `GetCheck`, `WatchChecks`) are the registry's environments
//! seen through the registry's rule (`Caller::may_use`): viewers are refused, a publisher sees
//! the checks of the environments they may use and no other (another's is NOT_FOUND, as the
//! registry's `GetEnvironment` answers).

use std::collections::HashSet;
use std::pin::Pin;

use execenv_client::{ServiceAuth, to_status};
use execenv_core::examine::Findings;
use execenv_core::{Caller, Error, ErrorKind};
use execenv_kit::WatchBound;
use execenv_kit::limits::watch_client;
use execenv_kit::shutdown::Shutdown;
use execenv_proto::convert::timestamp;
use execenv_proto::examiner::v1 as pb;
use futures::Stream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::board::{BoardEvent, CheckBoard, NotListed, Subscription};
use crate::check::Check;
use crate::drift::CheckNowAsk;
use crate::examinations::{Examined, Examiner};
use crate::source::ImageSource;

/// What a check request is answered with before the catalogue arrived.
pub const NO_CATALOGUE_YET: &str = "the image examiner has not received the catalogue from the registry yet; it answers once the registry is reachable (check registry.url / EXECENV_REGISTRY__URL)";

/// The service over an [`Examiner`] and the [`CheckBoard`] the drift loop keeps.
pub struct ExaminerService<S: ImageSource> {
    examiner: Examiner<S>,
    board: CheckBoard,
    asks: mpsc::Sender<CheckNowAsk>,
    interval_seconds: u32,
    auth: ServiceAuth,
    shutdown: Shutdown,
    watches: WatchBound,
}

impl<S: ImageSource> ExaminerService<S> {
    /// The service; `asks` reaches the drift loop, `auth` says who may call
    /// (a verified client certificate or a service token), and open watches end at `shutdown`.
    pub fn new(
        examiner: Examiner<S>,
        board: CheckBoard,
        asks: mpsc::Sender<CheckNowAsk>,
        interval_seconds: u32,
        auth: ServiceAuth,
        shutdown: Shutdown,
    ) -> Self {
        ExaminerService {
            examiner,
            board,
            asks,
            interval_seconds,
            auth,
            shutdown,
            watches: WatchBound::new(&execenv_kit::ServerConfig::with_ports(0, 0)),
        }
    }

    /// The same service holding each client to the watches `watches` allows.
    pub fn with_watch_bound(mut self, watches: WatchBound) -> Self {
        self.watches = watches;
        self
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Error> {
        self.auth.caller(request)
    }

    async fn examine(
        &self,
        request: Request<pb::ExamineRequest>,
    ) -> Result<pb::ExamineResponse, Error> {
        self.caller(&request)?.require_admin("examining an image")?;
        let pb::ExamineRequest {
            image,
            platform,
            refresh,
        } = request.into_inner();
        let image = image.trim();
        if image.is_empty() {
            return Err(Error::invalid_field(
                "image",
                "give the image reference to examine, e.g. ghcr.io/acme/python:3.12",
            ));
        }
        let platform = Some(platform.trim()).filter(|p| !p.is_empty());
        let examined = self
            .examiner
            .examine(image, platform, refresh)
            .await
            .map_err(|why| why.to_error())?;
        Ok(pb::ExamineResponse {
            examination: Some(examination(image, &examined)),
        })
    }

    /// The caller of a request that reads checks: publishers, administrators and services.
    fn reader<T>(&self, request: &Request<T>) -> Result<Caller, Error> {
        let caller = self.caller(request)?;
        caller.require_publisher("reading the checks of environments")?;
        Ok(caller)
    }

    fn list(
        &self,
        request: &Request<pb::ListChecksRequest>,
    ) -> Result<pb::ListChecksResponse, Error> {
        let caller = self.reader(request)?;
        let checks = self
            .board
            .list()
            .ok_or_else(|| Error::unavailable(NO_CATALOGUE_YET))?;
        Ok(pb::ListChecksResponse {
            checks: checks
                .iter()
                .filter(|c| caller.may_use_under(&c.permissions))
                .map(Check::to_wire)
                .collect(),
            interval_seconds: self.interval_seconds,
        })
    }

    fn get(&self, request: &Request<pb::GetCheckRequest>) -> Result<pb::EnvironmentCheck, Error> {
        let caller = self.reader(request)?;
        let guid = &request.get_ref().guid;
        let parsed = Uuid::parse_str(guid.trim()).map_err(|_| {
            Error::invalid_field(
                "guid",
                format!("{guid:?} is not an environment guid (a UUID)"),
            )
        })?;
        match self.board.get(parsed) {
            Err(NotListed) => Err(Error::unavailable(NO_CATALOGUE_YET)),
            Ok(Some(check)) if caller.may_use_under(&check.permissions) => Ok(check.to_wire()),
            // One the caller may not use is answered as the registry does: as if it did not exist.
            Ok(_) => Err(Error::environment_not_found(parsed)),
        }
    }

    async fn check_now(
        &self,
        request: Request<pb::CheckNowRequest>,
    ) -> Result<pb::CheckNowResponse, Error> {
        self.caller(&request)?
            .require_admin("checking every environment now")?;
        if !self.board.is_listed() {
            return Err(Error::unavailable(NO_CATALOGUE_YET));
        }
        let stopping = || Error::unavailable("the image examiner is stopping; ask again");
        let (reply, answer) = oneshot::channel();
        self.asks.send(reply).await.map_err(|_| stopping())?;
        let checks = answer.await.map_err(|_| stopping())?;
        Ok(pb::CheckNowResponse {
            checks: checks.iter().map(Check::to_wire).collect(),
        })
    }
}

/// An examination as the API sends it. Installations reached through a symlinked folder
/// (aliases) are left out of the list and said in a note, so that a definition made from the
/// list declares each installation once.
pub fn examination(image: &str, examined: &Examined) -> pb::Examination {
    let e = &examined.examination;
    let Findings {
        installations,
        notes,
    } = &e.findings;
    let mut notes = notes.clone();
    for alias in installations.iter().filter(|i| i.alias_of.is_some()) {
        notes.push(format!(
            "{} is the installation at {} too (a symlinked folder); it is listed once",
            alias.path,
            alias.alias_of.as_deref().unwrap_or_default()
        ));
    }
    pb::Examination {
        image: image.to_owned(),
        digest: e.manifest.digest.clone(),
        platform: e.manifest.platform.clone(),
        installations: installations
            .iter()
            .filter(|i| i.alias_of.is_none())
            .map(pb::FoundInstallation::from)
            .collect(),
        notes,
        examined_time: Some(timestamp(e.examined_time)),
        cached: examined.cached,
        layers: e.manifest.layers,
        layer_bytes: e.manifest.layer_bytes,
    }
}

type CheckEvents = Pin<Box<dyn Stream<Item = Result<pb::CheckEvent, Status>> + Send>>;

#[tonic::async_trait]
impl<S: ImageSource> pb::image_examiner_server::ImageExaminer for ExaminerService<S> {
    async fn examine(
        &self,
        request: Request<pb::ExamineRequest>,
    ) -> Result<Response<pb::ExamineResponse>, Status> {
        ExaminerService::examine(self, request)
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn list_checks(
        &self,
        request: Request<pb::ListChecksRequest>,
    ) -> Result<Response<pb::ListChecksResponse>, Status> {
        self.list(&request)
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn get_check(
        &self,
        request: Request<pb::GetCheckRequest>,
    ) -> Result<Response<pb::EnvironmentCheck>, Status> {
        self.get(&request)
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    type WatchChecksStream = CheckEvents;

    async fn watch_checks(
        &self,
        request: Request<pb::WatchChecksRequest>,
    ) -> Result<Response<CheckEvents>, Status> {
        let caller = self.reader(&request).map_err(|e| to_status(&e))?;
        let permit = self
            .watches
            .open(watch_client(&request, &caller), "check watches")
            .map_err(|e| to_status(&e))?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(forward(
            caller,
            self.board.subscribe(),
            tx,
            self.shutdown.clone(),
        ));
        // The permit is held, and the client's place taken, as long as the stream is open.
        let events = futures::StreamExt::map(ReceiverStream::new(rx), move |event| {
            let _open = &permit;
            event
        });
        Ok(Response::new(Box::pin(events)))
    }

    async fn check_now(
        &self,
        request: Request<pb::CheckNowRequest>,
    ) -> Result<Response<pb::CheckNowResponse>, Status> {
        ExaminerService::check_now(self, request)
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }
}

fn event(e: pb::check_event::Event) -> Result<pb::CheckEvent, Status> {
    Ok(pb::CheckEvent { event: Some(e) })
}

/// Sends a watcher the checks now, then every change, until it goes away, falls too far behind
/// (its watch ends with ABORTED: watch again) or the service stops. Only the checks of the
/// environments `caller` may use are sent; one that `caller` may no longer use (its permissions
/// changed) is sent as removed.
async fn forward(
    caller: Caller,
    subscription: Subscription,
    tx: mpsc::Sender<Result<pb::CheckEvent, Status>>,
    shutdown: Shutdown,
) {
    use pb::check_event::Event;
    let Subscription {
        checks,
        complete,
        mut events,
    } = subscription;
    // The environments whose checks this watcher was sent and not told removed.
    let mut shown: HashSet<Uuid> = HashSet::new();
    let mut first: Vec<Result<pb::CheckEvent, Status>> = checks
        .iter()
        .filter(|c| caller.may_use_under(&c.permissions))
        .map(|c| {
            shown.insert(c.guid);
            event(Event::Check(c.to_wire()))
        })
        .collect();
    if complete {
        first.push(event(Event::SnapshotComplete(true)));
    }
    for item in first {
        if tx.send(item).await.is_err() {
            return;
        }
    }
    loop {
        let received = tokio::select! {
            () = shutdown.wait() => return,
            () = tx.closed() => return,
            r = events.recv() => r,
        };
        let item = match received {
            Ok(BoardEvent::Check(check)) if caller.may_use_under(&check.permissions) => {
                shown.insert(check.guid);
                event(Event::Check(check.to_wire()))
            }
            // Gone, or hidden from this caller now: removed if it was shown, else nothing to say.
            Ok(BoardEvent::Check(check)) if shown.remove(&check.guid) => {
                event(Event::RemovedGuid(check.guid.to_string()))
            }
            Ok(BoardEvent::Removed(guid)) if shown.remove(&guid) => {
                event(Event::RemovedGuid(guid.to_string()))
            }
            Ok(BoardEvent::Check(_) | BoardEvent::Removed(_)) => continue,
            Ok(BoardEvent::SnapshotComplete) => event(Event::SnapshotComplete(true)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let e = Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "this watch fell {missed} changes behind and was ended; watch again to start from the checks now"
                    ),
                );
                let _ = tx.send(Err(to_status(&e))).await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
