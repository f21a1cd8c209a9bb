//! Authentication: an API key in `Authorization: Key <key>` (or `X-RSC-Authorization`, which
//! some Posit clients send instead) is turned into the user it belongs to by the registry's
//! `Authenticate`. Successful answers are cached (`server.key_cache_ms`, 10 s by default) so that a
//! burst of requests costs one registry call; refusals are never cached. An answer is stamped
//! with when the registry was *asked*, before it read the key, so a key (or user) disabled is
//! refused by every replica at most `server.key_cache_ms` after the change committed — the bound
//! docs/security.md states (keys are revoked through the registry only, never through a
//! gateway, so no replica learns of it sooner).
//! While the registry cannot be reached (it restarts during a rolling upgrade, say), a key that
//! authenticated within the last [`STALE_GRACE`] is still accepted, with a warning in the log, so
//! that people already working are not turned away; a key not seen in that window gets 503.
//!
//! The console signs in once with a key and then sends the session cookie instead
//! ([`crate::session`]): [`Gate`] accepts either, the key winning when both are sent; with the
//! cookie, a request that changes something must carry the session's CSRF token.
//!
//! Every key the registry is asked about carries the client's address (the connection's peer),
//! so that the registry can count refused keys per client and record a client that keeps
//! failing as a security event.
//! Failed authentications are throttled per client address ([`crate::throttle`]): a throttled
//! address has only keys that authenticated before checked, anything else is answered 429.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use execenv_core::{Caller, Error, ErrorKind, Role};
use execenv_proto::identity::v1 as id;
use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;
use crate::error::ApiError;
use crate::registry::Registry;
use crate::session::{self, Live, SessionStore};
use crate::throttle::{Throttle, retry_after};

/// How long a successful authentication is still used while the registry is unreachable.
pub const STALE_GRACE: Duration = Duration::from_secs(60);

/// Above this many cached keys, expired entries are dropped on the next insert.
const CACHE_PRUNE_AT: usize = 10_000;

/// Successful authentications by the key's SHA-256, with when they were made.
type Cache = HashMap<[u8; 32], (Instant, Authenticated)>;

/// How long a key that authenticated is let past the failure throttle without another success.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);

/// The authenticated person a request acts as (a request extension).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Their user record, as the registry has it.
    pub user: Arc<id::User>,
    /// The identity the registry is called with.
    pub caller: Caller,
}

/// Authenticates keys with the registry, caching successes.
#[derive(Clone)]
pub struct Authenticator {
    registry: Registry,
    // How long a successful authentication is reused.
    ttl: Duration,
    // Keyed by the key's SHA-256, so secrets are not kept in memory longer than a request.
    cache: Arc<Mutex<Cache>>,
    // The SHA-256 of every key that authenticated within KNOWN_FOR, with when it last did.
    known: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

impl Authenticator {
    /// An authenticator asking `registry`, reusing an answer for `ttl`.
    pub fn new(registry: Registry, ttl: Duration) -> Self {
        Authenticator {
            registry,
            ttl,
            cache: Arc::default(),
            known: Arc::default(),
        }
    }

    /// Whether `key` authenticated within the last day (it then passes the failure throttle).
    pub fn has_succeeded(&self, key: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.known.lock().is_ok_and(|known| {
            known
                .get(&digest)
                .is_some_and(|at| at.elapsed() < KNOWN_FOR)
        })
    }

