//! Layered configuration: defaults, then a YAML file (`--config`), then `EXECENV_<SECTION>__<KEY>`
//! variables from an injected environment map (tests pass a map; `main` passes `std::env::vars()`).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The prefix of every configuration variable.
pub const ENV_PREFIX: &str = "EXECENV";

/// Why the configuration could not be loaded; each variant names its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The built-in defaults could not be turned into a configuration (a bug).
    #[error("built-in configuration defaults are invalid: {0}")]
    Defaults(String),
    /// The file given with `--config` cannot be read, does not parse or holds a bad value.
    #[error("configuration file {path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A variable holds a value the setting does not accept.
    #[error("environment variable {variable}={value:?}: {problem}")]
    Variable {
        /// The variable, e.g. `EXECENV_SERVER__GRPC_ADDR`.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The merged configuration does not fit the service's settings.
    #[error("configuration{}: {problem}", source_hint(.path))]
    Invalid {
        /// The file given with `--config`, if any.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: String,
    },
}

fn source_hint(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" (from defaults, {} and EXECENV_* variables)", p.display()),
        None => " (from defaults and EXECENV_* variables)".to_owned(),
    }
}

/// Loads `T` from `defaults`, then the YAML `file` (if given), then `EXECENV_…` variables in `env`.
pub fn load<T>(
    defaults: &T,
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    load_layers(defaults, file, env, &[], &[])
}

/// Like [`load`], with a last layer of `overrides`: settings a command-line flag gives, by key
/// (`("sync.file", "/etc/execenv/environments.yaml")`), which win over every other source; and
/// the keys of list settings (`lists`), whose variables hold comma-separated values.
pub fn load_layers<T>(
    defaults: &T,
    file: Option<&Path>,
    env: &HashMap<String, String>,
    overrides: &[(&str, String)],
    lists: &[&str],
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    // The defaults layer is the one serialisation that must carry secrets' real values.
    let defaults = crate::secret::revealing(|| config::Config::try_from(defaults))
        .map_err(|e| ConfigError::Defaults(e.to_string()))?;
    let mut builder = config::Config::builder().add_source(defaults);
    let mut from_file = None;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            problem: format!("{e}; check the path given with --config"),
        })?;
        // Parse the file on its own first so a syntax error names the file, not the merge.
        let parsed = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Yaml))
            .build()
            .map_err(|e| ConfigError::File {
                path: path.to_owned(),
                problem: e.to_string(),
            })?;
        builder = builder.add_source(parsed.clone());
        from_file = Some((path, parsed));
    }
    let list_variables: Vec<String> = lists.iter().map(|k| variable_for_key(k)).collect();
    let variables: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| is_config_variable(k) && !list_variables.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    builder = builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .source(Some(variables)),
    );
    // A list setting's variable holds comma-separated values.
    for (key, variable) in lists.iter().zip(&list_variables) {
        if let Some(value) = env.get(variable) {
            let items: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            builder = builder
                .set_override(*key, items)
                .map_err(|e| ConfigError::Invalid {
                    path: file.map(Path::to_owned),
                    problem: e.to_string(),
                })?;
        }
    }
    for (key, value) in overrides {
        builder = builder
            .set_override(*key, value.clone())
            .map_err(|e| ConfigError::Invalid {
                path: file.map(Path::to_owned),
                problem: e.to_string(),
            })?;
    }
    let merged = builder.build().map_err(|e| ConfigError::Invalid {
        path: file.map(Path::to_owned),
        problem: e.to_string(),
    })?;
    merged
        .try_deserialize()
        .map_err(|e| blame(e, from_file, env))
}

/// Whether `name` is a configuration variable (`EXECENV_<SECTION>__<KEY>`).
fn is_config_variable(name: &str) -> bool {
    name.strip_prefix(ENV_PREFIX)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| rest.contains("__"))
}

/// Names the variable (or file) that supplied the value a deserialisation error is about.
fn blame(
    err: config::ConfigError,
    file: Option<(&Path, config::Config)>,
    env: &HashMap<String, String>,
) -> ConfigError {
    let problem = err.to_string();
    if let Some(key) = error_key(&err) {
        let variable = variable_for_key(&key);
        if let Some((name, value)) = env.iter().find(|(k, _)| k.eq_ignore_ascii_case(&variable)) {
            return ConfigError::Variable {
                variable: name.clone(),
                value: value.clone(),
                problem,
            };
        }
        if let Some((path, parsed)) = &file
            && parsed.get::<config::Value>(&key).is_ok()
        {
            return ConfigError::File {
                path: path.to_path_buf(),
                problem,
            };
        }
    }
    ConfigError::Invalid {
        path: file.map(|(p, _)| p.to_owned()),
        problem,
    }
}

fn error_key(err: &config::ConfigError) -> Option<String> {
    match err {
        config::ConfigError::Type { key, .. } | config::ConfigError::At { key, .. } => key.clone(),
        config::ConfigError::NotFound(key) => Some(key.clone()),
        _ => None,
    }
}

