//! [`Secret`]: a setting that must not be shown — the service token, a database URL with a
//! password. It masks itself wherever it is printed (`Display`, `Debug`, and `Serialize`, so
//! `--print-config` and logs show the masked form); the value is read with [`Secret::expose`].
//!
//! Masking: a URL with a password keeps everything but the password
//! (`postgres://execenv:***@db:5432/execenv`), so an operator can still see where it points; a
//! URL without one is not secret and shows as is; anything else shows as `***`.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a masked value is shown as.
pub const MASK: &str = "***";

/// A secret setting.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it (a connection, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an unset token given as an empty variable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value as it may be shown.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.masked())
    }
}

thread_local! {
    /// Set while the configuration loader turns the defaults into its first layer: the only
    /// serialisation that must carry the real value.
    static REVEALING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with secrets serialising their real value (the loader's defaults layer).
pub(crate) fn revealing<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEALING.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REVEALING.with(|r| r.replace(true)));
    f()
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REVEALING.with(Cell::get) {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(&self.masked())
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// `value` as it may be shown: a URL keeps all but its password; anything else is [`MASK`].
pub fn mask(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return MASK.to_owned();
    };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        None => value.to_owned(),
        Some(at) => match authority[..at].split_once(':') {
            None => value.to_owned(),
            Some((user, _password)) => {
                format!("{}{user}:{MASK}{}", &value[..scheme_end + 3], &rest[at..])
            }
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shown_as_stars_everywhere() {
        let token = Secret::from("s3cret-token");
        assert_eq!(token.to_string(), "***");
        assert_eq!(format!("{token:?}"), "Secret(\"***\")");
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"***\"");
        assert_eq!(token.expose(), "s3cret-token");
    }

    #[test]
    fn a_database_url_hides_only_its_password() {
        let url = Secret::from("postgres://execenv:hunter2@db:5432/execenv?sslmode=disable");
        assert_eq!(
            url.to_string(),
            "postgres://execenv:***@db:5432/execenv?sslmode=disable"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&url).unwrap().contains("hunter2"));
    }

    #[test]
    fn a_url_without_a_password_is_shown_as_is() {
        assert_eq!(
            mask("sqlite://execenv.db?mode=rwc"),
            "sqlite://execenv.db?mode=rwc"
        );
        assert_eq!(
            mask("postgres://execenv@db/execenv"),
            "postgres://execenv@db/execenv"
        );
    }

    #[test]
    fn an_at_sign_in_the_path_is_not_taken_for_credentials() {
        assert_eq!(mask("sqlite:///data/a@b.db"), "sqlite:///data/a@b.db");
    }

    #[test]
    fn the_loader_sees_the_real_value_and_nothing_else_does() {
        let token = Secret::from("real");
        let inside = revealing(|| serde_json::to_string(&token).unwrap());
        assert_eq!(inside, "\"real\"");
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"***\"");
    }

    #[test]
    fn a_secret_deserialises_from_a_plain_string() {
        let token: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(token.expose(), "abc");
    }
}
