//! An in-process launcher for the `launch` and `launches` tests: it answers with fixed launches,
//! streams and failures and keeps what it was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use execenv_core::Error;
use execenv_proto::convert::timestamp;
use execenv_proto::launcher::v1 as wire;
use execenv_proto::launcher::v1::launcher_server::{Launcher as LauncherService, LauncherServer};
use tonic::{Request, Response, Status};

use super::{Calls, GUID, against, serve};
use crate::commands::run_to;
use crate::report::Report;

/// The content every test launches.
pub const CONTENT: &str = "2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f";
/// The environment the fake chooses.
pub const ENVIRONMENT: &str = GUID;

/// A launch as the launcher reports it, in `state`, created at 12:00 (started 12:01, finished
/// 12:02 once it has).
pub fn wire_launch(id: &str, state: wire::State) -> wire::Launch {
    let at = |minute| {
        Some(timestamp(
            chrono::Utc
                .with_ymd_and_hms(2026, 1, 31, 12, minute, 0)
                .unwrap(),
        ))
    };
    let finished = matches!(
        state,
        wire::State::Succeeded | wire::State::Failed | wire::State::Cancelled
    );
    let (reason, exit_code) = match state {
        wire::State::Pending => ("ContainerCreating", None),
        wire::State::Running => ("Started", None),
        wire::State::Succeeded => ("Completed", Some(0)),
        wire::State::Failed => ("Error", Some(3)),
        _ => ("Cancelled", None),
    };
    wire::Launch {
        id: id.into(),
        kind: wire::Kind::Run as i32,
        content_guid: CONTENT.into(),
        bundle: "12".into(),
        state: state as i32,
        reason: reason.into(),
        message: String::new(),
        exit_code,
        environment_guid: ENVIRONMENT.into(),
        environment_title: "Python 3.11".into(),
        image: "ghcr.io/acme/py:3.11".into(),
        installations: vec![wire::Installation {
            language: "python".into(),
            version: "3.11.9".into(),
            path: "/opt/python/3.11.9/bin/python3".into(),
        }],
        selected_by: "automatic".into(),
        backend: wire::Backend::Kubernetes as i32,
        job_name: format!("run-{id}"),
        namespace: "content".into(),
        created_time: at(0),
        started_time: if state == wire::State::Pending {
            None
        } else {
            at(1)
        },
        finished_time: if finished { at(2) } else { None },
        address: String::new(),
        restarts: 0,
        ready_time: None,
        owner_guid: String::new(),
    }
}

/// What the fake launcher received, besides each call's metadata.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every `Launch`.
    pub launches: Vec<wire::LaunchRequest>,
    /// Every `List`.
    pub lists: Vec<wire::ListLaunchesRequest>,
    /// The call and launch id of every `Get`, `Cancel` and `Watch`.
    pub ids: Vec<(&'static str, String)>,
    /// Every `Logs`.
    pub logs: Vec<wire::LogsRequest>,
}

