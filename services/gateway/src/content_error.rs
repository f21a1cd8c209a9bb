//! The answers of `/content/{guid}/…` that are the gateway's rather than the app's: Connect's
//! error body with the statuses a proxy needs besides the API's (502, 504), and the launch a
//! failure is about in `payload.launch_id`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use execenv_core::error::connect_code;

use crate::error::{ApiError, ErrorBody};

/// A request for content that the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Connect's error code.
    pub code: u32,
    /// What went wrong and what to do.
    pub message: String,
    /// The launch of the instance concerned, if there is one.
    pub launch_id: Option<String>,
}

impl ContentError {
    /// 503: the content cannot be served now (its instance did not start, or cannot).
    pub fn unavailable(message: impl Into<String>, launch_id: Option<String>) -> Self {
        ContentError::internal(StatusCode::SERVICE_UNAVAILABLE, message, launch_id)
    }

    /// 409: the content's own launch ended without serving it (its bundle not built, its app
    /// failing): the content must change, not the server.
    pub fn did_not_start(message: impl Into<String>, launch_id: Option<String>) -> Self {
        ContentError {
            status: StatusCode::CONFLICT,
            code: connect_code::BAD_REQUEST,
            message: message.into(),
            launch_id,
        }
    }

    /// 502: the instance did not answer.
    pub fn bad_gateway(message: impl Into<String>, launch_id: Option<String>) -> Self {
        ContentError::internal(StatusCode::BAD_GATEWAY, message, launch_id)
    }

    /// 504: the instance is not ready within `content.start_timeout_s`.
    pub fn timeout(message: impl Into<String>, launch_id: Option<String>) -> Self {
        ContentError::internal(StatusCode::GATEWAY_TIMEOUT, message, launch_id)
    }

    fn internal(status: StatusCode, message: impl Into<String>, launch_id: Option<String>) -> Self {
        ContentError {
            status,
            code: connect_code::INTERNAL_FAILURE,
            message: message.into(),
            launch_id,
        }
    }

    /// The body answered.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            error: self.message.clone(),
            payload: self
                .launch_id
                .as_ref()
                .map(|id| serde_json::json!({ "launch_id": id })),
        }
    }
}

impl From<ApiError> for ContentError {
    fn from(error: ApiError) -> Self {
        let (status, body) = error.parts();
        ContentError {
            status,
            code: body.code,
            message: body.error,
            launch_id: None,
        }
    }
}

impl From<execenv_core::Error> for ContentError {
    fn from(error: execenv_core::Error) -> Self {
        ContentError::from(ApiError::from(error))
    }
}

impl IntoResponse for ContentError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), error = %self.message, "content request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_launch_in_the_payload() {
        let e = ContentError::unavailable(
            "content c did not start: Failed: boom",
            Some("app-c-1".to_owned()),
        );
        let json = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": 1, "error": "content c did not start: Failed: boom", "payload": {"launch_id": "app-c-1"}})
        );
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn an_api_error_keeps_its_status_and_code() {
        let e = ContentError::from(execenv_core::Error::new(
            execenv_core::ErrorKind::PermissionDenied,
            "no",
        ));
        assert_eq!(
            (e.status, e.code, e.launch_id),
            (StatusCode::FORBIDDEN, 22, None)
        );
    }
}
