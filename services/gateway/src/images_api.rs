//! `POST /__api__/execenv/v1/images/examine`: what an image holds, read from its registry by the
//! image examiner without running it, and the definition suggested from it (administrators).
//!
//! The image's registry failing is not the gateway's failure nor the client's: a tag that does not
//! exist is 404; credentials refused, a registry that does not answer, or an answer that is not a
//! usable image are 502, with the examiner's sentence saying which. A reference that does not
//! parse is refused (400) before anything is called.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use execenv_core::error::connect_code;
use execenv_core::image_reference::check_image_reference;
use execenv_core::{Error, ErrorKind};
use execenv_proto::examiner::v1 as pb;
use execenv_proto::views::examiner::ExamineView;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Authenticated;
use crate::body::object;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/images/examine", post(examine))
}

/// The body of `POST /images/examine`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamineJson {
    /// The image reference.
    pub image: String,
    /// os/arch[/variant] to pick from an image index; the examiner's default when absent.
    pub platform: Option<String>,
    /// Read the registry again even when the digest was examined before.
    #[serde(default)]
    pub refresh: bool,
}

impl ExamineJson {
    /// Reads and checks a body: the reference must parse.
    pub fn parse(body: &[u8]) -> Result<pb::ExamineRequest, ApiError> {
        let input: ExamineJson =
            serde_json::from_value(Value::Object(object(body)?)).map_err(|e| {
                Error::invalid_field(
                    "body",
                    format!(
                        "{e}; send {{\"image\": \"ghcr.io/acme/python:3.12\", \"platform\": \"linux/amd64\", \"refresh\": false}} (platform and refresh may be left out)"
                    ),
                )
            })?;
        let image = input.image.trim().to_owned();
        check_image_reference(&image).map_err(|why| Error::invalid_field("image", why))?;
        let platform = input.platform.unwrap_or_default().trim().to_owned();
        // The examiner would refuse it as an unusable image (502); it is the request's mistake.
        let parts = platform.split('/').count();
        let word = |part: &str| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !platform.is_empty() && (!(2..=3).contains(&parts) || !platform.split('/').all(word)) {
            return Err(Error::invalid_field(
                "platform",
                format!("{platform:?} is not a platform; write os/arch or os/arch/variant, e.g. linux/arm64"),
            )
            .into());
        }
        Ok(pb::ExamineRequest {
            image,
            platform,
            refresh: input.refresh,
        })
    }
}

/// `POST /images/examine`.
pub async fn examine(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    body: Bytes,
) -> Result<Json<ExamineView>, Response> {
    let refuse = |e: Error| ApiError::from(e).into_response();
    who.caller
        .require_admin("examining an image")
        .map_err(refuse)?;
    let request = ExamineJson::parse(&body).map_err(IntoResponse::into_response)?;
    let examiner = state.examiner();
    let mut client = examiner
        .examining(&who.caller)
        .map_err(IntoResponse::into_response)?;
    let answer = match client.examine(request).await {
        Ok(answer) => answer.into_inner(),
        Err(status) if execenv_client::answered(&status) => {
            return Err(registry_failure(execenv_client::from_status(&status)));
        }
        Err(status) => return Err(examiner.failed(status).into_response()),
    };
    ExamineView::try_from(answer).map(Json).map_err(refuse)
}

/// The answer for an error the examiner gave: the image's registry failing is 502 with which
/// way it failed; a missing image 404; anything else as the examiner said it.
pub fn registry_failure(e: Error) -> Response {
    let which = match e.kind {
        ErrorKind::FailedPrecondition => "the image's registry refused the examiner",
        ErrorKind::Unavailable => "the image's registry cannot be reached",
        ErrorKind::InvalidArgument if e.violations.is_empty() => {
            "the image's registry answered with something that is not a usable image"
        }
        _ => return ApiError::from(e).into_response(),
    };
    let body = ErrorBody {
        code: connect_code::INTERNAL_FAILURE,
        error: format!("{which}: {}", e.message),
        payload: None,
    };
    tracing::info!(error = %body.error, "examining an image failed at its registry");
    (StatusCode::BAD_GATEWAY, Json(body)).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn answer(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn a_body_becomes_the_examiners_request_with_the_platform_optional() {
        let r = ExamineJson::parse(br#"{"image": " ghcr.io/acme/py:3.12 "}"#).unwrap();
        assert_eq!(
            r,
            pb::ExamineRequest {
                image: "ghcr.io/acme/py:3.12".into(),
                platform: String::new(),
                refresh: false,
            }
        );
        let r = ExamineJson::parse(
            br#"{"image": "127.0.0.1:5000/r:4.2", "platform": "linux/arm64", "refresh": true}"#,
        )
        .unwrap();
        assert_eq!(r.platform, "linux/arm64");
        assert!(r.refresh);
    }

    #[test]
    fn a_reference_that_does_not_parse_is_refused_naming_the_image_field() {
        let e = ExamineJson::parse(br#"{"image": "Not An Image"}"#)
            .unwrap_err()
            .0;
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.violations[0].field, "image");
        let e = ExamineJson::parse(br#"{"image": "a", "tag": "b"}"#)
            .unwrap_err()
            .0;
        assert!(e.message.contains("tag"), "{}", e.message);
        for platform in [
            "linux",
            "linux//v8",
            "a/b/c/d",
            "linux/",
            "linux/arm-64",
            "l nux/x",
        ] {
            let body = format!(r#"{{"image": "a", "platform": "{platform}"}}"#);
            let e = ExamineJson::parse(body.as_bytes()).unwrap_err().0;
            assert_eq!(e.violations[0].field, "platform", "{platform}");
        }
        assert!(ExamineJson::parse(br#"{"image": "a", "platform": "linux/arm64/v8"}"#).is_ok());
    }

    #[tokio::test]
    async fn the_registry_failing_is_502_saying_which_way() {
        let (status, body) = answer(registry_failure(Error::new(
            ErrorKind::FailedPrecondition,
            "the registry 127.0.0.1:5000 refused the credentials for user alice from the Docker config",
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(body["code"], 1);
        assert_eq!(
            body["error"],
            "the image's registry refused the examiner: the registry 127.0.0.1:5000 refused the credentials for user alice from the Docker config"
        );
        let (status, body) = answer(registry_failure(Error::unavailable(
            "cannot reach the registry 127.0.0.1:9: connection refused",
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("the image's registry cannot be reached: ")
        );
        let (status, _) = answer(registry_failure(Error::new(
            ErrorKind::InvalidArgument,
            "no manifest for linux/s390x",
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn a_missing_image_is_404_and_a_bad_field_400() {
        let (status, body) = answer(registry_failure(Error::new(
            ErrorKind::NotFound,
            "127.0.0.1:5000/python:9 was not found",
        )))
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], 4);
        let (status, _) = answer(registry_failure(Error::invalid_field(
            "platform",
            "\"linux\" is not os/arch",
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