    /// The person `key`, presented by `client`, belongs to; Unauthenticated when the registry
    /// does not know it.
    pub async fn authenticate(
        &self,
        key: &str,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Taken before the registry is asked, and the answer stamped with it: the cache's bound
        // on a revoked key counts from before the registry could have read it.
        let now = Instant::now();
        if let Some(hit) = self.cached(&digest, now) {
            return Ok(hit);
        }
        // A registry restarting (a rolling upgrade) is waited for a few seconds.
        let answer = execenv_client::retry_unsent(execenv_client::UNSENT_RETRY_WITHIN, || {
            let mut accounts = self.registry.accounts();
            let request = id::AuthenticateRequest {
                key: key.to_owned(),
                client_address: client.map(|c| c.to_string()).unwrap_or_default(),
            };
            async move { accounts.authenticate(request).await }
        })
        .await;
        let user = match answer {
            Ok(answer) => answer.into_inner(),
            Err(status) => {
                let failed = self.registry.failed(status);
                if failed.0.kind == ErrorKind::Unavailable
                    && let Some(stale) = self.cached_within(&digest, now, STALE_GRACE)
                {
                    tracing::warn!(
                        user = %stale.user.username,
                        error = %failed.0.message,
                        "the registry cannot be reached; using this key's authentication of the last {} s",
                        STALE_GRACE.as_secs()
                    );
                    return Ok(stale);
                }
                return Err(failed);
            }
        };
        let authenticated = authenticated(user)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_PRUNE_AT {
                let keep = STALE_GRACE.max(self.ttl);
                cache.retain(|_, (at, _)| now.duration_since(*at) < keep);
            }
            cache.insert(digest, (now, authenticated.clone()));
        }
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= CACHE_PRUNE_AT {
                known.retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
            }
            known.insert(digest, now);
        }
        Ok(authenticated)
    }

    /// Takes `user` as the person `key` belongs to, as if the registry had just said so (tests
    /// of routes behind the gate, without a registry).
    #[cfg(test)]
    pub(crate) fn remember(&self, key: &str, user: id::User) {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let authenticated = authenticated(user).expect("a known role");
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(digest, (Instant::now(), authenticated));
        }
    }

    fn cached(&self, digest: &[u8; 32], now: Instant) -> Option<Authenticated> {
        self.cached_within(digest, now, self.ttl)
    }

    fn cached_within(
        &self,
        digest: &[u8; 32],
        now: Instant,
        age: Duration,
    ) -> Option<Authenticated> {
        let cache = self.cache.lock().ok()?;
        let (at, hit) = cache.get(digest)?;
        (now.duration_since(*at) < age).then(|| hit.clone())
    }
}

/// The caller a user record stands for.
fn authenticated(user: id::User) -> Result<Authenticated, Error> {
    let role = Role::parse(&user.role).ok_or_else(|| {
        Error::internal(format!(
            "the registry answered role {:?} for user {}; expected administrator, publisher or viewer",
            user.role, user.guid
        ))
    })?;
    let caller = Caller {
        user: Some(user.guid.clone()),
        groups: user.group_guids.clone(),
        role,
    };
    Ok(Authenticated {
        user: Arc::new(user),
        caller,
    })
}

/// The address of the client a request came from: its connection's peer (`None` for a request
/// made without a connection, in tests).
pub fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The API key of a request: `Authorization: Key …`, else `X-RSC-Authorization: Key …`.
pub fn api_key(headers: &HeaderMap) -> Result<&str, Error> {
    let from = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Key "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
    };
    from("authorization")
        .or_else(|| from("x-rsc-authorization"))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthenticated,
                "no API key: send the header \"Authorization: Key <your API key>\" \
                 (create a key with `execenvctl keys create USER --name NAME`)",
            )
        })
}

/// Who may pass: an API key, or the cookie of a console session (with its CSRF token).
#[derive(Clone)]
pub struct Gate {
    authenticator: Authenticator,
    sessions: SessionStore,
    secure_cookies: bool,
    throttle: Throttle,
}

impl Gate {
    /// A gate authenticating keys with `authenticator` and cookies with `sessions`, marking
    /// cookies `Secure` always when `secure_cookies` (else only over TLS).
    pub fn new(authenticator: Authenticator, sessions: SessionStore, secure_cookies: bool) -> Self {
        Gate {
            authenticator,
            sessions,
            secure_cookies,
            throttle: Throttle::new(&LimitsConfig::default()),
        }
    }

    /// The same gate throttling failed authentications with `throttle`.
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// The person `key` belongs to, asked for from `client`: throttled like every
    /// authentication (signing in, too).
    pub async fn authenticate_key(
        &self,
        key: &str,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        if !self.authenticator.has_succeeded(key) {
            self.throttle.admit(client, Instant::now())?;
        }
        let answer = self.authenticator.authenticate(key, client).await;
        self.count(client, answer)
    }

    /// `answer`, its failure to authenticate counted against `client`.
    fn count<T>(&self, client: Option<IpAddr>, answer: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(ApiError(e)) = &answer
            && e.kind == ErrorKind::Unauthenticated
        {
            self.throttle.failed(client, Instant::now());
        }
        answer
    }

