//! The image examiner's `WatchChecks` stream, through the examiner client: the watch carries the
//! service token and the trace context, and lives as long as the examiner does (no request
//! timeout; HTTP/2 pings notice an examiner that vanished without closing the connection).

use execenv_client::{ClientTls, Connection, ExaminerClient, Options, Service, Target};
use execenv_core::Error;
use execenv_proto::examiner::v1 as ex;
use futures::StreamExt;

use crate::checks::{CheckSource, CheckStream};

/// The image examiner over gRPC; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcExaminer {
    client: ExaminerClient,
}

impl GrpcExaminer {
    /// A client of the examiner at `url` acting as the service, with `token` when one is
    /// configured, over `tls` when given. Does not connect yet.
    pub fn new(url: &str, token: Option<String>, tls: Option<ClientTls>) -> Result<Self, Error> {
        let target = Target::new(Service::Examiner, url);
        let options = Options::default().streaming().with_tls(tls);
        let connection = Connection::lazy(target, token, &options)?;
        Ok(GrpcExaminer {
            client: connection.examiner(None),
        })
    }
}

impl CheckSource for GrpcExaminer {
    async fn watch(&self) -> Result<CheckStream, tonic::Status> {
        let stream = self
            .client
            .raw()
            .watch_checks(ex::WatchChecksRequest {})
            .await?
            .into_inner();
        Ok(stream.boxed())
    }

    fn describe(&self) -> &str {
        &self.client.target().url
    }
}