/// `server.grpc_addr` → `EXECENV_SERVER__GRPC_ADDR`.
pub fn variable_for_key(key: &str) -> String {
    format!(
        "{ENV_PREFIX}_{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// Where a service listens: gRPC and the admin HTTP server (`/metrics`, `/healthz`, `/readyz`),
/// and what one gRPC client may ask of it ([`crate::limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// gRPC listen address (`EXECENV_SERVER__GRPC_ADDR`).
    pub grpc_addr: SocketAddr,
    /// Admin HTTP listen address (`EXECENV_SERVER__ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// Largest gRPC message the service reads, in bytes.
    #[serde(default = "max_decoding_message_bytes")]
    pub max_decoding_message_bytes: usize,
    /// Largest gRPC message the service writes, in bytes.
    #[serde(default = "max_encoding_message_bytes")]
    pub max_encoding_message_bytes: usize,
    /// Most gRPC calls one HTTP/2 connection may have open at once.
    #[serde(default = "max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// Most watch streams one client (address and person) may hold open.
    #[serde(default = "max_watches_per_client")]
    pub max_watches_per_client: u32,
}

/// Default of `server.max_decoding_message_bytes`: 16 MiB, room for a large declarative file.
pub const MAX_DECODING_MESSAGE_BYTES: usize = 16 << 20;
/// Default of `server.max_encoding_message_bytes`: 64 MiB, what execenv's clients accept.
pub const MAX_ENCODING_MESSAGE_BYTES: usize = 64 << 20;
/// Default of `server.max_concurrent_streams`.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;
/// Default of `server.max_watches_per_client`.
pub const MAX_WATCHES_PER_CLIENT: u32 = 32;

fn max_decoding_message_bytes() -> usize {
    MAX_DECODING_MESSAGE_BYTES
}

fn max_encoding_message_bytes() -> usize {
    MAX_ENCODING_MESSAGE_BYTES
}

fn max_concurrent_streams() -> u32 {
    MAX_CONCURRENT_STREAMS
}

fn max_watches_per_client() -> u32 {
    MAX_WATCHES_PER_CLIENT
}

impl ServerConfig {
    /// Listens on all interfaces on the service's own ports, with the default limits.
    pub fn with_ports(grpc_port: u16, admin_port: u16) -> Self {
        ServerConfig {
            grpc_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, grpc_port)),
            admin_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, admin_port)),
            max_decoding_message_bytes: max_decoding_message_bytes(),
            max_encoding_message_bytes: max_encoding_message_bytes(),
            max_concurrent_streams: max_concurrent_streams(),
            max_watches_per_client: max_watches_per_client(),
        }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging and tracing settings (`EXECENV_TELEMETRY__…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `execenv=debug,info`; `RUST_LOG` overrides it.
    pub log_level: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
        }
    }
}

/// Where the registry is, for the services that call it (`EXECENV_REGISTRY__URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryConfig {
    /// gRPC URL of execenv-environment-registry.
    pub url: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            url: "http://127.0.0.1:50051".to_owned(),
        }
    }
}

/// Where the selector is, for the services that call it (`EXECENV_SELECTOR__URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectorConfig {
    /// gRPC URL of execenv-selector.
    pub url: String,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            url: "http://127.0.0.1:50053".to_owned(),
        }
    }
}

/// Where the launcher is, for the gateway (`EXECENV_LAUNCHER__URL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LauncherConfig {
    /// gRPC URL of execenv-launcher.
    pub url: String,
}

impl Default for LauncherConfig {
    fn default() -> Self {
        LauncherConfig {
            url: "http://127.0.0.1:50054".to_owned(),
        }
    }
}

/// Service-to-service authentication (`EXECENV_AUTH__SERVICE_TOKEN`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// When set, every gRPC call must carry `authorization: Bearer <token>`, and calls to other
    /// services send it.
    pub service_token: Option<Secret>,
    /// During a rotation, the token being replaced: accepted from callers, never sent.
    pub previous_service_token: Option<Secret>,
}

