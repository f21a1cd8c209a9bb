#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::convert::Infallible;

use tonic::codegen::Bytes;
use tower::{Layer, Service, ServiceExt};

use super::*;

/// A response body that yields the given frames.
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn trailers(code: i32) -> Frame<Bytes> {
    let mut t = http::HeaderMap::new();
    t.insert("grpc-status", code.into());
    Frame::trailers(t)
}

fn request(path: &str) -> http::Request<()> {
    http::Request::builder().uri(path).body(()).unwrap()
}

async fn drain<B: Body + Unpin>(body: &mut B) {
    while std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx))
        .await
        .is_some()
    {}
}

fn handled(service: &str, method: &str, code: &str) -> String {
    format!(
        "grpc_server_handled_total{{grpc_service=\"{service}\",grpc_method=\"{method}\",grpc_code=\"{code}\"}} 1\n"
    )
}

#[tokio::test]
async fn trailers_only_error_is_recorded_from_the_headers() {
    let metrics = Metrics::new();
    let svc =
        GrpcMetricsLayer::new(&metrics).layer(tower::service_fn(|_req: http::Request<()>| async {
            let response = http::Response::builder()
                .header("grpc-status", "5")
                .body(Frames(VecDeque::new()))
                .unwrap();
            Ok::<_, Infallible>(response)
        }));
    let response = svc.oneshot(request("/x.Y/Z")).await.unwrap();
    let text = metrics.encode();
    assert!(text.contains(&handled("x.Y", "Z", "NotFound")), "{text}");
    assert!(
        text.contains("grpc_server_started_total{grpc_service=\"x.Y\",grpc_method=\"Z\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "grpc_server_handling_seconds_count{grpc_service=\"x.Y\",grpc_method=\"Z\"} 1\n"
        ),
        "{text}"
    );
    // Reading and dropping the body must not count the call again.
    let mut body = response.into_body();
    drain(&mut body).await;
    drop(body);
    let text = metrics.encode();
    assert_eq!(
        text.matches("grpc_server_handled_total{").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn status_in_trailers_is_recorded_at_the_end_of_the_stream() {
    let metrics = Metrics::new();
    let svc =
        GrpcMetricsLayer::new(&metrics).layer(tower::service_fn(|_req: http::Request<()>| async {
            let frames = VecDeque::from([
                Frame::data(Bytes::from_static(b"one")),
                Frame::data(Bytes::from_static(b"two")),
                trailers(0),
            ]);
            Ok::<_, Infallible>(http::Response::new(Frames(frames)))
        }));
    let response = svc
        .oneshot(request("/execenv.registry.v1.Registry/WatchEnvironments"))
        .await
        .unwrap();
    assert!(!metrics.encode().contains("grpc_server_handled_total{"));
    let mut body = response.into_body();
    drain(&mut body).await;
    drop(body);
    let text = metrics.encode();
    assert!(
        text.contains(&handled(
            "execenv.registry.v1.Registry",
            "WatchEnvironments",
            "OK"
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("grpc_server_handled_total{").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn body_dropped_before_its_status_counts_as_canceled() {
    let metrics = Metrics::new();
    let mut svc =
        GrpcMetricsLayer::new(&metrics).layer(tower::service_fn(|_req: http::Request<()>| async {
            let frames = VecDeque::from([Frame::data(Bytes::from_static(b"one")), trailers(0)]);
            Ok::<_, Infallible>(http::Response::new(Frames(frames)))
        }));
    let response = svc
        .ready()
        .await
        .unwrap()
        .call(request("/x.Y/Stream"))
        .await
        .unwrap();
    drop(response);
    let text = metrics.encode();
    assert!(
        text.contains(&handled("x.Y", "Stream", "Canceled")),
        "{text}"
    );
}

#[test]
fn paths_split_into_service_and_method() {
    assert_eq!(split_path("/pkg.Service/Method"), ("pkg.Service", "Method"));
    assert_eq!(split_path("/"), ("unknown", "unknown"));
    assert_eq!(split_path("/a/b/c"), ("unknown", "unknown"));
}

#[tokio::test]
async fn real_tonic_server_with_both_layers_records_each_call_with_its_code() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let metrics = Metrics::new();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = crate::shutdown::Shutdown::new();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(crate::propagation::TraceContextLayer)
            .layer(GrpcMetricsLayer::new(&metrics))
            .add_service(health)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown.wait_owned(),
            ),
    );
    let mut client = HealthClient::new(crate::grpc::tests::channel(addr).await);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    let missing = client
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    drop(client);
    shutdown.trigger();
    server.await.unwrap().unwrap();

    let text = metrics.encode();
    assert!(
        text.contains(&handled("grpc.health.v1.Health", "Check", "OK")),
        "{text}"
    );
    assert!(
        text.contains(&handled("grpc.health.v1.Health", "Check", "NotFound")),
        "{text}"
    );
    assert!(text.contains("grpc_server_started_total{grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Check\"} 2\n"), "{text}");
}
