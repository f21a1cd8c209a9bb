//! The real gateway router, served on a loopback port, in front of a real app: an axum server
//! on another loopback port with an echo route, streaming routes both ways and a WebSocket
//! echo. The content's instance is adopted as the launcher would list it (READY at the app's
//! address); people are known to the gate as the registry would have answered for their keys.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use execenv_kit::metrics::Metrics;
use execenv_proto::identity::v1 as id;
use execenv_proto::launcher::v1 as pb;
use futures::{SinkExt, StreamExt};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::access::HttpMetrics;
use crate::auth::{Authenticator, Gate};
use crate::bundles::BundleStore;
use crate::config::BundlesConfig;
use crate::content_metrics::ContentMetrics;
use crate::content_records::{ContentRecords, Owner, Principal};
use crate::instances::InstanceSettings;
use crate::registry::Registry;
use crate::session::SessionStore;
use crate::state::AppState;
use crate::upstream::Upstream;

const GUID: &str = "0e4f3c2a-8b1d-4e6f-9a7c-5d3b2e1f0a9c";
/// Content with a bundle whose instance does not take connections.
const BROKEN: &str = "7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b";
/// Content without a bundle.
const EMPTY: &str = "3a9c1e7b-2d4f-4b6a-9e8c-7f1a2b3c4d5e";
const WAIT: Duration = Duration::from_secs(10);

/// The app's side of the streaming checks.
#[derive(Clone)]
struct App {
    /// Told by the test when the streamed answer may go on.
    go_on: Arc<Notify>,
    /// The bytes of the streamed upload received so far.
    received: watch::Sender<String>,
}

/// Echoes what the app was sent: method, path and query, headers, body.
async fn echo(request: Request) -> Json<Value> {
    let (parts, body) = request.into_parts();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        headers.insert(name.to_string(), json!(values.join(" | ")));
    }
    let body = to_bytes(body, usize::MAX).await.unwrap();
    Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Sends "first", then "second" once the test says so.
async fn stream(State(app): State<App>) -> Body {
    let go_on = app.go_on.clone();
    let chunks = futures::stream::unfold(0, move |step| {
        let go_on = go_on.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>("first\n"), 1)),
                1 => {
                    go_on.notified().await;
                    Some((Ok("second\n"), 2))
                }
                _ => None,
            }
        }
    });
    Body::from_stream(chunks)
}

/// Reads the body as it comes, telling the test what arrived; answers the total.
async fn upload(State(app): State<App>, body: Body) -> String {
    let mut data = body.into_data_stream();
    let mut all = String::new();
    while let Some(chunk) = data.next().await {
        all.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        app.received.send_replace(all.clone());
    }
    all
}

/// A WebSocket echo: the handshake answered by hand, the upgraded connection spoken by
/// tungstenite.
async fn websocket(mut request: Request) -> Response {
    let key = request.headers()["sec-websocket-key"].as_bytes().to_vec();
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = upgrade.await.unwrap();
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        // Until the close handshake is done (tungstenite answers the client's Close).
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let _ = socket
                    .send(Message::Text(format!("echo: {text}").into()))
                    .await;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(&key))
        .body(Body::empty())
        .unwrap()
}

async fn serve(listener: tokio::net::TcpListener, router: Router) {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .unwrap();
}

/// The app, on a loopback port.
async fn app() -> (SocketAddr, App) {
    let (received, _) = watch::channel(String::new());
    let app = App {
        go_on: Arc::new(Notify::new()),
        received,
    };
    let router = Router::new()
        .route("/stream", get(stream))
        .route("/upload", post(upload))
        .route("/ws", get(websocket))
        .route("/", any(echo))
        .route("/{*rest}", any(echo))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router));
    (addr, app)
}

fn user(guid: &str, name: &str, role: &str, groups: &[&str]) -> id::User {
    id::User {
        guid: guid.to_owned(),
        username: name.to_owned(),
        role: role.to_owned(),
        group_guids: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..id::User::default()
    }
}

fn interactive(id: &str, guid: &str, address: &str) -> pb::Launch {
    let mut launch = pb::Launch {
        id: id.to_owned(),
        content_guid: guid.to_owned(),
        bundle: "1".to_owned(),
        address: address.to_owned(),
        ..pb::Launch::default()
    };
    launch.set_kind(pb::Kind::Interactive);
    launch.set_state(pb::State::Ready);
    launch
}

/// A gateway on a loopback port in front of the app, and what the test needs of it.
struct Stack {
    gateway: SocketAddr,
    app: App,
    state: AppState,
    metrics: Metrics,
    _data: tempfile::TempDir,
}