    /// `response` with `Retry-After` when it is a 429 of the throttle for `client`.
    pub fn with_retry_after(&self, client: Option<IpAddr>, mut response: Response) -> Response {
        if response.status() == StatusCode::TOO_MANY_REQUESTS
            && let Some(wait) = self.throttle.wait(client, Instant::now())
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after(wait)));
        }
        response
    }

    /// Turns API keys into people.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// The console sessions.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Whether the session cookie of a request with `headers` gets the `Secure` attribute.
    pub fn secure_cookie(&self, headers: &HeaderMap) -> bool {
        self.secure_cookies || session::forwarded_tls(headers)
    }

    /// The person a request from `client` acts as: by its API key if it sends one, else by its
    /// session cookie (checking the CSRF token of a `method` that is not safe).
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        self.authenticate_checking(Some(method), headers, client)
            .await
    }

    /// The person a request for interactive content acts as: by its API key, else by its
    /// session cookie, whatever the method and without a CSRF token (the content's own forms
    /// and WebSockets cannot send one; the cookie is `SameSite=Strict`, so other sites' pages
    /// cannot send it either).
    pub async fn authenticate_content(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        self.authenticate_checking(None, headers, client).await
    }

    /// Authenticates by key, else by cookie, checking the CSRF token of `csrf_for` when given.
    async fn authenticate_checking(
        &self,
        csrf_for: Option<&Method>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        let no_key = match api_key(headers) {
            Ok(key) => return self.authenticate_key(key, client).await,
            Err(no_key) => no_key,
        };
        let Some(cookie) = session::cookie_value(headers) else {
            return Err(no_key.into());
        };
        // A session's key authenticated when it signed in: only a dead cookie is a failure.
        let live = self.count(client, self.live(cookie))?;
        if let Some(method) = csrf_for {
            session::check_csrf(method, headers, &live.csrf)?;
        }
        self.session_user(cookie, &live, client).await
    }

    /// The live session of `cookie`, marked as used; 401 when it expired or was ended.
    pub fn live(&self, cookie: &str) -> Result<Live, ApiError> {
        self.sessions
            .touch(cookie, Instant::now())
            .ok_or_else(|| {
                ApiError(Error::new(
                    ErrorKind::Unauthenticated,
                    "the session has expired or was ended; sign in again with your API key (POST /__api__/execenv/v1/session)",
                ))
            })
    }

    /// The person the key of session `live` belongs to now; a key that no longer authenticates
    /// (disabled, deleted) ends the session.
    pub async fn session_user(
        &self,
        cookie: &str,
        live: &Live,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        match self.authenticator.authenticate(&live.key, client).await {
            Err(ApiError(e)) if e.kind == ErrorKind::Unauthenticated => {
                self.sessions.remove(cookie);
                Err(ApiError(Error::new(
                    ErrorKind::Unauthenticated,
                    "the API key this session was signed in with no longer authenticates (disabled or deleted); sign in again with a valid key",
                )))
            }
            other => other,
        }
    }
}

/// Middleware: authenticates the request's key or session cookie and stores [`Authenticated`]
/// in its extensions.
pub async fn require_key(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let client = client_address(request.extensions());
    match gate
        .authenticate(request.method(), request.headers(), client)
        .await
    {
        Ok(authenticated) => {
            request.extensions_mut().insert(authenticated);
            next.run(request).await
        }
        Err(refused) => gate.with_retry_after(client, refused.into_response()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_key_comes_from_authorization_or_x_rsc_authorization() {
        assert_eq!(
            api_key(&headers(&[("authorization", "Key ee_abc")])).unwrap(),
            "ee_abc"
        );
        assert_eq!(
            api_key(&headers(&[("x-rsc-authorization", "Key ee_def")])).unwrap(),
            "ee_def"
        );
        assert_eq!(
            api_key(&headers(&[
                ("authorization", "Bearer t"),
                ("x-rsc-authorization", "Key k")
            ]))
            .unwrap(),
            "k"
        );
    }

    #[test]
    fn no_key_is_unauthenticated_with_the_fix() {
        for h in [
            headers(&[]),
            headers(&[("authorization", "Key ")]),
            headers(&[("authorization", "Basic x")]),
        ] {
            let err = api_key(&h).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Unauthenticated);
            assert!(err.message.contains("Authorization: Key"));
        }
    }

    #[test]
    fn a_user_record_becomes_the_caller_with_groups_and_role() {
        let user = id::User {
            guid: "u1".to_owned(),
            role: "publisher".to_owned(),
            group_guids: vec!["g1".to_owned()],
            ..id::User::default()
        };
        let a = authenticated(user).unwrap();
        assert_eq!(a.caller.user.as_deref(), Some("u1"));
        assert_eq!(a.caller.groups, vec!["g1".to_owned()]);
        assert_eq!(a.caller.role, Role::Publisher);
    }
}
