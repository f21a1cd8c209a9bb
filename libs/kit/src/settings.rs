//! What a service's settings are and mean: each service lists its settings ([`Setting`]) next to
//! its `Config`; from that list and the `Config`'s defaults come the `--help` epilogue, the
//! reference table in docs/configuration.md (`--print-settings`) and a check that no setting is
//! undocumented ([`undocumented`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{TelemetryConfig, variable_for_key};

/// One setting: its key in the YAML file (`registry.url`) and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The key, sections joined by dots; its variable is derived from it.
    pub key: &'static str,
    /// What it does, its values, and what its default means.
    pub meaning: &'static str,
}

/// A variable of an earlier release that is still read, for one release, with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renamed {
    /// The old variable (`EXECENV_BACKEND`).
    pub variable: &'static str,
    /// The setting it now sets (`launcher.backend`).
    pub key: &'static str,
}

/// A service's configuration, as the bootstrap loads, prints and documents it.
pub trait ServiceConfig: Default + Serialize + DeserializeOwned {
    /// The binary (`execenv-selector`): the service's name in logs, traces and errors.
    const BINARY: &'static str;
    /// What the service does, as the first lines of its `--help`.
    const ABOUT: &'static str = "";
    /// Old variables still read (none by default).
    const RENAMED: &'static [Renamed] = &[];
    /// The keys of list settings: their variables hold comma-separated values.
    const LISTS: &'static [&'static str] = &[];
    /// The settings of the service's own sections, with what they mean.
    fn own_settings() -> Vec<Setting> {
        Vec::new()
    }
    /// Every setting it reads: by default the gRPC listen addresses, its own settings, logging
    /// and the service token.
    fn settings() -> Vec<Setting> {
        [SERVER, &Self::own_settings(), TELEMETRY, AUTH, TLS].concat()
    }
    /// Its logging and tracing settings.
    fn telemetry(&self) -> &TelemetryConfig;
}

/// The listen addresses and client limits every gRPC service has.
pub const SERVER: &[Setting] = &[
    Setting {
        key: "server.grpc_addr",
        meaning: "gRPC listen address (HOST:PORT)",
    },
    Setting {
        key: "server.admin_addr",
        meaning: "admin HTTP listen address: Prometheus /metrics, /healthz, /readyz",
    },
    Setting {
        key: "server.max_decoding_message_bytes",
        meaning: "largest gRPC message this service reads, in bytes; a larger request is refused with RESOURCE_EXHAUSTED before it is decoded",
    },
    Setting {
        key: "server.max_encoding_message_bytes",
        meaning: "largest gRPC message this service writes, in bytes (execenv's clients read up to 64 MiB); a larger answer fails with RESOURCE_EXHAUSTED",
    },
    Setting {
        key: "server.max_concurrent_streams",
        meaning: "most gRPC calls one HTTP/2 connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client waits for a free one",
    },
    Setting {
        key: "server.max_watches_per_client",
        meaning: "most watch streams (the registry's WatchEnvironments, the launcher's Watch, the image examiner's WatchChecks) one client — one address acting as one person, or as the service itself — may hold open; one more is refused with RESOURCE_EXHAUSTED naming this setting",
    },
];

/// Logging (every service).
pub const TELEMETRY: &[Setting] = &[
    Setting {
        key: "telemetry.log_format",
        meaning: "log lines on stderr: text or json",
    },
    Setting {
        key: "telemetry.log_level",
        meaning: "an env-filter directive such as info or execenv=debug,info; RUST_LOG overrides it",
    },
];

/// The service token (every service).
pub const AUTH: &[Setting] = &[
    Setting {
        key: "auth.service_token",
        meaning: "shared secret every gRPC call must carry (authorization: Bearer TOKEN) and calls to other services send; under mutual TLS a verified client certificate stands for it; unset: none required (shown masked)",
    },
    Setting {
        key: "auth.previous_service_token",
        meaning: "during a rotation, the token being replaced: accepted like auth.service_token but never sent; unset it once every service sends the new one (shown masked)",
    },
];

