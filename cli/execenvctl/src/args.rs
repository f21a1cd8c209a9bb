//! The flags every command accepts: where the services and the gateway are, whom to act as, and
//! how to print.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use execenv_core::Role;

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// gRPC address of the environment-registry.
    #[arg(
        long,
        global = true,
        env = "EXECENV_REGISTRY",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    pub registry: String,
    /// gRPC address of config-sync (the `sync` commands).
    #[arg(
        long,
        global = true,
        env = "EXECENV_CONFIG_SYNC",
        default_value = "http://127.0.0.1:50052",
        value_name = "URL"
    )]
    pub config_sync: String,
    /// gRPC address of the selector (the `select` and `explain` commands).
    #[arg(
        long,
        global = true,
        env = "EXECENV_SELECTOR",
        default_value = "http://127.0.0.1:50053",
        value_name = "URL"
    )]
    pub selector: String,
    /// gRPC address of the launcher (the `launch` and `launches` commands).
    #[arg(
        long,
        global = true,
        env = "EXECENV_LAUNCHER",
        default_value = "http://127.0.0.1:50054",
        value_name = "URL"
    )]
    pub launcher: String,
    /// gRPC address of the image examiner (the `image` and `env drift` commands).
    #[arg(
        long,
        global = true,
        env = "EXECENV_EXAMINER",
        default_value = "http://127.0.0.1:50055",
        value_name = "URL"
    )]
    pub examiner: String,
    /// HTTP address of the gateway (the `bundle` commands).
    #[arg(
        long,
        global = true,
        env = "EXECENV_GATEWAY",
        default_value = "http://127.0.0.1:3939",
        value_name = "URL"
    )]
    pub gateway: String,
    /// API key the `bundle` commands send to the gateway (`Authorization: Key …`); they act as
    /// its user. Create one with `execenvctl keys create USER --name NAME`.
    #[arg(
        long,
        global = true,
        env = "EXECENV_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Act as this user (guid or username) instead of as the service itself; needs --as-role.
    /// A username is looked up in the registry's users first.
    #[arg(long, global = true, value_name = "USER", requires = "as_role")]
    pub as_user: Option<String>,
    /// Groups of the user to act as (guids or names, looked up like --as-user), comma-separated;
    /// needs --as-role.
    #[arg(
        long,
        global = true,
        value_name = "G1,G2",
        value_delimiter = ',',
        requires = "as_role"
    )]
    pub as_groups: Vec<String>,
    /// Role to act with. Without --as-user/--as-role the call acts as the service itself (an
    /// administrator).
    #[arg(long, global = true, value_name = "ROLE")]
    pub as_role: Option<RoleArg>,
    /// Shared service token sent as `authorization: Bearer TOKEN`; needed when the registry,
    /// config-sync, the selector, the launcher or the image examiner is configured with one.
    #[arg(
        long,
        global = true,
        env = "EXECENV_AUTH__SERVICE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// PEM CA the services and the gateway are verified against: their URLs are then
    /// `https://…` (the services' tls.ca_file).
    #[arg(long, global = true, env = "EXECENV_TLS__CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate presented when a service asks for one (mutual TLS): with it execenvctl
    /// calls as a service, no --token needed. Needs --client-key and --ca-file.
    #[arg(
        long,
        global = true,
        env = "EXECENV_TLS__CLIENT_CERT_FILE",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(
        long,
        global = true,
        env = "EXECENV_TLS__CLIENT_KEY_FILE",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// Output format: aligned tables for people, json or yaml for scripts.
    #[arg(
        short = 'o',
        long,
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table,
        value_name = "FORMAT"
    )]
    pub output: OutputFormat,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns (lists) or a key: value block (single objects).
    Table,
    /// Pretty-printed JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Roles a call may act with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// May do everything.
    Administrator,
    /// May list, get and use the environments they are allowed to use.
    Publisher,
    /// May not see environments.
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Administrator => Role::Administrator,
            RoleArg::Publisher => Role::Publisher,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}
