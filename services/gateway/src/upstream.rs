//! The selector and the launcher over gRPC. Like the environment calls to the registry, each call
//! acts as the person who sent the request (identity headers), so those services apply that
//! person's role and environment permissions; the service token and the trace context travel too.

use std::time::Duration;

use execenv_core::{Caller, Error};
use execenv_kit::client;
use execenv_kit::identity::IdentityInterceptor;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::error::ApiError;
use crate::registry::Outgoing;

/// How long one call may take before the request fails (a launch selects and creates a Job).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One service the gateway calls: its lazily connected channel, the service token, and the
/// names that tell an operator how to fix an unreachable address.
#[derive(Clone)]
pub struct Upstream {
    channel: Channel,
    token: Option<String>,
    name: &'static str,
    variable: &'static str,
}

impl Upstream {
    /// A client of `name` at `url`, configured by the variable `variable` (named in errors).
    pub fn new(
        name: &'static str,
        variable: &'static str,
        url: &str,
        token: Option<String>,
    ) -> Result<Self, Error> {
        let key = format!("{name}.url");
        let channel = client::endpoint(url, &key, None)?
            .timeout(REQUEST_TIMEOUT)
            .connect_lazy();
        Ok(Upstream {
            channel,
            token,
            name,
            variable,
        })
    }

    fn as_caller(&self, caller: &Caller) -> InterceptedService<Channel, Outgoing> {
        InterceptedService::new(
            self.channel.clone(),
            Outgoing::new(IdentityInterceptor::for_caller(caller, self.token.clone())),
        )
    }

    /// The selector, called on behalf of `caller`.
    pub fn selector(
        &self,
        caller: &Caller,
    ) -> SelectorClient<InterceptedService<Channel, Outgoing>> {
        SelectorClient::new(self.as_caller(caller))
    }

    /// The launcher, called on behalf of `caller`.
    pub fn launcher(
        &self,
        caller: &Caller,
    ) -> LauncherClient<InterceptedService<Channel, Outgoing>> {
        LauncherClient::new(self.as_caller(caller))
    }

    /// The answer for a failed call: the service's own error, or one naming this service and its
    /// address variable when it could not be reached.
    pub fn failed(&self, status: tonic::Status) -> ApiError {
        ApiError::from_upstream(status, self.name, self.variable)
    }
}
