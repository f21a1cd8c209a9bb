//! The caller's identity in gRPC metadata, both halves of the contract: a client sets it with
//! [`IdentityInterceptor`], a server checks who may call ([`ServiceAuth`]: a verified client
//! certificate under mutual TLS, else the service token — the current one or, during a rotation,
//! the previous one) and reads the caller it acts as.

use execenv_core::{Caller, Error, ErrorKind, Role};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// Metadata key for the user guid or name.
pub const USER_HEADER: &str = "x-execenv-user";
/// Metadata key for the comma-separated group guids.
pub const GROUPS_HEADER: &str = "x-execenv-groups";
/// Metadata key for the role: `administrator`, `publisher` or `viewer`.
pub const ROLE_HEADER: &str = "x-execenv-role";
/// Metadata key carrying `Bearer <service token>`.
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// Who may call a service, the server half of the identity contract: built once from the
/// service's settings, asked on every call with [`ServiceAuth::caller`].
///
/// A call is from another execenv program when it came over a connection whose client
/// certificate the TLS layer verified (mutual TLS: the certificate is the service identity, no
/// token needed), or when it carries one of the accepted service tokens: `auth.service_token`,
/// and during a rotation also `auth.previous_service_token`. With neither a token nor mutual TLS
/// configured, every call is accepted (a plain-text development setup).
#[derive(Clone, Default)]
pub struct ServiceAuth {
    tokens: Vec<String>,
    certificates: bool,
}

impl ServiceAuth {
    /// Accepts `token` and, during a rotation, `previous` (empty values are none).
    pub fn new(token: Option<String>, previous: Option<String>) -> Self {
        let tokens = [token, previous]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
            .collect();
        ServiceAuth {
            tokens,
            certificates: false,
        }
    }

    /// Also accepts a call over a connection with a verified client certificate (set when the
    /// server requires one: mutual TLS).
    pub fn with_client_certificates(mut self, accepted: bool) -> Self {
        self.certificates = accepted;
        self
    }

    /// Whether anything is required of a caller.
    pub fn is_required(&self) -> bool {
        !self.tokens.is_empty() || self.certificates
    }

    /// The caller `request` acts as, once the calling program is known to be an execenv program.
    ///
    /// No identity headers means the calling service itself ([`Caller::service`], an administrator).
    pub fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Caller, Error> {
        let certified = self.certificates
            && request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
                .is_some_and(|certificates| !certificates.is_empty());
        self.check(request.metadata(), certified)
    }

    fn check(&self, md: &MetadataMap, certified: bool) -> Result<Caller, Error> {
        if !certified && !self.tokens.is_empty() {
            let presented = md
                .get(AUTHORIZATION_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            // Every accepted token is compared, so the time taken does not say which one matched.
            let matches = presented.is_some_and(|p| {
                self.tokens.iter().fold(false, |any, t| {
                    constant_time_eq(p.as_bytes(), t.as_bytes()) | any
                })
            });
            if !matches {
                let fix = if self.certificates {
                    "present a client certificate signed by this service's tls.client_ca_file, or set EXECENV_AUTH__SERVICE_TOKEN on the caller"
                } else {
                    "set EXECENV_AUTH__SERVICE_TOKEN on the caller"
                };
                return Err(Error::new(
                    ErrorKind::Unauthenticated,
                    format!("missing or wrong service token; {fix}"),
                ));
            }
        }
        caller_from_headers(md)
    }
}

impl std::fmt::Debug for ServiceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAuth")
            .field("tokens", &self.tokens.len())
            .field("client_certificates", &self.certificates)
            .finish()
    }
}

/// The caller the identity headers name.
fn caller_from_headers(md: &MetadataMap) -> Result<Caller, Error> {
    let user = text(md, USER_HEADER)?.filter(|u| !u.is_empty());
    let groups: Vec<String> = text(md, GROUPS_HEADER)?
        .map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let role = match text(md, ROLE_HEADER)? {
        Some(r) => Role::parse(r.trim()).ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "{ROLE_HEADER} {r:?} is not a role; use administrator, publisher or viewer"
                ),
            )
        })?,
        None if user.is_none() && groups.is_empty() => return Ok(Caller::service()),
        None => {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "{USER_HEADER} or {GROUPS_HEADER} was sent without {ROLE_HEADER}; send the caller's role too"
                ),
            ));
        }
    };
    Ok(Caller {
        user: user.map(str::to_owned),
        groups,
        role,
    })
}

/// The value of an ASCII metadata entry, or an error naming the header when it is not text.
fn text<'a>(md: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Error> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            Error::new(
                ErrorKind::Unauthenticated,
                format!("{key} is not visible ASCII text; send user and group ids as plain text"),
            )
        }),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Client-side interceptor that attaches the caller's identity and the service token to every call.
#[derive(Debug, Clone, Default)]
pub struct IdentityInterceptor {
    /// User guid or name to act as; `None` with no groups and no role acts as the service itself.
    pub user: Option<String>,
    /// Group guids of that user.
    pub groups: Vec<String>,
    /// Role of that user.
    pub role: Option<Role>,
    /// Service token sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl IdentityInterceptor {
    /// Acts as the service itself, carrying `token` when one is configured.
    pub fn service(token: Option<String>) -> Self {
        IdentityInterceptor {
            token,
            ..IdentityInterceptor::default()
        }
    }

    /// Acts on behalf of `caller`, carrying `token` when one is configured.
    pub fn for_caller(caller: &Caller, token: Option<String>) -> Self {
        IdentityInterceptor {
            user: caller.user.clone(),
            groups: caller.groups.clone(),
            role: Some(caller.role),
            token,
        }
    }

