//! The command line: every command and flag, with the parsers of the structured flag values
//! (`VERSION=PATH`, `--mount` specs, RFC 3339 times). Parsing is pure; nothing here does I/O.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use execenv_core::validate::VolumeMountDraft;
use execenv_core::{Installation, Matching, Role};

use crate::accounts_args::{GroupsCommand, KeysCommand, UsersCommand};
use crate::launch_args::{LaunchCommand, LaunchesCommand};
use crate::values::{parse_installation, parse_mount, parse_time};

const OVERVIEW: &str = "\
execenvctl administers the execution environments of execenv: the container images content runs \
in, their Python/R/Quarto installations, volume mounts and who may use them. It talks gRPC to the \
environment-registry, to config-sync for the `sync` commands, to the selector for `select` and \
`explain`, and to the launcher for `launch` (build or run content in its environment) and \
`launches` (list, show, watch, cancel and read the output of launches). `users`, `groups` and \
`keys` manage the people the gateway authenticates with API keys.";

const EXAMPLES: &str = "\
Examples:
  execenvctl env list --language python --language-version 3.11
  execenvctl env create ghcr.io/acme/py:3.11 --title 'Python 3.11' \\
      --python 3.11.9=/opt/python/3.11.9/bin/python3 \\
      --mount type=nfs,host=nfs.local,export=/exports/data,target=/data,readonly
  execenvctl env update 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10 --matching exact --clear supervisor
  execenvctl -o yaml env get 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10
  execenvctl sync plan
  execenvctl select --python 3.11.4 --r-requires '>= 4.1, < 5'
  execenvctl explain --manifest bundle/manifest.json --default-image ghcr.io/acme/py:3.11
  execenvctl launch build --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f --bundle 12 \\
      --manifest bundle/manifest.json --wait
  execenvctl launch run --content 2c0f8a1e-9b7d-4c3e-8f21-5a6b7c8d9e0f --bundle 12 \\
      --python 3.11.4 --env MODE=prod --memory-limit 1Gi -- python app.py
  execenvctl launches list --state running --state pending
  execenvctl launches logs 5f3c9a7e-1d2b-4e8f-9a0b-1c2d3e4f5a6b --follow
  execenvctl users create alice --role publisher --email alice@example.com
  execenvctl groups create data-science && execenvctl groups add-member data-science alice
  execenvctl keys create alice --name laptop";

/// The admin command line of execenv.
#[derive(Debug, Parser)]
#[command(name = "execenvctl", version, about = OVERVIEW, after_help = EXAMPLES)]
pub struct Cli {
    /// How to reach the registry and whom to act as.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

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
    /// Act as this user (guid or name) instead of as the service itself; needs --as-role.
    #[arg(long, global = true, value_name = "USER", requires = "as_role")]
    pub as_user: Option<String>,
    /// Groups of the user to act as, comma-separated; needs --as-role.
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
    /// config-sync, the selector or the launcher is configured with one.
    #[arg(
        long,
        global = true,
        env = "EXECENV_AUTH__SERVICE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
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

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, create, update and delete environments, and manage who may use them.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Show the audit trail: every change to the catalogue, oldest first.
    Changes(ChangesArgs),
    /// Ask config-sync how the declarative file and the registry compare.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Ask the selector which environment content with these requirements builds and runs in.
    Select(SelectArgs),
    /// Show every environment's verdict for these requirements: chosen, compatible or rejected
    /// (and why).
    Explain(SelectArgs),
    /// Ask the launcher to build (restore the packages of) or run a content bundle in the
    /// environment the selector chooses for it.
    #[command(subcommand)]
    Launch(Box<LaunchCommand>),
    /// List, show, watch, cancel and read the output of launches.
    #[command(subcommand)]
    Launches(LaunchesCommand),
    /// Create, list, show, update, disable, enable and delete users (the people API keys act as).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create, list and delete groups of users, and manage their members.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Create, list, disable and delete API keys (the secret is shown once, at creation).
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `execenvctl select …` and `execenvctl explain …`: what the content asks for and its settings.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// Read the requirements from the bundle's manifest.json instead of the requirement flags.
    // Named one by one (not the group) so clap's message names only the flags actually given.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "python", "python_requires", "r", "r_requires", "quarto", "quarto_requires",
            "environment", "image",
        ]
    )]
    pub manifest: Option<PathBuf>,
    /// What the content asks for.
    #[command(flatten)]
    pub requirements: RequirementArgs,
    /// The content's default environment (used when nothing is targeted).
    #[arg(long, value_name = "GUID")]
    pub default_environment: Option<String>,
    /// The content's default image (used when nothing is targeted and no default environment).
    #[arg(long, value_name = "NAME")]
    pub default_image: Option<String>,
}

