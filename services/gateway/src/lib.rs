//! execenv-gateway: a Connect-compatible REST API over the registry.
//!
//! The gateway owns nothing durable. It authenticates people by API key (asking the registry's
//! `Identity.Authenticate`, caching an answer for [`auth::CACHE_TTL`]), then calls the registry
//! over gRPC *as that person* (`x-execenv-user`, `x-execenv-groups`, `x-execenv-role`), so the
//! registry decides what they may see and do. Requests and answers have Posit Connect's JSON
//! shapes, status codes and error bodies (`{code, error, payload}`), so that `posit-sdk` and
//! `rsconnect` work against it unchanged.

pub mod access;
pub mod auth;
pub mod changes;
pub mod environment;
pub mod error;
pub mod installations;
pub mod launches;
pub mod registry;
pub mod routes;
pub mod selection;
pub mod upstream;
pub mod user;

use std::net::{Ipv4Addr, SocketAddr};

pub use execenv_kit::config::RegistryConfig;
use execenv_kit::config::{AuthConfig, LauncherConfig, SelectorConfig, TelemetryConfig};
use execenv_kit::shutdown::Shutdown;
use serde::{Deserialize, Serialize};

/// The gateway's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses and the host name reported to clients (`EXECENV_SERVER__…`).
    #[serde(default)]
    pub server: ServerConfig,
    /// The registry the environments, users and keys live in.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The selector `select` and `explain` ask (`EXECENV_SELECTOR__URL`).
    #[serde(default)]
    pub selector: SelectorConfig,
    /// The launcher `launches` calls (`EXECENV_LAUNCHER__URL`).
    #[serde(default)]
    pub launcher: LauncherConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token, sent to the registry.
    #[serde(default)]
    pub auth: AuthConfig,
}

/// Where the gateway listens: the REST API and the admin server (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// REST API listen address (`EXECENV_SERVER__HTTP_ADDR`), default 0.0.0.0:3939.
    pub http_addr: SocketAddr,
    /// Admin HTTP listen address (`EXECENV_SERVER__ADMIN_ADDR`), default 0.0.0.0:9455.
    pub admin_addr: SocketAddr,
    /// The host name `/__api__/server_settings` reports (`EXECENV_SERVER__HOSTNAME`); this
    /// machine's host name when unset.
    pub hostname: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 3939)),
            admin_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9455)),
            hostname: None,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] execenv_kit::BindError),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A running gateway.
pub struct Running {
    /// The bound REST API address.
    pub http_addr: SocketAddr,
    /// The bound admin HTTP address.
    pub admin_addr: SocketAddr,
    /// Stops the gateway.
    pub shutdown: Shutdown,
    /// Completes when both servers have stopped.
    pub done: tokio::task::JoinHandle<()>,
}

mod server;
pub use server::start;
