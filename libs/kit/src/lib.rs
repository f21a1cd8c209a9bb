//! execenv-kit: what every execenv service binary shares — layered configuration, logging and
//! OpenTelemetry tracing, W3C trace-context propagation, gRPC metrics, the admin HTTP server
//! (`/metrics`, `/healthz`, `/readyz`), gRPC health and reflection, error and identity mapping for
//! gRPC, and graceful shutdown.

pub mod config;
