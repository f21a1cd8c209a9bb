//! A connection to one execenv service and the typed clients made from it. Every call carries the
//! identity it acts as, the service token and the trace context ([`Outgoing`]), is bounded by the
//! connection's timeouts and message-size limit, and fails with an execenv [`Error`]: the
//! service's own error, or — when the service could not be reached at all — ONE message naming
//! the service, its address and the setting that changes it ([`Target::unreachable`]).

use std::sync::Arc;
use std::time::Duration;

use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient as RawExaminerClient;
use execenv_proto::identity::v1::identity_client::IdentityClient as RawIdentityClient;
use execenv_proto::launcher::v1::launcher_client::LauncherClient as RawLauncherClient;
use execenv_proto::registry::v1::registry_client::RegistryClient as RawRegistryClient;
use execenv_proto::selector::v1::selector_client::SelectorClient as RawSelectorClient;
use execenv_proto::sync::v1::config_sync_client::ConfigSyncClient as RawConfigSyncClient;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::identity::IdentityInterceptor;
use crate::service::Service;
use crate::status::from_status;
use crate::tls::{ClientTls, connector};
use crate::trace;

/// How calls over a connection are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long connecting may take before a call fails.
    pub connect_timeout: Duration,
    /// How long one call may take; `None` for connections that carry long-lived streams.
    pub request_timeout: Option<Duration>,
    /// Send HTTP/2 pings so that a peer that vanished without closing is noticed on a stream.
    pub keep_alive: bool,
    /// The largest message sent or accepted (a whole-catalogue sync is a few MiB; tonic's own
    /// limit is 4 MiB).
    pub max_message_bytes: usize,
    /// TLS to the service (its URL is then `https://`): the CA it is verified against and what
    /// this side presents under mutual TLS. `None`: plain text (`http://`).
    pub tls: Option<ClientTls>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            keep_alive: false,
            max_message_bytes: 64 * 1024 * 1024,
            tls: None,
        }
    }
}

impl Options {
    /// These options with calls bounded by `timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// These options with TLS to the service (`None`: plain text).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    /// These options for a connection that carries a stream for as long as the peer lives (a
    /// watch): no request timeout, keep-alive pings instead.
    pub fn streaming(mut self) -> Self {
        self.request_timeout = None;
        self.keep_alive = true;
        self
    }
}

/// The service a connection reaches, where, and what the user sets to point it elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The service.
    pub service: Service,
    /// Its URL, with a scheme.
    pub url: String,
    /// What changes the address, as an error message names it: the variable
    /// (`EXECENV_REGISTRY__URL`, the default) or a command-line flag (`--registry`).
    pub set_with: String,
}

impl Target {
    /// `service` at `url` (`http://host:port`, or `host:port` for plain-text gRPC), whose address
    /// the service's URL variable sets.
    pub fn new(service: Service, url: &str) -> Self {
        Target {
            service,
            url: with_scheme(url),
            set_with: service.url_variable(),
        }
    }

    /// This target, with the address set by `how` (e.g. `--registry`) instead.
    pub fn set_with(mut self, how: impl Into<String>) -> Self {
        self.set_with = how.into();
        self
    }

    /// The error for a service that could not be reached; `detail` says what happened.
    pub fn unreachable(&self, detail: &str) -> Error {
        Error::unavailable(format!(
            "cannot reach {} at {}: {detail}; is {} running? set {}",
            self.service.name(),
            self.url,
            self.service.binary(),
            self.set_with
        ))
    }

    /// The error a failed call ends with: [`Target::unreachable`] when the status was made on
    /// this side because no answer came (connection refused, reset, timed out), otherwise the
    /// error the service answered with — named after the service when it says it is unavailable
    /// itself (`the selector at URL is unavailable: no catalogue yet`).
    pub fn error(&self, status: &tonic::Status) -> Error {
        if is_client_timeout(status) {
            return Error::unavailable(format!(
                "{} at {} did not answer within this client's request timeout; it is reachable \
                 but slow or stuck (see its logs)",
                self.service.name(),
                self.url
            ));
        }
        if is_transport_failure(status) {
            return self.unreachable(&causes(status));
        }
        let mut error = from_status(status);
        if error.kind == ErrorKind::Unavailable {
            error.message = format!(
                "{} at {} is unavailable: {}",
                self.service.name(),
                self.url,
                error.message
            );
        }
        error
    }
}