async fn stack() -> Stack {
    let (app_addr, app) = app().await;
    let data = tempfile::tempdir().unwrap();
    for guid in [GUID, BROKEN] {
        let bundle = data.path().join(format!("content/{guid}/1/bundle"));
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("manifest.json"),
            r#"{"metadata": {"appmode": "python-shiny"}}"#,
        )
        .unwrap();
    }
    let records = ContentRecords::new(data.path());
    records
        .record_owner(
            GUID,
            &Owner {
                user_guid: "u-pat".to_owned(),
                username: "pat".to_owned(),
                recorded_time: chrono::Utc::now(),
            },
        )
        .unwrap();
    records
        .add_permission(GUID, &Principal::User("u-val".to_owned()))
        .unwrap();
    records
        .add_permission(GUID, &Principal::Group("g-team".to_owned()))
        .unwrap();

    // Nothing listens on port 1: the registry and the launcher are never reached.
    let registry = Registry::new("http://127.0.0.1:1", None).unwrap();
    let authenticator = Authenticator::new(registry.clone(), Duration::from_secs(3600));
    for (key, u) in [
        ("k-ada", user("u-ada", "ada", "administrator", &[])),
        ("k-pat", user("u-pat", "pat", "publisher", &[])),
        ("k-val", user("u-val", "val", "viewer", &[])),
        ("k-gil", user("u-gil", "gil", "viewer", &["g-team"])),
        ("k-vic", user("u-vic", "vic", "viewer", &["g-other"])),
    ] {
        authenticator.remember(key, u);
    }
    let gate = Gate::new(
        authenticator,
        SessionStore::new(Duration::from_secs(3600), Duration::from_secs(7200)),
        false,
    );
    let unreachable = |service| Upstream::new(service, "http://127.0.0.1:1", None).unwrap();
    let metrics = Metrics::new();
    let state = AppState::new(
        gate,
        registry,
        (
            unreachable(execenv_client::Service::Selector),
            unreachable(execenv_client::Service::Launcher),
        ),
        "gateway.test".to_owned(),
        HttpMetrics::register(&metrics),
        BundleStore::new(&BundlesConfig {
            dir: data.path().to_path_buf(),
            ..BundlesConfig::default()
        }),
    )
    .with_content(
        InstanceSettings {
            start_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(300)),
        },
        ContentMetrics::register(&metrics),
    );
    // A port nothing listens on any more: the broken content's instance.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let leftovers = state.instances().adopt(vec![
        interactive(&format!("app-{GUID}-1"), GUID, &app_addr.to_string()),
        interactive(&format!("app-{BROKEN}-1"), BROKEN, &closed_addr.to_string()),
    ]);
    assert!(leftovers.is_empty());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, crate::api::router(state.clone())));
    Stack {
        gateway,
        app,
        state,
        metrics,
        _data: data,
    }
}

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway)
    }

    /// Sends `method path` with `headers` and `body`; the status, headers and body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(WAIT, client().request(request.body(body).unwrap()))
            .await
            .unwrap()
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = to_bytes(Body::new(body), usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let (status, _, body) = self.send("GET", path, headers, Body::empty()).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Waits until the instance of GUID has nothing in flight and no WebSocket open.
    async fn until_unused(&self) {
        let table = self.state.instances().table();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let activity = table.activity(GUID).unwrap();
            if activity.in_flight == 0 && activity.websockets == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still in use: {activity:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn a_request_reaches_the_app_stripped_of_its_prefix_and_of_execenvs_credentials() {
    let stack = stack().await;
    let (status, echo) = stack
        .get(
            &format!("/content/{GUID}/api/items?page=2&q=a%20b"),
            &[
                ("authorization", "Key k-val"),
                ("x-rsc-authorization", "Key k-val"),
                ("x-csrf-token", "whatever"),
                ("cookie", "execenv_session=s3cret; app_pref=dark"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/api/items?page=2&q=a%20b");
    let headers = &echo["headers"];
    let host = stack.gateway.to_string();
    assert_eq!(headers["host"], host.as_str());
    assert_eq!(headers["cookie"], "app_pref=dark");
    assert_eq!(headers["x-execenv-user"], "val");
    assert_eq!(
        headers["rstudio-connect-credentials"],
        r#"{"user":"val","groups":[]}"#
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], host.as_str());
    assert_eq!(
        headers["x-forwarded-prefix"],
        format!("/content/{GUID}").as_str()
    );
    assert_eq!(
        headers["rstudio-connect-app-base-url"],
        format!("http://{host}/content/{GUID}/").as_str()
    );
    for gone in ["authorization", "x-rsc-authorization", "x-csrf-token"] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} was forwarded: {headers}"
        );
    }
    // The content's root is the app's root.
    let (status, echo) = stack
        .get(
            &format!("/content/{GUID}/"),
            &[("authorization", "Key k-val")],
        )
        .await;
    assert_eq!((status, echo["path"].as_str()), (StatusCode::OK, Some("/")));
}

#[tokio::test]
async fn the_console_session_cookie_posts_without_a_csrf_token() {
    let stack = stack().await;
    let session = stack
        .state
        .gate()
        .sessions()
        .create("k-gil", std::time::Instant::now())
        .unwrap();
    let cookie = format!("theme=dark; execenv_session={}", session.cookie);
    let (status, _, body) = stack
        .send(
            "POST",
            &format!("/content/{GUID}/form"),
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Body::from("name=gil&x=1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "name=gil&x=1");
    assert_eq!(echo["headers"]["cookie"], "theme=dark");
    assert_eq!(echo["headers"]["x-execenv-user"], "gil");
}

#[tokio::test]
async fn who_may_view_is_the_administrators_the_owner_and_the_listed_users_and_groups() {
    let stack = stack().await;
    let path = format!("/content/{GUID}/");
    for key in ["k-ada", "k-pat", "k-val", "k-gil"] {
        let auth = format!("Key {key}");
        let (status, body) = stack.get(&path, &[("authorization", &auth)]).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
    }
    let (status, body) = stack.get(&path, &[("authorization", "Key k-vic")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], 22);
    assert_eq!(
        body["error"],
        format!("vic may not view content {GUID}: ask its owner or an administrator to add you or one of your groups to its permissions (POST /__api__/execenv/v1/content/{GUID}/permissions)").as_str()
    );
}

#[tokio::test]
async fn without_credentials_content_is_401_saying_how_to_sign_in() {
    let stack = stack().await;
    for headers in [
        &[][..],
        &[("cookie", "execenv_session=forged")][..],
        &[("authorization", "Bearer not-a-key")][..],
    ] {
        let (status, body) = stack.get(&format!("/content/{GUID}/x"), headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(body["code"], 30);
        let error = body["error"].as_str().unwrap();
        assert!(
            error.ends_with("; to view content, sign in at / (the web console) or send \"Authorization: Key <your API key>\""),
            "{error}"
        );
    }
}

#[tokio::test]
async fn content_without_a_bundle_or_a_guid_is_404_and_the_bare_path_redirects() {
    let stack = stack().await;
    let admin = [("authorization", "Key k-ada")];
    let (status, body) = stack.get(&format!("/content/{EMPTY}/"), &admin).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(4))
    );
    assert_eq!(
        body["error"],
        format!("content {EMPTY} has no bundle; upload one with POST /__api__/execenv/v1/content/{EMPTY}/bundles").as_str()
    );
    let (status, body) = stack.get("/content/not-a-guid/x", &admin).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(4))
    );

    let (status, headers, body) = stack
        .send("GET", &format!("/content/{GUID}?tab=2"), &[], Body::empty())
        .await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers["location"],
        format!("/content/{GUID}/?tab=2").as_str()
    );
    assert_eq!(body, "");
}

