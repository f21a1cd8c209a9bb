//! The registry, through the registry client: the environment calls act as the person who sent
//! the request, `Authenticate` as the gateway itself; every call carries the service token and the
//! trace context, and a failed call is the client's error in Connect's field names.

use execenv_client::{ClientTls, Connection, Intercepted, Options, Service, Target};
use execenv_core::{Caller, Error};
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::registry::v1::registry_client::RegistryClient;

use crate::error::ApiError;

/// The registry's `Registry` service acting as one caller.
pub type EnvironmentsClient = RegistryClient<Intercepted>;

/// The registry's `Identity` service.
pub type AccountsClient = IdentityClient<Intercepted>;

/// One connection to the registry, shared by every request; connects on first use.
#[derive(Clone)]
pub struct Registry {
    connection: Connection,
    // Without a request timeout, for the catalogue watch.
    streaming: Connection,
}

impl Registry {
    /// A client of the registry at `url` (`http://host:port` or `host:port`) sending `token`
    /// when one is configured. Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        Registry::with_tls(url, token, None)
    }

    /// [`Registry::new`], over TLS when `tls` is given (`https://` URL).
    pub fn with_tls(
        url: &str,
        token: Option<String>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        let target = Target::new(Service::Registry, url);
        let options = Options::default().with_tls(tls);
        Ok(Registry {
            connection: Connection::lazy(target.clone(), token.clone(), &options)?,
            streaming: Connection::lazy(target, token, &options.streaming())?,
        })
    }

    /// The environment catalogue, called on behalf of `caller`.
    pub fn environments(&self, caller: &Caller) -> EnvironmentsClient {
        self.connection.registry(Some(caller)).raw()
    }

    /// The catalogue, called as the gateway itself without a request timeout: for
    /// `WatchEnvironments`, which the registry allows services only.
    pub fn watcher(&self) -> EnvironmentsClient {
        self.streaming.registry(None).raw()
    }

    /// Users and keys, called as the gateway itself (`Authenticate` is for services only).
    pub fn accounts(&self) -> AccountsClient {
        self.connection.identity(None).raw()
    }

    /// Users and groups, called on behalf of `caller` (the registry lets administrators only).
    pub fn accounts_as(&self, caller: &Caller) -> AccountsClient {
        self.connection.identity(Some(caller)).raw()
    }

    /// The answer for a failed call: the registry's own error, or the client's one error for a
    /// registry that could not be reached.
    pub fn failed(&self, status: tonic::Status) -> ApiError {
        ApiError::from(self.connection.target().error(&status))
    }
}
