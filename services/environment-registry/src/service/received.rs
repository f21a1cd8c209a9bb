//! The Registry gRPC service with `ApplyManagedSet` read as a [`ReceivedApplyRequest`]: each
//! definition stays as its encoded bytes until the sync decodes, converts, checks and drops it
//! in turn ([`execenv_proto::apply`]).
//!
//! tonic's generated server decodes every method into the generated types, so [`RegistryApi`]
//! stands in front of it: `ApplyManagedSet` is decoded and handled here, every other method goes
//! to the generated server. Both read and write messages within the same size limits.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use execenv_kit::SizeBounded;
use execenv_proto::apply::ReceivedApplyRequest;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::RegistryServer;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::{RegistryService, reply};

/// A future the service hands to tonic.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The gRPC path of `ApplyManagedSet`.
const APPLY_MANAGED_SET: &str = "/execenv.registry.v1.Registry/ApplyManagedSet";

/// The Registry gRPC service: the generated server, with `ApplyManagedSet` read as a
/// [`ReceivedApplyRequest`].
#[derive(Clone)]
pub struct RegistryApi {
    generated: RegistryServer<RegistryService>,
    service: Arc<RegistryService>,
    /// The largest message read and written, once bounded.
    limits: Option<(usize, usize)>,
}

impl RegistryApi {
    /// Serves `service`.
    pub fn new(service: RegistryService) -> Self {
        RegistryApi {
            generated: RegistryServer::new(service.clone()),
            service: Arc::new(service),
            limits: None,
        }
    }
}

impl NamedService for RegistryApi {
    const NAME: &'static str = <RegistryServer<RegistryService> as NamedService>::NAME;
}

impl SizeBounded for RegistryApi {
    fn size_bounded(self, decoding: usize, encoding: usize) -> Self {
        RegistryApi {
            generated: self.generated.size_bounded(decoding, encoding),
            limits: Some((decoding, encoding)),
            ..self
        }
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for RegistryApi {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != APPLY_MANAGED_SET {
            let mut generated = self.generated.clone();
            return Box::pin(async move { generated.call(request).await });
        }
        let method = ApplyManagedSet(self.service.clone());
        let (decoding, encoding) = self.limits.unzip();
        Box::pin(async move {
            let codec = tonic_prost::ProstCodec::<
                reg::ApplyManagedSetResponse,
                ReceivedApplyRequest,
            >::default();
            let mut grpc =
                tonic::server::Grpc::new(codec).apply_max_message_size_config(decoding, encoding);
            Ok(grpc.unary(method, request).await)
        })
    }
}

/// `ApplyManagedSet` over a [`ReceivedApplyRequest`].
struct ApplyManagedSet(Arc<RegistryService>);

impl tonic::server::UnaryService<ReceivedApplyRequest> for ApplyManagedSet {
    type Response = reg::ApplyManagedSetResponse;
    type Future = BoxFuture<Result<Response<reg::ApplyManagedSetResponse>, Status>>;

    fn call(&mut self, request: Request<ReceivedApplyRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move {
            let caller = service.caller(&request)?;
            reply(service.apply_set(&caller, request.into_inner()).await)
        })
    }
}
