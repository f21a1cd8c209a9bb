//! The gateway's configuration: where it listens and which host name it reports, the services it
//! calls; every setting documented for `--help`, `--print-settings` and docs/configuration.md.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use execenv_kit::TlsConfig;
use execenv_kit::config::{
    AuthConfig, LauncherConfig, RegistryConfig, SelectorConfig, TelemetryConfig,
};
use execenv_kit::settings::{self, ServiceConfig, Setting};
use serde::{Deserialize, Serialize};

/// The gateway's configuration (`EXECENV_…` variables override the YAML file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Listen addresses and the host name reported to clients (`EXECENV_SERVER__…`).
    #[serde(default)]
    pub server: ServerConfig,
    /// The registry the environments, users and keys live in.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The selector `select` and `explain` ask (`EXECENV_SELECTOR__URL`).
    #[serde(default)]
    pub selector: SelectorConfig,
    /// The launcher `launches` calls (`EXECENV_LAUNCHER__URL`).
    #[serde(default)]
    pub launcher: LauncherConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Service token, sent to the registry, the selector and the launcher.
    #[serde(default)]
    pub auth: AuthConfig,
    /// TLS: serving it, verifying the services called, mutual TLS (`EXECENV_TLS__…`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// Where uploaded bundles are stored and how large they may be (`EXECENV_BUNDLES__…`).
    #[serde(default)]
    pub bundles: BundlesConfig,
    /// The web console's sessions (`EXECENV_CONSOLE__…`).
    #[serde(default)]
    pub console: ConsoleConfig,
    /// config-sync, whose last sync `/__api__/execenv/v1/sync` reports (`EXECENV_CONFIG_SYNC__URL`).
    #[serde(default)]
    pub config_sync: ConfigSyncConfig,
    /// Interactive content served at `/content/{guid}/` (`EXECENV_CONTENT__…`).
    #[serde(default)]
    pub content: ContentConfig,
    /// The image examiner the image and check routes ask (`EXECENV_EXAMINER__URL`).
    #[serde(default)]
    pub examiner: ExaminerConfig,
    /// What one client may ask of the gateway: failed sign-ins, body sizes, JSON nesting, time
    /// per request, event streams (`EXECENV_LIMITS__…`).
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// The gateway's limits on what one client may ask; each refusal is Connect's JSON error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Failed authentications one client address may make at once before it is throttled
    /// (default 10).
    pub auth_failure_burst: u32,
    /// Failed authentications a throttled client address earns back per minute (default 10).
    pub auth_failures_per_minute: u32,
    /// Largest request body of any route but a bundle upload, in bytes (default 1 MiB).
    pub max_body_bytes: u64,
    /// Deepest nesting of arrays and objects in a JSON body (default 32).
    pub max_json_depth: u32,
    /// Seconds a request may take until its answer starts (default 60); then 503.
    pub request_timeout_s: u64,
    /// Seconds a client may take to send a request's line and headers (default 30); then its
    /// connection is closed. 0: no bound.
    pub header_read_timeout_s: u64,
    /// Seconds an image examination or a check of every environment may take (default 660).
    pub examine_timeout_s: u64,
    /// Event streams (`/__api__/execenv/v1/events`) one person may hold open (default 16).
    pub max_event_streams_per_user: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            auth_failure_burst: 10,
            auth_failures_per_minute: 10,
            max_body_bytes: 1 << 20,
            max_json_depth: 32,
            request_timeout_s: 60,
            header_read_timeout_s: 30,
            examine_timeout_s: 660,
            max_event_streams_per_user: 16,
        }
    }
}

/// Where the image examiner is; an empty URL turns its routes off (503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExaminerConfig {
    /// gRPC URL of execenv-image-examiner (`EXECENV_EXAMINER__URL`), default
    /// `http://127.0.0.1:50055`; empty: no examiner.
    pub url: String,
}

impl Default for ExaminerConfig {
    fn default() -> Self {
        ExaminerConfig {
            url: "http://127.0.0.1:50055".to_owned(),
        }
    }
}

/// Interactive content: how long a cold start may take and when an idle instance is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentConfig {
    /// Seconds a request waits for an instance to become ready (default 120); then 504.
    pub start_timeout_s: u64,
    /// Seconds without a request or an open WebSocket after which an instance is stopped
    /// (default 300); 0 never stops one.
    pub idle_timeout_s: u64,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            start_timeout_s: 120,
            idle_timeout_s: 300,
        }
    }
}

/// The web console's sign-in sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleConfig {
    /// Seconds a session lasts without use (default 28800, 8 hours).
    pub session_idle_s: u64,
    /// Seconds a session lasts after sign-in, however much it is used (default 86400, 24 hours).
    pub session_max_s: u64,
    /// Whether the session cookie is always `Secure` (default false: only when the request came
    /// over TLS, as `X-Forwarded-Proto: https` says).
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_idle_s: 8 * 3600,
            session_max_s: 24 * 3600,
            secure_cookies: false,
        }
    }
}

