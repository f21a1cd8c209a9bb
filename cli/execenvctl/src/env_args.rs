//! The flags of `env …` and `changes`, with the structured values (`VERSION=PATH`, `--mount`
//! specs, RFC 3339 times) parsed by [`crate::values`]. Parsing is pure; nothing here does I/O.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use execenv_core::validate::VolumeMountDraft;
use execenv_core::{Installation, Matching};

use crate::image_args::DriftArgs;
use crate::values::{parse_installation, parse_mount, parse_time};

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
    /// Show how the environments stand against their images, as the image examiner last checked
    /// them: a table of every environment, or one environment's findings (drift: a declared
    /// installation missing or of another version). Exits 3 when one is in drift or its image
    /// could not be read.
    Drift(DriftArgs),
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
    /// Which page, or all of them.
    #[command(flatten)]
    pub page: PageArgs,
}

/// The paging flags of a listing.
#[derive(Debug, Clone, Default, Args)]
pub struct PageArgs {
    /// Entries per page (registry default 100, at most 1000).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Continue a previous listing from this token (printed below a partial list).
    #[arg(long, value_name = "T")]
    pub page_token: Option<String>,
    /// Follow the pages to the end and print every entry.
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
    /// How content may select it: any (automatically), exact (only when asked for by name or
    /// guid) or none (never). The registry checks the value, with every other field.
    #[arg(long, value_name = "MODE")]
    pub matching: Option<String>,
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
    /// A volume mount (repeatable), written as rsconnect's --mount with Connect's field names:
    /// type=nfs,nfs_host=H,nfs_export_path=/path,target=/mnt[,readonly] or
    /// type=pvc,pvc_name=NAME,target=/mnt[,readonly].
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
    /// Read the environment from a YAML or JSON file in Connect's shape, as
    /// `GET /__api__/v1/environments` answers it and the declarative file holds it (name, title,
    /// python: {installations: [{version, path}]}, volume_mounts: [{source: {volume_type: nfs,
    /// nfs_host, nfs_export_path}, target: {path, read_only}}], …) instead of flags; the keys only
    /// the server sets (id, created_time, …) are ignored.
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
    /// The user to allow: guid or username (looked up in the registry's users).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The group to allow: guid or name (looked up in the registry's groups).
    #[arg(long, value_name = "GROUP")]
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
    /// Which page, or all of them.
    #[command(flatten)]
    pub page: PageArgs,
}
