//! The registry's `WatchEnvironments` stream over gRPC: calls carry the service token and the
//! trace context.

use std::time::Duration;

use execenv_core::Error;
use execenv_kit::client;
use execenv_kit::identity::IdentityInterceptor;
use execenv_kit::propagation::TraceContextInterceptor;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use futures::StreamExt;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::catalogue::{WatchSource, WatchStream};

/// Largest message accepted (one environment per message; generous for large ones).
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
        let endpoint = client::endpoint(&url, "registry.url", None)?
            // A watch lives for as long as the registry does: no request timeout, but HTTP/2
            // pings notice a registry that vanished without closing the connection.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        let client = RegistryClient::with_interceptor(
            channel,
            Outgoing(IdentityInterceptor::service(token)),
        )
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(GrpcRegistry { client, url })
    }
}

impl WatchSource for GrpcRegistry {
    async fn watch(&self, from_revision: i64) -> Result<WatchStream, tonic::Status> {
        let stream = self
            .client
            .clone()
            .watch_environments(reg::WatchEnvironmentsRequest { from_revision })
            .await?
            .into_inner();
        Ok(stream.boxed())
    }

    fn describe(&self) -> &str {
        &self.url
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