/// Where config-sync is; unset: the gateway reports no sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigSyncConfig {
    /// gRPC URL of execenv-config-sync (`EXECENV_CONFIG_SYNC__URL`).
    pub url: Option<String>,
}

/// Uploaded bundles: the data folder they are unpacked into and the limits of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BundlesConfig {
    /// The data folder (`EXECENV_BUNDLES__DIR`): bundles land in
    /// `content/<guid>/<id>/bundle`, where the launcher reads them. Default `execenv-data`, the
    /// launcher's `local.data_dir`.
    pub dir: PathBuf,
    /// Largest request body of an upload, in bytes (default 1 GiB).
    pub max_upload_bytes: u64,
    /// Most bytes a bundle may unpack to (default 4 GiB).
    pub max_unpacked_bytes: u64,
    /// Most files, folders and links in a bundle (default 100000).
    pub max_files: u64,
}

impl Default for BundlesConfig {
    fn default() -> Self {
        BundlesConfig {
            dir: PathBuf::from("execenv-data"),
            max_upload_bytes: 1 << 30,
            max_unpacked_bytes: 4 << 30,
            max_files: 100_000,
        }
    }
}

/// Where the gateway listens: the REST API and the admin server (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// REST API listen address (`EXECENV_SERVER__HTTP_ADDR`), default 0.0.0.0:3939.
    pub http_addr: SocketAddr,
    /// Admin HTTP listen address (`EXECENV_SERVER__ADMIN_ADDR`), default 0.0.0.0:9455.
    pub admin_addr: SocketAddr,
    /// The host name `/__api__/server_settings` reports (`EXECENV_SERVER__HOSTNAME`); this
    /// machine's host name when unset.
    pub hostname: Option<String>,
    /// How long an API key's successful authentication is reused before the registry is asked
    /// again (`EXECENV_SERVER__KEY_CACHE_MS`), default 10000; 0 asks every time. It bounds how
    /// long a revoked key keeps working on each replica.
    pub key_cache_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 3939)),
            admin_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9455)),
            hostname: None,
            key_cache_ms: 10_000,
        }
    }
}

impl ServiceConfig for Config {
    const BINARY: &'static str = "execenv-gateway";
    const ABOUT: &'static str = "The execenv gateway: a Connect-compatible REST API (`/__api__/v1/environments…`) over the registry, with execenv's own routes (`/__api__/execenv/v1/select`, `explain`, `changes`, `launches`, `content/{guid}/bundles`, `images/examine`, `checks`), for posit-sdk, rsconnect and people with an API key (`Authorization: Key …`), and interactive content at `/content/{guid}/`.";

