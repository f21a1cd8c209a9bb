//! execenv-kit: what every execenv service binary shares — layered configuration, logging and
//! OpenTelemetry tracing, W3C trace-context propagation, gRPC metrics, the admin HTTP server
//! (`/metrics`, `/healthz`, `/readyz`), gRPC health and reflection, error and identity mapping for
//! gRPC, gRPC client endpoints, graceful shutdown, and what a service's `main` does around its
//! flags.

pub mod admin;
pub mod binary;
pub mod client;
pub mod config;
pub mod grpc;
pub mod identity;
pub mod listen;
pub mod metrics;
pub mod propagation;
pub mod readiness;
pub mod serve;
pub mod shutdown;
pub mod status;
pub mod telemetry;

pub use admin::serve_admin;
pub use config::{AuthConfig, ConfigError, LogFormat, ServerConfig, TelemetryConfig};
pub use grpc::{health_service, health_service_for, reflection_service};
pub use identity::{IdentityInterceptor, caller_from_metadata};
pub use listen::{BindError, Listeners, grpc_incoming};
pub use metrics::{GrpcMetricsLayer, Metrics};
pub use propagation::{TraceContextInterceptor, TraceContextLayer};
pub use readiness::Readiness;
pub use serve::Servers;
pub use shutdown::{DRAIN_GRACE, Shutdown, join_server, shutdown_signal};
pub use status::{from_status, to_status};
pub use telemetry::{TelemetryError, TelemetryGuard};
