//! Why an image could not be read, sorted into [`UnreadableKind`]s, each said as one sentence
//! that names the image and what to do.

use execenv_core::examine::UnreadableKind;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};

use crate::credentials::Credential;

/// Why an image could not be read: the kind (what the examiner reports) and one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    /// Not found, unauthorized, unreachable or invalid.
    pub kind: UnreadableKind,
    /// What went wrong and what to do, naming the image.
    pub message: String,
}

impl ReadError {
    pub(crate) fn new(kind: UnreadableKind, message: impl Into<String>) -> ReadError {
        ReadError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ReadError {
        ReadError::new(UnreadableKind::Invalid, message)
    }
}

/// The image a request was for and what was sent to its registry, for the messages.
pub(crate) struct Subject<'a> {
    /// The reference as the caller wrote it.
    pub reference: &'a str,
    /// The registry's host as the reference names it.
    pub host: &'a str,
    /// The credential sent, if any.
    pub credential: Option<&'a Credential>,
}

/// What was being fetched.
#[derive(Clone, Copy)]
pub(crate) enum Fetched<'a> {
    /// The reference's manifest (or index).
    Manifest,
    /// A blob (config or layer) with this digest.
    Blob(&'a str),
}

impl Subject<'_> {
    /// Classifies an error of oci-client.
    pub(crate) fn error(&self, err: &OciDistributionError, fetched: Fetched<'_>) -> ReadError {
        use OciDistributionError as E;
        match err {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => self.unauthorized(),
            E::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let any = |wanted: &[OciErrorCode]| codes.iter().any(|c| wanted.contains(c));
                if any(&[OciErrorCode::Unauthorized, OciErrorCode::Denied]) {
                    self.unauthorized()
                } else if any(&[
                    OciErrorCode::ManifestUnknown,
                    OciErrorCode::NameUnknown,
                    OciErrorCode::BlobUnknown,
                    OciErrorCode::NotFound,
                ]) {
                    self.not_found(fetched)
                } else if any(&[OciErrorCode::Toomanyrequests]) {
                    self.overloaded("429 Too Many Requests")
                } else {
                    self.refused(&envelope.to_string())
                }
            }
            E::ServerError { code, message, .. } => match code {
                401 | 403 => self.unauthorized(),
                404 => self.not_found(fetched),
                429 | 500..=599 => self.overloaded(&format!("{code} {}", message.trim())),
                400 if message.contains("HTTPS server") => ReadError::new(
                    UnreadableKind::Unreachable,
                    format!(
                        "cannot reach the registry {}: it speaks HTTPS, not plain HTTP (reading {}); remove it from examiner.insecure_registries",
                        self.host, self.reference
                    ),
                ),
                _ => self.refused(&format!("HTTP {code}: {}", message.trim())),
            },
            E::RequestError(e) => self.transport(e),
            E::DigestError(e) => self.digest(e, fetched),
            E::IoError(e) => self.stream(e, fetched),
            other => self.refused(&other.to_string()),
        }
    }

    /// Classifies an error met while streaming a blob: the registry's connection failing, or
    /// the bytes not matching the digest.
    pub(crate) fn stream(&self, err: &std::io::Error, fetched: Fetched<'_>) -> ReadError {
        if let Some(inner) = err.get_ref() {
            if let Some(e) = inner.downcast_ref::<DigestError>() {
                return self.digest(e, fetched);
            }
            if let Some(e) = inner.downcast_ref::<reqwest::Error>() {
                return self.transport(e);
            }
        }
        self.unreachable(&err.to_string())
    }

    fn unauthorized(&self) -> ReadError {
        let (reference, host) = (self.reference, self.host);
        let message = match self.credential {
            Some(c) => format!(
                "cannot read {reference}: the registry {host} refused {} from the Docker config; correct them in the Docker config (examiner.docker_config)",
                c.describe()
            ),
            None => format!(
                "cannot read {reference}: the registry {host} requires credentials and none are configured for {host}; add them to the Docker config (examiner.docker_config)"
            ),
        };
        ReadError::new(UnreadableKind::Unauthorized, message)
    }

    fn not_found(&self, fetched: Fetched<'_>) -> ReadError {
        let (reference, host) = (self.reference, self.host);
        let message = match fetched {
            Fetched::Manifest => {
                format!("{reference} was not found in {host}: no such repository or tag")
            }
            Fetched::Blob(digest) => format!(
                "{reference} was not found in {host}: its manifest lists the blob {digest}, which the registry does not have; push the image again"
            ),
        };
        ReadError::new(UnreadableKind::NotFound, message)
    }

    fn unreachable(&self, cause: &str) -> ReadError {
        let advice = if cause.contains("certificate") {
            "if it uses a private CA, add the CA's PEM file to examiner.ca_files"
        } else {
            "check that it is up and that the reference names it right (a registry that speaks plain HTTP must be listed in examiner.insecure_registries)"
        };
        ReadError::new(
            UnreadableKind::Unreachable,
            format!(
                "cannot reach the registry {}: {cause} (reading {}); {advice}",
                self.host, self.reference
            ),
        )
    }

    fn overloaded(&self, status: &str) -> ReadError {
        ReadError::new(
            UnreadableKind::Unreachable,
            format!(
                "cannot reach the registry {}: it answered {status} for {}; try again later",
                self.host, self.reference
            ),
        )
    }

    fn refused(&self, what: &str) -> ReadError {
        ReadError::invalid(format!(
            "cannot read {} from {}: the registry's answer is not a usable image ({what})",
            self.reference, self.host
        ))
    }

    fn transport(&self, err: &reqwest::Error) -> ReadError {
        if err.is_decode() || err.is_builder() {
            return self.refused(&deepest_cause(err));
        }
        let cause = if err.is_timeout() {
            format!("no answer in time ({})", deepest_cause(err))
        } else {
            deepest_cause(err)
        };
        self.unreachable(&cause)
    }

    fn digest(&self, err: &DigestError, fetched: Fetched<'_>) -> ReadError {
        let what = match fetched {
            Fetched::Manifest => "its manifest".to_string(),
            Fetched::Blob(digest) => format!("the blob {digest}"),
        };
        ReadError::invalid(format!(
            "{} from {} is corrupt: the registry's bytes of {what} do not match the digest ({err}); push the image again",
            self.reference, self.host
        ))
    }
}

