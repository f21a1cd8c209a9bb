//! Environments in Posit Connect's JSON: the one shape an environment has outside the gRPC wire.
//! The gateway answers it ([`ConnectEnvironment`]), config-sync's declarative file and
//! `execenvctl env create --file` are written in it ([`EnvironmentEntry`]), so an entry copied
//! from `GET /__api__/v1/environments` is accepted by both as it is: the keys only the server
//! sets are ignored when read. The registry's field paths are given Connect's names
//! ([`with_connect_paths`]) wherever its problems are shown next to such a document.

use std::fmt;

use chrono::SecondsFormat;
use execenv_core::validate::{EnvironmentDraft, VolumeMountDraft};
use execenv_core::{Error, FieldViolation, Installation, VolumeSource};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::from_timestamp;
use crate::environments::v1 as pb;

/// The keys an entry may set, as an answer names them.
pub const KEYS: [&str; 12] = [
    "guid",
    "name",
    "title",
    "description",
    "matching",
    "supervisor",
    "python",
    "r",
    "quarto",
    "tensorflow",
    "volume_mounts",
    "cluster_name",
];

/// Keys of an answer that only the server sets (and `nodejs`, which execenv does not run):
/// ignored when read, so a saved answer is a valid entry.
pub const READ_ONLY_KEYS: [&str; 7] = [
    "id",
    "created_time",
    "updated_time",
    "managed_by",
    "environment_type",
    "revision",
    "nodejs",
];

/// An environment as Connect answers it: every editable key present, languages without
/// installations as `{"installations": []}`, ids as strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectEnvironment {
    /// The registry's numeric id, as a string.
    pub id: String,
    /// The environment's guid.
    pub guid: String,
    /// When it was created (RFC 3339).
    pub created_time: Option<String>,
    /// When it last changed (RFC 3339).
    pub updated_time: Option<String>,
    /// Human title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The cluster it belongs to.
    pub cluster_name: String,
    /// The container image.
    pub name: String,
    /// Always "Kubernetes".
    pub environment_type: String,
    /// any | exact | none.
    pub matching: String,
    /// The program supervisor, if any.
    pub supervisor: Option<String>,
    /// `config-file` for environments the declarative file owns, else null.
    pub managed_by: Option<String>,
    /// Python installations.
    pub python: ConnectInstallations,
    /// Quarto installations.
    pub quarto: ConnectInstallations,
    /// R installations.
    pub r: ConnectInstallations,
    /// TensorFlow installations.
    pub tensorflow: ConnectInstallations,
    /// Volume mounts.
    pub volume_mounts: Vec<ConnectVolumeMount>,
}

/// `{"installations": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectInstallations {
    /// The installations.
    pub installations: Vec<ConnectInstallation>,
}

/// One `{version, path}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectInstallation {
    /// Semantic version.
    pub version: String,
    /// Absolute path of the executable.
    pub path: String,
}

/// `{source: {volume_type, …}, target: {path, read_only}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectVolumeMount {
    /// Where the data comes from.
    pub source: ConnectVolumeSource,
    /// Where it is mounted.
    pub target: ConnectVolumeTarget,
}

/// An NFS export or a PVC, tagged by `volume_type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "volume_type", rename_all = "lowercase")]
pub enum ConnectVolumeSource {
    /// An NFS export.
    Nfs {
        /// Server host name or address.
        nfs_host: String,
        /// Absolute export path on the server.
        nfs_export_path: String,
    },
    /// A PersistentVolumeClaim.
    Pvc {
        /// The claim's name.
        pvc_name: String,
    },
}

/// Where a volume is mounted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectVolumeTarget {
    /// Absolute path inside the container.
    pub path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl From<&pb::Environment> for ConnectEnvironment {
    fn from(e: &pb::Environment) -> Self {
        ConnectEnvironment {
            id: e.id.clone(),
            guid: e.guid.clone(),
            created_time: e.created_time.as_ref().and_then(rfc3339),
            updated_time: e.updated_time.as_ref().and_then(rfc3339),
            title: e.title.clone(),
            description: e.description.clone(),
            cluster_name: e.cluster_name.clone(),
            name: e.name.clone(),
            environment_type: e.environment_type.clone(),
            matching: e.matching.clone(),
            supervisor: e.supervisor.clone(),
            managed_by: e.managed_by.clone().filter(|m| !m.is_empty()),
            python: installations(e.python.as_ref()),
            quarto: installations(e.quarto.as_ref()),
            r: installations(e.r.as_ref()),
            tensorflow: installations(e.tensorflow.as_ref()),
            volume_mounts: e.volume_mounts.iter().filter_map(volume_mount).collect(),
        }
    }
}

