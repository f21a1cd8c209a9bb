//! The one error table of execenv: every failure has a kind, and each kind maps to exactly one
//! gRPC code and one HTTP status.

use serde::{Deserialize, Serialize};

/// What went wrong, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is invalid; the error carries one violation per problem.
    InvalidArgument,
    /// The named object does not exist.
    NotFound,
    /// The object (or an equal one) exists already.
    AlreadyExists,
    /// The object is in a state that forbids the operation (e.g. managed by the configuration file).
    FailedPrecondition,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The caller could not be identified.
    Unauthenticated,
    /// A concurrent change won; re-read and retry.
    Conflict,
    /// A requested revision or page is no longer available.
    OutOfRange,
    /// A dependency (database, another service) is unavailable; retrying may help.
    Unavailable,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorKind {
    /// The gRPC status code (numeric, as in `google.rpc.Code`) for this kind.
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument => 3,
            ErrorKind::NotFound => 5,
            ErrorKind::AlreadyExists => 6,
            ErrorKind::PermissionDenied => 7,
            ErrorKind::FailedPrecondition => 9,
            ErrorKind::Conflict => 10,
            ErrorKind::OutOfRange => 11,
            ErrorKind::Internal => 13,
            ErrorKind::Unavailable => 14,
            ErrorKind::Unauthenticated => 16,
        }
    }

    /// The kind for a numeric gRPC code (the inverse of [`ErrorKind::grpc_code`]).
    pub fn from_grpc_code(code: i32) -> ErrorKind {
        match code {
            3 => ErrorKind::InvalidArgument,
            5 => ErrorKind::NotFound,
            6 => ErrorKind::AlreadyExists,
            7 => ErrorKind::PermissionDenied,
            9 => ErrorKind::FailedPrecondition,
            10 => ErrorKind::Conflict,
            11 => ErrorKind::OutOfRange,
            14 => ErrorKind::Unavailable,
            16 => ErrorKind::Unauthenticated,
            _ => ErrorKind::Internal,
        }
    }

    /// The HTTP status for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::FailedPrecondition | ErrorKind::Conflict => 409,
            ErrorKind::OutOfRange => 410,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// One problem with one field of an input, e.g.
/// `python.installations[0].version: "3.11" is not a semantic version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// Path of the field, dotted with indices: `volume_mounts[1].target_path`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// An execenv error: a kind, a message that names the object, the problem and the fix, and for
/// invalid input every violation found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// For [`ErrorKind::InvalidArgument`]: every problem with its field path.
    pub violations: Vec<FieldViolation>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            violations: Vec::new(),
        }
    }

    /// Invalid input with every violation; the message lists them all.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let n = violations.len();
        let list = violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Error {
            kind: ErrorKind::InvalidArgument,
            message: format!(
                "invalid input ({n} problem{}): {list}",
                if n == 1 { "" } else { "s" }
            ),
            violations,
        }
    }

    /// Invalid input with a single violation.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::invalid(vec![FieldViolation::new(field, description)])
    }

    /// `NotFound` for an environment guid.
    pub fn environment_not_found(guid: impl std::fmt::Display) -> Self {
        Error::new(
            ErrorKind::NotFound,
            format!("environment {guid} does not exist; list environments to find its guid"),
        )
    }

    /// `Unavailable`: a dependency failed.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// `Internal`: a bug or an unexpected state.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

/// Result with an execenv [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::FailedPrecondition,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::Conflict,
        ErrorKind::OutOfRange,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    #[test]
    fn grpc_codes_round_trip_for_every_kind() {
        for kind in ALL {
            assert_eq!(ErrorKind::from_grpc_code(kind.grpc_code()), kind);
        }
    }

    #[test]
    fn invalid_error_message_lists_every_violation() {
        let e = Error::invalid(vec![
            FieldViolation::new("name", "is required"),
            FieldViolation::new(
                "python.installations[0].version",
                "\"3.11\" is not a semantic version",
            ),
        ]);
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("2 problems"));
        assert!(e.message.contains("name: is required"));
        assert!(e.message.contains("python.installations[0].version"));
    }
}