/// `url` with a scheme: `host:port` becomes `http://host:port`; a URL with one is kept as is.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// Whether `status` is the service's own answer, not this side's failure to get one (no
/// connection, a reset, this client's request timeout): a caller that tells the service's errors
/// apart by code (the gateway's examine route) asks this first.
pub fn answered(status: &tonic::Status) -> bool {
    !is_transport_failure(status) && !is_client_timeout(status)
}

/// Whether a failed call never got an answer from the service. A status the service sends has
/// response headers (at least its content type) in its metadata; one made by the client's own
/// transport has none.
fn is_transport_failure(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled
    ) && status.metadata().is_empty()
}

/// How long [`retry_unsent`] keeps trying by default: longer than a pod's restart in a rolling
/// upgrade and kube-proxy's update of a Service, short enough for a person waiting.
pub const UNSENT_RETRY_WITHIN: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds, fails with anything but a connection that could not be
/// made, or `within` has passed (backing off from 50 ms to 1 s). Only a call that never left
/// this side is repeated, so any call may use it, idempotent or not.
pub async fn retry_unsent<T, Fut>(
    within: Duration,
    attempt: impl FnMut() -> Fut,
) -> Result<T, tonic::Status>
where
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    retry_while(within, never_sent, attempt).await
}

/// [`retry_unsent`], and the call is also repeated when its request left but no answer came back:
/// the connection broke under it (a pod replaced in a rolling upgrade closes the connections it
/// held, and a call already on one fails with "broken pipe" or a reset). Only for calls that are
/// safe to make twice — reads, and a cancel. A call that ran out of this client's request timeout
/// is not repeated: the service is there but slow, and asking again would only add to its load.
pub async fn retry_unanswered<T, Fut>(
    within: Duration,
    attempt: impl FnMut() -> Fut,
) -> Result<T, tonic::Status>
where
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    retry_while(within, unanswered, attempt).await
}

/// Whether a failed call got no answer from the service and may be made again if it is safe to
/// make twice: never sent, or its connection broke (not this client's timeout).
fn unanswered(status: &tonic::Status) -> bool {
    never_sent(status) || (is_transport_failure(status) && !is_client_timeout(status))
}

/// Runs `attempt` until it succeeds, fails in a way `again` refuses, or `within` has passed
/// (backing off from 50 ms to 1 s).
async fn retry_while<T, Fut>(
    within: Duration,
    again: fn(&tonic::Status) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, tonic::Status>
where
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt().await {
            Err(status) if again(&status) && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %causes(&status), retry_in_ms = pause.as_millis() as u64, "no answer; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// Whether a failed call never left this side: no connection to the service could be made.
pub fn never_sent(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        if s.downcast_ref::<tonic::ConnectError>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Whether the call ended because this side's request timeout ran out (tonic answers
/// CANCELLED with the message of its `TimeoutExpired`, and no metadata from the service).
fn is_client_timeout(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Cancelled
        && status.metadata().is_empty()
        && status.message() == tonic::TimeoutExpired(()).to_string()
}

/// A status's message and its sources joined, e.g. `tcp connect error: Connection refused`.
fn causes(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = s.source();
    }
    if text.is_empty() {
        text = format!("{:?}", status.code());
    }
    text
}

/// What every outgoing call carries: the identity it acts as and the service token, then the
/// current trace context.
#[derive(Debug, Clone)]
pub struct Outgoing(IdentityInterceptor);

impl Outgoing {
    /// Calls acting as `caller` (`None`: as the calling service itself), with `token`.
    pub fn new(caller: Option<&Caller>, token: Option<String>) -> Self {
        Outgoing(match caller {
            Some(caller) => IdentityInterceptor::for_caller(caller, token),
            None => IdentityInterceptor::service(token),
        })
    }

    /// Writes the headers into `metadata` (for a request built by hand).
    pub fn apply(&self, metadata: &mut tonic::metadata::MetadataMap) -> Result<(), Error> {
        self.0.apply(metadata).map_err(|s| from_status(&s))?;
        trace::inject_current(metadata);
        Ok(())
    }
}

impl Interceptor for Outgoing {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.0.apply(request.metadata_mut())?;
        trace::inject_current(request.metadata_mut());
        Ok(request)
    }
}

/// A channel with [`Outgoing`] metadata on every call.
pub type Intercepted = InterceptedService<Channel, Outgoing>;

/// The registry's `execenv.registry.v1.Registry` service.
pub type RegistryClient = Client<RawRegistryClient<Intercepted>>;
/// The registry's `execenv.identity.v1.Identity` service (users, groups, API keys).
pub type IdentityClient = Client<RawIdentityClient<Intercepted>>;
/// config-sync's `execenv.sync.v1.ConfigSync` service.
pub type ConfigSyncClient = Client<RawConfigSyncClient<Intercepted>>;
/// The selector's `execenv.selector.v1.Selector` service.
pub type SelectorClient = Client<RawSelectorClient<Intercepted>>;
/// The launcher's `execenv.launcher.v1.Launcher` service.
pub type LauncherClient = Client<RawLauncherClient<Intercepted>>;
/// The image examiner's `ImageExaminer` service.
pub type ExaminerClient = Client<RawExaminerClient<Intercepted>>;

/// One channel to one service, shared by every call; cheap to clone.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    target: Arc<Target>,
    token: Option<String>,
    max_message_bytes: usize,
}

