//! Environments in Posit Connect's JSON (connect-spec §1.3–1.5): the wire model of the registry
//! (`execenv.environments.v1`) to and from the objects posit-sdk and rsconnect read and send.
//!
//! Every editable key is always present in an answer (rsconnect's `edit` reads all nine back),
//! languages without installations are `{"installations": []}`, and ids are strings.

use execenv_core::validate::{UPDATABLE_FIELDS as EDITABLE, parse_guid};
use execenv_core::{Error, FieldViolation};
use execenv_proto::environments::v1 as pb;
use pb::volume_mount::Source;
use serde::Serialize;
use serde_json::{Map, Value};

pub use execenv_proto::convert::connect::{
    ConnectEnvironment, ConnectInstallation, ConnectInstallations, ConnectVolumeMount,
    ConnectVolumeSource, ConnectVolumeTarget, rfc3339,
};

/// An environment permission entry (connect-spec §1.5); `id` is the entry's guid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectPermission {
    pub id: String,
    pub guid: String,
    pub environment_guid: String,
    pub user_guid: Option<String>,
    pub group_guid: Option<String>,
}

impl From<&pb::Permission> for ConnectPermission {
    fn from(p: &pb::Permission) -> Self {
        ConnectPermission {
            id: p.guid.clone(),
            guid: p.guid.clone(),
            environment_guid: p.environment_guid.clone(),
            user_guid: p.user_guid.clone(),
            group_guid: p.group_guid.clone(),
        }
    }
}

/// A guid in a request (a path, a body) as the document describes it: a UUID written as the registry
/// answers it (lowercase, with hyphens) and, with `version_4`, a random one as environments have.
/// Anything else is refused here (400, code 3) rather than read some other way by the registry.
pub fn canonical_guid(field: &str, text: &str, version_4: bool) -> Result<String, Error> {
    let canonical = match uuid::Uuid::parse_str(text) {
        Ok(u) => u.hyphenated().to_string() == text,
        Err(_) => false,
    };
    if !canonical {
        return Err(Error::invalid_field(
            field,
            format!(
                "{text:?} is not a guid; use a UUID such as 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10 (lowercase, with hyphens)"
            ),
        ));
    }
    if version_4 {
        parse_guid(text).map_err(|why| Error::invalid_field(field, why))?;
    }
    Ok(text.to_owned())
}

/// A create or update body: the values, and which keys the client sent (the update mask).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentInput {
    /// The values sent; keys not sent are empty.
    pub spec: pb::EnvironmentSpec,
    /// The updatable keys present in the body, in the registry's field-mask names.
    pub present: Vec<String>,
}

/// Parses a `POST` (`creating`) or `PUT` body. Unknown keys, keys of the wrong type and
/// malformed volume mounts are reported all at once with their paths; values themselves
/// (versions, paths, names) are validated by the registry.
pub fn parse_input(body: &Map<String, Value>, creating: bool) -> Result<EnvironmentInput, Error> {
    let mut input = EnvironmentInput::default();
    let mut violations = Vec::new();
    for (key, value) in body {
        let bad = |d: &str| FieldViolation::new(key.clone(), d.to_owned());
        let spec = &mut input.spec;
        match key.as_str() {
            "name" => match value.as_str() {
                Some(s) => spec.name = s.to_owned(),
                None => violations.push(bad(
                    "must be a string: the container image, e.g. ghcr.io/acme/py:3.11",
                )),
            },
            "guid" if creating => match value.as_str() {
                Some("") => {}
                Some(s) => match canonical_guid("guid", s, true) {
                    Ok(guid) => spec.guid = guid,
                    Err(e) => violations.extend(e.violations),
                },
                None => violations.push(bad("must be a string (a UUID v4)")),
            },
            "title" | "description" | "cluster_name" | "matching" | "supervisor" => {
                let text = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        violations.push(bad("must be a string or null"));
                        continue;
                    }
                };
                match key.as_str() {
                    "title" => spec.title = text,
                    "description" => spec.description = text,
                    "cluster_name" => spec.cluster_name = text,
                    "matching" => spec.matching = text,
                    _ => spec.supervisor = text,
                }
            }
            "python" | "quarto" | "r" | "tensorflow" => {
                let list = parse_installations(key, value, &mut violations);
                match key.as_str() {
                    "python" => spec.python = list,
                    "quarto" => spec.quarto = list,
                    "r" => spec.r = list,
                    _ => spec.tensorflow = list,
                }
            }
            "nodejs" => {
                if parse_installations(key, value, &mut violations)
                    .is_some_and(|l| !l.installations.is_empty())
                {
                    violations.push(FieldViolation::new(
                        "nodejs",
                        "execenv does not run Node.js content; leave nodejs out or empty",
                    ));
                }
                continue;
            }
            "volume_mounts" => {
                spec.volume_mounts = parse_volume_mounts(value, &mut violations);
            }
            "id" | "guid" | "created_time" | "updated_time" | "environment_type" | "managed_by" => {
                violations.push(bad("is set by the server and cannot be sent; leave it out"));
            }
            _ => violations.push(bad(&format!(
                "is not a field of an environment; use name, {}",
                EDITABLE.join(", ")
            ))),
        }
        if EDITABLE.contains(&key.as_str()) {
            input.present.push(key.clone());
        }
    }
    if violations.is_empty() {
        Ok(input)
    } else {
        Err(Error::invalid(violations))
    }
}

