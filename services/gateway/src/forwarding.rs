//! How a request for `/content/<guid>/…` is rewritten for the content's instance, and its
//! answer for the client: the path without `/content/<guid>`, hop-by-hop headers removed, the
//! caller's execenv credentials removed (the app's own cookies and `Authorization` schemes are
//! kept), and the headers that tell the app where it is served and for whom added. Pure
//! functions, tested below.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::session::{COOKIE, CSRF_HEADER};

/// The route label of every content request in the access log and the request metrics.
pub const ROUTE: &str = "/content/{guid}/{*rest}";

/// Headers that concern one connection only (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers only the gateway sets: a client sending them is ignored.
const SET_BY_THE_GATEWAY: [&str; 4] = [
    "x-forwarded-prefix",
    "rstudio-connect-app-base-url",
    "rstudio-connect-credentials",
    "x-execenv-user",
];

/// What the forwarded headers say about a request.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    /// The content's guid.
    pub guid: &'a str,
    /// The client's address, when known.
    pub peer: Option<IpAddr>,
    /// The signed-in person's username.
    pub username: &'a str,
    /// Whether it asks to become a WebSocket (its upgrade headers are kept).
    pub websocket: bool,
}

/// The content guid of a path under `/content/` (the raw segment after it).
pub fn guid_of(path: &str) -> &str {
    let rest = path.strip_prefix("/content/").unwrap_or_default();
    rest.split('/').next().unwrap_or_default()
}

/// The path and query the instance of content `guid` is asked for: the request's without
/// `/content/<guid>` (the content's root is `/`), as sent (not decoded).
pub fn upstream_path(uri: &Uri, guid: &str) -> String {
    let prefix = format!("/content/{guid}");
    let path = uri.path();
    let rest = path.strip_prefix(prefix.as_str()).unwrap_or(path);
    let rest = if rest.is_empty() { "/" } else { rest };
    match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    }
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

/// Whether the request has no body, so that it may be sent again (GET, HEAD, OPTIONS, or a
/// length of 0, and not chunked).
pub fn has_no_body(method: &Method, headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(length) => length == 0,
        None => matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS),
    }
}

/// The headers the instance gets for a request with `incoming` headers.
pub fn request_headers(incoming: &HeaderMap, f: &Forwarded<'_>) -> HeaderMap {
    let mut out = incoming.clone();
    remove_connection_headers(&mut out);
    let is_key = out
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("Key "));
    if is_key {
        out.remove(header::AUTHORIZATION);
    }
    out.remove("x-rsc-authorization");
    out.remove(CSRF_HEADER);
    // The gateway answered the client's expectation already; the body follows at once.
    out.remove(header::EXPECT);
    without_session_cookie(&mut out);
    for name in SET_BY_THE_GATEWAY {
        out.remove(name);
    }

    let proto = first_value(incoming, "x-forwarded-proto").unwrap_or_else(|| "http".to_owned());
    let host = first_value(incoming, "x-forwarded-host")
        .or_else(|| first_value(incoming, header::HOST.as_str()));
    let forwarded_for = match (first_line(incoming, "x-forwarded-for"), f.peer) {
        (Some(chain), Some(peer)) => Some(format!("{chain}, {peer}")),
        (None, Some(peer)) => Some(peer.to_string()),
        (chain, None) => chain,
    };
    let prefix = format!("/content/{}", f.guid);
    // Connect's shape, user first.
    let credentials = format!(
        r#"{{"user":{},"groups":[]}}"#,
        serde_json::Value::from(f.username)
    );
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    if let Some(chain) = forwarded_for {
        set("x-forwarded-for", chain);
    }
    set("x-forwarded-proto", proto.clone());
    if let Some(host) = &host {
        set("x-forwarded-host", host.clone());
        set(
            "rstudio-connect-app-base-url",
            format!("{proto}://{host}{prefix}/"),
        );
    }
    set("x-forwarded-prefix", prefix);
    set("rstudio-connect-credentials", credentials);
    set("x-execenv-user", f.username.to_owned());
    if f.websocket {
        out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    out
}

/// The instance's answer headers as the client gets them: hop-by-hop headers removed (but on
/// a 101, whose `Connection` and `Upgrade` the client needs), and no cookie of the gateway's
/// own set by the app.
pub fn response_headers(headers: &mut HeaderMap, switching: bool) {
    if !switching {
        remove_connection_headers(headers);
    }
    let theirs: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .and_then(|pair| pair.split_once('='))
                .map(|(name, _)| name.trim());
            name != Some(COOKIE)
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in theirs {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Removes the hop-by-hop headers and those `Connection` names.
fn remove_connection_headers(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The request's cookies without the gateway's session cookie (the header dropped when none
/// is left).
fn without_session_cookie(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map_or(pair.trim(), |(n, _)| n.trim()) != COOKIE)
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

/// All values of header `name` joined as one comma-separated line.
fn first_line(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The first comma-separated value of header `name` (what the proxy nearest the client set).
fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "forwarding_tests.rs"]
mod tests;

/// How long connecting to an instance may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client requests are forwarded with (connections kept for reuse); cheap to clone.
#[derive(Clone)]
pub struct Forwarder {
    pub(crate) client: Client<HttpConnector, Body>,
}

impl Default for Forwarder {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        Forwarder {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }
}
