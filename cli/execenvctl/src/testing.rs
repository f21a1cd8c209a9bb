#![allow(clippy::unwrap_used)]
//! What the command tests share: a command line parsed, pointed at in-process fakes of the
//! services served on port 0 (the fakes are in `testing/`), an address nothing listens on, and
//! the sample data the fakes answer with.

pub mod fake_examiner;
pub mod fake_identity;
pub mod fake_launcher;
pub mod fake_registry;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use execenv_core::{Environment, EnvironmentSpec, Error, ErrorKind, Installation, Matching};
use tonic::metadata::MetadataMap;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::cli::Cli;

/// The sample environment's guid.
pub const GUID: &str = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";
/// Another environment's guid.
pub const OTHER: &str = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
/// The service token every command line of [`against`] sends.
pub const TOKEN: &str = "tok";
/// The services' address flags; [`against`] points the ones a test does not serve nowhere.
const SERVICE_FLAGS: [&str; 5] = [
    "--registry",
    "--config-sync",
    "--selector",
    "--launcher",
    "--examiner",
];
/// An address nothing listens on (the discard port), for services a command must not need.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// 2026-01-31T12:00:00Z, the time of the samples.
pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap()
}

/// [`noon`] on the wire.
pub fn wire_noon() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: 1_769_860_800,
        nanos: 0,
    }
}

/// `execenvctl ARGS…` parsed.
pub fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("execenvctl").chain(args.iter().copied()))
}

/// `execenvctl ARGS…` parsed; the test fails when it does not parse.
pub fn cli(args: &[&str]) -> Cli {
    parse(args).unwrap()
}

/// `execenvctl ARGS…` against the services served at `servers` (flag and address), every other
/// service pointed [`NOWHERE`], with the service token [`TOKEN`].
pub fn against(servers: &[(&str, SocketAddr)], args: &[&str]) -> Cli {
    let mut all: Vec<String> = Vec::new();
    for flag in SERVICE_FLAGS {
        let url = servers
            .iter()
            .find(|(f, _)| *f == flag)
            .map_or_else(|| NOWHERE.to_owned(), |(_, addr)| format!("http://{addr}"));
        all.extend([flag.to_owned(), url]);
    }
    all.extend(["--token".to_owned(), TOKEN.to_owned()]);
    all.extend(args.iter().map(|a| (*a).to_owned()));
    cli(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Serves `router` on a free local port for as long as the test's runtime lives; returns the
/// address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    addr
}

/// A local address nothing listens on: a port bound and released again.
pub async fn closed_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Asserts that `e` says `service` ("the registry") could not be reached at `addr`, and ends with
/// `hint` (which binary to start, which flag sets the address).
pub fn assert_unreachable(e: &Error, service: &str, addr: SocketAddr, hint: &str) {
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
    let start = format!("cannot reach {service} at http://{addr}: ");
    assert!(e.message.starts_with(&start), "{}", e.message);
    assert!(e.message.ends_with(&format!("; {hint}")), "{}", e.message);
}

/// The sample environment: [`GUID`], `ghcr.io/acme/py:3.11` titled "Python 3.11" with Python
/// 3.11.9, created and updated at [`noon`], revision 1.
pub fn environment() -> Environment {
    Environment {
        id: 1,
        guid: Uuid::parse_str(GUID).unwrap(),
        spec: EnvironmentSpec {
            name: "ghcr.io/acme/py:3.11".into(),
            title: Some("Python 3.11".into()),
            description: None,
            cluster_name: "Kubernetes".into(),
            matching: Matching::Any,
            supervisor: None,
            python: vec![Installation {
                version: "3.11.9".into(),
                path: "/opt/python/3.11.9/bin/python3".into(),
            }],
            r: vec![],
            quarto: vec![],
            tensorflow: vec![],
            volume_mounts: vec![],
        },
        environment_type: "Kubernetes".into(),
        managed_by: None,
        permissions: vec![],
        created_time: noon(),
        updated_time: noon(),
        revision: 1,
    }
}

/// What a fake service was called with (each call's metadata), and the failure it answers every
/// call with when one is set.
#[derive(Clone, Default)]
pub struct Calls {
    /// Every call fails with this, when set.
    pub failure: Option<Status>,
    /// The metadata of every call, in order.
    pub metadata: Arc<Mutex<Vec<MetadataMap>>>,
}

impl Calls {
    /// Calls that all fail with `status`.
    pub fn failing(status: Status) -> Self {
        Calls {
            failure: Some(status),
            ..Calls::default()
        }
    }

    /// Records the call; the failure, if one is set.
    pub fn record<T>(&self, r: &Request<T>) -> Result<(), Status> {
        self.metadata.lock().unwrap().push(r.metadata().clone());
        self.failure.clone().map_or(Ok(()), Err)
    }

    /// Records the call and answers `value`, or the failure.
    pub fn answer<T, R>(&self, r: &Request<T>, value: R) -> Result<Response<R>, Status> {
        self.record(r)?;
        Ok(Response::new(value))
    }

    /// The metadata header `key` of call `i`, as text (`None` when it was not sent).
    pub fn header(&self, i: usize, key: &str) -> Option<String> {
        let metadata = self.metadata.lock().unwrap();
        metadata[i].get(key).map(|v| v.to_str().unwrap().to_owned())
    }

    /// How many calls were made.
    pub fn count(&self) -> usize {
        self.metadata.lock().unwrap().len()
    }
}
