//! The registry as config-sync calls it ([`Registry`]), through the registry client: calls act as
//! the service, carry the token and the trace context, and an unreachable registry is the client's
//! one "cannot reach" error.

use std::time::Duration;

use async_trait::async_trait;
use execenv_client::{Client, ClientTls, Connection, Intercepted, Options, RegistryClient, Target};
use execenv_core::Error;
use execenv_proto::registry::v1 as reg;
use tonic::GrpcMethod;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

use crate::sync::Registry;
use execenv_proto::apply::ApplyRequest;

/// How long one call may take: applying 10,000 definitions in one transaction takes seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The registry over gRPC; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcRegistry {
    client: RegistryClient,
    /// The same registry for `ApplyManagedSet`, whose request config-sync encodes itself.
    grpc: Client<Grpc<Intercepted>>,
}

impl GrpcRegistry {
    /// A client of the registry at `target` acting as the service, with `token` when one is
    /// configured, over `tls` when given. Does not connect yet.
    pub fn new(
        target: Target,
        token: Option<String>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        let options = Options::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_tls(tls);
        let connection = Connection::lazy(target, token, &options)?;
        Ok(GrpcRegistry {
            client: connection.registry(None),
            grpc: connection.registry_grpc(None),
        })
    }
}

#[async_trait]
impl Registry for GrpcRegistry {
    async fn apply_managed_set(
        &self,
        request: ApplyRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        // What the generated client's `apply_managed_set` does, with the request already encoded.
        self.grpc
            .call(|mut grpc| async move {
                grpc.ready().await.map_err(|e| {
                    let e: tonic::codegen::StdError = e.into();
                    tonic::Status::unknown(format!("Service was not ready: {e}"))
                })?;
                let mut request = tonic::Request::new(request);
                request.extensions_mut().insert(GrpcMethod::new(
                    "execenv.registry.v1.Registry",
                    "ApplyManagedSet",
                ));
                let codec = ProstCodec::<ApplyRequest, reg::ApplyManagedSetResponse>::default();
                let path =
                    PathAndQuery::from_static("/execenv.registry.v1.Registry/ApplyManagedSet");
                grpc.unary(request, path, codec).await
            })
            .await
    }

    async fn bootstrap(
        &self,
        request: reg::BootstrapRequest,
    ) -> Result<reg::BootstrapResponse, Error> {
        self.client
            .call(|mut c| async move { c.bootstrap(request).await })
            .await
    }
}
