//! The gRPC [`Registry`]: calls carry the service token and the trace context.

use std::time::Duration;

use async_trait::async_trait;
use execenv_core::{Error, ErrorKind};
use execenv_kit::client;
use execenv_kit::identity::IdentityInterceptor;
use execenv_kit::propagation::TraceContextInterceptor;
use execenv_kit::status::from_status;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::sync::Registry;

/// Largest response accepted (a plan of 10,000 definitions is a few MiB).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

type Client = RegistryClient<InterceptedService<Channel, Outgoing>>;

/// The registry over gRPC; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcRegistry {
    client: Client,
    url: String,
}

impl GrpcRegistry {
    /// A client of the registry at `url` (`http://host:port`, or `host:port`) acting as the
    /// service, with `token` when one is configured. Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        let url = client::with_scheme(url);
        let endpoint = client::endpoint(&url, "registry.url", Some("--registry"))?
            .timeout(Duration::from_secs(120));
        let channel = endpoint.connect_lazy();
        let client = RegistryClient::with_interceptor(
            channel,
            Outgoing(IdentityInterceptor::service(token)),
        )
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(GrpcRegistry { client, url })
    }

    /// The error for a failed call; UNAVAILABLE says which registry and what to check.
    fn error(&self, status: &tonic::Status) -> Error {
        let e = from_status(status);
        if e.kind == ErrorKind::Unavailable {
            return Error::unavailable(format!(
                "the registry at {} is unavailable: {} (is execenv-environment-registry running and ready? check registry.url / EXECENV_REGISTRY__URL)",
                self.url, e.message
            ));
        }
        e
    }
}

#[async_trait]
impl Registry for GrpcRegistry {
    async fn apply_managed_set(
        &self,
        request: reg::ApplyManagedSetRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        self.client
            .clone()
            .apply_managed_set(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| self.error(&s))
    }

    async fn bootstrap(
        &self,
        request: reg::BootstrapRequest,
    ) -> Result<reg::BootstrapResponse, Error> {
        self.client
            .clone()
            .bootstrap(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| self.error(&s))
    }
}

/// The metadata of every outgoing call: the service identity and token, and the trace context.
#[derive(Clone)]
struct Outgoing(IdentityInterceptor);

impl Interceptor for Outgoing {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let request = self.0.call(request)?;
        TraceContextInterceptor.call(request)
    }
}
