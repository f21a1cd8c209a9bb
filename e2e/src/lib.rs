//! Harness for end-to-end tests: starts the real execenv binaries on free loopback ports and
//! runs the real `execenvctl` against them. Processes are killed when their guard is dropped.
//!
//! [`process`] supervises child processes, [`services`] starts each execenv service, [`ctl`]
//! runs `execenvctl`, [`database`] gives a test its own SQLite file or PostgreSQL database and
//! [`binaries`] finds the programs; the other modules hold the peers (Prometheus, the collector,
//! the Kubernetes testbed, helm) and the scenarios several tests share.

pub mod binaries;
pub mod bundles;
pub mod chaos;
pub mod chart;
pub mod connect_clients;
pub mod console;
pub mod content;
pub mod ctl;
pub mod dashboards;
pub mod database;
pub mod declarative;
pub mod docs;
pub mod drift_images;
pub mod forward;
pub mod gateway;
pub mod http;
pub mod launcher;
pub mod matrix;
pub mod oci_images;
pub mod oci_registry;
pub mod openapi;
pub mod otelcol;
pub mod process;
pub mod prometheus;
pub mod python;
pub mod release;
pub mod secured;
pub mod servicemonitor;
pub mod services;
pub mod stack;
pub mod testbed;

pub use binaries::{bin_dir, binary};
pub use ctl::{CtlOutput, ctl, field};
pub use database::{
    Backend, drop_postgres_database, fresh_postgres_database, postgres_server_url, psql,
    sqlite_url, with_database,
};
pub use http::{
    HttpResponse, Streamed, call_with_key, http_get, http_request, http_request_within, http_send,
    http_stream, https_request, request_with_key,
};
pub use process::{Process, eventually, free_port};
pub use services::{RegistryProcess, ServiceProcess};

/// Prints `line` to the test's standard error even while the test harness captures output (as it
/// does without `--nocapture`): for what a test must show in `make test`'s log whatever its
/// outcome, such as the time each step of a scenario took.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