/// TLS (every service): serving it, verifying the services called, mutual TLS.
pub const TLS: &[Setting] = &[
    Setting {
        key: "tls.cert_file",
        meaning: "PEM server certificate (chain, leaf first); with tls.key_file the port serves only TLS and refuses plain text; re-read when the file changes; unset: plain text",
    },
    Setting {
        key: "tls.key_file",
        meaning: "PEM private key of tls.cert_file; re-read when the file changes",
    },
    Setting {
        key: "tls.client_ca_file",
        meaning: "PEM CA for mutual TLS: every client must present a certificate it signed, and that certificate is the calling service's identity (no service token needed); unset: no client certificate asked for",
    },
    Setting {
        key: "tls.ca_file",
        meaning: "PEM CA the services this one calls are verified against; their URLs must then be https:// (an http:// URL is refused at start); unset: plain text",
    },
    Setting {
        key: "tls.client_cert_file",
        meaning: "PEM certificate this service presents when a service it calls asks for one (mutual TLS); unset: tls.cert_file",
    },
    Setting {
        key: "tls.client_key_file",
        meaning: "PEM private key of tls.client_cert_file; unset: tls.key_file",
    },
];

/// The registry's address, for the services that call it.
pub const REGISTRY_URL: Setting = Setting {
    key: "registry.url",
    meaning: "gRPC URL of execenv-environment-registry",
};

/// The selector's address, for the services that call it.
pub const SELECTOR_URL: Setting = Setting {
    key: "selector.url",
    meaning: "gRPC URL of execenv-selector",
};

/// The launcher's address, for the gateway.
pub const LAUNCHER_URL: Setting = Setting {
    key: "launcher.url",
    meaning: "gRPC URL of execenv-launcher",
};

/// Every setting of `C` with its default as shown (secrets masked), by key.
pub fn defaults<C: ServiceConfig>() -> BTreeMap<String, String> {
    let value = serde_json::to_value(C::default()).unwrap_or(serde_json::Value::Null);
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            let shown = match other {
                serde_json::Value::Null => "(unset)".to_owned(),
                serde_json::Value::String(s) if s.is_empty() => "(empty)".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            out.insert(prefix.to_owned(), shown);
        }
    }
}