/// The requirements as flags, the manifest.json fields one by one.
#[derive(Debug, Clone, Default, Args)]
pub struct RequirementArgs {
    /// The Python version the content was written with (python.version), e.g. 3.11.4.
    #[arg(long, value_name = "VERSION")]
    pub python: Option<String>,
    /// A PEP 440 specifier set (environment.python.requires), e.g. '>=3.8,<4.0'.
    #[arg(long, value_name = "SPEC")]
    pub python_requires: Option<String>,
    /// The R version the content was written with (platform), e.g. 4.4.1.
    #[arg(long, value_name = "VERSION")]
    pub r: Option<String>,
    /// Comma-separated comparisons (environment.r.requires), e.g. '>= 4.1, < 5'.
    #[arg(long, value_name = "SPEC")]
    pub r_requires: Option<String>,
    /// The Quarto version the content was written with (quarto.version).
    #[arg(long, value_name = "VERSION")]
    pub quarto: Option<String>,
    /// Comma-separated comparisons (environment.quarto.requires), e.g. '>= 1.4'.
    #[arg(long, value_name = "SPEC")]
    pub quarto_requires: Option<String>,
    /// Target this environment (environment.identifier).
    #[arg(long, value_name = "GUID")]
    pub environment: Option<String>,
    /// Target this image (environment.image).
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
}

/// `execenvctl sync …`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum SyncCommand {
    /// Show the outcome of the last sync of the declarative file.
    Status,
    /// Show what a sync of the file would change now, without changing anything.
    Plan,
}

/// `execenvctl env …`
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List environments, filtered and sorted; one page unless --all.
    List(ListArgs),
    /// Show one environment with all its fields.
    Get {
        /// Guid of the environment.
        guid: String,
    },
    /// Create an environment from flags or from a YAML/JSON file; prints it.
    Create(CreateArgs),
    /// Change some fields of an environment; only the fields given are sent. Prints the result.
    Update(UpdateArgs),
    /// Delete an environment.
    Delete {
        /// Guid of the environment.
        guid: String,
        /// Fail instead of deleting if the environment changed after this revision.
        #[arg(long, value_name = "N")]
        expected_revision: Option<i64>,
    },
    /// List, grant and revoke who may use an environment (no entries = every publisher).
    #[command(subcommand)]
    Permissions(PermissionsCommand),
}

/// `execenvctl env list …`
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Case-insensitive text searched in title, description, image, guid, supervisor and versions.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only environments with exactly this image name.
    #[arg(long, value_name = "IMAGE")]
    pub name: Option<String>,
    /// Only environments with this matching mode.
    #[arg(long, value_enum, value_name = "MODE")]
    pub matching: Option<MatchingArg>,
    /// Only environments managed by the configuration file.
    #[arg(long, conflicts_with = "unmanaged")]
    pub managed: bool,
    /// Only environments created through the API (not managed by the configuration file).
    #[arg(long)]
    pub unmanaged: bool,
    /// Only environments with an installation of this language.
    #[arg(long, value_enum, value_name = "LANGUAGE")]
    pub language: Option<LanguageArg>,
    /// With --language: only installations whose version is V or starts with "V." (3.11 matches
    /// 3.11.9).
    #[arg(long, requires = "language", value_name = "V")]
    pub language_version: Option<String>,
    /// Sort column (default: creation time).
    #[arg(long, value_enum, value_name = "FIELD")]
    pub sort: Option<SortArg>,
    /// Sort in descending order.
    #[arg(long)]
    pub desc: bool,
    /// Environments per page (registry default 100, at most 1000).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Continue a previous listing from this token (printed below a partial list).
    #[arg(long, value_name = "T")]
    pub page_token: Option<String>,
    /// Follow the pages to the end and print every environment.
    #[arg(long)]
    pub all: bool,
}

