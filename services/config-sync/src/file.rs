//! The declarative file: a YAML or JSON list of environment definitions with the API's field
//! names (the Helm value `executionEnvironments`). Pure: text in, drafts or every problem out.
//!
//! A saved response of Connect's list API is accepted as is: its read-only fields are ignored.
//! Permissions are not managed by the file, and any other unknown key is an error naming it.

use std::fmt;

use execenv_core::sync::{Definition, definitions_digest, validate_definitions};
use execenv_core::validate::{EnvironmentDraft, VolumeMountDraft};
use execenv_core::{Error, FieldViolation, Installation, VolumeSource};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The field-path prefix of the declarative file's problems (`executionEnvironments[3].name`).
pub const FIELD_PREFIX: &str = "executionEnvironments";

/// The keys a definition may carry.
pub(crate) const KEYS: [&str; 12] = [
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

/// Read-only keys of an API response, ignored so that a saved list response is accepted as is.
const READ_ONLY_KEYS: [&str; 7] = [
    "id",
    "created_time",
    "updated_time",
    "managed_by",
    "environment_type",
    "revision",
    "nodejs",
];

/// Parses the declarative file `text` (named `origin` in messages) into drafts, unvalidated.
/// An empty file, one with only comments, or `[]` holds no definitions.
pub fn parse(text: &str, origin: &str) -> Result<Vec<EnvironmentDraft>, Error> {
    let (drafts, violations) = parse_entries(text, origin)?;
    if violations.is_empty() {
        Ok(drafts)
    } else {
        Err(Error::invalid(violations))
    }
}

/// A file that parsed and validated: what to send and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The definitions as written, in file order (sent to the registry, which validates again).
    pub drafts: Vec<EnvironmentDraft>,
    /// The validated definitions, in file order.
    pub definitions: Vec<Definition>,
}

impl Loaded {
    /// The digest of the validated definitions: equal digests mean equal content.
    pub fn digest(&self) -> String {
        definitions_digest(&self.definitions)
    }
}

/// Parses and validates the declarative file: the definitions to sync, or every problem of the
/// file (unknown keys and invalid values of every entry) together, ordered by entry.
pub fn load(text: &str, origin: &str) -> Result<Loaded, Error> {
    let (drafts, violations) = parse_entries(text, origin)?;
    validated(drafts, violations, FIELD_PREFIX)
}

/// Validates `drafts` under `prefix`, reporting `violations` (found while parsing) with the
/// validation problems, ordered by entry.
pub(crate) fn validated(
    drafts: Vec<EnvironmentDraft>,
    mut violations: Vec<FieldViolation>,
    prefix: &str,
) -> Result<Loaded, Error> {
    match validate_definitions(&drafts, prefix) {
        Ok(definitions) if violations.is_empty() => {
            return Ok(Loaded {
                drafts,
                definitions,
            });
        }
        Ok(_) => {}
        Err(e) => violations.extend(e.violations),
    }
    // Stable: within one entry, parse problems stay before validation problems.
    violations.sort_by_key(|v| entry_index(&v.field, prefix));
    Err(Error::invalid(violations))
}

/// Whether `text` from `path` is JSON: a `.json` name, or text that starts with `[` or `{`.
pub fn is_json(path: &str, text: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with(['[', '{'])
}

fn parse_entries(
    text: &str,
    origin: &str,
) -> Result<(Vec<EnvironmentDraft>, Vec<FieldViolation>), Error> {
    let entries: Option<Entries> = from_text(text, origin)?;
    let entries = entries.map(|e| e.0).unwrap_or_default();
    Ok(into_drafts(entries, FIELD_PREFIX))
}

/// Deserialises `text` as JSON or YAML; a syntax error names `origin` and the line.
pub(crate) fn from_text<T: de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Error> {
    if is_json(origin, text) {
        serde_json::from_str(text).map_err(|e| syntax_error(origin, &e.to_string()))
    } else {
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            // serde-saphyr appends a source snippet after the first line; line and column suffice.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            syntax_error(origin, first.strip_prefix("error: ").unwrap_or(first))
        })
    }
}

/// serde-saphyr's default budget (250,000 nodes) stops at roughly 10,000 definitions; ours
/// allows 20 times that, still bounded against hostile input (aliases keep their defaults).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: 5_000_000,
            max_events: 20_000_000,
            max_recorded_anchor_events: 20_000_000,
        },
    }
}

fn syntax_error(origin: &str, message: &str) -> Error {
    Error::invalid_field(origin, message.trim_end())
}

/// Each entry's draft, and every per-entry problem with its path under `{prefix}[i]`.
pub(crate) fn into_drafts(
    entries: Vec<Entry>,
    prefix: &str,
) -> (Vec<EnvironmentDraft>, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let mut drafts = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        for p in entry.problems {
            let field = if p.field.is_empty() {
                format!("{prefix}[{i}]")
            } else {
                format!("{prefix}[{i}].{}", p.field)
            };
            violations.push(FieldViolation::new(field, p.description));
        }
        drafts.push(entry.draft);
    }
    (drafts, violations)
}

/// The entry index of a field path `{prefix}[i]…` (entries without one sort first).
fn entry_index(field: &str, prefix: &str) -> Option<usize> {
    field
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// The top level of the declarative file: a list of definitions.
struct Entries(Vec<Entry>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of environment definitions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(e) = seq.next_element()? {
                    entries.push(e);
                }
                Ok(Entries(entries))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Entries, A::Error> {
                Err(de::Error::custom(
                    "the file must be a list of environment definitions (`- name: IMAGE …`), not a mapping; \
                     a file with `name: Kubernetes` and `images:` is the legacy runtime.yaml format: \
                     configure it as sync.legacy_file (EXECENV_SYNC__LEGACY_FILE) instead",
                ))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

/// One definition: its draft and the problems found in its keys (paths relative to the entry).
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// The definition, unvalidated.
    pub(crate) draft: EnvironmentDraft,
    /// Unknown keys, permissions and bad volume types; `field` is relative to the entry.
    pub(crate) problems: Vec<FieldViolation>,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an environment definition (a mapping with at least `name`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = Entry::default();
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
                "python" => d.python = installations(map.next_value()?),
                "r" => d.r = installations(map.next_value()?),
                "quarto" => d.quarto = installations(map.next_value()?),
                "tensorflow" => d.tensorflow = installations(map.next_value()?),
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
                            "unknown key {unknown:?}; a definition may have {}",
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
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Installations {
    #[serde(default)]
    installations: Option<Vec<FileInstallation>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileInstallation {
    // Optional here so a missing one is reported by validation with its path, with the others.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

fn installations(list: Option<Installations>) -> Vec<Installation> {
    list.and_then(|l| l.installations)
        .unwrap_or_default()
        .into_iter()
        .map(|i| Installation {
            version: i.version.unwrap_or_default(),
            path: i.path.unwrap_or_default(),
        })
        .collect()
}

/// A volume mount in Connect's shape:
/// `{source: {volume_type, nfs_host, nfs_export_path, pvc_name}, target: {path, read_only}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mount {
    #[serde(default)]
    source: Option<MountSource>,
    #[serde(default)]
    target: Option<MountTarget>,
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
#[path = "file_tests.rs"]
mod tests;
