//! The selector and the launcher, through their clients. Like the environment calls to the
//! registry, each call acts as the person who sent the request (identity headers), so those
//! services apply that person's role and environment permissions; the service token and the trace
//! context travel too.

use std::time::Duration;

use execenv_client::{ClientTls, Connection, Intercepted, Options, Service, Target};
use execenv_core::{Caller, Error};
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1::selector_client::SelectorClient;

use crate::error::ApiError;

/// How long one call may take before the request fails (a launch selects and creates a Job).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One service the gateway calls, over lazily connected channels: one for calls bounded by
/// [`REQUEST_TIMEOUT`], one without a timeout for streams that last as long as what they follow.
#[derive(Clone)]
pub struct Upstream {
    connection: Connection,
    streaming: Connection,
}

impl Upstream {
    /// A client of `service` at `url`, sending `token` when one is configured.
    pub fn new(service: Service, url: &str, token: Option<String>) -> Result<Self, Error> {
        Upstream::with_tls(service, url, token, None)
    }

    /// [`Upstream::new`], over TLS when `tls` is given (`https://` URL).
    pub fn with_tls(
        service: Service,
        url: &str,
        token: Option<String>,
        tls: Option<ClientTls>,
    ) -> Result<Self, Error> {
        let options = Options::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_tls(tls.clone());
        let target = Target::new(service, url);
        Ok(Upstream {
            connection: Connection::lazy(target.clone(), token.clone(), &options)?,
            streaming: Connection::lazy(
                target,
                token,
                &Options::default().streaming().with_tls(tls),
            )?,
        })
    }

    /// The selector, called on behalf of `caller`.
    pub fn selector(&self, caller: &Caller) -> SelectorClient<Intercepted> {
        self.connection.selector(Some(caller)).raw()
    }

    /// The launcher, called on behalf of `caller`.
    pub fn launcher(&self, caller: &Caller) -> LauncherClient<Intercepted> {
        self.connection.launcher(Some(caller)).raw()
    }

    /// The launcher, called on behalf of `caller` without a request timeout: for a followed log,
    /// which lasts as long as the content runs.
    pub fn launcher_stream(&self, caller: &Caller) -> LauncherClient<Intercepted> {
        self.streaming.launcher(Some(caller)).raw()
    }

    /// The launcher, called on behalf of `caller`, or as the gateway itself when None (the
    /// instances of interactive content: started as their owner, watched and stopped by the
    /// gateway).
    pub fn launcher_for(&self, caller: Option<&Caller>) -> LauncherClient<Intercepted> {
        self.connection.launcher(caller).raw()
    }

    /// The launcher, called as the gateway itself without a request timeout: for watching a
    /// launch until it is ready.
    pub fn launcher_watching(&self) -> LauncherClient<Intercepted> {
        self.streaming.launcher(None).raw()
    }

    /// The answer for a failed call: the service's own error, or the client's one error for a
    /// service that could not be reached.
    pub fn failed(&self, status: tonic::Status) -> ApiError {
        ApiError::from(self.connection.target().error(&status))
    }
}