    /// Writes the headers into `md`.
    pub fn apply(&self, md: &mut MetadataMap) -> Result<(), tonic::Status> {
        if let Some(token) = &self.token {
            md.insert(
                AUTHORIZATION_HEADER,
                ascii(&format!("Bearer {token}"), "service token")?,
            );
        }
        if let Some(user) = &self.user {
            md.insert(USER_HEADER, ascii(user, USER_HEADER)?);
        }
        if !self.groups.is_empty() {
            md.insert(GROUPS_HEADER, ascii(&self.groups.join(","), GROUPS_HEADER)?);
        }
        if let Some(role) = self.role {
            md.insert(ROLE_HEADER, MetadataValue::from_static(role.as_str()));
        }
        Ok(())
    }
}

fn ascii(value: &str, what: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, tonic::Status> {
    value.parse().map_err(|_| {
        tonic::Status::invalid_argument(format!(
            "{what} contains characters not allowed in gRPC metadata"
        ))
    })
}

impl tonic::service::Interceptor for IdentityInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.apply(request.metadata_mut())?;
        Ok(request)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    /// `auth`'s answer for a request with `md` (no TLS connection).
    fn caller_from_metadata(md: &MetadataMap, token: Option<&str>) -> Result<Caller, Error> {
        ServiceAuth::new(token.map(str::to_owned), None).check(md, false)
    }

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut md = MetadataMap::new();
        for (k, v) in pairs {
            md.insert(*k, v.parse().unwrap());
        }
        md
    }

    #[test]
    fn no_identity_headers_means_the_service_itself() {
        let caller = caller_from_metadata(&MetadataMap::new(), None).unwrap();
        assert_eq!(caller, Caller::service());
    }

    #[test]
    fn role_user_and_groups_are_read() {
        let md = metadata(&[
            (USER_HEADER, "alice"),
            (GROUPS_HEADER, "g1, g2,,"),
            (ROLE_HEADER, "publisher"),
        ]);
        let caller = caller_from_metadata(&md, None).unwrap();
        assert_eq!(caller.user.as_deref(), Some("alice"));
        assert_eq!(caller.groups, vec!["g1".to_owned(), "g2".to_owned()]);
        assert_eq!(caller.role, Role::Publisher);
    }

    #[test]
    fn unknown_role_is_rejected_with_the_allowed_values() {
        let md = metadata(&[(USER_HEADER, "alice"), (ROLE_HEADER, "root")]);
        let err = caller_from_metadata(&md, None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unauthenticated);
        assert!(err.message.contains("\"root\""), "{}", err.message);
        assert!(err.message.contains("administrator, publisher or viewer"));
    }

    #[test]
    fn user_without_role_is_rejected() {
        let md = metadata(&[(USER_HEADER, "alice")]);
        let err = caller_from_metadata(&md, None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unauthenticated);
        assert!(err.message.contains(ROLE_HEADER));
    }

    #[test]
    fn configured_token_is_required_and_checked() {
        let missing = caller_from_metadata(&MetadataMap::new(), Some("s3cret")).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::Unauthenticated);
        assert!(missing.message.contains("EXECENV_AUTH__SERVICE_TOKEN"));

        let wrong = metadata(&[(AUTHORIZATION_HEADER, "Bearer nope")]);
        assert!(caller_from_metadata(&wrong, Some("s3cret")).is_err());

        let right = metadata(&[(AUTHORIZATION_HEADER, "Bearer s3cret")]);
        assert_eq!(
            caller_from_metadata(&right, Some("s3cret")).unwrap(),
            Caller::service()
        );
    }

    #[test]
    fn token_is_ignored_when_none_is_configured() {
        let md = metadata(&[(AUTHORIZATION_HEADER, "Bearer anything")]);
        assert_eq!(caller_from_metadata(&md, None).unwrap(), Caller::service());
    }

    #[test]
    fn interceptor_headers_are_read_back_as_the_same_caller() {
        let caller = Caller {
            user: Some("bob".to_owned()),
            groups: vec!["data".to_owned(), "ops".to_owned()],
            role: Role::Viewer,
        };
        let mut interceptor = IdentityInterceptor::for_caller(&caller, Some("tok".to_owned()));
        let request = interceptor.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            caller_from_metadata(request.metadata(), Some("tok")).unwrap(),
            caller
        );
    }

    #[test]
    fn during_a_rotation_the_current_and_the_previous_token_are_accepted() {
        let auth = ServiceAuth::new(Some("new".to_owned()), Some("old".to_owned()));
        for token in ["new", "old"] {
            let md = metadata(&[(AUTHORIZATION_HEADER, &format!("Bearer {token}"))]);
            assert_eq!(auth.check(&md, false).unwrap(), Caller::service());
        }
        let other = metadata(&[(AUTHORIZATION_HEADER, "Bearer older")]);
        assert_eq!(
            auth.check(&other, false).unwrap_err().message,
            "missing or wrong service token; set EXECENV_AUTH__SERVICE_TOKEN on the caller"
        );
        let after = ServiceAuth::new(Some("new".to_owned()), Some(String::new()));
        let old = metadata(&[(AUTHORIZATION_HEADER, "Bearer old")]);
        assert!(after.check(&old, false).is_err());
    }

    #[test]
    fn a_verified_client_certificate_stands_for_the_token_only_under_mutual_tls() {
        let auth = ServiceAuth::new(Some("tok".to_owned()), None).with_client_certificates(true);
        assert_eq!(
            auth.check(&MetadataMap::new(), true).unwrap(),
            Caller::service()
        );
        let refused = auth.check(&MetadataMap::new(), false).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Unauthenticated);
        assert!(
            refused.message.contains("tls.client_ca_file"),
            "{}",
            refused.message
        );
        // A request that came over no TLS connection has no peer certificates.
        assert!(auth.caller(&tonic::Request::new(())).is_err());
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
