//! The registry over gRPC: the environment calls carry the caller's identity, `Authenticate`
//! is called as the gateway itself; every call carries the service token and the trace context.

use std::time::Duration;

use execenv_core::{Caller, Error};
use execenv_kit::client;
use execenv_kit::identity::IdentityInterceptor;
use execenv_kit::propagation::TraceContextInterceptor;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How long one registry call may take before the request fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest message accepted from the registry (a full page of large environments).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The registry's `Registry` service acting as one caller.
pub type EnvironmentsClient = RegistryClient<InterceptedService<Channel, Outgoing>>;

/// The registry's `Identity` service acting as the gateway.
pub type AccountsClient = IdentityClient<InterceptedService<Channel, Outgoing>>;

/// One connection to the registry, shared by every request; connects on first use.
#[derive(Clone)]
pub struct Registry {
    channel: Channel,
    token: Option<String>,
}

impl Registry {
    /// A client of the registry at `url` (`http://host:port` or `host:port`) sending `token`
    /// when one is configured. Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        let channel = client::endpoint(url, "registry.url", None)?
            .timeout(REQUEST_TIMEOUT)
            .connect_lazy();
        Ok(Registry { channel, token })
    }

    /// The environment catalogue, called on behalf of `caller`.
    pub fn environments(&self, caller: &Caller) -> EnvironmentsClient {
        let outgoing = Outgoing::new(IdentityInterceptor::for_caller(caller, self.token.clone()));
        RegistryClient::with_interceptor(self.channel.clone(), outgoing)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Users and keys, called as the gateway itself (`Authenticate` is for services only).
    pub fn accounts(&self) -> AccountsClient {
        let outgoing = Outgoing::new(IdentityInterceptor::service(self.token.clone()));
        IdentityClient::with_interceptor(self.channel.clone(), outgoing)
    }

    /// Users and groups, called on behalf of `caller` (the registry lets administrators only).
    pub fn accounts_as(&self, caller: &Caller) -> AccountsClient {
        let outgoing = Outgoing::new(IdentityInterceptor::for_caller(caller, self.token.clone()));
        IdentityClient::with_interceptor(self.channel.clone(), outgoing)
    }
}

/// The metadata of every outgoing call: identity and token, and the trace context.
#[derive(Clone)]
pub struct Outgoing(IdentityInterceptor);

impl Outgoing {
    /// The metadata `identity` adds, and the trace context.
    pub fn new(identity: IdentityInterceptor) -> Self {
        Outgoing(identity)
    }
}

impl Interceptor for Outgoing {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let request = self.0.call(request)?;
        TraceContextInterceptor.call(request)
    }
}
