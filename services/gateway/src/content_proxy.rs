//! `/content/{guid}/…`: interactive content, proxied to its instance. The request is
//! authenticated like the API's (key or console session, but without a CSRF token: the app's
//! own forms and WebSockets cannot send one), checked against the content's access rule
//! ([`execenv_core::content_access`]), then sent over HTTP/1.1 to a ready instance of the content's
//! newest bundle ([`crate::instances`], which starts one when there is none) with its path
//! stripped of `/content/<guid>` and its headers rewritten ([`crate::forwarding`]). Bodies are
//! streamed both ways; a WebSocket upgrade is forwarded and, once the app switches protocols,
//! the two connections are joined byte for byte until either side closes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use execenv_core::ErrorKind;
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;

use crate::auth::Authenticated;
use crate::content_error::ContentError;
use crate::content_records::{ContentFacts, facts};
use crate::error::ApiError;
use crate::forwarding::{self, Forwarded, ROUTE};
use crate::instance_table::Lease;
use crate::instances::{Ready, Recheck};
use crate::state::AppState;
use execenv_core::content_access::may_view;

/// The routes, at the top level (outside `/__api__`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/content/{guid}", on(documented(), to_folder))
        .route("/content/{guid}/", on(documented(), serve))
        .route(ROUTE, on(documented(), serve))
}

/// The methods content is served with: those an OpenAPI 3.1 document can list (it lists them
/// all); any other is 405, as for every route.
fn documented() -> MethodFilter {
    MethodFilter::GET
        .or(MethodFilter::HEAD)
        .or(MethodFilter::POST)
        .or(MethodFilter::PUT)
        .or(MethodFilter::DELETE)
        .or(MethodFilter::OPTIONS)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::TRACE)
}

/// `/content/{guid}` → `/content/{guid}/` (308, the query kept), so that the app's relative
/// links resolve below its folder.
async fn to_folder(State(state): State<AppState>, request: Request) -> Response {
    let uri = request.uri();
    let location = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    // Only content has a folder: anything else is not redirected into one.
    let is_content = execenv_core::bundle::content_guid(forwarding::guid_of(uri.path())).is_ok();
    let response = match HeaderValue::from_str(&location) {
        Ok(location) if is_content => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        _ => ContentError::from(execenv_core::Error::new(
            ErrorKind::NotFound,
            "no such content: content is served at /content/<guid>/, a UUID written lowercase with hyphens",
        ))
        .into_response(),
    };
    state
        .instances()
        .metrics()
        .request(response.status().as_u16());
    response
}

/// Every request below `/content/{guid}/`, counted by its status.
async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let client = crate::auth::client_address(request.extensions());
    let response = match answer(&state, request, client).await {
        Ok(response) => response,
        Err(e) => state.gate().with_retry_after(client, e.into_response()),
    };
    state
        .instances()
        .metrics()
        .request(response.status().as_u16());
    response
}

async fn answer(
    state: &AppState,
    request: Request,
    client: Option<std::net::IpAddr>,
) -> Result<Response, ContentError> {
    let who = state
        .gate()
        .authenticate_content(request.headers(), client)
        .await
        .map_err(sign_in)?;
    let raw = forwarding::guid_of(request.uri().path()).to_owned();
    let guid = execenv_core::bundle::content_guid(&raw)
        .map_err(|_| {
            ContentError::from(execenv_core::Error::new(
                ErrorKind::NotFound,
                format!("{raw:?} is not a content guid; content is served at /content/<guid>/"),
            ))
        })?
        .to_owned();
    let ContentFacts {
        owner,
        permissions,
        newest_bundle,
    } = facts(state.records(), state.bundles(), &guid).await?;
    if newest_bundle.is_none() {
        return Err(execenv_core::Error::new(
            ErrorKind::NotFound,
            format!("content {guid} has no bundle; upload one with POST /__api__/execenv/v1/content/{guid}/bundles"),
        )
        .into());
    }
    let owner_guid = owner.as_ref().map(|o| o.user_guid.as_str());
    if !may_view(&who.caller, owner_guid, &permissions) {
        return Err(execenv_core::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} may not view content {guid}: ask its owner or an administrator to add you or one of your groups to its permissions (POST /__api__/execenv/v1/content/{guid}/permissions)",
                who.user.username
            ),
        )
        .into());
    }
    let ready = state.instances().ready(&guid).await?;
    forward(state, request, &guid, &who, ready).await
}

/// 401 for content: the credentials' problem and how to sign in.
fn sign_in(e: ApiError) -> ContentError {
    let mut e = ContentError::from(e);
    if e.status == StatusCode::UNAUTHORIZED {
        e.message = format!(
            "{}; to view content, sign in at / (the web console) or send \"Authorization: Key <your API key>\"",
            e.message
        );
    }
    e
}

/// How long a request waits for a ready instance's address to take connections.
const REFUSED_READY_WITHIN: Duration = Duration::from_secs(20);

