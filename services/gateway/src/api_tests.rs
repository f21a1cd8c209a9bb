#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use execenv_kit::metrics::Metrics;
use serde_json::Value;
use tower::ServiceExt;

use crate::access::HttpMetrics;
use crate::auth::{Authenticator, Gate};
use crate::registry::Registry;
use crate::server_settings_api::CONNECT_VERSION;
use crate::session::SessionStore;
use crate::upstream::Upstream;

/// A router whose registry is never reached (a port nothing listens on; connects lazily), and
/// the metrics it records in.
fn app() -> (Router, Metrics) {
    let registry = Registry::new("http://127.0.0.1:1", None).unwrap();
    let metrics = Metrics::new();
    let state = AppState::new(
        Gate::new(
            Authenticator::new(registry.clone(), std::time::Duration::from_secs(10)),
            SessionStore::new(
                std::time::Duration::from_secs(3600),
                std::time::Duration::from_secs(7200),
            ),
            false,
        ),
        registry,
        (
            Upstream::new(
                execenv_client::Service::Selector,
                "http://127.0.0.1:1",
                None,
            )
            .unwrap(),
            Upstream::new(
                execenv_client::Service::Launcher,
                "http://127.0.0.1:1",
                None,
            )
            .unwrap(),
        ),
        "gateway.test".to_owned(),
        HttpMetrics::register(&metrics),
        crate::bundles::BundleStore::new(&crate::config::BundlesConfig {
            dir: "/nonexistent/execenv-data".into(),
            ..Default::default()
        }),
    );
    (router(state), metrics)
}

async fn call(request: Request<Body>) -> (StatusCode, String, Value) {
    call_with(app().0, request).await
}