/// A timestamp as Connect writes it: RFC 3339 in UTC, fractions only when there are any.
pub fn rfc3339(t: &prost_types::Timestamp) -> Option<String> {
    from_timestamp(t).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn installations(list: Option<&pb::Installations>) -> ConnectInstallations {
    ConnectInstallations {
        installations: list
            .map(|l| {
                l.installations
                    .iter()
                    .map(|i| ConnectInstallation {
                        version: i.version.clone(),
                        path: i.path.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn volume_mount(m: &pb::VolumeMount) -> Option<ConnectVolumeMount> {
    use pb::volume_mount::Source;
    let source = match m.source.as_ref()? {
        Source::Nfs(nfs) => ConnectVolumeSource::Nfs {
            nfs_host: nfs.host.clone(),
            nfs_export_path: nfs.export_path.clone(),
        },
        Source::Pvc(pvc) => ConnectVolumeSource::Pvc {
            pvc_name: pvc.claim_name.clone(),
        },
    };
    Some(ConnectVolumeMount {
        source,
        target: ConnectVolumeTarget {
            path: m.target_path.clone(),
            read_only: m.read_only,
        },
    })
}

/// The registry's field paths (the gRPC names) in Connect's names, wherever they occur in `text`:
/// `volume_mounts[0].source.pvc.claim_name` → `volume_mounts[0].source.pvc_name`.
pub fn connect_paths(text: &str) -> String {
    const RENAMES: [(&str, &str); 4] = [
        (".source.pvc.claim_name", ".source.pvc_name"),
        (".source.nfs.host", ".source.nfs_host"),
        (".source.nfs.export_path", ".source.nfs_export_path"),
        ("].target_path", "].target.path"),
    ];
    RENAMES
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
}

/// `e` with its message and every violation's field in Connect's names, for a reader who wrote
/// (or will write) the environment in Connect's shape.
pub fn with_connect_paths(mut e: Error) -> Error {
    e.message = connect_paths(&e.message);
    for v in &mut e.violations {
        v.field = connect_paths(&v.field);
    }
    e
}

/// One environment written in Connect's shape (a declarative-file entry, a `--file` document),
/// read leniently so that every problem of every entry can be reported together: the draft, and
/// the problems found in its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentEntry {
    /// The environment, unvalidated (the registry's validation judges the values).
    pub draft: EnvironmentDraft,
    /// Unknown keys, permissions and unknown volume types; each field is relative to the entry
    /// (empty for the entry itself).
    pub problems: Vec<FieldViolation>,
}

impl<'de> Deserialize<'de> for EnvironmentEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = EnvironmentEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an environment (a mapping with at least `name`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EnvironmentEntry, A::Error> {
        let mut entry = EnvironmentEntry::default();
        let d = &mut entry.draft;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "guid" => d.guid = map.next_value()?,
                "name" => d.name = map.next_value()?,
                "title" => d.title = map.next_value()?,
                "description" => d.description = map.next_value()?,
                "matching" => d.matching = map.next_value()?,
                "supervisor" => d.supervisor = map.next_value()?,
                "cluster_name" => d.cluster_name = map.next_value()?,
                "python" => d.python = from_installations(map.next_value()?),
                "r" => d.r = from_installations(map.next_value()?),
                "quarto" => d.quarto = from_installations(map.next_value()?),
                "tensorflow" => d.tensorflow = from_installations(map.next_value()?),
                "volume_mounts" => {
                    let mounts: Option<Vec<Mount>> = map.next_value()?;
                    for (j, m) in mounts.unwrap_or_default().into_iter().enumerate() {
                        d.volume_mounts.push(m.into_draft(j, &mut entry.problems));
                    }
                }
                "permissions" => {
                    map.next_value::<IgnoredAny>()?;
                    entry.problems.push(FieldViolation::new(
                        "permissions",
                        "permissions are not managed by the file; remove them here and manage access \
                         through the API or the UI (`execenvctl env permissions`)",
                    ));
                }
                k if READ_ONLY_KEYS.contains(&k) => {
                    map.next_value::<IgnoredAny>()?;
                }
                unknown => {
                    map.next_value::<IgnoredAny>()?;
                    entry.problems.push(FieldViolation::new(
                        "",
                        format!(
                            "unknown key {unknown:?}; an environment may have {}",
                            KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(entry)
    }
}

/// `python: {installations: [{version, path}]}`; `null` or no `installations` means none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Installations {
    #[serde(default)]
    installations: Option<Vec<EntryInstallation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryInstallation {
    // Optional here so a missing one is reported by validation with its path, with the others.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

fn from_installations(list: Option<Installations>) -> Vec<Installation> {
    list.and_then(|l| l.installations)
        .unwrap_or_default()
        .into_iter()
        .map(|i| Installation {
            version: i.version.unwrap_or_default(),
            path: i.path.unwrap_or_default(),
        })
        .collect()
}

/// A volume mount:
/// `{source: {volume_type, nfs_host, nfs_export_path, pvc_name}, target: {path, read_only}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mount {
    #[serde(default)]
    source: Option<MountSource>,
    #[serde(default)]
    target: Option<MountTarget>,
    // Spellings of execenvctl's former `--file` shape, refused with the name that replaces them.
    #[serde(default)]
    target_path: Option<IgnoredAny>,
    #[serde(default)]
    read_only: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountSource {
    #[serde(default)]
    volume_type: Option<String>,
    #[serde(default)]
    nfs_host: Option<String>,
    #[serde(default)]
    nfs_export_path: Option<String>,
    #[serde(default)]
    pvc_name: Option<String>,
    #[serde(default, rename = "type")]
    former_type: Option<IgnoredAny>,
    #[serde(default)]
    host: Option<IgnoredAny>,
    #[serde(default)]
    export_path: Option<IgnoredAny>,
    #[serde(default)]
    claim_name: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountTarget {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    read_only: Option<bool>,
}

impl Mount {
    fn into_draft(self, j: usize, problems: &mut Vec<FieldViolation>) -> VolumeMountDraft {
        let mut renamed = |present: bool, old: &str, new: &str| {
            if present {
                problems.push(FieldViolation::new(
                    format!("volume_mounts[{j}].{old}"),
                    format!("is now {new}, as Connect's API names it"),
                ));
            }
        };
        renamed(self.target_path.is_some(), "target_path", "target.path");
        renamed(self.read_only.is_some(), "read_only", "target.read_only");
        if let Some(s) = &self.source {
            renamed(s.former_type.is_some(), "source.type", "source.volume_type");
            renamed(s.host.is_some(), "source.host", "source.nfs_host");
            renamed(
                s.export_path.is_some(),
                "source.export_path",
                "source.nfs_export_path",
            );
            renamed(
                s.claim_name.is_some(),
                "source.claim_name",
                "source.pvc_name",
            );
        }
        let source = self.source.and_then(|s| {
            match s
                .volume_type
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("nfs") => Some(VolumeSource::Nfs {
                    host: s.nfs_host.unwrap_or_default(),
                    export_path: s.nfs_export_path.unwrap_or_default(),
                }),
                Some("pvc") => Some(VolumeSource::Pvc {
                    claim_name: s.pvc_name.unwrap_or_default(),
                }),
                // No type: validation reports the missing source.
                None => None,
                Some(other) => {
                    problems.push(FieldViolation::new(
                        format!("volume_mounts[{j}].source.volume_type"),
                        format!("{other:?} is not a volume type; use nfs or pvc"),
                    ));
                    None
                }
            }
        });
        let target = self.target;
        VolumeMountDraft {
            source,
            target_path: target
                .as_ref()
                .and_then(|t| t.path.clone())
                .unwrap_or_default(),
            read_only: target.and_then(|t| t.read_only).unwrap_or(false),
        }
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
