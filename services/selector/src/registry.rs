//! The registry's `WatchEnvironments` stream, through the registry client: the watch carries the
//! service token and the trace context, and lives as long as the registry does (no request
//! timeout; HTTP/2 pings notice a registry that vanished without closing the connection).

use execenv_client::{Connection, Options, RegistryClient, Service, Target};
use execenv_core::Error;
use execenv_proto::registry::v1 as reg;
use futures::StreamExt;

use crate::catalogue::{WatchSource, WatchStream};

/// The registry over gRPC; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcRegistry {
    client: RegistryClient,
}

impl GrpcRegistry {
    /// A client of the registry at `url` (`http://host:port`, or `host:port`) acting as the
    /// service, with `token` when one is configured. Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        let target = Target::new(Service::Registry, url);
        let connection = Connection::lazy(target, token, &Options::default().streaming())?;
        Ok(GrpcRegistry {
            client: connection.registry(None),
        })
    }
}

impl WatchSource for GrpcRegistry {
    async fn watch(&self, from_revision: i64) -> Result<WatchStream, tonic::Status> {
        // The watch loop decides by the status code (OUT_OF_RANGE: re-list), so it gets the
        // status itself.
        let stream = self
            .client
            .raw()
            .watch_environments(reg::WatchEnvironmentsRequest { from_revision })
            .await?
            .into_inner();
        Ok(stream.boxed())
    }

    fn describe(&self) -> &str {
        &self.client.target().url
    }
}
