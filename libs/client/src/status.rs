//! Conversion between [`execenv_core::Error`] and [`tonic::Status`]: servers send the kind as the
//! gRPC code and field violations as `google.rpc.BadRequest` details; clients recover all three.

use std::collections::HashMap;

use execenv_core::{Error, ErrorKind, FieldViolation};
use tonic_types::{ErrorDetails, StatusExt};

/// The `google.rpc.ErrorInfo` reason that marks a RESOURCE_EXHAUSTED status as a
/// [`ErrorKind::TooLarge`] (an input over a size limit) rather than a used-up allowance.
const TOO_LARGE: &str = "TOO_LARGE";

/// The gRPC status for an execenv error, with field violations as `google.rpc.BadRequest`.
pub fn to_status(err: &Error) -> tonic::Status {
    let code = tonic::Code::from_i32(err.kind.grpc_code());
    if err.kind == ErrorKind::TooLarge {
        // RESOURCE_EXHAUSTED also means a used-up allowance; the reason tells this one apart.
        return tonic::Status::with_error_details(
            code,
            err.message.clone(),
            ErrorDetails::with_error_info(TOO_LARGE, "execenv", HashMap::new()),
        );
    }
    if err.violations.is_empty() {
        return tonic::Status::new(code, err.message.clone());
    }
    let violations: Vec<tonic_types::FieldViolation> = err
        .violations
        .iter()
        .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
        .collect();
    tonic::Status::with_error_details(
        code,
        err.message.clone(),
        ErrorDetails::with_bad_request(violations),
    )
}

/// The execenv error a gRPC status carries: kind from the code, message, and any violations.
pub fn from_status(status: &tonic::Status) -> Error {
    let too_large = status.code() == tonic::Code::ResourceExhausted
        && status
            .get_details_error_info()
            .is_some_and(|info| info.reason == TOO_LARGE);
    let kind = if too_large {
        ErrorKind::TooLarge
    } else {
        ErrorKind::from_grpc_code(status.code() as i32)
    };
    let violations = status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldViolation::new(v.field, v.description))
                .collect()
        })
        .unwrap_or_default();
    Error {
        kind,
        message: status.message().to_owned(),
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_round_trips_with_every_violation() {
        let err = Error::invalid(vec![
            FieldViolation::new("name", "is required"),
            FieldViolation::new(
                "python.installations[0].version",
                "\"3.11\" is not a semantic version",
            ),
        ]);
        let status = to_status(&err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(from_status(&status), err);
    }

    #[test]
    fn plain_kinds_round_trip_through_their_codes() {
        let err = Error::environment_not_found("8f0c");
        let status = to_status(&err);
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(status.message(), err.message);
        assert_eq!(from_status(&status), err);

        let conflict = Error::new(
            ErrorKind::Conflict,
            "changed concurrently; re-read and retry",
        );
        assert_eq!(to_status(&conflict).code(), tonic::Code::Aborted);
        assert_eq!(from_status(&to_status(&conflict)), conflict);
    }

    #[test]
    fn too_large_and_resource_exhausted_share_a_code_and_round_trip() {
        let large = Error::new(ErrorKind::TooLarge, "the upload is too large");
        let status = to_status(&large);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(from_status(&status), large);
        let exhausted = Error::new(ErrorKind::ResourceExhausted, "too many watches");
        let status = to_status(&exhausted);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(from_status(&status), exhausted);
    }

    #[test]
    fn statuses_from_elsewhere_map_to_internal() {
        let err = from_status(&tonic::Status::unknown("boom"));
        assert_eq!(err.kind, ErrorKind::Internal);
        assert_eq!(err.message, "boom");
    }
}
