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
    /// The input is larger than a configured limit allows (an upload, an unpacked bundle).
    TooLarge,
    /// The caller used up a configured allowance (failed sign-ins, open watch streams); retry
    /// later or use fewer at once.
    ResourceExhausted,
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
            ErrorKind::TooLarge | ErrorKind::ResourceExhausted => 8,
            ErrorKind::FailedPrecondition => 9,
            ErrorKind::Conflict => 10,
            ErrorKind::OutOfRange => 11,
            ErrorKind::Internal => 13,
            ErrorKind::Unavailable => 14,
            ErrorKind::Unauthenticated => 16,
        }
    }

    /// The kind for a numeric gRPC code (the inverse of [`ErrorKind::grpc_code`]; RESOURCE_EXHAUSTED
    /// is [`ErrorKind::ResourceExhausted`], and the client crate tells a [`ErrorKind::TooLarge`]
    /// apart by the status's details).
    pub fn from_grpc_code(code: i32) -> ErrorKind {
        match code {
            3 => ErrorKind::InvalidArgument,
            5 => ErrorKind::NotFound,
            6 => ErrorKind::AlreadyExists,
            7 => ErrorKind::PermissionDenied,
            8 => ErrorKind::ResourceExhausted,
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
            ErrorKind::TooLarge => 413,
            ErrorKind::ResourceExhausted => 429,
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

/// The phrase that marks the refusal to change an environment the declarative file owns; the
/// REST API answers such a refusal with Connect's code 265 and any other failed precondition (no
/// compatible environment, a launch already finished) with code 2.
pub const CONFIG_MANAGED: &str = "is managed by the configuration file";

/// Posit Connect's `APIErrorCode` numbers the gateway answers with (connect-spec §1.6).
pub mod connect_code {
    /// InternalFailure.
    pub const INTERNAL_FAILURE: u32 = 1;
    /// BadRequest.
    pub const BAD_REQUEST: u32 = 2;
    /// InvalidId.
    pub const INVALID_ID: u32 = 3;
    /// ObjectDoesNotExist.
    pub const OBJECT_DOES_NOT_EXIST: u32 = 4;
    /// PermissionDenied.
    pub const PERMISSION_DENIED: u32 = 22;
    /// InvalidParameter.
    pub const INVALID_PARAMETER: u32 = 25;
    /// InvalidLogin (a missing, unknown or disabled API key).
    pub const INVALID_LOGIN: u32 = 30;
    /// CannotParseRequestBody.
    pub const CANNOT_PARSE_REQUEST_BODY: u32 = 87;
    /// InvalidEnvironmentTitle.
    pub const INVALID_ENVIRONMENT_TITLE: u32 = 168;
    /// InvalidEnvironmentDescription.
    pub const INVALID_ENVIRONMENT_DESCRIPTION: u32 = 169;
    /// InvalidEnvironmentClusterName.
    pub const INVALID_ENVIRONMENT_CLUSTER_NAME: u32 = 170;
    /// InvalidEnvironmentName (the image).
    pub const INVALID_ENVIRONMENT_NAME: u32 = 171;
    /// UnknownEnvironmentMatchingType.
    pub const UNKNOWN_ENVIRONMENT_MATCHING_TYPE: u32 = 172;
    /// InvalidInstallationPath.
    pub const INVALID_INSTALLATION_PATH: u32 = 173;
    /// InvalidInstallationVersion.
    pub const INVALID_INSTALLATION_VERSION: u32 = 174;
    /// DuplicateEnvironmentName.
    pub const DUPLICATE_ENVIRONMENT_NAME: u32 = 175;
    /// InvalidEnvironmentSupervisor.
    pub const INVALID_ENVIRONMENT_SUPERVISOR: u32 = 177;
    /// InvalidRuntimeLanguage.
    pub const INVALID_RUNTIME_LANGUAGE: u32 = 179;
    /// InvalidUserGUID.
    pub const INVALID_USER_GUID: u32 = 261;
    /// InvalidGroupGUID.
    pub const INVALID_GROUP_GUID: u32 = 262;
    /// EnvironmentsInvalidVolume.
    pub const ENVIRONMENTS_INVALID_VOLUME: u32 = 254;
    /// EnvironmentIsConfigManaged.
    pub const ENVIRONMENT_IS_CONFIG_MANAGED: u32 = 265;
}

impl Error {
    /// The HTTP status and Posit Connect error code of this error, for the Connect-compatible
    /// REST API: the status from [`ErrorKind::http_status`], the code from the kind and, for
    /// invalid input, from the first violation's field (`python.installations[0].version` → 174).
    /// A failed precondition is an environment managed by the configuration file (409, 265).
    pub fn connect_status(&self) -> (u16, u32) {
        use connect_code as c;
        let code = match self.kind {
            ErrorKind::InvalidArgument => self
                .violations
                .first()
                .map_or(c::BAD_REQUEST, |v| connect_code_for_field(&v.field)),
            ErrorKind::NotFound => c::OBJECT_DOES_NOT_EXIST,
            ErrorKind::PermissionDenied => c::PERMISSION_DENIED,
            ErrorKind::Unauthenticated => c::INVALID_LOGIN,
            ErrorKind::FailedPrecondition if self.message.contains(CONFIG_MANAGED) => {
                c::ENVIRONMENT_IS_CONFIG_MANAGED
            }
            ErrorKind::FailedPrecondition => c::BAD_REQUEST,
            ErrorKind::AlreadyExists
            | ErrorKind::Conflict
            | ErrorKind::OutOfRange
            | ErrorKind::TooLarge
            | ErrorKind::ResourceExhausted => c::BAD_REQUEST,
            ErrorKind::Unavailable | ErrorKind::Internal => c::INTERNAL_FAILURE,
        };
        (self.kind.http_status(), code)
    }
}

/// The Connect error code for an invalid environment field, by its path
/// (`volume_mounts[1].target_path`, `r.installations[0].path`, `title`, …).
fn connect_code_for_field(field: &str) -> u32 {
    use connect_code as c;
    let root = field.split(['.', '[']).next().unwrap_or_default();
    match root {
        "name" => c::INVALID_ENVIRONMENT_NAME,
        "title" => c::INVALID_ENVIRONMENT_TITLE,
        "description" => c::INVALID_ENVIRONMENT_DESCRIPTION,
        "cluster_name" => c::INVALID_ENVIRONMENT_CLUSTER_NAME,
        "matching" => c::UNKNOWN_ENVIRONMENT_MATCHING_TYPE,
        "supervisor" => c::INVALID_ENVIRONMENT_SUPERVISOR,
        "volume_mounts" => c::ENVIRONMENTS_INVALID_VOLUME,
        "guid" | "environment_guid" | "permission_guid" => c::INVALID_ID,
        "user_guid" => c::INVALID_USER_GUID,
        "group_guid" => c::INVALID_GROUP_GUID,
        "python" | "r" | "quarto" | "tensorflow" if field.ends_with(".version") => {
            c::INVALID_INSTALLATION_VERSION
        }
        "python" | "r" | "quarto" | "tensorflow" if field.ends_with(".path") => {
            c::INVALID_INSTALLATION_PATH
        }
        "python" | "r" | "quarto" | "tensorflow" | "nodejs" => c::INVALID_RUNTIME_LANGUAGE,
        _ => c::INVALID_PARAMETER,
    }
}

/// Result with an execenv [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::FailedPrecondition,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::Conflict,
        ErrorKind::OutOfRange,
        ErrorKind::TooLarge,
        ErrorKind::ResourceExhausted,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    #[test]
    fn grpc_codes_round_trip_for_every_kind_but_too_large() {
        for kind in ALL.into_iter().filter(|k| *k != ErrorKind::TooLarge) {
            assert_eq!(ErrorKind::from_grpc_code(kind.grpc_code()), kind);
        }
        assert_eq!(ErrorKind::TooLarge.grpc_code(), 8);
    }

    #[test]
    fn connect_status_maps_kinds_to_connect_codes() {
        let status = |kind| Error::new(kind, "x").connect_status();
        assert_eq!(status(ErrorKind::NotFound), (404, 4));
        assert_eq!(status(ErrorKind::PermissionDenied), (403, 22));
        assert_eq!(status(ErrorKind::Unauthenticated), (401, 30));
        assert_eq!(status(ErrorKind::FailedPrecondition), (409, 2));
        let managed = Error::new(
            ErrorKind::FailedPrecondition,
            format!("environment e {CONFIG_MANAGED} and cannot be deleted"),
        );
        assert_eq!(managed.connect_status(), (409, 265));
        assert_eq!(status(ErrorKind::InvalidArgument), (400, 2));
        assert_eq!(status(ErrorKind::TooLarge), (413, 2));
        assert_eq!(status(ErrorKind::ResourceExhausted), (429, 2));
        assert_eq!(status(ErrorKind::Internal), (500, 1));
    }

    #[test]
    fn connect_status_of_invalid_input_follows_the_first_field() {
        let code = |field: &str| Error::invalid_field(field, "bad").connect_status();
        assert_eq!(code("name"), (400, 171));
        assert_eq!(code("matching"), (400, 172));
        assert_eq!(code("python.installations[0].path"), (400, 173));
        assert_eq!(code("r.installations[2].version"), (400, 174));
        assert_eq!(code("volume_mounts[1].source.nfs.host"), (400, 254));
        assert_eq!(code("supervisor"), (400, 177));
        assert_eq!(code("guid"), (400, 3));
        assert_eq!(code("user_guid"), (400, 261));
        assert_eq!(code("nodejs"), (400, 179));
        assert_eq!(code("something_else"), (400, 25));
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
