//! The registry as config-sync calls it ([`Registry`]), through the registry client: calls act as
//! the service, carry the token and the trace context, and an unreachable registry is the client's
//! one "cannot reach" error.

use std::time::Duration;

use async_trait::async_trait;
use execenv_client::{ClientTls, Connection, Options, RegistryClient, Target};
use execenv_core::Error;
use execenv_proto::registry::v1 as reg;

use crate::sync::Registry;

/// How long one call may take: applying 10,000 definitions in one transaction takes seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The registry over gRPC; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcRegistry {
    client: RegistryClient,
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
        })
    }
}

#[async_trait]
impl Registry for GrpcRegistry {
    async fn apply_managed_set(
        &self,
        request: reg::ApplyManagedSetRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        self.client
            .call(|mut c| async move { c.apply_managed_set(request).await })
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