/// A launcher that answers `Launch` with a pending launch (or `launched` in the given state),
/// `Watch` with `events`, `Logs` with `chunks`, everything else with a launch of the id asked
/// for; or fails every call with the failure of `calls`. It keeps what it was sent.
#[derive(Clone, Default)]
pub struct FakeLauncher {
    /// The state `Launch` answers with (default pending).
    pub launched: Option<wire::State>,
    /// What `Watch` streams.
    pub events: Vec<Result<wire::Launch, Status>>,
    /// What `Logs` streams.
    pub chunks: Vec<Result<Vec<u8>, Status>>,
    /// Each call's metadata, and the failure of every call when set.
    pub calls: Calls,
    /// What it was sent.
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeLauncher {
    /// A launcher whose `Watch` sends these launches in these states, in order.
    pub fn watching(events: &[(&str, wire::State)]) -> Self {
        FakeLauncher {
            events: events
                .iter()
                .map(|(id, state)| Ok(wire_launch(id, *state)))
                .collect(),
            ..FakeLauncher::default()
        }
    }

    /// A launcher failing every call with `status`.
    pub fn failing(status: Status) -> Self {
        FakeLauncher {
            calls: Calls::failing(status),
            ..FakeLauncher::default()
        }
    }

    fn answer(
        &self,
        call: &'static str,
        id: String,
        state: wire::State,
    ) -> Result<Response<wire::Launch>, Status> {
        let launch = wire_launch(&id, state);
        self.seen.lock().unwrap().ids.push((call, id));
        Ok(Response::new(launch))
    }
}

/// A stream of fixed items.
pub type Stream<T> = tokio_stream::Iter<std::vec::IntoIter<Result<T, Status>>>;

/// A stream of `items`, each wrapped in its message.
fn stream<T: Clone, U>(items: &[Result<T, Status>], wrap: fn(T) -> U) -> Stream<U> {
    tokio_stream::iter(
        items
            .iter()
            .cloned()
            .map(|i| i.map(wrap))
            .collect::<Vec<_>>(),
    )
}

#[tonic::async_trait]
impl LauncherService for FakeLauncher {
    async fn launch(
        &self,
        r: Request<wire::LaunchRequest>,
    ) -> Result<Response<wire::Launch>, Status> {
        self.calls.record(&r)?;
        let request = r.into_inner();
        let launch = wire_launch(
            &request.request_id,
            self.launched.unwrap_or(wire::State::Pending),
        );
        self.seen.lock().unwrap().launches.push(request);
        Ok(Response::new(launch))
    }

    async fn get(
        &self,
        r: Request<wire::GetLaunchRequest>,
    ) -> Result<Response<wire::Launch>, Status> {
        self.calls.record(&r)?;
        self.answer("get", r.into_inner().id, wire::State::Running)
    }

    async fn list(
        &self,
        r: Request<wire::ListLaunchesRequest>,
    ) -> Result<Response<wire::ListLaunchesResponse>, Status> {
        self.calls.record(&r)?;
        self.seen.lock().unwrap().lists.push(r.into_inner());
        Ok(Response::new(wire::ListLaunchesResponse {
            launches: vec![
                wire_launch("run-2", wire::State::Running),
                wire_launch("build-1", wire::State::Failed),
            ],
        }))
    }

    type WatchStream = Stream<wire::LaunchEvent>;

    async fn watch(
        &self,
        r: Request<wire::WatchLaunchesRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.calls.record(&r)?;
        self.seen
            .lock()
            .unwrap()
            .ids
            .push(("watch", r.into_inner().id));
        Ok(Response::new(stream(&self.events, |launch| {
            wire::LaunchEvent {
                launch: Some(launch),
            }
        })))
    }

    async fn cancel(
        &self,
        r: Request<wire::CancelLaunchRequest>,
    ) -> Result<Response<wire::Launch>, Status> {
        self.calls.record(&r)?;
        self.answer("cancel", r.into_inner().id, wire::State::Cancelled)
    }

    type LogsStream = Stream<wire::LogChunk>;

    async fn logs(
        &self,
        r: Request<wire::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        self.calls.record(&r)?;
        self.seen.lock().unwrap().logs.push(r.into_inner());
        Ok(Response::new(stream(&self.chunks, |data| wire::LogChunk {
            data,
        })))
    }
}

/// Serves `fake` on a free local port.
pub async fn serve_launcher(fake: FakeLauncher) -> SocketAddr {
    serve(tonic::transport::Server::builder().add_service(LauncherServer::new(fake))).await
}

/// Runs `args` against the launcher at `addr` (the other services unreachable: launcher commands
/// must not need them) and returns the result and what was streamed.
pub async fn run_launcher(addr: SocketAddr, args: &[&str]) -> (Result<Report, Error>, String) {
    let mut out = Vec::new();
    let result = run_to(against(&[("--launcher", addr)], args), &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

/// `launch KIND` for the test content and bundle 12, then `more`.
pub fn launch_args<'a>(kind: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["launch", kind, "--content", CONTENT, "--bundle", "12"];
    args.extend_from_slice(more);
    args
}
