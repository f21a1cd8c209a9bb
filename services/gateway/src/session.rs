//! Console sessions, kept in memory: a signed-in browser holds a random cookie, the gateway a
//! map from the cookie's SHA-256 to the API key it was made from, its CSRF token and its times.
//! The key is never logged nor sent back; each request re-authenticates it (so a disabled key
//! ends its sessions). A session ends after `console.session_idle_s` without use or
//! `console.session_max_s` after sign-in, whichever comes first; the map is bounded.
//!
//! The cookie's attributes and the CSRF rule are pure functions here, tested below.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use execenv_core::{Error, ErrorKind};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "execenv_session";

/// The header a cookie-authenticated request that changes something carries its token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Most sessions kept at once; above it, the least recently used one is dropped.
pub const MAX_SESSIONS: usize = 10_000;

/// Sessions by the SHA-256 of their cookie.
#[derive(Clone)]
pub struct SessionStore {
    sessions: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    idle: Duration,
    max_age: Duration,
    capacity: usize,
}

/// One signed-in browser.
#[derive(Clone)]
struct Session {
    key: String,
    csrf: String,
    created: Instant,
    last_used: Instant,
}

/// What a live session gives a request: the key to authenticate and the token to check.
#[derive(Clone, PartialEq, Eq)]
pub struct Live {
    /// The API key the session was made from.
    pub key: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// How long until it expires if not used again.
    pub expires_in: Duration,
}

/// A session just made: the cookie value for the browser and the session's token.
#[derive(Clone, PartialEq, Eq)]
pub struct Created {
    /// The cookie's value (256 random bits, URL-safe).
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// How long until it expires if not used again.
    pub expires_in: Duration,
}

// Secrets stay out of debug output.
impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Created")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// A store whose sessions end after `idle` without use or `max_age` after sign-in.
    pub fn new(idle: Duration, max_age: Duration) -> Self {
        SessionStore::with_capacity(idle, max_age, MAX_SESSIONS)
    }

    /// [`SessionStore::new`] keeping at most `capacity` sessions.
    pub fn with_capacity(idle: Duration, max_age: Duration, capacity: usize) -> Self {
        SessionStore {
            sessions: Arc::default(),
            idle,
            max_age,
            capacity: capacity.max(1),
        }
    }

    /// Starts a session for `key` at `now`.
    pub fn create(&self, key: &str, now: Instant) -> Result<Created, Error> {
        let cookie = random_token()?;
        let csrf = random_token()?;
        let session = Session {
            key: key.to_owned(),
            csrf: csrf.clone(),
            created: now,
            last_used: now,
        };
        let expires_in = self.remaining(&session, now);
        let mut sessions = self.lock()?;
        if sessions.len() >= self.capacity {
            sessions.retain(|_, s| !self.expired(s, now));
        }
        if sessions.len() >= self.capacity
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(digest, _)| *digest)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(digest(&cookie), session);
        Ok(Created {
            cookie,
            csrf,
            expires_in,
        })
    }

    /// The live session of `cookie` at `now`, marked as used; `None` when there is none or it
    /// has expired (then it is dropped).
    pub fn touch(&self, cookie: &str, now: Instant) -> Option<Live> {
        let mut sessions = self.lock().ok()?;
        let digest = digest(cookie);
        let session = sessions.get_mut(&digest)?;
        if self.expired(session, now) {
            sessions.remove(&digest);
            return None;
        }
        session.last_used = now;
        let live = Live {
            key: session.key.clone(),
            csrf: session.csrf.clone(),
            expires_in: self.remaining(session, now),
        };
        Some(live)
    }

    /// Ends the session of `cookie`, if any.
    pub fn remove(&self, cookie: &str) {
        if let Ok(mut sessions) = self.lock() {
            sessions.remove(&digest(cookie));
        }
    }

    /// How many sessions are kept (expired ones included until they are seen or pruned).
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |s| s.len())
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) >= self.idle
            || now.saturating_duration_since(s.created) >= self.max_age
    }

    fn remaining(&self, s: &Session, now: Instant) -> Duration {
        let idle = (s.last_used + self.idle).saturating_duration_since(now);
        let max = (s.created + self.max_age).saturating_duration_since(now);
        idle.min(max)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>>, Error> {
        self.sessions
            .lock()
            .map_err(|_| Error::internal("the session store's lock was poisoned by a panic"))
    }
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// 256 bits from the operating system's CSPRNG, URL-safe base64 without padding.
pub fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::internal(format!(
            "the operating system's random number generator failed: {e}"
        ))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The value of the session cookie in a request's `Cookie` headers, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Whether a request came over TLS, as the proxy in front says (`X-Forwarded-Proto: https`).
pub fn forwarded_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that hands `value` to the browser for `max_age`.
pub fn set_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that makes the browser forget the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

/// Whether `method` only reads (no CSRF token needed).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the CSRF token of a cookie-authenticated request that is not safe: 403 when the
/// header is missing or differs from `expected`.
pub fn check_csrf(method: &Method, headers: &HeaderMap, expected: &str) -> Result<(), Error> {
    if is_safe(method) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match sent {
        Some(sent) if same(sent.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(Error::new(
            ErrorKind::PermissionDenied,
            "the CSRF token is wrong: send the session's csrf_token (from GET /__api__/execenv/v1/session) in the X-CSRF-Token header",
        )),
        None => Err(Error::new(
            ErrorKind::PermissionDenied,
            "the CSRF token is missing: a request with the session cookie that changes something must send the session's csrf_token in the X-CSRF-Token header",
        )),
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
