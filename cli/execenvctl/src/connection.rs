//! Reaching the gRPC servers execenvctl talks to (the registry, config-sync, the selector and the
//! launcher): one connection path for all, so timeouts, identity headers and the "cannot reach"
//! hints are the same.

use std::time::Duration;

use execenv_core::{Error, ErrorKind, Role};
use execenv_kit::identity::IdentityInterceptor;
use execenv_kit::status::from_status;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use execenv_proto::sync::v1::config_sync_client::ConfigSyncClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::args::GlobalArgs;

/// A server execenvctl talks to, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// How a message names it: "the registry".
    pub name: &'static str,
    /// The flag that sets its address.
    pub flag: &'static str,
    /// What to check when it cannot be reached.
    pub hint: &'static str,
}

/// The environment-registry (`--registry`).
pub const REGISTRY: Server = Server {
    name: "the registry",
    flag: "--registry",
    hint: "is execenv-environment-registry running? set --registry",
};

/// The config-sync service (`--config-sync`).
pub const CONFIG_SYNC: Server = Server {
    name: "config-sync",
    flag: "--config-sync",
    hint: "is config-sync running? start it with `execenv-config-sync run`, or set --config-sync",
};

/// The selector (`--selector`).
pub const SELECTOR: Server = Server {
    name: "the selector",
    flag: "--selector",
    hint: "is the selector running? start it with `execenv-selector`, or set --selector",
};

/// The launcher (`--launcher`).
pub const LAUNCHER: Server = Server {
    name: "the launcher",
    flag: "--launcher",
    hint: "is the launcher running? start it with `execenv-launcher`, or set --launcher",
};

/// A channel that carries the caller's identity on every call.
pub type Intercepted = InterceptedService<Channel, IdentityInterceptor>;

/// A connected registry client.
pub type Registry = Connection<RegistryClient<Intercepted>>;

/// A connected client of the registry's Identity service (users, groups, API keys).
pub type Identity = Connection<IdentityClient<Intercepted>>;

/// A connected config-sync client.
pub type ConfigSync = Connection<ConfigSyncClient<Intercepted>>;

/// A connected selector client.
pub type Selector = Connection<SelectorClient<Intercepted>>;

/// A connected launcher client.
pub type Launcher = Connection<LauncherClient<Intercepted>>;

/// A connected gRPC client that turns failed calls into execenv errors naming the server.
pub struct Connection<C> {
    client: C,
    server: Server,
    url: String,
}

impl Registry {
    /// Connects to the registry at `--registry`.
    pub async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Connection::open(g, REGISTRY, &g.registry, RegistryClient::with_interceptor).await
    }
}

impl Identity {
    /// Connects to the Identity service, which the registry at `--registry` serves.
    pub async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Connection::open(g, REGISTRY, &g.registry, IdentityClient::with_interceptor).await
    }
}

impl ConfigSync {
    /// Connects to config-sync at `--config-sync`.
    pub async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Connection::open(
            g,
            CONFIG_SYNC,
            &g.config_sync,
            ConfigSyncClient::with_interceptor,
        )
        .await
    }
}

impl Selector {
    /// Connects to the selector at `--selector`.
    pub async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Connection::open(g, SELECTOR, &g.selector, SelectorClient::with_interceptor).await
    }
}

impl Launcher {
    /// Connects to the launcher at `--launcher`.
    pub async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Connection::open(g, LAUNCHER, &g.launcher, LauncherClient::with_interceptor).await
    }
}

impl<C> Connection<C> {
    /// Opens a channel to `server` at `address` and wraps it, with the caller's identity, in the
    /// client `make` builds.
    async fn open(
        g: &GlobalArgs,
        server: Server,
        address: &str,
        make: impl FnOnce(Channel, IdentityInterceptor) -> C,
    ) -> Result<Self, Error> {
        let opened = open(server, address).await?;
        Ok(Connection {
            client: make(opened.channel, identity(g)),
            server,
            url: opened.url,
        })
    }

    /// The next message of a stream the server sends; `None` once it has ended. A failure
    /// becomes the error the status carries, as for [`Connection::call`].
    pub async fn next<T>(&self, stream: &mut tonic::Streaming<T>) -> Result<Option<T>, Error> {
        stream
            .message()
            .await
            .map_err(|status| call_error(self.server, &self.url, &status))
    }
}

impl<C: Clone> Connection<C> {
    /// Makes one call; a failure becomes the error the status carries.
    pub async fn call<T, F, Fut>(&mut self, f: F) -> Result<T, Error>
    where
        F: FnOnce(C) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match f(self.client.clone()).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(call_error(self.server, &self.url, &status)),
        }
    }
}

/// The identity headers for the global flags: a person when --as-* are given, else the service.
pub fn identity(g: &GlobalArgs) -> IdentityInterceptor {
    IdentityInterceptor {
        user: g.as_user.clone().filter(|u| !u.is_empty()),
        groups: g
            .as_groups
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        role: g.as_role.map(Role::from),
        token: g.token.clone().filter(|t| !t.is_empty()),
    }
}

/// `host:port` without a scheme means plain-text gRPC.
pub fn server_url(s: &str) -> String {
    if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    }
}

/// An open channel and the URL it was opened to.
struct Opened {
    channel: Channel,
    url: String,
}

async fn open(server: Server, address: &str) -> Result<Opened, Error> {
    let url = server_url(address);
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::invalid_field(server.flag, format!("{address:?} is not a URL: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(server, &url, &causes(&e)))?;
    Ok(Opened { channel, url })
}

/// The error for a failed call; UNAVAILABLE says which server and what to check.
fn call_error(server: Server, url: &str, status: &tonic::Status) -> Error {
    let e = from_status(status);
    if e.kind == ErrorKind::Unavailable {
        return unreachable(server, url, &e.message);
    }
    e
}

fn unreachable(server: Server, url: &str, detail: &str) -> Error {
    Error::unavailable(format!(
        "cannot reach {} at {url}: {detail} ({})",
        server.name, server.hint
    ))
}

/// An error and its sources joined, e.g. `transport error: tcp connect error: Connection refused`.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
