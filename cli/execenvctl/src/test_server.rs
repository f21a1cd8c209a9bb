#![allow(clippy::unwrap_used)]
//! In-process gRPC servers for the command tests: served on a free local port, and an address
//! nothing listens on.

use std::net::SocketAddr;

use tonic::transport::server::{Router, TcpIncoming};

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
