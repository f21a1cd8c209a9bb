//! `/__api__/execenv/v1/session`: the web console signs in with an API key once (POST), gets a
//! session cookie and a CSRF token, reads them back after a reload (GET) and signs out (DELETE).
//! These routes authenticate by themselves: signing in needs no cookie nor token yet.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::auth::{Authenticated, Gate, client_address};
use crate::error::ApiError;
use crate::session;
use crate::state::AppState;
use crate::user::ConnectUser;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/session", get(current).post(sign_in).delete(sign_out))
}

/// The answer of signing in and of reading the session back.
#[derive(Debug, Serialize)]
pub struct SessionBody {
    /// The person signed in, as `/__api__/v1/user` answers.
    pub user: ConnectUser,
    /// What to send in `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    /// When the session ends if it is not used again (RFC 3339).
    pub expires_time: String,
}

/// The one body signing in accepts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    api_key: String,
}

async fn sign_in(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = peer.map(|Extension(ConnectInfo(peer))| peer.ip());
    let signed_in = answer(sign_in_as(state.gate(), &headers, &body, client).await);
    state.gate().with_retry_after(client, signed_in)
}

async fn sign_in_as(
    gate: &Gate,
    headers: &HeaderMap,
    body: &[u8],
    client: Option<IpAddr>,
) -> Result<Response, ApiError> {
    let SignIn { api_key } = serde_json::from_slice(body).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            "the body must be the JSON object {\"api_key\": \"<your API key>\"}",
        )
    })?;
    let key = api_key.trim();
    if key.is_empty() {
        return Err(ApiError(Error::new(
            ErrorKind::Unauthenticated,
            "the API key is empty; paste a key (create one with `execenvctl keys create USER --name NAME`)",
        )));
    }
    let who = gate.authenticate_key(key, client).await?;
    let made = gate.sessions().create(key, Instant::now())?;
    let secure = gate.secure_cookie(headers);
    let cookie = session::set_cookie(&made.cookie, made.expires_in, secure);
    Ok(with_cookie(
        Json(body_of(&who, made.csrf, made.expires_in)).into_response(),
        &cookie,
    ))
}

async fn current(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    let gate = state.gate();
    let client = client_address(&extensions);
    let found = async {
        let cookie = session_cookie(&headers)?;
        let live = gate.live(cookie)?;
        let who = gate.session_user(cookie, &live, client).await?;
        Ok::<_, ApiError>(Json(body_of(&who, live.csrf, live.expires_in)).into_response())
    };
    answer(found.await)
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let gate = state.gate();
    let ended = || {
        let cookie = session_cookie(&headers)?;
        let live = gate.live(cookie)?;
        session::check_csrf(&axum::http::Method::DELETE, &headers, &live.csrf)?;
        gate.sessions().remove(cookie);
        let cookie = session::clear_cookie(gate.secure_cookie(&headers));
        Ok::<_, ApiError>(with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie))
    };
    answer(ended())
}

fn session_cookie(headers: &HeaderMap) -> Result<&str, ApiError> {
    session::cookie_value(headers).ok_or_else(|| {
        ApiError(Error::new(
            ErrorKind::Unauthenticated,
            "not signed in: no session cookie; sign in with POST /__api__/execenv/v1/session",
        ))
    })
}

fn body_of(who: &Authenticated, csrf_token: String, expires_in: Duration) -> SessionBody {
    SessionBody {
        user: ConnectUser::from(who.user.as_ref()),
        csrf_token,
        expires_time: expires_at(chrono::Utc::now(), expires_in),
    }
}

/// `now + after` in RFC 3339, to the second.
pub fn expires_at(now: chrono::DateTime<chrono::Utc>, after: Duration) -> String {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::zero());
    (now + after).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Every answer of these routes is private to the browser that asked.
fn answer(result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_rfc3339_in_utc() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            expires_at(now, Duration::from_secs(3600)),
            "2026-01-02T04:04:05Z"
        );
    }
}