impl AuthConfig {
    /// The previous token to accept as well during a rotation; an empty value means none.
    pub fn previous_token(&self) -> Option<String> {
        self.previous_service_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| t.expose().to_owned())
    }

    /// The token to require and send; an empty value means none.
    pub fn token(&self) -> Option<String> {
        self.service_token
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| t.expose().to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct TestConfig {
        server: ServerConfig,
        #[serde(default)]
        telemetry: TelemetryConfig,
        #[serde(default)]
        auth: AuthConfig,
        database: Database,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Database {
        url: String,
        max_connections: u32,
    }

    fn defaults() -> TestConfig {
        TestConfig {
            server: ServerConfig::with_ports(50051, 9451),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            database: Database {
                url: "sqlite://execenv.db".to_owned(),
                max_connections: 5,
            },
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn yaml(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_alone_load_unchanged() {
        let cfg = load(&defaults(), None, &HashMap::new()).unwrap();
        assert_eq!(cfg, defaults());
        assert_eq!(cfg.server.grpc_addr.to_string(), "0.0.0.0:50051");
    }

    #[test]
    fn file_overrides_defaults_and_keeps_the_rest() {
        let f = yaml("database:\n  url: postgres://db/execenv\ntelemetry:\n  log_format: json\n");
        let cfg = load(&defaults(), Some(f.path()), &HashMap::new()).unwrap();
        assert_eq!(cfg.database.url, "postgres://db/execenv");
        assert_eq!(cfg.database.max_connections, 5);
        assert_eq!(cfg.telemetry.log_format, LogFormat::Json);
        assert_eq!(cfg.telemetry.log_level, "info");
    }

    #[test]
    fn variables_override_the_file() {
        let f = yaml("database:\n  url: postgres://file/execenv\n  max_connections: 7\n");
        let vars = env(&[
            ("EXECENV_DATABASE__URL", "postgres://env/execenv"),
            ("EXECENV_AUTH__SERVICE_TOKEN", "s3cret"),
            ("EXECENV_SERVER__GRPC_ADDR", "127.0.0.1:6000"),
            ("PATH", "/usr/bin"),
            ("EXECENV_UNRELATED", "x"),
        ]);
        let cfg = load(&defaults(), Some(f.path()), &vars).unwrap();
        assert_eq!(cfg.database.url, "postgres://env/execenv");
        assert_eq!(cfg.database.max_connections, 7);
        assert_eq!(cfg.auth.token().as_deref(), Some("s3cret"));
        assert_eq!(cfg.server.grpc_addr.to_string(), "127.0.0.1:6000");
        assert_eq!(cfg.server.admin_addr.to_string(), "0.0.0.0:9451");
    }

    #[test]
    fn numeric_variables_are_parsed() {
        let vars = env(&[("EXECENV_DATABASE__MAX_CONNECTIONS", "42")]);
        let cfg = load(&defaults(), None, &vars).unwrap();
        assert_eq!(cfg.database.max_connections, 42);
    }

    #[test]
    fn bad_variable_value_names_the_variable() {
        let vars = env(&[("EXECENV_SERVER__GRPC_ADDR", "not-an-address")]);
        let err = load(&defaults(), None, &vars).unwrap_err().to_string();
        assert!(err.contains("EXECENV_SERVER__GRPC_ADDR"), "{err}");
        assert!(err.contains("not-an-address"), "{err}");
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = load(
            &defaults(),
            Some(Path::new("/nonexistent/execenv.yaml")),
            &HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/execenv.yaml"), "{err}");
        assert!(err.contains("--config"), "{err}");
    }

    #[test]
    fn bad_file_value_names_the_file_and_key() {
        let f = yaml("server:\n  admin_addr: twelve\n");
        let err = load(&defaults(), Some(f.path()), &HashMap::new()).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
        assert!(err.to_string().contains("server.admin_addr"), "{err}");
    }

    #[test]
    fn malformed_file_names_the_file() {
        let f = yaml("database: [unclosed\n");
        let err = load(&defaults(), Some(f.path()), &HashMap::new()).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
    }

    #[test]
    fn an_override_wins_over_the_file_and_the_variables() {
        let f = yaml("database:\n  url: postgres://file/execenv\n");
        let vars = env(&[("EXECENV_DATABASE__URL", "postgres://env/execenv")]);
        let overrides = [("database.url", "postgres://flag/execenv".to_owned())];
        let cfg = load_layers(&defaults(), Some(f.path()), &vars, &overrides, &[]).unwrap();
        assert_eq!(cfg.database.url, "postgres://flag/execenv");
        assert_eq!(cfg.database.max_connections, 5);
    }

    #[test]
    fn a_list_setting_takes_a_comma_separated_variable() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        struct WithList {
            #[serde(default)]
            pull: Pull,
        }
        #[derive(Debug, Default, Serialize, Deserialize)]
        struct Pull {
            secrets: Vec<String>,
            name: String,
        }
        let vars = env(&[
            ("EXECENV_PULL__SECRETS", "one,two"),
            ("EXECENV_PULL__NAME", "a,b"),
        ]);
        let cfg: WithList =
            load_layers(&WithList::default(), None, &vars, &[], &["pull.secrets"]).unwrap();
        assert_eq!(cfg.pull.secrets, ["one", "two"]);
        assert_eq!(cfg.pull.name, "a,b");
    }

    #[test]
    fn a_secret_default_survives_loading() {
        #[derive(Debug, Serialize, Deserialize)]
        struct WithSecret {
            auth: AuthConfig,
        }
        let defaults = WithSecret {
            auth: AuthConfig {
                service_token: Some(Secret::from("built-in")),
                previous_service_token: None,
            },
        };
        let cfg = load(&defaults, None, &HashMap::new()).unwrap();
        assert_eq!(cfg.auth.token().as_deref(), Some("built-in"));
    }

    #[test]
    fn an_empty_token_variable_means_no_token() {
        let vars = env(&[("EXECENV_AUTH__SERVICE_TOKEN", "")]);
        let cfg = load(&defaults(), None, &vars).unwrap();
        assert_eq!(cfg.auth.token(), None);
    }

    #[test]
    fn variable_names_map_from_keys() {
        assert_eq!(
            variable_for_key("server.grpc_addr"),
            "EXECENV_SERVER__GRPC_ADDR"
        );
    }
}