/// Matching modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchingArg {
    /// Chosen automatically, or when content asks for it.
    Any,
    /// Only when content asks for it by name or guid.
    Exact,
    /// Never chosen.
    None,
}

impl From<MatchingArg> for Matching {
    fn from(m: MatchingArg) -> Matching {
        match m {
            MatchingArg::Any => Matching::Any,
            MatchingArg::Exact => Matching::Exact,
            MatchingArg::None => Matching::None,
        }
    }
}

/// Languages an environment may have installations of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LanguageArg {
    /// Python.
    Python,
    /// R.
    R,
    /// Quarto.
    Quarto,
    /// TensorFlow.
    Tensorflow,
}

/// Sort columns of `env list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// Title (image name when there is none).
    Title,
    /// Image name.
    Name,
    /// Creation time.
    Created,
    /// Last update time.
    Updated,
    /// Matching mode.
    Matching,
    /// Highest Python version.
    Python,
    /// Highest R version.
    R,
    /// Highest Quarto version.
    Quarto,
}

/// The environment fields `create` and `update` accept as flags.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "fields", multiple = true)]
pub struct FieldArgs {
    /// Human title shown in the dashboard.
    #[arg(long, value_name = "T")]
    pub title: Option<String>,
    /// Longer description.
    #[arg(long, value_name = "D")]
    pub description: Option<String>,
    /// Cluster the environment belongs to (default "Kubernetes").
    #[arg(long, value_name = "C")]
    pub cluster_name: Option<String>,
    /// How content may select it: any (automatically), exact (only by name) or none (never).
    #[arg(long, value_enum, value_name = "M")]
    pub matching: Option<MatchingArg>,
    /// Absolute path of a program supervisor that wraps every content command.
    #[arg(long, value_name = "PATH")]
    pub supervisor: Option<String>,
    /// A Python installation, e.g. 3.11.9=/opt/python/3.11.9/bin/python3 (repeatable).
    #[arg(long, value_name = "VERSION=PATH", value_parser = parse_installation)]
    pub python: Vec<Installation>,
    /// An R installation, e.g. 4.4.1=/opt/R/4.4.1/bin/R (repeatable).
    #[arg(long, value_name = "VERSION=PATH", value_parser = parse_installation)]
    pub r: Vec<Installation>,
    /// A Quarto installation, e.g. 1.5.57=/opt/quarto/1.5.57/bin/quarto (repeatable).
    #[arg(long, value_name = "VERSION=PATH", value_parser = parse_installation)]
    pub quarto: Vec<Installation>,
    /// A TensorFlow serving installation, e.g. 2.16.1=/usr/bin/tensorflow_model_server
    /// (repeatable).
    #[arg(long, value_name = "VERSION=PATH", value_parser = parse_installation)]
    pub tensorflow: Vec<Installation>,
    /// A volume mount (repeatable): type=nfs,host=H,export=/path,target=/mnt[,readonly] or
    /// type=pvc,claim=NAME,target=/mnt[,readonly].
    #[arg(long = "mount", value_name = "SPEC", value_parser = parse_mount)]
    pub mounts: Vec<VolumeMountDraft>,
}

