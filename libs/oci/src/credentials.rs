//! Registry credentials from a Docker `config.json`, or the `.dockerconfigjson` of a Kubernetes
//! `kubernetes.io/dockerconfigjson` Secret (the same JSON).
//!
//! Only the `auths` object is read: per host, `auth` (base64 of `user:password`) or
//! `username`/`password`, and `identitytoken` / `registrytoken` (sent as bearer tokens).
//! Credential helpers (`credsStore`, `credHelpers`) run programs and are not used.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// Credentials per registry host ("127.0.0.1:5000", "ghcr.io"), from a Docker config.json or
/// a Kubernetes dockerconfigjson Secret's `.dockerconfigjson` (same JSON).
#[derive(Clone, Default)]
pub struct DockerConfig {
    hosts: BTreeMap<String, Credential>,
}

/// What is sent to one registry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// HTTP Basic (also what a token service is asked with).
    User { username: String, password: String },
    /// A token sent as is in `Authorization: Bearer`.
    Token(String),
}

impl Credential {
    /// How an error message names what was sent (never the secret).
    pub(crate) fn describe(&self) -> String {
        match self {
            Credential::User { username, .. } => format!("the credentials for user {username}"),
            Credential::Token(_) => "the identity token".to_string(),
        }
    }

    pub(crate) fn registry_auth(&self) -> RegistryAuth {
        match self {
            Credential::User { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credential::Token(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("hosts", &self.hosts())
            .finish()
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

impl DockerConfig {
    /// No credentials: every registry is read anonymously.
    pub fn empty() -> DockerConfig {
        DockerConfig::default()
    }

    /// Parses the JSON of a Docker config; the message names what is wrong.
    pub fn parse(json: &[u8]) -> Result<DockerConfig, String> {
        let file: File = serde_json::from_slice(json).map_err(|e| {
            format!("the Docker config is not valid JSON with an \"auths\" object: {e}")
        })?;
        let mut hosts = BTreeMap::new();
        for (key, entry) in file.auths {
            let host = registry_host(&key);
            if host.is_empty() {
                return Err(format!(
                    "the Docker config names the registry {key:?} in \"auths\", which has no host; write it like ghcr.io or 127.0.0.1:5000"
                ));
            }
            if let Some(credential) = credential_of(&key, entry)? {
                hosts.insert(host, credential);
            }
        }
        Ok(DockerConfig { hosts })
    }

    /// Reads and parses the Docker config at `path`; the message names the file.
    pub fn load(path: &Path) -> Result<DockerConfig, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the Docker config {}: {e}", path.display()))?;
        DockerConfig::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The registry hosts that have credentials, sorted (for logs: never the secrets).
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// The credential for a registry host, as a reference names it or as oci-client resolves
    /// it (`docker.io` and `index.docker.io` are one registry).
    pub(crate) fn credential_for(&self, host: &str) -> Option<&Credential> {
        self.hosts.get(&registry_host(host))
    }
}

fn credential_of(key: &str, entry: Entry) -> Result<Option<Credential>, String> {
    if let Some(token) = entry.identitytoken.or(entry.registrytoken)
        && !token.is_empty()
    {
        return Ok(Some(Credential::Token(token)));
    }
    if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((username, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(format!(
                "auths.{key:?}.auth in the Docker config is not base64 of user:password"
            ));
        };
        return Ok(Some(Credential::User {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (entry.username, entry.password) {
        (Some(username), Some(password)) if !username.is_empty() => {
            Ok(Some(Credential::User { username, password }))
        }
        (Some(_), None) | (None, Some(_)) => Err(format!(
            "auths.{key:?} in the Docker config has a username or a password but not both"
        )),
        // Docker writes empty entries for hosts whose credentials a helper keeps.
        _ => Ok(None),
    }
}

/// A registry's host as credentials are keyed: the scheme and path of a URL key dropped
/// (`https://index.docker.io/v1/` → `index.docker.io`), lower case, Docker Hub's names as one.
pub(crate) fn registry_host(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "index.docker.io".to_string()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(c: Option<&Credential>) -> Option<(String, String)> {
        match c? {
            Credential::User { username, password } => Some((username.clone(), password.clone())),
            Credential::Token(_) => None,
        }
    }

    #[test]
    fn reads_auth_as_base64_user_and_password() {
        // "alice:s3cr:et" — a password may hold a colon.
        let json = br#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjpldA=="}}}"#;
        let config = DockerConfig::parse(json).expect("parses");
        assert_eq!(config.hosts(), vec!["127.0.0.1:5000".to_string()]);
        assert_eq!(
            user(config.credential_for("127.0.0.1:5000")),
            Some(("alice".to_string(), "s3cr:et".to_string()))
        );
        assert!(config.credential_for("127.0.0.1:5001").is_none());
    }

    #[test]
    fn reads_username_and_password_fields() {
        let json = br#"{"auths": {"ghcr.io": {"username": "bob", "password": "pw"}}}"#;
        let config = DockerConfig::parse(json).expect("parses");
        assert_eq!(
            user(config.credential_for("ghcr.io")),
            Some(("bob".to_string(), "pw".to_string()))
        );
        assert_eq!(
            config
                .credential_for("ghcr.io")
                .map(Credential::describe)
                .as_deref(),
            Some("the credentials for user bob")
        );
    }

    #[test]
    fn an_identity_token_is_a_bearer_token() {
        let json = br#"{"auths": {"example.azurecr.io": {"auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==", "identitytoken": "eyJ0b2tlbiI"}}}"#;
        let config = DockerConfig::parse(json).expect("parses");
        let credential = config.credential_for("example.azurecr.io");
        assert!(matches!(credential, Some(Credential::Token(t)) if t == "eyJ0b2tlbiI"));
        assert_eq!(
            credential.map(Credential::registry_auth),
            Some(RegistryAuth::Bearer("eyJ0b2tlbiI".to_string()))
        );
    }

    #[test]
    fn url_keys_are_normalised_to_the_host() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "ZG9jazpodWI="},
            "http://127.0.0.1:5000/": {"username": "u", "password": "p"},
            "HTTPS://Quay.IO": {"username": "q", "password": "p"}
        }}"#;
        let config = DockerConfig::parse(json).expect("parses");
        assert_eq!(
            config.hosts(),
            vec![
                "127.0.0.1:5000".to_string(),
                "index.docker.io".to_string(),
                "quay.io".to_string()
            ]
        );
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                user(config.credential_for(name)),
                Some(("dock".to_string(), "hub".to_string())),
                "{name}"
            );
        }
        assert!(config.credential_for("quay.io").is_some());
    }

    #[test]
    fn a_kubernetes_dockerconfigjson_is_the_same_json() {
        // What `kubectl create secret docker-registry` writes into .dockerconfigjson.
        let json = br#"{"auths":{"registry.example.com":{"username":"ci","password":"tok","email":"ci@example.com","auth":"Y2k6dG9r"}}}"#;
        let config = DockerConfig::parse(json).expect("parses");
        assert_eq!(
            user(config.credential_for("registry.example.com")),
            Some(("ci".to_string(), "tok".to_string()))
        );
    }

    #[test]
    fn hosts_kept_by_a_credential_helper_and_configs_without_auths_are_anonymous() {
        let json = br#"{"auths": {"ghcr.io": {}}, "credsStore": "desktop"}"#;
        let config = DockerConfig::parse(json).expect("parses");
        assert!(config.hosts().is_empty());
        assert!(
            DockerConfig::parse(b"{}")
                .expect("parses")
                .hosts()
                .is_empty()
        );
        assert!(DockerConfig::empty().hosts().is_empty());
    }

    #[test]
    fn broken_configs_say_what_is_wrong() {
        let err = DockerConfig::parse(b"{\"auths\": ").expect_err("truncated");
        assert!(
            err.starts_with(
                "the Docker config is not valid JSON with an \"auths\" object: EOF while parsing"
            ),
            "{err}"
        );
        let err = DockerConfig::parse(br#"{"auths": {"ghcr.io": {"auth": "bm8gY29sb24="}}}"#)
            .expect_err("no colon");
        assert_eq!(
            err,
            "auths.\"ghcr.io\".auth in the Docker config is not base64 of user:password"
        );
        let err = DockerConfig::parse(br#"{"auths": {"ghcr.io": {"auth": "%%%"}}}"#)
            .expect_err("not base64");
        assert_eq!(
            err,
            "auths.\"ghcr.io\".auth in the Docker config is not base64 of user:password"
        );
        let err = DockerConfig::parse(br#"{"auths": {"ghcr.io": {"username": "u"}}}"#)
            .expect_err("no password");
        assert_eq!(
            err,
            "auths.\"ghcr.io\" in the Docker config has a username or a password but not both"
        );
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, b"not json").expect("write");
        let err = DockerConfig::load(&path).expect_err("broken");
        assert!(
            err.starts_with(&format!(
                "{}: the Docker config is not valid JSON",
                path.display()
            )),
            "{err}"
        );
        let missing = dir.path().join("absent.json");
        let err = DockerConfig::load(&missing).expect_err("missing");
        assert!(
            err.starts_with(&format!(
                "cannot read the Docker config {}: ",
                missing.display()
            )),
            "{err}"
        );
        std::fs::write(&path, br#"{"auths":{"h:1":{"auth":"YTpi"}}}"#).expect("write");
        assert_eq!(
            DockerConfig::load(&path).expect("loads").hosts(),
            vec!["h:1".to_string()]
        );
    }
}