/// Waits until a TCP connection to `address` succeeds, trying again after 50 ms, 100 ms, … up to
/// 1 s between tries, for at most `within`; returns either way (the request then says what
/// happened).
async fn connectable(address: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(50);
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(address),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) || Instant::now() + pause > deadline {
            return;
        }
        // The pause between connection attempts of a bounded retry.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Sends the request to the instance `ready` and answers with what it answers.
async fn forward(
    state: &AppState,
    mut request: Request,
    guid: &str,
    who: &Authenticated,
    ready: Ready,
) -> Result<Response, ContentError> {
    let websocket = forwarding::is_websocket(request.headers());
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let headers = forwarding::request_headers(
        &parts.headers,
        &Forwarded {
            guid,
            peer,
            username: &who.user.username,
            websocket,
        },
    );
    let path = forwarding::upstream_path(&parts.uri, guid);
    let resendable = forwarding::has_no_body(&parts.method, &parts.headers);
    let build = |address: &str, body: Body| {
        let mut outgoing = axum::http::Request::new(body);
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.version_mut() = Version::HTTP_11;
        *outgoing.headers_mut() = headers.clone();
        format!("http://{address}{path}")
            .parse()
            .map(|uri| {
                *outgoing.uri_mut() = uri;
                outgoing
            })
            .map_err(|e| {
                ContentError::bad_gateway(
                    format!("content {guid}'s instance has an unusable address {address:?}: {e}"),
                    None,
                )
            })
    };
    let metrics = state.instances().metrics().clone();
    let client = &state.forwarder().client;
    let sent = Instant::now();
    if !resendable {
        // A body cannot be sent twice: make sure the instance takes connections first (a
        // Service that just became ready may not be routed yet).
        connectable(&ready.address, REFUSED_READY_WITHIN).await;
    }
    let first = client.request(build(&ready.address, body)?).await;
    let (ready, mut response) = match first {
        Ok(response) => (ready, response),
        Err(e) if e.is_connect() => {
            let launch_id = ready.launch_id.clone();
            let recheck = state
                .instances()
                .recheck(guid, &launch_id, ready.lease.generation())
                .await;
            let refused = |why: &str| {
                ContentError::bad_gateway(
                    format!(
                        "content {guid}'s instance (launch {launch_id}) did not take the connection: {why}"
                    ),
                    Some(launch_id.clone()),
                )
            };
            let why = match &recheck {
                Recheck::Ready(_) => "it is ready, yet refused".to_owned(),
                Recheck::Starting => "it is restarting; try again".to_owned(),
                Recheck::Gone(why) => format!("{why}; the next request starts a new instance"),
                Recheck::Unknown(why) => why.clone(),
            };
            if !resendable || matches!(recheck, Recheck::Unknown(_)) {
                return Err(refused(&why));
            }
            drop(ready);
            let again = state.instances().ready(guid).await?;
            // Ready yet refused: on Kubernetes, kube-proxy routes a Service a moment after its
            // pod is ready (a second on an idle node, more under load).
            connectable(&again.address, REFUSED_READY_WITHIN).await;
            match client.request(build(&again.address, Body::empty())?).await {
                Ok(response) => (again, response),
                Err(e) => return Err(refused(&format!("{why}; sent again: {e}"))),
            }
        }
        Err(e) => {
            return Err(ContentError::bad_gateway(
                format!(
                    "content {guid}'s instance (launch {}) did not answer: {e}",
                    ready.launch_id
                ),
                Some(ready.launch_id.clone()),
            ));
        }
    };
    metrics.proxied(sent.elapsed().as_secs_f64());

    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let app_upgrade = hyper::upgrade::on(&mut response);
        let hold = ready.lease.into_websocket();
        let (guid, launch) = (guid.to_owned(), ready.launch_id.clone());
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, app_upgrade) {
                Ok((client, app)) => {
                    let (mut client, mut app) = (TokioIo::new(client), TokioIo::new(app));
                    let joined = tokio::io::copy_bidirectional(&mut client, &mut app).await;
                    tracing::debug!(content = %guid, launch = %launch, ?joined, "a WebSocket closed");
                }
                Err(e) => {
                    tracing::debug!(content = %guid, launch = %launch, error = %e, "a WebSocket upgrade did not complete");
                }
            }
            drop(hold);
        });
        let (mut parts, _) = response.into_parts();
        forwarding::response_headers(&mut parts.headers, true);
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = response.into_parts();
    forwarding::response_headers(&mut parts.headers, false);
    Ok(Response::from_parts(
        parts,
        Body::new(Held {
            body,
            _lease: ready.lease,
        }),
    ))
}

pin_project_lite::pin_project! {
    /// An answer's body streamed to the client, holding the request's lease until it is done
    /// (a long download keeps the instance in use).
    struct Held<B> {
        #[pin]
        body: B,
        _lease: Lease,
    }
}

impl<B: http_body::Body<Data = Bytes>> http_body::Body for Held<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[path = "content_proxy_tests.rs"]
mod tests;
