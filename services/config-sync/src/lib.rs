//! execenv-config-sync: keeps the registry's file-managed environments equal to the declarative file.

pub mod file;
pub mod legacy;
pub mod metrics;
pub mod sync;
pub mod watch;