impl Connection {
    /// A connection to `target` that connects on first use and reconnects by itself; calls carry
    /// `token` when one is configured. Fails only when the URL does not parse.
    pub fn lazy(target: Target, token: Option<String>, options: &Options) -> Result<Self, Error> {
        let channel = match tls_for(&target, options)? {
            Some(tls) => endpoint(&target, options)?.connect_with_connector_lazy(connector(tls)),
            None => endpoint(&target, options)?.connect_lazy(),
        };
        Ok(Connection::over(channel, target, token, options))
    }

    /// A connection to `target`, connected now: a service that cannot be reached is the
    /// [`Target::unreachable`] error at once (a command line wants that before anything else).
    pub async fn connect(
        target: Target,
        token: Option<String>,
        options: &Options,
    ) -> Result<Self, Error> {
        let channel = match tls_for(&target, options)? {
            Some(tls) => {
                endpoint(&target, options)?
                    .connect_with_connector(connector(tls))
                    .await
            }
            None => endpoint(&target, options)?.connect().await,
        }
        .map_err(|e| target.unreachable(&error_chain(&e)))?;
        Ok(Connection::over(channel, target, token, options))
    }

    fn over(channel: Channel, target: Target, token: Option<String>, options: &Options) -> Self {
        Connection {
            channel,
            target: Arc::new(target),
            token: token.filter(|t| !t.is_empty()),
            max_message_bytes: options.max_message_bytes,
        }
    }

