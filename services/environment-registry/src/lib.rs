//! execenv-environment-registry: the catalogue of execution environments, served over gRPC.
//!
//! The registry is the one writer of the catalogue. It owns the database (SQLite embedded by
//! default, PostgreSQL in production), records every change in the change log, and streams
//! changes to watchers.

pub mod config;
pub mod feed;
pub mod list;
mod server;
pub mod service;

pub use config::{Config, DatabaseConfig, HistoryConfig, WatchConfig};
pub use execenv_kit::StartError;
pub use server::{Running, start};
pub use service::{IdentityService, RegistryService};