async fn call_with(app: Router, request: Request<Body>) -> (StatusCode, String, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, content_type, serde_json::from_slice(&body).unwrap())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn server_settings_report_a_version_posit_sdk_accepts_and_execenvs_own() {
    let (status, content_type, body) = call(get("/__api__/server_settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["version"], CONNECT_VERSION);
    assert_eq!(body["execenv_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["hostname"], "gateway.test");
}

#[tokio::test]
async fn a_request_without_a_key_is_401_code_30() {
    for path in [
        "/__api__/v1/user",
        "/__api__/v1/environments",
        "/__api__/v1/environments/x",
    ] {
        let (status, content_type, body) = call(get(path)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(content_type, "application/json");
        assert_eq!(body["code"], 30);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Authorization: Key")
        );
        assert_eq!(body["payload"], Value::Null);
    }
}

#[tokio::test]
async fn requests_are_counted_by_their_route_template() {
    let (app, metrics) = app();
    call_with(app.clone(), get("/__api__/v1/environments/abc")).await;
    call_with(app, get("/__api__/no/such/path")).await;
    let text = metrics.encode();
    assert!(
        text.contains("route=\"/__api__/v1/environments/{guid}\",status=\"401\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\",status=\"404\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let (status, content_type, body) = call(get("/__api__/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["code"], 4);
}

#[tokio::test]
async fn an_unreachable_registry_is_a_json_error_not_a_hang() {
    let request = Request::get("/__api__/v1/user")
        .header("authorization", "Key ee_whatever")
        .body(Body::empty())
        .unwrap();
    let (status, content_type, body) = call(request).await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(content_type, "application/json");
    assert!(
        body["code"].is_number() && body["error"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key_and_documents_every_route() {
    let (status, content_type, doc) = call(
        Request::get("/__api__/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/__api__/v1/environments/{guid}",
        "/__api__/execenv/v1/select",
        "/__api__/execenv/v1/launches/{id}/logs",
        "/__api__/execenv/v1/content/{guid}/bundles",
        "/__api__/execenv/v1/content/{guid}/bundles/{id}",
        "/__api__/execenv/v1/content/{guid}",
        "/__api__/execenv/v1/content/{guid}/permissions",
        "/__api__/execenv/v1/content/{guid}/permissions/{permission_guid}",
        "/__api__/execenv/v1/instances",
        "/__api__/execenv/v1/images/examine",
        "/__api__/execenv/v1/checks",
        "/__api__/execenv/v1/checks/refresh",
        "/__api__/execenv/v1/environments/{guid}/check",
        "/content/{guid}",
        "/content/{guid}/{path}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}

/// Every (method, path) of the OpenAPI document, path parameters filled in with `x`.
fn documented_routes() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete: String = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                routes.push((method.to_uppercase(), concrete.clone()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_documented_route_is_served_and_only_the_documents_sign_in_and_a_content_redirect_need_no_key()
 {
    let public = ["/__api__/server_settings", "/__api__/openapi.json"];
    let routes = documented_routes();
    assert_eq!(routes.len(), 52, "{routes:?}");
    let guid = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
    for (method, path) in routes {
        let path = match path.strip_prefix("/content/x") {
            Some(rest) => format!("/content/{guid}{rest}"),
            None => path,
        };
        let request = Request::builder()
            .method(method.as_str())
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        if path == format!("/content/{guid}") {
            // A content's bare path redirects to its folder, whoever asks.
            let response = app().0.oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
            assert_eq!(
                response.headers()[header::LOCATION],
                format!("/content/{guid}/")
            );
            continue;
        }
        if method == "HEAD" {
            let response = app().0.oneshot(request).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            continue;
        }
        let (status, content_type, body) = call(request).await;
        assert_eq!(content_type, "application/json", "{method} {path}");
        if public.contains(&path.as_str()) {
            assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        } else if (method.as_str(), path.as_str()) == ("POST", "/__api__/execenv/v1/session") {
            // Signing in takes a key in its body, not a header: an empty body is a bad request.
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["code"], 30, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_a_json_405() {
    for path in [
        "/__api__/server_settings",
        "/__api__/v1/environments/x",
        "/__api__/execenv/v1/launches/x/cancel",
    ] {
        let request = Request::builder()
            .method("PATCH")
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (status, content_type, body) = call(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(content_type, "application/json", "{path}");
        assert_eq!(body["code"], 2, "{path}: {body}");
    }
}

#[tokio::test]
async fn signing_in_needs_exactly_an_api_key_field() {
    for body in [
        "",
        "not json",
        "{}",
        r#"{"api_key": 3}"#,
        r#"{"api_key": "k", "x": 1}"#,
    ] {
        let request = Request::post("/__api__/execenv/v1/session")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let (status, content_type, answer) = call(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(content_type, "application/json");
        assert!(answer["error"].as_str().unwrap().contains("api_key"));
    }
}

#[tokio::test]
async fn an_unknown_session_cookie_is_401_everywhere() {
    for (method, path) in [
        ("GET", "/__api__/execenv/v1/session"),
        ("DELETE", "/__api__/execenv/v1/session"),
        ("GET", "/__api__/v1/environments"),
        ("POST", "/__api__/v1/environments"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", "execenv_session=forged")
            .header("x-csrf-token", "whatever")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(
            body["error"].as_str().unwrap().contains("sign in"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_client_route_is_the_console_and_the_api_keeps_its_json_404() {
    let response = app().0.oneshot(get("/environments")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.headers().contains_key("x-execenv-console"));
    let (status, content_type, _) = call(get("/__api__/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");
    let post = Request::post("/environments").body(Body::empty()).unwrap();
    let (status, content_type, _) = call(post).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");
}

/// A request refused on its head alone (here an upload without a key: 401) is answered at once,
/// and the connection still takes the rest of the body: the client, still sending, reads the
/// refusal, finishes its body and sends its next request on the same connection.
#[tokio::test]
async fn a_body_refused_before_it_is_read_is_read_to_its_end_so_the_client_gets_the_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BODY: usize = 4 << 20;
    const FIRST: usize = 64 << 10;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(execenv_kit::http::serve(listener, app().0, None, async {
        let _ = stopped.await;
    }));

    let client = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let head = format!(
            "POST /__api__/execenv/v1/content/4e2a7c9b-1f3d-4a5e-8b6c-9d0e1f2a3b4c/bundles \
             HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/gzip\r\n\
             Content-Length: {BODY}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&vec![b'x'; FIRST]).await?;
        let refusal = read_response(&mut stream).await?;
        // The rest of the body: every write is taken.
        for _ in 0..(BODY - FIRST) / FIRST {
            stream.write_all(&vec![b'x'; FIRST]).await?;
        }
        stream
            .write_all(b"GET /__api__/server_settings HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            .await?;
        let next = read_response(&mut stream).await?;
        Ok::<_, std::io::Error>((refusal, next))
    };
    let (refusal, next) = tokio::time::timeout(std::time::Duration::from_secs(60), client)
        .await
        .expect("the exchange ends")
        .expect("every write and read succeeds");
    assert!(refusal.starts_with("HTTP/1.1 401 "), "{refusal}");
    assert!(refusal.contains("API key"), "{refusal}");
    assert!(next.starts_with("HTTP/1.1 200 "), "{next}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    /// One response: its head, and its body by its Content-Length.
    async fn read_response(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            bytes.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&bytes).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        bytes.extend_from_slice(&body);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
