//! Running a service's two servers the same way everywhere: gRPC (with trace-context and gRPC
//! metrics layers, TCP_NODELAY) on one listener, `/metrics` `/healthz` `/readyz` on the other,
//! both until shutdown, and a bounded drain afterwards.

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::Routes;

use crate::admin::serve_admin;
use crate::listen::grpc_incoming;
use crate::metrics::{GrpcMetricsLayer, Metrics};
use crate::propagation::TraceContextLayer;
use crate::readiness::Readiness;
use crate::shutdown::{DRAIN_GRACE, Shutdown, join_server};

/// A service's running gRPC and admin servers.
pub struct Servers {
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    admin: JoinHandle<std::io::Result<()>>,
}

impl Servers {
    /// Serves `routes` (the service, health and reflection) on `grpc` and the admin endpoints
    /// on `admin`, until `shutdown`.
    pub fn spawn(
        routes: Routes,
        grpc: TcpListener,
        admin: TcpListener,
        metrics: &Metrics,
        readiness: Readiness,
        shutdown: &Shutdown,
    ) -> Servers {
        let mut builder = tonic::transport::Server::builder()
            .layer(TraceContextLayer)
            .layer(GrpcMetricsLayer::new(metrics));
        let grpc = tokio::spawn(
            builder
                .add_routes(routes)
                .serve_with_incoming_shutdown(grpc_incoming(grpc), shutdown.wait_owned()),
        );
        let admin = tokio::spawn(serve_admin(
            admin,
            metrics.clone(),
            readiness,
            shutdown.wait_owned(),
        ));
        Servers { grpc, admin }
    }

    /// Waits for both servers after shutdown was asked for, each at most [`DRAIN_GRACE`].
    pub async fn join(self) {
        join_server("gRPC server", self.grpc, DRAIN_GRACE).await;
        join_server("admin server", self.admin, DRAIN_GRACE).await;
    }
}
