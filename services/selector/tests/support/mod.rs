//! What the selector's integration tests share: its configuration on port 0, environments and
//! requests, calls to its gRPC and admin ports, and waiting with a deadline.
// Each test binary uses its own part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use execenv_selector::{Config, Running, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Request;

pub const DEADLINE: Duration = Duration::from_secs(10);
pub const TOKEN: &str = "s3cret";

pub type Client = SelectorClient<tonic::transport::Channel>;

pub fn config(registry_url: String) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    c.registry.url = registry_url;
    c.auth.service_token = Some(TOKEN.into());
    c
}

/// An environment with one Python installation.
pub fn environment(image: &str, python: &str) -> pb::Environment {
    let now = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    pb::Environment {
        id: "1".into(),
        guid: uuid::Uuid::new_v4().to_string(),
        name: image.into(),
        title: Some(format!("{image} title")),
        cluster_name: "Kubernetes".into(),
        environment_type: "Kubernetes".into(),
        matching: "any".into(),
        python: Some(pb::Installations {
            installations: vec![pb::Installation {
                version: python.into(),
                path: format!("/opt/python/{python}/bin/python3"),
            }],
        }),
        created_time: Some(now),
        updated_time: Some(now),
        ..Default::default()
    }
}

pub fn python(version: &str) -> sel::SelectRequest {
    sel::SelectRequest {
        requirements: Some(sel::Requirements {
            python_version: Some(version.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A request with the service token, acting for `role` (none = the service itself).
pub fn request<T>(message: T, role: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    let md = r.metadata_mut();
    md.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    if let Some(role) = role {
        md.insert("x-execenv-user", "alice".parse().unwrap());
        md.insert("x-execenv-role", role.parse().unwrap());
    }
    r
}

pub async fn client(running: &Running) -> Client {
    SelectorClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap()
}

/// One HTTP/1.1 GET on the admin port: (status, body).
pub async fn get(running: &Running, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(running.admin_addr)
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `check` until it holds, failing at the deadline.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}"
        );
    }
}

/// Starts the selector against `url` and waits until it is ready.
pub async fn start_ready(url: String) -> (Running, Client) {
    start_ready_with(config(url)).await
}

/// Starts the selector with `config` and waits until it is ready.
pub async fn start_ready_with(config: Config) -> (Running, Client) {
    let running = start(config, Shutdown::new()).await.unwrap();
    tokio::time::timeout(DEADLINE, running.state.catalogue.wait_until_held())
        .await
        .unwrap();
    let c = client(&running).await;
    (running, c)
}

pub async fn stop(running: Running) {
    running.shutdown.trigger();
    running.done.await.unwrap();
}

pub async fn select(c: &mut Client, version: &str) -> Result<sel::SelectResponse, tonic::Status> {
    c.select(request(python(version), None))
        .await
        .map(tonic::Response::into_inner)
}

/// The value of the sample `name` (with its labels) in OpenMetrics text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing"))
        .trim()
        .parse()
        .unwrap()
}