/// `execenvctl env create …`
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Container image reference, e.g. ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub image: Option<String>,
    /// Choose the guid (a UUID v4) instead of letting the registry generate one.
    #[arg(long, value_name = "G", conflicts_with = "file")]
    pub guid: Option<String>,
    /// The fields to set.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Read the environment from a YAML or JSON file with the API's field names (name, title,
    /// python: {installations: [{version, path}]}, volume_mounts: [{source: {type: nfs, host,
    /// export_path}, target_path, read_only}], …) instead of flags.
    #[arg(long, value_name = "FILE", conflicts_with = "fields")]
    pub file: Option<PathBuf>,
}

/// `execenvctl env update …`
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// Guid of the environment.
    pub guid: String,
    /// The fields to change; a list flag (e.g. --python) replaces the whole list.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Unset a field (repeatable): text fields become empty, lists become empty, cluster_name and
    /// matching return to their defaults.
    #[arg(long, value_enum, value_name = "FIELD")]
    pub clear: Vec<ClearField>,
    /// Fail instead of updating if the environment changed after this revision.
    #[arg(long, value_name = "N")]
    pub expected_revision: Option<i64>,
}

/// Fields `update --clear` can unset (the API's update_mask paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ClearField {
    /// The title.
    Title,
    /// The description.
    Description,
    /// The cluster name (back to "Kubernetes").
    #[value(name = "cluster_name", alias = "cluster-name")]
    ClusterName,
    /// The matching mode (back to any).
    Matching,
    /// The supervisor.
    Supervisor,
    /// Every Python installation.
    Python,
    /// Every R installation.
    R,
    /// Every Quarto installation.
    Quarto,
    /// Every TensorFlow installation.
    Tensorflow,
    /// Every volume mount.
    #[value(name = "volume_mounts", alias = "volume-mounts", alias = "mounts")]
    VolumeMounts,
}

impl ClearField {
    /// The update_mask path of the field.
    pub fn path(self) -> &'static str {
        match self {
            ClearField::Title => "title",
            ClearField::Description => "description",
            ClearField::ClusterName => "cluster_name",
            ClearField::Matching => "matching",
            ClearField::Supervisor => "supervisor",
            ClearField::Python => "python",
            ClearField::R => "r",
            ClearField::Quarto => "quarto",
            ClearField::Tensorflow => "tensorflow",
            ClearField::VolumeMounts => "volume_mounts",
        }
    }
}

/// `execenvctl env permissions …`
#[derive(Debug, Subcommand)]
pub enum PermissionsCommand {
    /// List the permission entries of an environment.
    List {
        /// Guid of the environment.
        guid: String,
    },
    /// Allow a user or a group to use an environment.
    Add(PermissionAddArgs),
    /// Remove a permission entry (see `permissions list` for its guid).
    Remove {
        /// Guid of the environment.
        guid: String,
        /// Guid of the permission entry.
        permission_guid: String,
    },
}

/// `execenvctl env permissions add …`
#[derive(Debug, Clone, Args)]
pub struct PermissionAddArgs {
    /// Guid of the environment.
    pub guid: String,
    /// Whom to allow.
    #[command(flatten)]
    pub principal: PrincipalArgs,
}

/// Exactly one of `--user` and `--group`.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct PrincipalArgs {
    /// Guid of the user to allow.
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// Guid of the group to allow.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
}

/// `execenvctl changes …`
#[derive(Debug, Clone, Args)]
pub struct ChangesArgs {
    /// Only changes of this environment.
    #[arg(long, value_name = "GUID")]
    pub environment: Option<String>,
    /// Only changes at or after this time (RFC 3339, e.g. 2026-01-31T12:00:00Z).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only changes before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Only changes after this revision.
    #[arg(long, value_name = "N")]
    pub after_revision: Option<i64>,
    /// Changes per page (registry default 100, at most 1000).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Continue a previous listing from this token (printed below a partial list).
    #[arg(long, value_name = "T")]
    pub page_token: Option<String>,
    /// Follow the pages to the end and print every change.
    #[arg(long)]
    pub all: bool,
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
