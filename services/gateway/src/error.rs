//! Errors as Posit Connect answers them: the status and code from
//! [`execenv_core::Error::connect_status`], and the body `{"code", "error", "payload"}` that
//! posit-sdk and rsconnect both parse.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use execenv_core::{Error, ErrorKind};
use execenv_proto::convert::connect::with_connect_paths;
use serde::Serialize;

/// What a handler answering JSON returns.
pub type Answer<T> = Result<Json<T>, ApiError>;

/// A failed request; answers with Connect's error body.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    /// The error with the registry's field paths in the names of Connect's JSON.
    fn from(error: Error) -> Self {
        ApiError(with_connect_paths(error))
    }
}

/// Connect's `APIError`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Connect's error code.
    pub code: u32,
    /// What went wrong and how to fix it.
    pub error: String,
    /// `{"violations": [{field, description}, …]}` when the error names fields (invalid input, or
    /// each environment's reason when no environment fits); null otherwise.
    pub payload: Option<serde_json::Value>,
}

impl ApiError {
    /// The HTTP status and body of this error.
    pub fn parts(&self) -> (StatusCode, ErrorBody) {
        let (status, code) = self.0.connect_status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let payload = (!self.0.violations.is_empty())
            .then(|| serde_json::json!({ "violations": self.0.violations }));
        let body = ErrorBody {
            code,
            error: self.0.message.clone(),
            payload,
        };
        (status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self.0.kind, ErrorKind::Internal | ErrorKind::Unavailable) {
            tracing::warn!(error = %self.0.message, "request failed");
        }
        let (status, body) = self.parts();
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_environment_is_409_with_code_265() {
        let status = tonic::Status::failed_precondition(
            "environment x is managed by the configuration file",
        );
        let (status, body) = ApiError::from(execenv_client::from_status(&status)).parts();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body.code, 265);
        assert!(body.error.contains("configuration file"));
    }

    #[test]
    fn field_violations_from_the_registry_pick_the_environment_code() {
        let err = Error::invalid_field(
            "python.installations[0].version",
            "\"3.11\" is not a semantic version",
        );
        let (status, body) = ApiError::from(execenv_client::from_status(
            &execenv_client::to_status(&err),
        ))
        .parts();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body.code, 174);
        assert_eq!(body.error, err.message);
    }

    #[test]
    fn volume_paths_are_named_as_in_connects_json() {
        let err = Error::invalid(vec![
            execenv_core::FieldViolation::new(
                "volume_mounts[0].source.pvc.claim_name",
                "is required",
            ),
            execenv_core::FieldViolation::new("volume_mounts[1].target_path", "must be absolute"),
        ]);
        let ApiError(translated) = ApiError::from(execenv_client::from_status(
            &execenv_client::to_status(&err),
        ));
        assert_eq!(
            translated.violations[0].field,
            "volume_mounts[0].source.pvc_name"
        );
        assert_eq!(
            translated.violations[1].field,
            "volume_mounts[1].target.path"
        );
        assert!(
            translated
                .message
                .contains("volume_mounts[0].source.pvc_name: is required")
        );
        assert_eq!(translated.connect_status(), (400, 254));
    }

    #[test]
    fn the_body_always_has_code_error_and_payload() {
        let (_, body) = ApiError(Error::environment_not_found("8f0c")).parts();
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["code"], 4);
        assert!(json["error"].as_str().unwrap().contains("8f0c"));
        assert!(json.as_object().unwrap().contains_key("payload"));
        assert!(json["payload"].is_null());
    }
}