    fn settings() -> Vec<Setting> {
        let own = [
            Setting {
                key: "server.http_addr",
                meaning: "REST API listen address (HOST:PORT): Connect's /__api__/v1 and execenv's /__api__/execenv/v1",
            },
            Setting {
                key: "server.admin_addr",
                meaning: "admin HTTP listen address: Prometheus /metrics, /healthz, /readyz",
            },
            Setting {
                key: "server.key_cache_ms",
                meaning: "how long (ms) an API key's successful authentication is reused before the registry is asked again: a key (or user) disabled or deleted is refused by every gateway replica at most this long after the change committed; refusals are never reused; 0 asks every time. While the registry cannot be reached, a key authenticated within the last 60 s is still accepted (docs/security.md)",
            },
            Setting {
                key: "server.hostname",
                meaning: "the host name /__api__/server_settings reports; unset: this machine's host name",
            },
            settings::REGISTRY_URL,
            Setting {
                key: "selector.url",
                meaning: "gRPC URL of execenv-selector, which select and explain ask",
            },
            Setting {
                key: "launcher.url",
                meaning: "gRPC URL of execenv-launcher, which launches are sent to",
            },
            Setting {
                key: "bundles.dir",
                meaning: "the data folder uploaded bundles are unpacked into, as content/<guid>/<id>/bundle: the launcher's data folder (local.data_dir, or the data volume, shared ReadWriteMany with the content Jobs)",
            },
            Setting {
                key: "bundles.max_upload_bytes",
                meaning: "largest request body of a bundle upload, in bytes; a larger one is refused with 413",
            },
            Setting {
                key: "bundles.max_unpacked_bytes",
                meaning: "most bytes a bundle may unpack to (file contents and the archive's metadata); the upload stops there with 413",
            },
            Setting {
                key: "bundles.max_files",
                meaning: "most files, folders and links a bundle may hold; the upload stops there with 413",
            },
            Setting {
                key: "console.session_idle_s",
                meaning: "seconds a web console session lasts without use; then its cookie is refused (401) and the person signs in again",
            },
            Setting {
                key: "console.session_max_s",
                meaning: "seconds a web console session lasts after sign-in, however much it is used",
            },
            Setting {
                key: "console.secure_cookies",
                meaning: "true: the session cookie is always Secure (sent over HTTPS only); false: Secure only when the request came over TLS (X-Forwarded-Proto: https)",
            },
            Setting {
                key: "examiner.url",
                meaning: "gRPC URL of execenv-image-examiner, which /__api__/execenv/v1/images/examine, /checks and /environments/<guid>/check ask; empty: those routes answer 503",
            },
            Setting {
                key: "config_sync.url",
                meaning: "gRPC URL of execenv-config-sync, whose last sync /__api__/execenv/v1/sync and the console's events report; unset: no sync is reported",
            },
            Setting {
                key: "content.start_timeout_s",
                meaning: "seconds a request to /content/<guid>/ waits for the content's instance to become ready (a cold start) before it is answered 504; the instance keeps starting",
            },
            Setting {
                key: "content.idle_timeout_s",
                meaning: "seconds an instance of interactive content may go without a request or an open WebSocket before the gateway stops it (the next request starts one again); 0: never stop",
            },
            Setting {
                key: "limits.auth_failure_burst",
                meaning: "failed authentications (an unknown, disabled or empty API key, an ended session) one client address may make in a burst; past it the address is answered 429 with Retry-After until it earns failures back. A key that authenticated before is never held back. 0: no throttling",
            },
            Setting {
                key: "limits.auth_failures_per_minute",
                meaning: "failed authentications a client address earns back per minute once throttled (the steady rate a guesser is held to)",
            },
            Setting {
                key: "limits.max_body_bytes",
                meaning: "largest request body, in bytes, of every route but a bundle upload (bundles.max_upload_bytes); a larger one is refused with 413",
            },
            Setting {
                key: "limits.max_json_depth",
                meaning: "deepest nesting of arrays and objects a JSON request body may have; a deeper one is refused with 400",
            },
            Setting {
                key: "limits.request_timeout_s",
                meaning: "seconds a REST request may take until its answer starts; then 503 (the call it waited for may still finish). Not for uploads (each piece must come within 60 s), interactive content (content.start_timeout_s) or image examinations (limits.examine_timeout_s); streamed answers (events, followed logs) are bounded only until they start",
            },
            Setting {
                key: "limits.header_read_timeout_s",
                meaning: "seconds a client may take to send a request's line and headers, on every connection and between the requests of a kept-alive one; then the connection is closed (a client holding connections open by sending its headers slowly gets nothing). 0: no bound",
            },
            Setting {
                key: "limits.examine_timeout_s",
                meaning: "seconds POST /__api__/execenv/v1/images/examine and /checks/refresh may take (reading an image's layers is slow); then 503",
            },
            Setting {
                key: "limits.max_event_streams_per_user",
                meaning: "event streams (/__api__/execenv/v1/events) one person may hold open at once, whichever key or session they use; one more is refused with 429",
            },
        ];
        let auth = [Setting {
            key: "auth.service_token",
            meaning: "shared secret sent with every call to the registry, the selector, the launcher and the image examiner (authorization: Bearer TOKEN); unset: none sent (shown masked)",
        }];
        let auth = [
            auth[0],
            Setting {
                key: "auth.previous_service_token",
                meaning: "not used by the gateway, which serves no gRPC (the services it calls accept the previous token during a rotation)",
            },
        ];
        let tls = [
            Setting {
                key: "tls.cert_file",
                meaning: "PEM certificate of the REST API (chain, leaf first); with tls.key_file the HTTP port serves only HTTPS, and the session cookie is always Secure; re-read when the file changes; unset: plain HTTP",
            },
            Setting {
                key: "tls.key_file",
                meaning: "PEM private key of tls.cert_file; re-read when the file changes",
            },
            Setting {
                key: "tls.client_ca_file",
                meaning: "PEM CA whose certificate every HTTPS client must present (mutual TLS on the REST API; rarely wanted: browsers and posit-sdk send none); unset: none asked for",
            },
            Setting {
                key: "tls.ca_file",
                meaning: "PEM CA the registry, selector, launcher, config-sync and image examiner are verified against; their URLs must then be https://; unset: plain text",
            },
            Setting {
                key: "tls.client_cert_file",
                meaning: "PEM certificate the gateway presents to the services it calls under mutual TLS (its service identity); unset: tls.cert_file",
            },
            Setting {
                key: "tls.client_key_file",
                meaning: "PEM private key of tls.client_cert_file; unset: tls.key_file",
            },
        ];
        [&own[..], settings::TELEMETRY, &auth, &tls].concat()
    }

    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

execenv_kit::every_setting_is_documented!(Config);