#[tokio::test]
async fn an_answer_streams_to_the_client_as_the_app_writes_it() {
    let stack = stack().await;
    let request = axum::http::Request::get(stack.url(&format!("/content/{GUID}/stream")))
        .header("authorization", "Key k-val")
        .body(Body::empty())
        .unwrap();
    let response = tokio::time::timeout(WAIT, client().request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut chunks = Body::new(response.into_body()).into_data_stream();
    // The first part arrives while the app has not written the second.
    let first = tokio::time::timeout(WAIT, chunks.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    assert_eq!(
        stack
            .state
            .instances()
            .table()
            .activity(GUID)
            .unwrap()
            .in_flight,
        1,
        "the request is in flight while its answer streams"
    );
    stack.app.go_on.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, chunks.next()).await.unwrap() {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(rest, b"second\n");
    stack.until_unused().await;
}

#[tokio::test]
async fn a_request_body_streams_to_the_app_as_the_client_sends_it() {
    let stack = stack().await;
    let (sender, receiver) = mpsc::channel::<Result<&'static str, std::io::Error>>(1);
    let body = Body::from_stream(tokio_stream_from(receiver));
    let request = axum::http::Request::post(stack.url(&format!("/content/{GUID}/upload")))
        .header("authorization", "Key k-pat")
        .body(body)
        .unwrap();
    let answer = tokio::spawn(client().request(request));
    sender.send(Ok("one,")).await.unwrap();
    // The app has the first part before the client sent the second.
    let mut received = stack.app.received.subscribe();
    tokio::time::timeout(WAIT, received.wait_for(|r| r == "one,"))
        .await
        .unwrap()
        .unwrap();
    sender.send(Ok("two")).await.unwrap();
    drop(sender);
    let response = tokio::time::timeout(WAIT, answer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(Body::new(response.into_body()), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"one,two");
}

/// A stream of what `receiver` gets.
fn tokio_stream_from<T: Send + 'static>(
    receiver: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(
        receiver,
        |mut r| async move { r.recv().await.map(|t| (t, r)) },
    )
}

#[tokio::test]
async fn a_websocket_is_joined_to_the_app_and_counted_while_open() {
    let stack = stack().await;
    let url = format!("ws://{}/content/{GUID}/ws", stack.gateway);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", "Key k-val".parse().unwrap());
    let (mut socket, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        socket.send(Message::Text(text.into())).await.unwrap();
        let answer = tokio::time::timeout(WAIT, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer, Message::Text(format!("echo: {text}").into()));
    }
    let activity = stack.state.instances().table().activity(GUID).unwrap();
    assert_eq!((activity.in_flight, activity.websockets), (0, 1));
    assert!(
        stack
            .metrics
            .encode()
            .contains("execenv_gateway_content_websockets 1\n"),
        "{}",
        stack.metrics.encode()
    );
    // The close handshake, then the connection ends (as a browser's does).
    socket.close(None).await.unwrap();
    while let Some(Ok(_)) = tokio::time::timeout(WAIT, socket.next()).await.unwrap() {}
    drop(socket);
    stack.until_unused().await;
    assert!(
        stack
            .metrics
            .encode()
            .contains("execenv_gateway_content_websockets 0\n")
    );
}

#[tokio::test]
async fn an_instance_that_refuses_connections_is_a_502_naming_its_launch() {
    let stack = stack().await;
    let (status, body) = stack
        .get(
            &format!("/content/{BROKEN}/"),
            &[("authorization", "Key k-ada")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], 1);
    assert_eq!(
        body["payload"]["launch_id"],
        format!("app-{BROKEN}-1").as_str()
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "content {BROKEN}'s instance (launch app-{BROKEN}-1) did not take the connection: cannot reach the launcher"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn content_requests_are_logged_and_counted_under_one_route() {
    let stack = stack().await;
    let key = [("authorization", "Key k-val")];
    stack.get(&format!("/content/{GUID}/"), &key).await;
    stack.get(&format!("/content/{GUID}/a/b"), &key).await;
    stack.get(&format!("/content/{GUID}/a"), &[]).await;
    let text = stack.metrics.encode();
    for line in [
        "http_server_requests_total{method=\"GET\",route=\"/content/{guid}/{*rest}\",status=\"200\"} 2",
        "http_server_requests_total{method=\"GET\",route=\"/content/{guid}/{*rest}\",status=\"401\"} 1",
        "execenv_gateway_content_requests_total{code=\"200\"} 2",
        "execenv_gateway_content_requests_total{code=\"401\"} 1",
        "execenv_gateway_content_request_duration_seconds_count 2",
        "execenv_gateway_content_instances 2",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
}

#[tokio::test]
async fn the_instances_are_listed_with_their_use_for_publishers_and_administrators() {
    let stack = stack().await;
    let viewer = [("authorization", "Key k-val")];
    stack.get(&format!("/content/{GUID}/a"), &viewer).await;
    stack.get(&format!("/content/{GUID}/b"), &viewer).await;
    stack.until_unused().await;
    let (status, body) = stack
        .get(
            "/__api__/execenv/v1/instances",
            &[("authorization", "Key k-pat")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["idle_timeout_s"], 300);
    let instances = body["instances"].as_array().unwrap();
    let guids: Vec<&str> = instances
        .iter()
        .map(|i| i["content_guid"].as_str().unwrap())
        .collect();
    assert_eq!(guids, vec![GUID, BROKEN]);
    let served = &instances[0];
    assert_eq!(served["state"], "ready");
    assert_eq!(served["launch_id"], format!("app-{GUID}-1").as_str());
    assert_eq!(served["requests"], 2);
    assert_eq!(served["requests_in_flight"], 0);
    assert_eq!(
        served["cold_start_ms"],
        Value::Null,
        "adopted, not started here"
    );
    assert!(served["idle_stop_time"].is_string(), "{served}");
    assert_eq!(body["totals"]["requests"], 2);
    assert_eq!(body["totals"]["cold_starts"], 0);
    assert!(body["totals"]["request_p50_ms"].is_number(), "{body}");

    let (status, body) = stack.get("/__api__/execenv/v1/instances", &viewer).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (StatusCode::FORBIDDEN, Some(22))
    );
}
