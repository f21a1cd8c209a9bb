#![allow(clippy::unwrap_used)]
//! An in-process launcher on port 0 for the `launch` and `launches` tests: it answers with fixed
//! launches, streams and failures and keeps what it was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use clap::Parser;
use execenv_proto::convert::timestamp;
use execenv_proto::launcher::v1 as wire;
use execenv_proto::launcher::v1::launcher_server::{Launcher as LauncherService, LauncherServer};
use tonic::{Request, Response, Status};

use super::*;

pub(super) const CONTENT: &str = "2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f";
pub(super) const ENVIRONMENT: &str = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";

pub(super) fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("execenvctl").chain(args.iter().copied())).unwrap()
}

/// A launch as the launcher reports it, in `state`, created at 12:00 (started 12:01, finished
/// 12:02 once it has).
pub(super) fn wire_launch(id: &str, state: wire::State) -> wire::Launch {
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
    }
}

/// What the fake launcher received.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) metadata: Vec<tonic::metadata::MetadataMap>,
    pub(super) launches: Vec<wire::LaunchRequest>,
    pub(super) lists: Vec<wire::ListLaunchesRequest>,
    pub(super) ids: Vec<(&'static str, String)>,
    pub(super) logs: Vec<wire::LogsRequest>,
}

/// A launcher that answers `Launch` with a pending launch (or `launched` in the given state),
/// `Watch` with `events`, `Logs` with `chunks`, everything else with a launch of the id asked
/// for; or fails every call with `failure`. It keeps what it was sent.
#[derive(Clone, Default)]
pub(super) struct FakeLauncher {
    pub(super) launched: Option<wire::State>,
    pub(super) events: Vec<Result<wire::Launch, Status>>,
    pub(super) chunks: Vec<Result<Vec<u8>, Status>>,
    pub(super) failure: Option<Status>,
    pub(super) seen: Arc<Mutex<Seen>>,
}

impl FakeLauncher {
    /// A launcher whose `Watch` sends these launches in these states, in order.
    pub(super) fn watching(events: &[(&str, wire::State)]) -> Self {
        FakeLauncher {
            events: events
                .iter()
                .map(|(id, state)| Ok(wire_launch(id, *state)))
                .collect(),
            ..FakeLauncher::default()
        }
    }

    fn record<T>(&self, r: &Request<T>) -> Result<(), Status> {
        self.seen
            .lock()
            .unwrap()
            .metadata
            .push(r.metadata().clone());
        self.failure.clone().map_or(Ok(()), Err)
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

pub(super) type Stream<T> = tokio_stream::Iter<std::vec::IntoIter<Result<T, Status>>>;

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
        self.record(&r)?;
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
        self.record(&r)?;
        self.answer("get", r.into_inner().id, wire::State::Running)
    }

    async fn list(
        &self,
        r: Request<wire::ListLaunchesRequest>,
    ) -> Result<Response<wire::ListLaunchesResponse>, Status> {
        self.record(&r)?;
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
        self.record(&r)?;
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
        self.record(&r)?;
        self.answer("cancel", r.into_inner().id, wire::State::Cancelled)
    }

    type LogsStream = Stream<wire::LogChunk>;

    async fn logs(
        &self,
        r: Request<wire::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        self.record(&r)?;
        self.seen.lock().unwrap().logs.push(r.into_inner());
        Ok(Response::new(stream(&self.chunks, |data| wire::LogChunk {
            data,
        })))
    }
}

pub(super) async fn serve_launcher(fake: FakeLauncher) -> SocketAddr {
    crate::test_server::serve(
        tonic::transport::Server::builder().add_service(LauncherServer::new(fake)),
    )
    .await
}

/// Runs `args` against the launcher at `addr` (the other servers unreachable: launcher commands
/// must not need them) and returns the result and what was streamed.
pub(super) async fn run_launcher(
    addr: SocketAddr,
    args: &[&str],
) -> (Result<Report, Error>, String) {
    let url = format!("http://{addr}");
    let mut all = vec![
        "--launcher",
        url.as_str(),
        "--registry",
        "http://127.0.0.1:9",
        "--selector",
        "http://127.0.0.1:9",
        "--token",
        "tok",
    ];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    let result = run_to(cli(&all), &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

/// `launch KIND` for the test content and bundle 12, then `more`.
pub(super) fn launch_args<'a>(kind: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["launch", kind, "--content", CONTENT, "--bundle", "12"];
    args.extend_from_slice(more);
    args
}
