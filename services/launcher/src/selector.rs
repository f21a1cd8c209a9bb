//! The selector over gRPC. Each call acts as the launcher's caller (identity headers), so the
//! selector applies that caller's environment permissions; the service token and the trace context
//! travel too.

use std::time::Duration;

use execenv_core::{Caller, Environment, Error, Language};
use execenv_kit::client;
use execenv_kit::identity::IdentityInterceptor;
use execenv_kit::propagation::TraceContextInterceptor;
use execenv_kit::status::from_status;
use execenv_proto::selector::v1 as pb;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use tonic::service::Interceptor;
use tonic::transport::Channel;

use crate::job_spec::ChosenInstallation;

/// What the selector chose.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The environment.
    pub environment: Environment,
    /// The installation per language.
    pub installations: Vec<ChosenInstallation>,
    /// How it was chosen (`manifest-identifier`, `automatic`, …).
    pub selected_by: String,
}

/// A client of the selector; connects on first use and reconnects by itself.
#[derive(Clone)]
pub struct GrpcSelector {
    client: SelectorClient<Channel>,
    token: Option<String>,
    url: String,
}

impl GrpcSelector {
    /// A client of the selector at `url` (`http://host:port` or `host:port`). Does not connect yet.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, Error> {
        let url = client::with_scheme(url);
        let endpoint =
            client::endpoint(&url, "selector.url", None)?.timeout(Duration::from_secs(30));
        Ok(GrpcSelector {
            client: SelectorClient::new(endpoint.connect_lazy()),
            token,
            url,
        })
    }

    /// Asks the selector for the environment of `request`, as `caller`. A selector that cannot be
    /// reached is UNAVAILABLE, naming its address.
    pub async fn select(
        &self,
        caller: &Caller,
        request: pb::SelectRequest,
    ) -> Result<Selection, Error> {
        let mut headers = tonic::Request::new(());
        IdentityInterceptor::for_caller(caller, self.token.clone())
            .apply(headers.metadata_mut())
            .map_err(|s| from_status(&s))?;
        let (metadata, extensions, ()) = TraceContextInterceptor
            .call(headers)
            .map_err(|s| from_status(&s))?
            .into_parts();
        let request = tonic::Request::from_parts(metadata, extensions, request);
        let answer = self
            .client
            .clone()
            .select(request)
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
                    if s.metadata().is_empty() =>
                {
                    Error::unavailable(format!(
                        "the selector at {} cannot be reached ({}); is execenv-selector running? (EXECENV_SELECTOR__URL)",
                        self.url,
                        s.message()
                    ))
                }
                _ => from_status(&s),
            })?
            .into_inner();
        selection(answer)
    }
}

/// The selector's answer as the launcher uses it.
fn selection(answer: pb::SelectResponse) -> Result<Selection, Error> {
    let wire = answer
        .environment
        .ok_or_else(|| Error::internal("the selector answered without an environment"))?;
    let environment = Environment::try_from(wire)?;
    let installations = answer
        .installations
        .into_iter()
        .map(|i| {
            let language = Language::parse(&i.language).ok_or_else(|| {
                Error::internal(format!(
                    "the selector chose an unknown language {:?}",
                    i.language
                ))
            })?;
            Ok(ChosenInstallation {
                language,
                version: i.version,
                path: i.path,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Selection {
        environment,
        installations,
        selected_by: answer.selected_by,
    })
}