/// The innermost cause of an error (`Connection refused (os error 111)`), which says more than
/// the outer layers' `error sending request for url (…)`.
fn deepest_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(credential: Option<&Credential>) -> Subject<'_> {
        Subject {
            reference: "127.0.0.1:5000/python:3.11",
            host: "127.0.0.1:5000",
            credential,
        }
    }

    fn envelope(code: &str) -> OciDistributionError {
        let json = format!(r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#);
        OciDistributionError::RegistryError {
            envelope: serde_json::from_str(&json).expect("an envelope"),
            url: "http://127.0.0.1:5000/v2/python/manifests/3.11".to_string(),
        }
    }

    #[test]
    fn unknown_names_tags_and_blobs_are_not_found() {
        let s = subject(None);
        for code in ["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND"] {
            let e = s.error(&envelope(code), Fetched::Manifest);
            assert_eq!(e.kind, UnreadableKind::NotFound, "{code}");
            assert_eq!(
                e.message,
                "127.0.0.1:5000/python:3.11 was not found in 127.0.0.1:5000: no such repository or tag"
            );
        }
        let e = s.error(&envelope("BLOB_UNKNOWN"), Fetched::Blob("sha256:ab"));
        assert_eq!(e.kind, UnreadableKind::NotFound);
        assert_eq!(
            e.message,
            "127.0.0.1:5000/python:3.11 was not found in 127.0.0.1:5000: its manifest lists the blob sha256:ab, which the registry does not have; push the image again"
        );
        let plain_404 = OciDistributionError::ServerError {
            code: 404,
            url: String::new(),
            message: "404 page not found".to_string(),
        };
        assert_eq!(
            s.error(&plain_404, Fetched::Manifest).kind,
            UnreadableKind::NotFound
        );
    }

    #[test]
    fn refusals_say_whether_credentials_were_sent() {
        let alice = Credential::User {
            username: "alice".to_string(),
            password: "secret".to_string(),
        };
        let unauthorized = OciDistributionError::UnauthorizedError { url: String::new() };
        let e = subject(Some(&alice)).error(&unauthorized, Fetched::Manifest);
        assert_eq!(e.kind, UnreadableKind::Unauthorized);
        assert_eq!(
            e.message,
            "cannot read 127.0.0.1:5000/python:3.11: the registry 127.0.0.1:5000 refused the credentials for user alice from the Docker config; correct them in the Docker config (examiner.docker_config)"
        );
        assert!(!e.message.contains("secret"));
        let e = subject(None).error(&envelope("DENIED"), Fetched::Manifest);
        assert_eq!(e.kind, UnreadableKind::Unauthorized);
        assert_eq!(
            e.message,
            "cannot read 127.0.0.1:5000/python:3.11: the registry 127.0.0.1:5000 requires credentials and none are configured for 127.0.0.1:5000; add them to the Docker config (examiner.docker_config)"
        );
        let forbidden = OciDistributionError::ServerError {
            code: 403,
            url: String::new(),
            message: String::new(),
        };
        assert_eq!(
            subject(None).error(&forbidden, Fetched::Manifest).kind,
            UnreadableKind::Unauthorized
        );
    }

    #[test]
    fn digest_mismatches_while_streaming_are_invalid() {
        let mismatch = std::io::Error::other(DigestError::VerificationError {
            expected: "sha256:aa".to_string(),
            actual: "sha256:bb".to_string(),
        });
        let e = subject(None).stream(&mismatch, Fetched::Blob("sha256:aa"));
        assert_eq!(e.kind, UnreadableKind::Invalid);
        assert_eq!(
            e.message,
            "127.0.0.1:5000/python:3.11 from 127.0.0.1:5000 is corrupt: the registry's bytes of the blob sha256:aa do not match the digest (Invalid digest. Expected sha256:aa, got sha256:bb); push the image again"
        );
    }

    #[test]
    fn server_failures_are_unreachable_and_other_answers_invalid() {
        let s = subject(None);
        let unavailable = OciDistributionError::ServerError {
            code: 503,
            url: String::new(),
            message: "down for maintenance\n".to_string(),
        };
        let e = s.error(&unavailable, Fetched::Manifest);
        assert_eq!(e.kind, UnreadableKind::Unreachable);
        assert_eq!(
            e.message,
            "cannot reach the registry 127.0.0.1:5000: it answered 503 down for maintenance for 127.0.0.1:5000/python:3.11; try again later"
        );
        let plain_http_to_https = OciDistributionError::ServerError {
            code: 400,
            url: String::new(),
            message: "Client sent an HTTP request to an HTTPS server.\n".to_string(),
        };
        let e = s.error(&plain_http_to_https, Fetched::Manifest);
        assert_eq!(e.kind, UnreadableKind::Unreachable);
        assert_eq!(
            e.message,
            "cannot reach the registry 127.0.0.1:5000: it speaks HTTPS, not plain HTTP (reading 127.0.0.1:5000/python:3.11); remove it from examiner.insecure_registries"
        );
        let e = s.error(&envelope("MANIFEST_INVALID"), Fetched::Manifest);
        assert_eq!(e.kind, UnreadableKind::Invalid);
        assert!(
            e.message.starts_with(
                "cannot read 127.0.0.1:5000/python:3.11 from 127.0.0.1:5000: the registry's answer is not a usable image ("
            ),
            "{}",
            e.message
        );
        let e = s.error(
            &OciDistributionError::UnsupportedSchemaVersionError(1),
            Fetched::Manifest,
        );
        assert_eq!(e.kind, UnreadableKind::Invalid);
        let broken_stream = std::io::Error::other("connection reset by peer");
        let untrusted = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            s.stream(&untrusted, Fetched::Manifest).message,
            "cannot reach the registry 127.0.0.1:5000: invalid peer certificate: UnknownIssuer (reading 127.0.0.1:5000/python:3.11); if it uses a private CA, add the CA's PEM file to examiner.ca_files"
        );
        let e = s.stream(&broken_stream, Fetched::Blob("sha256:aa"));
        assert_eq!(e.kind, UnreadableKind::Unreachable);
        assert_eq!(
            e.message,
            "cannot reach the registry 127.0.0.1:5000: connection reset by peer (reading 127.0.0.1:5000/python:3.11); check that it is up and that the reference names it right (a registry that speaks plain HTTP must be listed in examiner.insecure_registries)"
        );
    }
}
