//! Read-your-writes across replicas: every catalogue write answers with the registry revision of
//! its commit in `X-Execenv-Revision` ([`Written`]); `select` and `explain` take it back as
//! `min_revision`, and the selector answers from a catalogue at least that new (or 503 with
//! `Retry-After`, [`retry_later`], while it is behind; 409 for a revision never committed).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use execenv_core::Error;
use serde::{Deserialize, Deserializer};

/// The header a catalogue write answers with: the revision after its commit.
pub static REVISION_HEADER: HeaderName = HeaderName::from_static("x-execenv-revision");

/// How many seconds a client is asked to wait before retrying a selection the selector could
/// not answer yet (its catalogue behind the `min_revision` asked for, or not received yet).
pub const RETRY_AFTER_S: u32 = 1;

/// The answer of a catalogue write with the revision of its commit.
pub struct Written<T> {
    /// The registry revision after the commit (for an update that changed nothing: the
    /// environment's revision).
    pub revision: i64,
    /// The answer itself.
    pub answer: T,
}

impl<T: IntoResponse> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        let mut response = self.answer.into_response();
        response
            .headers_mut()
            .insert(REVISION_HEADER.clone(), HeaderValue::from(self.revision));
        response
    }
}

/// The `min_revision` a client gave (absent: 0, any revision); a negative one is refused.
pub fn min_revision(given: Option<i64>) -> Result<i64, Error> {
    match given.unwrap_or_default() {
        n if n < 0 => Err(Error::invalid_field(
            "min_revision",
            format!(
                "{n} is not a revision: give the X-Execenv-Revision a catalogue write answered with, or leave it out"
            ),
        )),
        n => Ok(n),
    }
}

/// Reads an optional JSON integer, also one written with a zero fraction (`45.0`, which JSON
/// Schema counts as an integer).
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    });
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

/// `response` with `Retry-After` when it is a 503: the selector is behind (or has no catalogue
/// yet) and the same request succeeds shortly.
pub fn retry_later(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_write_answers_with_its_revision_in_the_header() {
        let response = Written {
            revision: 45,
            answer: StatusCode::NO_CONTENT,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()["x-execenv-revision"], "45");
    }

    #[test]
    fn a_revision_may_be_written_with_a_zero_fraction_but_not_a_fraction() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "whole_number")]
            min_revision: Option<i64>,
        }
        let read = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.min_revision);
        assert_eq!(read(r#"{"min_revision": 45}"#).unwrap(), Some(45));
        assert_eq!(read(r#"{"min_revision": 45.0}"#).unwrap(), Some(45));
        assert_eq!(read(r#"{"min_revision": null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        assert!(read(r#"{"min_revision": 4.5}"#).is_err());
    }

    #[test]
    fn only_a_503_is_told_to_retry_after_a_second() {
        let unavailable = retry_later(StatusCode::SERVICE_UNAVAILABLE.into_response());
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "1");
        let conflict = retry_later(StatusCode::CONFLICT.into_response());
        assert_eq!(conflict.headers().get(header::RETRY_AFTER), None);
    }
}
