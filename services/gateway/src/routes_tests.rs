#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use execenv_kit::metrics::Metrics;
use serde_json::json;
use tower::ServiceExt;

/// A router whose registry is never reached (a port nothing listens on; connects lazily), and
/// the metrics it records in.
fn app() -> (Router, Metrics) {
    let registry = Registry::new("http://127.0.0.1:1", None).unwrap();
    let metrics = Metrics::new();
    let state = AppState::new(
        Authenticator::new(registry.clone()),
        registry,
        (
            Upstream::new(
                "selector",
                "EXECENV_SELECTOR__URL",
                "http://127.0.0.1:1",
                None,
            )
            .unwrap(),
            Upstream::new(
                "launcher",
                "EXECENV_LAUNCHER__URL",
                "http://127.0.0.1:1",
                None,
            )
            .unwrap(),
        ),
        "gateway.test".to_owned(),
        HttpMetrics::register(&metrics),
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
    call_with(app, get("/no/such/path")).await;
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

#[test]
fn filters_compare_text_fields_and_ignore_unknown_keys() {
    let env = json!({"name": "img", "title": null, "id": "3"});
    let f = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    assert!(matches_filters(&env, &f(&[("name", "img"), ("id", "3")])));
    assert!(!matches_filters(&env, &f(&[("name", "other")])));
    assert!(matches_filters(&env, &f(&[("page", "2")])));
    assert!(!matches_filters(&env, &f(&[("title", "t")])));
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
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}