    /// The service this connection reaches.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn intercepted(&self, caller: Option<&Caller>) -> Intercepted {
        InterceptedService::new(
            self.channel.clone(),
            Outgoing::new(caller, self.token.clone()),
        )
    }

    fn client<C>(&self, raw: C) -> Client<C> {
        Client {
            raw,
            target: self.target.clone(),
        }
    }

    /// The registry, acting as `caller` (`None`: as the calling service itself).
    pub fn registry(&self, caller: Option<&Caller>) -> RegistryClient {
        let limit = self.max_message_bytes;
        self.client(
            RawRegistryClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// The registry as a plain gRPC client, acting as `caller` (`None`: as the service itself),
    /// for a call whose request the caller encodes itself: config-sync encodes the declarative
    /// file's definitions as it reads them.
    pub fn registry_grpc(
        &self,
        caller: Option<&Caller>,
    ) -> Client<tonic::client::Grpc<Intercepted>> {
        let limit = self.max_message_bytes;
        self.client(
            tonic::client::Grpc::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// The registry's Identity service, acting as `caller` (`None`: as the service itself).
    pub fn identity(&self, caller: Option<&Caller>) -> IdentityClient {
        let limit = self.max_message_bytes;
        self.client(
            RawIdentityClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// config-sync, acting as `caller` (`None`: as the service itself).
    pub fn config_sync(&self, caller: Option<&Caller>) -> ConfigSyncClient {
        let limit = self.max_message_bytes;
        self.client(
            RawConfigSyncClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// The selector, acting as `caller` (`None`: as the service itself).
    pub fn selector(&self, caller: Option<&Caller>) -> SelectorClient {
        let limit = self.max_message_bytes;
        self.client(
            RawSelectorClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// The launcher, acting as `caller` (`None`: as the service itself).
    pub fn launcher(&self, caller: Option<&Caller>) -> LauncherClient {
        let limit = self.max_message_bytes;
        self.client(
            RawLauncherClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }

    /// The image examiner, acting as `caller` (`None`: as the service itself).
    pub fn examiner(&self, caller: Option<&Caller>) -> ExaminerClient {
        let limit = self.max_message_bytes;
        self.client(
            RawExaminerClient::new(self.intercepted(caller))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        )
    }
}

/// The TLS a connection to `target` uses: `options.tls` for an `https://` URL, none for
/// `http://`; a scheme that does not fit the options is a configuration error naming both
/// settings.
fn tls_for(target: &Target, options: &Options) -> Result<Option<ClientTls>, Error> {
    let https = target.url.starts_with("https://");
    match (&options.tls, https) {
        (Some(tls), true) => Ok(Some(tls.clone())),
        (None, false) => Ok(None),
        (Some(tls), false) => Err(Error::invalid_field(
            target.set_with.clone(),
            format!(
                "{} is a plain-text URL but {} is set, so services are reached over TLS; set {} \
                 to https://HOST:PORT",
                target.url,
                tls.ca_setting(),
                target.set_with
            ),
        )),
        (None, true) => Err(Error::invalid_field(
            target.set_with.clone(),
            format!(
                "{} is an https:// URL but no CA to verify {} against is given; set \
                 tls.ca_file (EXECENV_TLS__CA_FILE; execenvctl: --ca-file)",
                target.url,
                target.service.name()
            ),
        )),
    }
}

/// The endpoint of `target` bounded by `options`; a URL that does not parse is InvalidArgument
/// naming what sets it.
///
/// An `https://` URL is given to tonic as `http://`: the TLS is this crate's connector's (which
/// re-reads certificates when their files change), not tonic's own.
fn endpoint(target: &Target, options: &Options) -> Result<Endpoint, Error> {
    let url = match target.url.strip_prefix("https://") {
        Some(rest) if options.tls.is_some() => format!("http://{rest}"),
        _ => target.url.clone(),
    };
    let mut endpoint = Endpoint::from_shared(url)
        .map_err(|e| {
            Error::invalid_field(
                target.set_with.clone(),
                format!(
                    "{:?} is not a URL: {e}; set {} to http://HOST:PORT",
                    target.url, target.set_with
                ),
            )
        })?
        .connect_timeout(options.connect_timeout);
    if let Some(timeout) = options.request_timeout {
        endpoint = endpoint.timeout(timeout);
    }
    if options.keep_alive {
        endpoint = endpoint
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
    }
    Ok(endpoint)
}

/// An error and its sources joined, e.g. `transport error: tcp connect error: Connection refused`
/// (what HTTP and gRPC clients say first is rarely the cause).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A typed client of one service: the generated tonic client `C` and the target its errors name.
#[derive(Clone)]
pub struct Client<C> {
    raw: C,
    target: Arc<Target>,
}

impl<C: Clone> Client<C> {
    /// Makes one call, e.g. `client.call(|mut c| async move { c.get_environment(request).await })`;
    /// a failure is the service's error, or [`Target::unreachable`].
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(C) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        f(self.raw.clone())
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.target.error(&status))
    }

    /// [`Client::call`], made again while no connection to the service could be made (for up
    /// to [`UNSENT_RETRY_WITHIN`]): a restarting pod or a Service whose new endpoints are not
    /// programmed yet is waited for rather than reported. `f` is called once per attempt.
    pub async fn call_retrying<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: FnMut(C) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut f = f;
        retry_unsent(UNSENT_RETRY_WITHIN, || f(self.raw.clone()))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.target.error(&status))
    }

    /// The next message of a stream this service sends; `None` once it has ended. A failure is
    /// mapped as for [`Client::call`].
    pub async fn next<T>(&self, stream: &mut tonic::Streaming<T>) -> Result<Option<T>, Error> {
        stream
            .message()
            .await
            .map_err(|status| self.target.error(&status))
    }

    /// The generated client itself, for a caller that needs the raw [`tonic::Status`].
    pub fn raw(&self) -> C {
        self.raw.clone()
    }

    /// The service this client calls.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The error for a failed call of this client, as [`Client::call`] maps it.
    pub fn error(&self, status: &tonic::Status) -> Error {
        self.target.error(status)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn with_scheme_adds_http_to_host_and_port_only() {
        assert_eq!(with_scheme("registry:50051"), "http://registry:50051");
        assert_eq!(
            with_scheme("http://registry:50051"),
            "http://registry:50051"
        );
        assert_eq!(with_scheme("https://registry:443"), "https://registry:443");
    }

    #[test]
    fn a_status_the_service_sent_is_not_taken_for_an_unreachable_service() {
        let target = Target::new(Service::Selector, "selector:50053");
        let mut answered = tonic::Status::unavailable("no catalogue yet");
        answered
            .metadata_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        assert_eq!(
            target.error(&answered).message,
            "the selector at http://selector:50053 is unavailable: no catalogue yet"
        );
        let made_here = tonic::Status::unavailable("tcp connect error");
        assert_eq!(
            target.error(&made_here).message,
            "cannot reach the selector at http://selector:50053: tcp connect error; \
             is execenv-selector running? set EXECENV_SELECTOR__URL"
        );
        assert!(super::answered(&answered));
        assert!(!super::answered(&made_here));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_service_that_accepts_but_never_answers_is_reported_as_slow_not_unreachable() {
        // A listener that takes the connection and never says anything back.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        });
        let options = Options::default().with_request_timeout(Duration::from_millis(300));
        let connection =
            Connection::lazy(Target::new(Service::Selector, &url), None, &options).unwrap();
        let error = connection
            .selector(None)
            .call(|mut c| async move {
                c.explain(execenv_proto::selector::v1::SelectRequest::default())
                    .await
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unavailable);
        assert_eq!(
            error.message,
            format!(
                "the selector at {url} did not answer within this client's request timeout; it \
                 is reachable but slow or stuck (see its logs)"
            )
        );
        held.abort();
    }

    /// A Select to the selector at `url` through [`retry_unsent`] (or, with `unanswered_too`,
    /// [`retry_unanswered`]) for `within`: how many attempts were made, and how it failed.
    async fn select_retrying(
        url: &str,
        within: Duration,
        unanswered_too: bool,
    ) -> (u32, tonic::Status) {
        let connection = Connection::lazy(
            Target::new(Service::Selector, url),
            None,
            &Options::default(),
        )
        .unwrap();
        let selector = connection.selector(None).raw();
        let mut attempts = 0;
        let attempt = || {
            attempts += 1;
            let mut c = selector.clone();
            async move {
                c.select(execenv_proto::selector::v1::SelectRequest::default())
                    .await
            }
        };
        let failed = if unanswered_too {
            retry_unanswered(within, attempt).await
        } else {
            retry_unsent(within, attempt).await
        };
        (attempts, failed.unwrap_err())
    }

    /// A loopback listener that takes every connection and closes it at once, as a pod that
    /// goes away does to the connections it held; its URL and the task to abort.
    async fn closing_listener() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let closing = tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                drop(socket);
            }
        });
        (url, closing)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_could_not_connect_is_tried_again_until_the_window_closes() {
        // A port nothing listens on: every attempt is refused before the request leaves.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let (attempts, failed) = select_retrying(&url, Duration::from_millis(1000), false).await;
        assert!(never_sent(&failed), "{failed:?}");
        // Pauses of 50, 100, 200 and 400 ms fit in the second: five attempts on an idle machine,
        // at least two on any.
        assert!(attempts >= 2, "{attempts} attempts");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_reached_the_service_is_not_tried_again() {
        // Takes the connection, then closes it: the request left, so no second attempt.
        let (url, closing) = closing_listener().await;
        let (attempts, failed) = select_retrying(&url, Duration::from_secs(2), false).await;
        assert!(!never_sent(&failed), "{failed:?}");
        assert_eq!(attempts, 1);
        closing.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_read_whose_connection_broke_before_an_answer_is_tried_again() {
        // The request left each time, and each time the connection closed without an answer.
        let (url, closing) = closing_listener().await;
        let (attempts, failed) = select_retrying(&url, Duration::from_secs(1), true).await;
        assert!(!never_sent(&failed), "{failed:?}");
        assert!(!super::answered(&failed), "{failed:?}");
        // Pauses of 50, 100, 200 and 400 ms fit in the second: five attempts on an idle machine,
        // at least two on any.
        assert!(attempts >= 2, "{attempts} attempts");
        closing.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_read_the_service_answered_with_an_error_is_not_tried_again() {
        // The test registry answers every method but a few with its own UNIMPLEMENTED.
        let fake = crate::testing::FakeRegistry::new(None);
        let served = fake.serve().await;
        let connection = Connection::lazy(
            Target::new(Service::Registry, &served.url()),
            None,
            &Options::default(),
        )
        .unwrap();
        let registry = connection.registry(None).raw();
        let mut attempts = 0;
        let failed = retry_unanswered(Duration::from_secs(2), || {
            attempts += 1;
            let mut c = registry.clone();
            async move {
                c.get_environment(execenv_proto::registry::v1::GetEnvironmentRequest::default())
                    .await
            }
        })
        .await
        .unwrap_err();
        assert_eq!(failed.code(), tonic::Code::Unimplemented);
        assert_eq!(attempts, 1);
        served.stop().await;
    }
}
