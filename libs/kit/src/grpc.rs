//! gRPC building blocks every service serves: health checking tied to [`Readiness`], and
//! reflection over the service's file descriptor set.

use tonic::server::NamedService;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};

use crate::readiness::Readiness;

/// The `grpc.health.v1.Health` service and a [`Readiness`] that sets the status of `S` (initially
/// NOT_SERVING; the overall "" status stays SERVING while the process runs, for liveness probes).
pub async fn health_service<S: NamedService>() -> (Readiness, HealthServer<impl Health>) {
    health_service_for(S::NAME).await
}

/// [`health_service`] for a service given by its full name, e.g. `execenv.registry.v1.Registry`.
pub async fn health_service_for(service_name: &str) -> (Readiness, HealthServer<impl Health>) {
    let (reporter, server) = tonic_health::server::health_reporter();
    let readiness = Readiness::with_health(reporter, service_name);
    readiness.set_not_ready("starting").await;
    (readiness, server)
}

/// The gRPC reflection (v1) service over an encoded `FileDescriptorSet`, such as the one
/// `execenv-proto` embeds.
pub fn reflection_service(
    descriptor: &'static [u8],
) -> Result<ServerReflectionServer<impl ServerReflection>, tonic_reflection::server::Error> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptor)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    /// A client channel to a test server on `addr`.
    pub(crate) async fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn readiness_sets_the_grpc_health_status_of_the_service() {
        let (readiness, health) = health_service_for("execenv.test.v1.Test").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = crate::shutdown::Shutdown::new();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .add_service(reflection_service(tonic_health::pb::FILE_DESCRIPTOR_SET).unwrap())
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    shutdown.wait_owned(),
                ),
        );
        let mut client = HealthClient::new(channel(addr).await);
        let check = |service: &str| HealthCheckRequest {
            service: service.to_owned(),
        };
        let status =
            |r: tonic::Response<tonic_health::pb::HealthCheckResponse>| r.into_inner().status;

        let before = client.check(check("execenv.test.v1.Test")).await.unwrap();
        assert_eq!(status(before), ServingStatus::NotServing as i32);
        assert_eq!(
            status(client.check(check("")).await.unwrap()),
            ServingStatus::Serving as i32
        );
        readiness.set_ready().await;
        let after = client.check(check("execenv.test.v1.Test")).await.unwrap();
        assert_eq!(status(after), ServingStatus::Serving as i32);
        assert!(readiness.is_ready());

        drop(client);
        shutdown.trigger();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn reflection_rejects_a_malformed_descriptor() {
        assert!(reflection_service(b"\xff\xff not a descriptor").is_err());
    }
}
