//! Every refusal of the API is Connect's JSON error body: what axum's extractors answer by
//! themselves in plain text (a query that does not deserialise, a path segment that is not
//! UTF-8, a body over the limit or cut off, a wrong content type, a missing extension) is
//! rewritten here into `{"code", "error", "payload"}` with `application/json`, keeping its
//! status. Interactive content (`/content/{guid}/…`) is left alone: those answers are the app's.

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use execenv_core::error::connect_code;

use crate::error::ErrorBody;

/// The most of a plain-text refusal that is read to quote it.
const QUOTED_BYTES: usize = 4096;

/// Middleware: a refusal under `/__api__` that is not JSON becomes Connect's JSON error.
pub async fn as_connect_json(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/__api__");
    let response = next.run(request).await;
    let refused = response.status().is_client_error() || response.status().is_server_error();
    if !api || !refused || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, QUOTED_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let body = connect_body(parts.status, &text);
    let mut rewritten = (parts.status, Json(body)).into_response();
    // Keep what the refusal said besides its body (Allow, Retry-After, …).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Connect's body for a plain-text refusal `text` with `status`: the code by status, the text
/// kept as the reason with what to do about it.
pub fn connect_body(status: StatusCode, text: &str) -> ErrorBody {
    let reason = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text.to_owned()
    };
    let (code, error) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            connect_code::BAD_REQUEST,
            format!(
                "the request body is too large ({reason}); see EXECENV_LIMITS__MAX_BODY_BYTES for the most this gateway accepts"
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            connect_code::BAD_REQUEST,
            format!("{reason}; send the body as JSON with Content-Type: application/json"),
        ),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
            connect_code::BAD_REQUEST,
            format!(
                "the request is malformed: {reason}; see /__api__/openapi.json for what this route accepts"
            ),
        ),
        s if s.is_server_error() => (
            connect_code::INTERNAL_FAILURE,
            format!("the gateway failed to answer: {reason}"),
        ),
        _ => (connect_code::BAD_REQUEST, reason),
    };
    ErrorBody {
        code,
        error,
        payload: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_text_refusal_keeps_its_reason_and_gets_a_connect_code() {
        let body = connect_body(
            StatusCode::BAD_REQUEST,
            "Failed to deserialize query string: duplicate field `prefix`",
        );
        assert_eq!(body.code, 2);
        assert_eq!(
            body.error,
            "the request is malformed: Failed to deserialize query string: duplicate field `prefix`; see /__api__/openapi.json for what this route accepts"
        );
        assert_eq!(body.payload, None);
        let large = connect_body(StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded");
        assert_eq!(large.code, 2);
        assert!(large.error.contains("EXECENV_LIMITS__MAX_BODY_BYTES"));
        let failed = connect_body(StatusCode::INTERNAL_SERVER_ERROR, "");
        assert_eq!(failed.code, 1);
        assert_eq!(
            failed.error,
            "the gateway failed to answer: Internal Server Error"
        );
    }
}
