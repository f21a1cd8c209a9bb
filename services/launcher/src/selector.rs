//! The selector, through the selector client. Each call acts as the launcher's caller (identity
//! headers), so the selector applies that caller's environment permissions; the service token and
//! the trace context travel too.

use execenv_client::{ClientTls, Connection, Options, Service, Target};
use execenv_core::{Caller, Environment, Error, Language};
use execenv_proto::selector::v1 as pb;

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
    connection: Connection,
}

impl GrpcSelector {
    /// A client of the selector at `url` (`http://host:port`, `host:port`, or `https://…` with
    /// `tls`). Does not connect yet.
    pub fn new(url: &str, token: Option<String>, tls: Option<ClientTls>) -> Result<Self, Error> {
        let target = Target::new(Service::Selector, url);
        Ok(GrpcSelector {
            connection: Connection::lazy(target, token, &Options::default().with_tls(tls))?,
        })
    }

    /// Asks the selector for the environment of `request`, as `caller`. A selector that cannot be
    /// reached (after [`execenv_client::UNSENT_RETRY_WITHIN`] of trying, e.g. while it restarts)
    /// is the client's UNAVAILABLE error naming its address.
    pub async fn select(
        &self,
        caller: &Caller,
        request: pb::SelectRequest,
    ) -> Result<Selection, Error> {
        let answer = self
            .connection
            .selector(Some(caller))
            .call_retrying(|mut c| {
                let request = request.clone();
                async move { c.select(request).await }
            })
            .await?;
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
