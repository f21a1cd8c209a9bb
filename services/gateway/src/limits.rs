//! What one request may ask of the gateway (`limits.*`): a body of at most
//! `limits.max_body_bytes` (a bundle upload has its own, larger limit), JSON nested at most
//! `limits.max_json_depth` deep, an answer started within `limits.request_timeout_s` (image
//! examinations: `limits.examine_timeout_s`), and at most `limits.max_event_streams_per_user`
//! event streams per person. Each refusal is Connect's JSON error. Interactive content
//! (`/content/{guid}/…`) is the app's: its bodies and times are its own, bounded by
//! `content.start_timeout_s` while it starts.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use execenv_core::{Error, ErrorKind};
use execenv_kit::WatchBound;
use futures::StreamExt;

use crate::config::LimitsConfig;
use crate::error::ApiError;

/// The bundle upload route, whose body is streamed and bounded by `bundles.max_upload_bytes`.
const UPLOAD: &str = "/__api__/execenv/v1/content/{guid}/bundles";

/// Routes that may take as long as examining an image does.
const EXAMINING: [&str; 2] = [
    "/__api__/execenv/v1/images/examine",
    "/__api__/execenv/v1/checks/refresh",
];

/// The gateway's limits, as the middleware and the event stream apply them.
#[derive(Clone, Debug)]
pub struct Limits {
    max_body_bytes: u64,
    max_json_depth: u32,
    request_timeout: Duration,
    examine_timeout: Duration,
    event_streams: WatchBound,
}

impl Limits {
    /// The limits `config` sets.
    pub fn new(config: &LimitsConfig) -> Self {
        Limits {
            max_body_bytes: config.max_body_bytes,
            max_json_depth: config.max_json_depth,
            request_timeout: Duration::from_secs(config.request_timeout_s),
            examine_timeout: Duration::from_secs(config.examine_timeout_s),
            event_streams: WatchBound::with_setting(
                config.max_event_streams_per_user,
                "EXECENV_LIMITS__MAX_EVENT_STREAMS_PER_USER",
            ),
        }
    }

    /// Largest body of a route other than an upload.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// The event streams open per person.
    pub fn event_streams(&self) -> &WatchBound {
        &self.event_streams
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(&LimitsConfig::default())
    }
}

/// Middleware: every API request but an upload has its body read up to `max_body_bytes` (413
/// beyond) and its JSON nesting checked (400 beyond `max_json_depth`), all of it within the
/// route's time (503 beyond). A request outside `/__api__` passes untouched.
pub async fn bound(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/__api__") {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = route.as_deref().unwrap_or_default();
    if route == UPLOAD && request.method() == Method::POST {
        // Streamed to the unpacker, which bounds its size and waits for each piece.
        return next.run(request).await;
    }
    let timeout = if EXAMINING.contains(&route) {
        limits.examine_timeout
    } else {
        limits.request_timeout
    };
    let answer = async {
        let request = bounded_body(&limits, request).await?;
        Ok::<_, ApiError>(next.run(request).await)
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(refused)) => refused.into_response(),
        Err(_) => ApiError(timed_out(timeout, route)).into_response(),
    }
}

/// The refusal of a request that did not get its answer within `timeout`.
fn timed_out(timeout: Duration, route: &str) -> Error {
    let setting = if EXAMINING.contains(&route) {
        "EXECENV_LIMITS__EXAMINE_TIMEOUT_S"
    } else {
        "EXECENV_LIMITS__REQUEST_TIMEOUT_S"
    };
    Error::unavailable(format!(
        "the gateway did not answer within {} s, the most a request may take ({setting}); what it asked for may still finish: check before you retry",
        timeout.as_secs()
    ))
}

/// `request` with its body read whole, once it is known to be within the limits.
async fn bounded_body(limits: &Limits, request: Request) -> Result<Request, ApiError> {
    let too_large = || {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "the request body is larger than {} bytes, the most this gateway accepts (EXECENV_LIMITS__MAX_BODY_BYTES); bundles are uploaded to POST /__api__/execenv/v1/content/<guid>/bundles",
                limits.max_body_bytes
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes) {
        return Err(too_large().into());
    }
    let (parts, body) = request.into_parts();
    let mut pieces = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(piece) = pieces.next().await {
        let piece = piece.map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("the request body broke off before its end: {e}"),
            )
        })?;
        if (bytes.len() + piece.len()) as u64 > limits.max_body_bytes {
            return Err(too_large().into());
        }
        bytes.extend_from_slice(&piece);
    }
    if let Some(depth) = too_deep(&bytes, limits.max_json_depth) {
        return Err(ApiError(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the request body nests arrays and objects more than {} deep (at byte {depth}), the most this gateway accepts (EXECENV_LIMITS__MAX_JSON_DEPTH)",
                limits.max_json_depth
            ),
        )));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The offset at which `json` opens an array or object deeper than `max`; None when it never
/// does. Brackets inside strings do not count; what is not JSON is left to the parser.
pub fn too_deep(json: &[u8], max: u32) -> Option<usize> {
    let mut depth: u32 = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (at, byte) in json.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(at);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert_eq!(too_deep(br#"{"a": [1, {"b": 2}]}"#, 3), None);
        assert_eq!(too_deep(br#"{"a": [1, {"b": 2}]}"#, 2), Some(10));
        assert_eq!(too_deep(br#"{"a": "[[[[[[\"[[["}"#, 1), None);
        assert_eq!(too_deep(b"[[[[", 3), Some(3));
        assert_eq!(too_deep(b"", 0), None);
        assert_eq!(too_deep(b"{}", 0), Some(0));
    }

    #[test]
    fn a_timeout_names_the_setting_of_its_route() {
        let plain = timed_out(Duration::from_secs(60), "/__api__/v1/environments");
        assert_eq!(plain.kind, ErrorKind::Unavailable);
        assert_eq!(
            plain.message,
            "the gateway did not answer within 60 s, the most a request may take (EXECENV_LIMITS__REQUEST_TIMEOUT_S); what it asked for may still finish: check before you retry"
        );
        let examining = timed_out(
            Duration::from_secs(660),
            "/__api__/execenv/v1/images/examine",
        );
        assert!(
            examining
                .message
                .contains("(EXECENV_LIMITS__EXAMINE_TIMEOUT_S)")
        );
    }
}
