//! Binding a service's two listeners (gRPC and admin HTTP) before anything is served, so a
//! taken port is a clear start-up error and port 0 yields the addresses actually bound.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::ServerConfig;

/// A listen address that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({what}): {source}")]
pub struct BindError {
    /// Which server: "gRPC" or "admin HTTP".
    pub what: &'static str,
    /// The configured address.
    pub addr: SocketAddr,
    /// The cause.
    pub source: std::io::Error,
}

/// The bound listeners of a service and their actual addresses.
#[derive(Debug)]
pub struct Listeners {
    /// The gRPC listener.
    pub grpc: TcpListener,
    /// The admin HTTP listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin: TcpListener,
    /// Where gRPC is bound.
    pub grpc_addr: SocketAddr,
    /// Where the admin server is bound.
    pub admin_addr: SocketAddr,
}

impl Listeners {
    /// Binds both addresses of `server`.
    pub async fn bind(server: &ServerConfig) -> Result<Listeners, BindError> {
        let (grpc, grpc_addr) = bind(server.grpc_addr, "gRPC").await?;
        let (admin, admin_addr) = bind(server.admin_addr, "admin HTTP").await?;
        Ok(Listeners {
            grpc,
            admin,
            grpc_addr,
            admin_addr,
        })
    }
}

/// The gRPC listener as tonic's incoming connection stream, with TCP_NODELAY on every accepted
/// connection: without it small responses wait for the peer's delayed ACK (about 40 ms on Linux).
pub fn grpc_incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Binds one listener, named `what` in the error (e.g. "REST API HTTP"); returns it and the
/// address actually bound.
pub async fn bind(
    addr: SocketAddr,
    what: &'static str,
) -> Result<(TcpListener, SocketAddr), BindError> {
    let fail = |source| BindError { what, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    Ok((listener, bound))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn port_zero_yields_the_bound_ports_and_a_taken_port_names_the_server() {
        let any = ServerConfig {
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            admin_addr: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::with_ports(0, 0)
        };
        let first = Listeners::bind(&any).await.unwrap();
        assert_ne!(first.grpc_addr.port(), 0);
        let taken = ServerConfig {
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            admin_addr: first.admin_addr,
            ..ServerConfig::with_ports(0, 0)
        };
        let err = Listeners::bind(&taken).await.unwrap_err();
        assert_eq!(err.what, "admin HTTP");
        assert!(err.to_string().contains(&first.admin_addr.to_string()));
    }
}
