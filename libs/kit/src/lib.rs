//! execenv-kit: what every execenv service binary shares — the one bootstrap (flags, layered
//! configuration with secrets masked, settings documented, `main`'s run loop), the gRPC server
//! assembly (listeners, health, reflection, metrics and trace-context layers, graceful shutdown),
//! logging and OpenTelemetry tracing, the admin HTTP server (`/metrics`, `/healthz`, `/readyz`),
//! and the one start-up error type. Calling other services is `execenv-client`'s.

#![warn(missing_docs)]

pub mod admin;
pub mod allocator;
pub mod bootstrap;
pub mod config;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod propagation;
pub mod readiness;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod start_error;
pub mod telemetry;
pub mod tls;

pub use admin::serve_admin;
pub use config::{AuthConfig, ConfigError, LogFormat, ServerConfig, TelemetryConfig};
pub use grpc::{health_service, health_service_for, reflection_service};
pub use limits::{SizeBounded, WatchBound, WatchPermit};
pub use listen::{BindError, Listeners, grpc_incoming};
pub use metrics::{GrpcMetricsLayer, Metrics};
pub use propagation::TraceContextLayer;
pub use readiness::Readiness;
pub use secret::Secret;
pub use serve::{GrpcServer, Running, Servers};
pub use settings::{Renamed, ServiceConfig, Setting};
pub use shutdown::{DRAIN_GRACE, Shutdown, join_server, shutdown_signal};
pub use start_error::StartError;
pub use telemetry::{TelemetryError, TelemetryGuard};
pub use tls::{ServerTls, TlsConfig, TlsIncoming};
