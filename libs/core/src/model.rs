//! The environment model: what is stored, served and changed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The default `cluster_name` (and the `environment_type` of every environment).
pub const DEFAULT_CLUSTER_NAME: &str = "Kubernetes";

/// How an environment may be chosen for content.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Matching {
    /// Chosen automatically or when asked for by name.
    #[default]
    Any,
    /// Only when the content asks for it by name or guid.
    Exact,
    /// Never chosen.
    None,
}

impl Matching {
    /// Every value, in sort order.
    pub const ALL: [Matching; 3] = [Matching::Any, Matching::Exact, Matching::None];

    /// The wire spelling: `any`, `exact` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Matching::Any => "any",
            Matching::Exact => "exact",
            Matching::None => "none",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Matching> {
        Matching::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A language whose installations an environment lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python interpreters.
    Python,
    /// R installations.
    R,
    /// Quarto.
    Quarto,
    /// TensorFlow serving.
    Tensorflow,
}

impl Language {
    /// Every language, in field order.
    pub const ALL: [Language; 4] = [
        Language::Python,
        Language::R,
        Language::Quarto,
        Language::Tensorflow,
    ];

    /// The field name: `python`, `r`, `quarto`, `tensorflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::R => "r",
            Language::Quarto => "quarto",
            Language::Tensorflow => "tensorflow",
        }
    }

    /// Parses the field name.
    pub fn parse(s: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// One installation: a version and the absolute path of its executable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Installation {
    /// Semantic version (`3.11.9`).
    pub version: String,
    /// Absolute path inside the image.
    pub path: String,
}

/// The source of a volume mount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum VolumeSource {
    /// An NFS export.
    Nfs {
        /// Server host name or address.
        host: String,
        /// Absolute export path on the server.
        export_path: String,
    },
    /// A PersistentVolumeClaim.
    Pvc {
        /// Claim name in the content namespace.
        claim_name: String,
    },
}

/// A volume mounted into content that runs in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VolumeMount {
    /// Where the data comes from.
    pub source: VolumeSource,
    /// Absolute path inside the container.
    pub target_path: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// The validated, administrator-supplied part of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentSpec {
    /// Container image reference; immutable after creation.
    pub name: String,
    /// Human title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Cluster the environment belongs to (default "Kubernetes").
    pub cluster_name: String,
    /// How the environment may be selected.
    pub matching: Matching,
    /// Absolute path of the program supervisor, if any.
    pub supervisor: Option<String>,
    /// Python installations.
    pub python: Vec<Installation>,
    /// R installations.
    pub r: Vec<Installation>,
    /// Quarto installations.
    pub quarto: Vec<Installation>,
    /// TensorFlow installations.
    pub tensorflow: Vec<Installation>,
    /// Volume mounts.
    pub volume_mounts: Vec<VolumeMount>,
}

impl EnvironmentSpec {
    /// The installations of `language`.
    pub fn installations(&self, language: Language) -> &[Installation] {
        match language {
            Language::Python => &self.python,
            Language::R => &self.r,
            Language::Quarto => &self.quarto,
            Language::Tensorflow => &self.tensorflow,
        }
    }

    /// The installations of `language`, mutably.
    pub fn installations_mut(&mut self, language: Language) -> &mut Vec<Installation> {
        match language {
            Language::Python => &mut self.python,
            Language::R => &mut self.r,
            Language::Quarto => &mut self.quarto,
            Language::Tensorflow => &mut self.tensorflow,
        }
    }
}

/// Who manages an environment besides the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ManagedBy {
    /// Owned by the declarative file (config-sync): the API may not update or delete it.
    #[serde(rename = "config-file")]
    ConfigFile,
}

impl ManagedBy {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedBy::ConfigFile => "config-file",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<ManagedBy> {
        (s == "config-file").then_some(ManagedBy::ConfigFile)
    }
}

/// The subject of a permission entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// A user, by guid.
    User(String),
    /// A group, by guid.
    Group(String),
}

/// One access-control entry of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Permission {
    /// Entry id.
    pub guid: Uuid,
    /// The environment it belongs to.
    pub environment_guid: Uuid,
    /// The user or group granted use.
    pub principal: Principal,
}

/// A stored environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Internal numeric id.
    pub id: i64,
    /// Public id (UUID v4).
    pub guid: Uuid,
    /// The administrator-supplied fields.
    #[serde(flatten)]
    pub spec: EnvironmentSpec,
    /// Always "Kubernetes" (kept for Connect compatibility).
    pub environment_type: String,
    /// Set when the declarative file owns the environment.
    pub managed_by: Option<ManagedBy>,
    /// Access-control entries; empty = every publisher may use it.
    pub permissions: Vec<Permission>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// When its fields last changed.
    pub updated_time: DateTime<Utc>,
    /// Revision of the last change to it (fields or permissions).
    pub revision: i64,
}

impl Environment {
    /// Fails with Conflict unless `expected` is 0 (no check) or this environment's revision:
    /// optimistic concurrency for updates and deletes.
    pub fn check_revision(&self, expected: i64) -> Result<(), crate::Error> {
        if expected != 0 && expected != self.revision {
            return Err(crate::Error::new(
                crate::ErrorKind::Conflict,
                format!(
                    "environment {} changed since revision {expected} (now {}); re-read it and retry",
                    self.guid, self.revision
                ),
            ));
        }
        Ok(())
    }
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeSource {
    /// The gRPC or REST API.
    Api,
    /// The declarative file, through config-sync.
    ConfigFile,
    /// The legacy first-start bootstrap.
    Bootstrap,
}

impl ChangeSource {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Api => "api",
            ChangeSource::ConfigFile => "config-file",
            ChangeSource::Bootstrap => "bootstrap",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<ChangeSource> {
        [
            ChangeSource::Api,
            ChangeSource::ConfigFile,
            ChangeSource::Bootstrap,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeAction {
    /// An environment was created.
    Create,
    /// An environment's fields changed.
    Update,
    /// An environment was deleted.
    Delete,
    /// A permission entry was added.
    PermissionAdd,
    /// A permission entry was removed.
    PermissionRemove,
}

impl ChangeAction {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
            ChangeAction::PermissionAdd => "permission-add",
            ChangeAction::PermissionRemove => "permission-remove",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<ChangeAction> {
        [
            ChangeAction::Create,
            ChangeAction::Update,
            ChangeAction::Delete,
            ChangeAction::PermissionAdd,
            ChangeAction::PermissionRemove,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Who made a change, recorded in the change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user (or service) name.
    pub name: String,
    /// The channel the change came through.
    pub source: ChangeSource,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Strictly increasing, in commit order.
    pub revision: i64,
    /// Commit time.
    pub time: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// Which channel.
    pub source: ChangeSource,
    /// What it did.
    pub action: ChangeAction,
    /// The environment changed.
    pub environment_guid: Uuid,
    /// The environment before (absent for create).
    pub before: Option<Environment>,
    /// The environment after (absent for delete).
    pub after: Option<Environment>,
}
