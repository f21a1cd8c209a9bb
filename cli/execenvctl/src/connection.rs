//! Reaching the services execenvctl talks to (the registry, config-sync, the selector, the
//! launcher and the image examiner) through `execenv-client`: the same timeouts, identity headers, trace context and
//! "cannot reach" error as every service uses, with the flag that sets each address named in it.

use std::time::Duration;

use execenv_client::{ClientTls, Connection, Options, Service, Target};
use execenv_core::{Caller, Error, Role};

use crate::args::GlobalArgs;

#[cfg(test)]
pub use execenv_client::with_scheme as server_url;

/// A connected registry client.
pub type Registry = execenv_client::RegistryClient;
/// A connected client of the registry's Identity service (users, groups, API keys).
pub type Identity = execenv_client::IdentityClient;
/// A connected config-sync client.
pub type ConfigSync = execenv_client::ConfigSyncClient;
/// A connected selector client.
pub type Selector = execenv_client::SelectorClient;
/// A connected launcher client.
pub type Launcher = execenv_client::LauncherClient;
/// A connected image examiner client.
pub type Examiner = execenv_client::ExaminerClient;

/// A command waits this long for one answer (a large listing, a launch creating a Job).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Connecting a client to its service at the address the global flags give, acting as the
/// identity they give; a service that cannot be reached is an error at once.
pub trait Connect: Sized {
    /// Connects now.
    fn connect(g: &GlobalArgs) -> impl Future<Output = Result<Self, Error>>;
}

impl Connect for Registry {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::Registry)
            .await?
            .registry(caller(g).as_ref()))
    }
}

impl Connect for Identity {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::Registry)
            .await?
            .identity(caller(g).as_ref()))
    }
}

impl Connect for ConfigSync {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::ConfigSync)
            .await?
            .config_sync(caller(g).as_ref()))
    }
}

impl Connect for Selector {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::Selector)
            .await?
            .selector(caller(g).as_ref()))
    }
}

impl Connect for Launcher {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::Launcher)
            .await?
            .launcher(caller(g).as_ref()))
    }
}

impl Connect for Examiner {
    async fn connect(g: &GlobalArgs) -> Result<Self, Error> {
        Ok(open(g, Service::Examiner)
            .await?
            .examiner(caller(g).as_ref()))
    }
}

/// The address of `service` from the global flags, and the flag (and variable) that sets it.
fn address(g: &GlobalArgs, service: Service) -> (&str, &'static str) {
    match service {
        Service::Registry => (&g.registry, "--registry (or EXECENV_REGISTRY)"),
        Service::ConfigSync => (&g.config_sync, "--config-sync (or EXECENV_CONFIG_SYNC)"),
        Service::Selector => (&g.selector, "--selector (or EXECENV_SELECTOR)"),
        Service::Launcher => (&g.launcher, "--launcher (or EXECENV_LAUNCHER)"),
        Service::Examiner => (&g.examiner, "--examiner (or EXECENV_EXAMINER)"),
    }
}

async fn open(g: &GlobalArgs, service: Service) -> Result<Connection, Error> {
    let (url, flag) = address(g, service);
    let target = Target::new(service, url).set_with(flag);
    let options = Options::default()
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_tls(tls(g)?);
    Connection::connect(target, token(g), &options).await
}

/// TLS to the services and the gateway from --ca-file (with --client-cert and --client-key
/// under mutual TLS); none without --ca-file.
pub fn tls(g: &GlobalArgs) -> Result<Option<ClientTls>, Error> {
    ClientTls::from_flags(
        g.ca_file.as_deref(),
        g.client_cert.as_deref(),
        g.client_key.as_deref(),
    )
}

/// Whom calls act as: a person when --as-role is given (with --as-user and --as-groups), else
/// the service itself.
pub fn caller(g: &GlobalArgs) -> Option<Caller> {
    g.as_role.map(|role| Caller {
        user: g.as_user.clone().filter(|u| !u.is_empty()),
        groups: g
            .as_groups
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        role: Role::from(role),
    })
}

/// The service token of --token, if a non-empty one is given.
pub fn token(g: &GlobalArgs) -> Option<String> {
    g.token.clone().filter(|t| !t.is_empty())
}

/// The identity headers every call carries for the global flags.
#[cfg(test)]
pub fn identity(g: &GlobalArgs) -> execenv_client::IdentityInterceptor {
    use execenv_client::IdentityInterceptor;
    match caller(g) {
        Some(caller) => IdentityInterceptor::for_caller(&caller, token(g)),
        None => IdentityInterceptor::service(token(g)),
    }
}
