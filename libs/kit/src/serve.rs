//! Running a service's two servers the same way everywhere ([`GrpcServer`] assembles them): gRPC (with trace-context and gRPC
//! metrics layers, TCP_NODELAY) on one listener, `/metrics` `/healthz` `/readyz` on the other,
//! both until shutdown, and a bounded drain afterwards.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::admin::serve_admin;
use crate::bootstrap::{Started, Stopped};
use crate::config::ServerConfig;
use crate::grpc::reflection_service;
use crate::limits::{MessageSizeLayer, SizeBounded, WatchBound, bound_messages, connection_limits};
use crate::listen::{Listeners, grpc_incoming};
use crate::metrics::{GrpcMetricsLayer, Metrics};
use crate::propagation::TraceContextLayer;
use crate::readiness::Readiness;
use crate::shutdown::{DRAIN_GRACE, Shutdown, join_server};
use crate::start_error::StartError;
use crate::tls::{ServerTls, TlsConfig};

/// A service's running gRPC and admin servers.
pub struct Servers {
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    admin: JoinHandle<std::io::Result<()>>,
}

impl Servers {
    /// Serves `routes` (the service, health and reflection) on `grpc` and the admin endpoints
    /// on `admin`, until `shutdown`.
    pub fn spawn(
        (routes, server): (Routes, &ServerConfig),
        grpc: TcpListener,
        admin: TcpListener,
        metrics: &Metrics,
        readiness: Readiness,
        shutdown: &Shutdown,
    ) -> Servers {
        Servers::spawn_tls(
            (routes, server),
            grpc,
            None,
            admin,
            metrics,
            readiness,
            shutdown,
        )
    }

    /// [`Servers::spawn`], serving gRPC over TLS only when `tls` is given.
    pub fn spawn_tls(
        (routes, server): (Routes, &ServerConfig),
        grpc: TcpListener,
        tls: Option<ServerTls>,
        admin: TcpListener,
        metrics: &Metrics,
        readiness: Readiness,
        shutdown: &Shutdown,
    ) -> Servers {
        let mut builder = connection_limits(server)
            .layer(TraceContextLayer)
            .layer(GrpcMetricsLayer::new(metrics))
            .layer(MessageSizeLayer::new(server));
        let router = builder.add_routes(routes);
        let grpc = match tls {
            Some(tls) => tokio::spawn(router.serve_with_incoming_shutdown(
                tls.accept(grpc).into_stream(),
                shutdown.wait_owned(),
            )),
            None => tokio::spawn(
                router.serve_with_incoming_shutdown(grpc_incoming(grpc), shutdown.wait_owned()),
            ),
        };
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

/// A gRPC service being assembled the one way every service is: its two listeners bound first
/// (a taken port is a start-up error, port 0 yields the real address), then its services added —
/// each NOT_SERVING in gRPC health until its [`Readiness`] says otherwise — then, in
/// [`GrpcServer::spawn`], reflection, the trace-context and metrics layers, `/metrics`,
/// `/healthz`, `/readyz`, and graceful shutdown.
pub struct GrpcServer {
    listeners: Listeners,
    server: ServerConfig,
    metrics: Metrics,
    reporter: tonic_health::server::HealthReporter,
    routes: tonic::service::RoutesBuilder,
    tls: Option<ServerTls>,
}

impl GrpcServer {
    /// Binds the gRPC and admin addresses of `server`.
    pub async fn bind(server: &ServerConfig) -> Result<GrpcServer, StartError> {
        let listeners = Listeners::bind(server).await?;
        let (reporter, health) = tonic_health::server::health_reporter();
        let mut routes = tonic::service::Routes::builder();
        routes.add_service(bound_messages(health, server));
        Ok(GrpcServer {
            listeners,
            server: server.clone(),
            metrics: Metrics::new(),
            reporter,
            routes,
            tls: None,
        })
    }

    /// Serves gRPC over TLS only (when `tls` sets a certificate), mutual TLS when it sets a
    /// client CA; a file that cannot be read or used is a start-up error naming its setting.
    pub fn with_tls(mut self, tls: &TlsConfig) -> Result<GrpcServer, StartError> {
        self.tls = tls.server(&[b"h2"])?;
        Ok(self)
    }

    /// Where gRPC is bound.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.listeners.grpc_addr
    }

    /// Where the admin server is bound.
    pub fn admin_addr(&self) -> SocketAddr {
        self.listeners.admin_addr
    }

    /// The registry the service's own metrics join (served at `/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The bound on watch streams per client (`server.max_watches_per_client`), for the
    /// services that serve watches.
    pub fn watch_bound(&self) -> WatchBound {
        WatchBound::new(&self.server)
    }

    /// Adds `service`, its messages bounded by `server.max_*_message_bytes`; it reports
    /// NOT_SERVING ("starting") until the returned readiness is set.
    pub async fn add_service<S>(&mut self, service: S) -> Readiness
    where
        S: SizeBounded
            + tower_service::Service<
                http::Request<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let readiness = Readiness::with_health(self.reporter.clone(), S::NAME);
        readiness.set_not_ready("starting").await;
        self.routes
            .add_service(bound_messages(service, &self.server));
        readiness
    }

    /// Serves everything added, with reflection over every execenv API, until `shutdown`;
    /// `readiness` is the one `/readyz` reports.
    pub fn spawn(self, readiness: Readiness, shutdown: &Shutdown) -> Result<Servers, StartError> {
        let mut routes = self.routes;
        routes.add_service(reflection_service(execenv_proto::FILE_DESCRIPTOR_SET)?);
        Ok(Servers::spawn_tls(
            (routes.routes(), &self.server),
            self.listeners.grpc,
            self.tls,
            self.listeners.admin,
            &self.metrics,
            readiness,
            shutdown,
        ))
    }
}

/// A service that is serving: where it listens, what its tests may look at (`state`: the
/// selector's catalogue, the launcher's table, config-sync's status), how to stop it, and the
/// task that ends — with `Done` — when it has stopped.
pub struct Running<State = (), Done = ()> {
    /// The service's own bound address: gRPC, or the gateway's REST API.
    pub addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// What the service shares with whoever started it.
    pub state: State,
    /// Stops the service.
    pub shutdown: Shutdown,
    /// Completes when every server and background task has stopped.
    pub done: JoinHandle<Done>,
}

impl<State, Done: Stopped> Started for Running<State, Done> {
    type Done = Done;

    fn done(self) -> JoinHandle<Done> {
        self.done
    }
}