fn parse_installations(
    key: &str,
    value: &Value,
    violations: &mut Vec<FieldViolation>,
) -> Option<pb::Installations> {
    let items = match value {
        Value::Null => return Some(pb::Installations::default()),
        Value::Object(o) => match o.get("installations") {
            None | Some(Value::Null) => return Some(pb::Installations::default()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                violations.push(FieldViolation::new(
                    format!("{key}.installations"),
                    "must be an array of {\"version\", \"path\"} objects",
                ));
                return None;
            }
        },
        _ => {
            violations.push(FieldViolation::new(
                key,
                "must be {\"installations\": [{\"version\": …, \"path\": …}]} or null",
            ));
            return None;
        }
    };
    let mut list = pb::Installations::default();
    for (i, item) in items.iter().enumerate() {
        let field = |f: &str| match item.get(f) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(FieldViolation::new(
                format!("{key}.installations[{i}].{f}"),
                "is required and must be a string",
            )),
        };
        match (field("version"), field("path")) {
            (Ok(version), Ok(path)) => list.installations.push(pb::Installation { version, path }),
            (v, p) => violations.extend(v.err().into_iter().chain(p.err())),
        }
    }
    Some(list)
}

fn parse_volume_mounts(
    value: &Value,
    violations: &mut Vec<FieldViolation>,
) -> Vec<pb::VolumeMount> {
    let items = match value {
        Value::Null => return Vec::new(),
        Value::Array(items) => items,
        _ => {
            violations.push(FieldViolation::new(
                "volume_mounts",
                "must be an array or null",
            ));
            return Vec::new();
        }
    };
    let mut mounts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("volume_mounts[{i}].{f}");
        let text = |v: &Value, f: &str| {
            v.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let source = item.get("source").unwrap_or(&Value::Null);
        let source = match source.get("volume_type").and_then(Value::as_str) {
            Some("nfs") => Source::Nfs(pb::NfsSource {
                host: text(source, "nfs_host"),
                export_path: text(source, "nfs_export_path"),
            }),
            Some("pvc") => Source::Pvc(pb::PvcSource {
                claim_name: text(source, "pvc_name"),
            }),
            _ => {
                violations.push(FieldViolation::new(
                    at("source.volume_type"),
                    "must be \"nfs\" (with nfs_host and nfs_export_path) or \"pvc\" (with pvc_name)",
                ));
                continue;
            }
        };
        let target = item.get("target").unwrap_or(&Value::Null);
        let read_only = match target.get("read_only") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                violations.push(FieldViolation::new(
                    at("target.read_only"),
                    "must be true, false or null",
                ));
                false
            }
        };
        mounts.push(pb::VolumeMount {
            source: Some(source),
            target_path: text(target, "path"),
            read_only,
        });
    }
    mounts
}

#[cfg(test)]
#[path = "environment_tests.rs"]
mod tests;