/// What the documentation of `C` lacks: settings with no [`Setting`] entry, then entries that
/// name no setting. Both empty when every setting is documented exactly once.
pub fn undocumented<C: ServiceConfig>() -> (Vec<String>, Vec<String>) {
    let keys = defaults::<C>();
    let documented: Vec<&str> = C::settings().iter().map(|s| s.key).collect();
    let missing = keys
        .keys()
        .filter(|k| !documented.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut unknown: Vec<String> = documented
        .iter()
        .filter(|k| !keys.contains_key(**k))
        .map(|k| (*k).to_owned())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    unknown.extend(
        documented
            .iter()
            .filter(|k| !seen.insert(**k))
            .map(|k| format!("{k} (documented twice)")),
    );
    (missing, unknown)
}

/// The `--help` epilogue: every setting's variable, default and meaning.
pub fn help<C: ServiceConfig>() -> String {
    let defaults = defaults::<C>();
    let mut text = String::from(
        "Settings: built-in defaults, then the YAML file given with --config (keys as below, \
         sections nested), then EXECENV_<SECTION>__<KEY> variables; --print-config shows the \
         result.\n",
    );
    for s in C::settings() {
        let default = defaults.get(s.key).map(String::as_str).unwrap_or("(unset)");
        text.push_str(&format!(
            "  {:<44} {} [default: {default}]\n",
            variable_for_key(s.key),
            s.meaning
        ));
    }
    for r in C::RENAMED {
        text.push_str(&format!(
            "  {:<44} deprecated: use {}\n",
            r.variable,
            variable_for_key(r.key)
        ));
    }
    text
}

/// A test module checking that every setting of `$config` is documented exactly once
/// ([`undocumented`]); each service invokes it next to its `Config`.
#[macro_export]
macro_rules! every_setting_is_documented {
    ($config:ty) => {
        #[cfg(test)]
        mod every_setting {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn is_documented_exactly_once() {
                assert_eq!(
                    $crate::settings::undocumented::<$config>(),
                    (vec![], vec![])
                );
            }
        }
    };
}

/// The reference table of `C`'s settings (Markdown), as docs/configuration.md holds it.
pub fn reference<C: ServiceConfig>() -> String {
    let defaults = defaults::<C>();
    let mut text = format!(
        "## {}\n\n| setting | variable | default | meaning |\n|---|---|---|---|\n",
        C::BINARY
    );
    for s in C::settings() {
        let default = defaults.get(s.key).map(String::as_str).unwrap_or("(unset)");
        text.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} |\n",
            s.key,
            variable_for_key(s.key),
            default.replace('|', "\\|"),
            s.meaning.replace('|', "\\|")
        ));
    }
    if !C::RENAMED.is_empty() {
        text.push_str("\nStill read, with a warning, for one release:\n\n");
        for r in C::RENAMED {
            text.push_str(&format!(
                "- `{}`: use `{}`\n",
                r.variable,
                variable_for_key(r.key)
            ));
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::config::{AuthConfig, ServerConfig};
    use crate::secret::Secret;

    #[derive(Debug, Serialize, Deserialize)]
    struct Sample {
        server: ServerConfig,
        telemetry: TelemetryConfig,
        auth: AuthConfig,
        limit: u32,
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample {
                server: ServerConfig::with_ports(1, 2),
                telemetry: TelemetryConfig::default(),
                auth: AuthConfig {
                    service_token: Some(Secret::from("hidden")),
                    previous_service_token: None,
                },
                limit: 7,
            }
        }
    }

    impl ServiceConfig for Sample {
        const BINARY: &'static str = "execenv-sample";
        const RENAMED: &'static [Renamed] = &[Renamed {
            variable: "EXECENV_LIMIT",
            key: "limit",
        }];
        fn settings() -> Vec<Setting> {
            let own = [Setting {
                key: "limit",
                meaning: "how many | at most",
            }];
            [SERVER, TELEMETRY, AUTH, &own].concat()
        }
        fn telemetry(&self) -> &TelemetryConfig {
            &self.telemetry
        }
    }

    #[test]
    fn defaults_are_flattened_by_key_with_secrets_masked() {
        let d = defaults::<Sample>();
        assert_eq!(d["server.grpc_addr"], "0.0.0.0:1");
        assert_eq!(d["limit"], "7");
        assert_eq!(d["auth.service_token"], "***");
        assert_eq!(d["server.max_watches_per_client"], "32");
        assert_eq!(d["auth.previous_service_token"], "(unset)");
        // Two addresses, four limits, two of logging, two tokens and `limit`.
        assert_eq!(d.len(), 11);
    }

    #[test]
    fn a_fully_documented_config_has_nothing_missing() {
        assert_eq!(undocumented::<Sample>(), (vec![], vec![]));
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Undocumented {
        telemetry: TelemetryConfig,
        extra: u32,
    }

    impl ServiceConfig for Undocumented {
        const BINARY: &'static str = "execenv-undocumented";
        fn settings() -> Vec<Setting> {
            let stale = [Setting {
                key: "removed.long.ago",
                meaning: "x",
            }];
            [TELEMETRY, TELEMETRY, &stale].concat()
        }
        fn telemetry(&self) -> &TelemetryConfig {
            &self.telemetry
        }
    }

    #[test]
    fn a_setting_without_documentation_and_documentation_without_a_setting_are_named() {
        let (missing, unknown) = undocumented::<Undocumented>();
        assert_eq!(missing, ["extra"]);
        assert_eq!(
            unknown,
            [
                "removed.long.ago",
                "telemetry.log_format (documented twice)",
                "telemetry.log_level (documented twice)"
            ]
        );
    }

    #[test]
    fn the_reference_has_a_row_per_setting_and_the_renamed_variables() {
        let table = reference::<Sample>();
        assert!(table.starts_with("## execenv-sample\n"), "{table}");
        assert!(
            table.contains("| `limit` | `EXECENV_LIMIT` | `7` | how many \\| at most |\n"),
            "{table}"
        );
        assert!(
            table.contains("- `EXECENV_LIMIT`: use `EXECENV_LIMIT`"),
            "{table}"
        );
        assert_eq!(table.matches("\n| `").count(), 11, "{table}");
    }

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = help::<Sample>();
        assert!(help.contains("EXECENV_SERVER__ADMIN_ADDR"), "{help}");
        assert!(help.contains("[default: 0.0.0.0:2]"), "{help}");
        assert!(help.contains("EXECENV_AUTH__SERVICE_TOKEN"), "{help}");
        assert!(!help.contains("hidden"), "{help}");
    }
}
