//! execenv-config-sync: keeps the registry's file-managed environments equal to the declarative
//! file (the Helm value `executionEnvironments`), and bootstraps an empty catalogue from a legacy
//! `runtime.yaml`.
//!
//! config-sync never touches the database: a sync is one `ApplyManagedSet` call, which the
//! registry applies in one transaction. The file is watched (folder notifications and polling);
//! a sync whose content did not change is skipped, and a failed one is retried on the next tick.

pub mod config;
pub mod election;
pub mod file;
pub mod legacy;
pub mod metrics;
pub mod registry;
pub mod report;
mod server;
pub mod service;
pub mod sync;
pub mod watch;

pub use config::{Config, SyncConfig};
pub use execenv_kit::StartError;
pub use execenv_kit::config::RegistryConfig;
pub use registry::GrpcRegistry;
pub use server::{Running, start};
pub use sync::{SyncOutcome, SyncStatus};
