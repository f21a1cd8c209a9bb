#![allow(clippy::unwrap_used)]

use std::time::Duration;

use execenv_core::Role;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::*;
use crate::GrpcServer;
use crate::readiness::Readiness;
use crate::shutdown::Shutdown;

fn local(max_decoding: usize, max_streams: u32) -> ServerConfig {
    ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        max_decoding_message_bytes: max_decoding,
        max_concurrent_streams: max_streams,
        ..ServerConfig::with_ports(0, 0)
    }
}

/// A kit server with only health (and reflection) on `config`; its address and how to stop it.
async fn serve(config: &ServerConfig) -> (std::net::SocketAddr, Shutdown, crate::Servers) {
    let server = GrpcServer::bind(config).await.unwrap();
    let addr = server.grpc_addr();
    let shutdown = Shutdown::new();
    let servers = server.spawn(Readiness::new(), &shutdown).unwrap();
    (addr, shutdown, servers)
}

#[test]
fn a_client_gets_max_watches_and_a_closed_one_frees_its_place() {
    let bound = WatchBound::with_setting(2, "EXECENV_SERVER__MAX_WATCHES_PER_CLIENT");
    let first = bound.open("10.0.0.9 as u1".to_owned(), "catalogue watches");
    let second = bound.open("10.0.0.9 as u1".to_owned(), "catalogue watches");
    assert!(first.is_ok() && second.is_ok());
    let refused = bound
        .open("10.0.0.9 as u1".to_owned(), "catalogue watches")
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::ResourceExhausted);
    assert_eq!(
        refused.message,
        "10.0.0.9 as u1 holds 2 catalogue watches open already, the most one client may (EXECENV_SERVER__MAX_WATCHES_PER_CLIENT); close one first, or raise the limit"
    );
    assert!(
        bound
            .open("10.0.0.7 as u1".to_owned(), "catalogue watches")
            .is_ok(),
        "another client has places of its own"
    );
    drop(first);
    assert_eq!(bound.count("10.0.0.9 as u1"), 1);
    assert!(
        bound
            .open("10.0.0.9 as u1".to_owned(), "catalogue watches")
            .is_ok()
    );
}

#[test]
fn a_watch_counts_against_the_peer_and_the_person() {
    let person = Caller {
        user: Some("u1".to_owned()),
        groups: vec![],
        role: Role::Publisher,
    };
    let service = Caller {
        user: None,
        groups: vec![],
        role: Role::Administrator,
    };
    let request = tonic::Request::new(());
    assert_eq!(watch_client(&request, &person), "unknown as u1");
    assert_eq!(watch_client(&request, &service), "unknown as the service");
}

#[tokio::test]
async fn a_request_over_the_message_limit_is_resource_exhausted_naming_the_setting() {
    let (addr, shutdown, servers) = serve(&local(64, 16)).await;
    let mut health = HealthClient::new(crate::grpc::tests::channel(addr).await);
    let refused = health
        .check(HealthCheckRequest {
            service: "x".repeat(100),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "the request is larger than 64 bytes, the most this service reads (EXECENV_SERVER__MAX_DECODING_MESSAGE_BYTES)"
    );
    let small = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert!(small.is_ok(), "{small:?}");
    drop(health);
    shutdown.trigger();
    servers.join().await;
}

#[tokio::test]
async fn a_connection_is_told_the_most_streams_it_may_open() {
    let (addr, shutdown, servers) = serve(&local(1 << 20, 3)).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (_client, mut connection) = h2::client::handshake(tcp).await.unwrap();
    // The server's SETTINGS frame arrives while the connection is polled.
    let advertised = tokio::time::timeout(
        Duration::from_secs(10),
        std::future::poll_fn(|cx| {
            let _ = Pin::new(&mut connection).poll(cx);
            if connection.max_concurrent_send_streams() == 3 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }),
    )
    .await;
    assert!(
        advertised.is_ok(),
        "the server advertised {} streams",
        connection.max_concurrent_send_streams()
    );
    drop(connection);
    shutdown.trigger();
    servers.join().await;
}
