//! Parsers of the structured flag values: `VERSION=PATH`, `--mount` specs, `NAME=VALUE`
//! environment variables and RFC 3339 times.
//! They only split and check the form; the registry validates the values themselves.

use chrono::{DateTime, Utc};
use execenv_core::validate::VolumeMountDraft;
use execenv_core::{Installation, VolumeSource};

/// Parses `VERSION=PATH` (e.g. `3.11.9=/opt/python/3.11.9/bin/python3`). The registry checks the
/// version and the path; this only splits them.
pub fn parse_installation(s: &str) -> Result<Installation, String> {
    const FORM: &str = "expected VERSION=PATH, e.g. 3.11.9=/opt/python/3.11.9/bin/python3";
    let (version, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} has no '='; {FORM}"))?;
    let (version, path) = (version.trim(), path.trim());
    if version.is_empty() {
        return Err(format!("{s:?} has no version before '='; {FORM}"));
    }
    if path.is_empty() {
        return Err(format!("{s:?} has no path after '='; {FORM}"));
    }
    Ok(Installation {
        version: version.to_owned(),
        path: path.to_owned(),
    })
}

/// The accepted forms of `--mount`: rsconnect's, with Connect's field names.
pub const MOUNT_FORMS: &str = "expected type=nfs,nfs_host=H,nfs_export_path=/path,target=/mnt[,readonly] \
     or type=pvc,pvc_name=NAME,target=/mnt[,readonly]";

/// Keys of execenvctl's former `--mount` spelling and the key that replaced each.
const RENAMED_KEYS: [(&str, &str); 6] = [
    ("host", "nfs_host"),
    ("export", "nfs_export_path"),
    ("export_path", "nfs_export_path"),
    ("claim", "pvc_name"),
    ("claim_name", "pvc_name"),
    ("target_path", "target"),
];

/// Parses a `--mount` spec: comma-separated `key=value` pairs plus the bare word `readonly`. Only
/// the form is checked here; the registry judges the values with every other field.
pub fn parse_mount(s: &str) -> Result<VolumeMountDraft, String> {
    let mut kind = None;
    let mut host = None;
    let mut export = None;
    let mut claim = None;
    let mut target = None;
    let mut read_only = false;
    for part in s.split(',').map(str::trim) {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (part, None),
        };
        let slot = match key {
            "readonly" | "read_only" => {
                read_only = match value {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(v) => {
                        return Err(format!("{key}={v:?} must be true or false; {MOUNT_FORMS}"));
                    }
                };
                continue;
            }
            "type" => &mut kind,
            "nfs_host" => &mut host,
            "nfs_export_path" => &mut export,
            "pvc_name" => &mut claim,
            "target" => &mut target,
            "" => return Err(format!("{s:?} has an empty item; {MOUNT_FORMS}")),
            other => {
                return Err(match RENAMED_KEYS.iter().find(|(old, _)| *old == other) {
                    Some((old, new)) => {
                        format!("{old}= is now {new}= (Connect's name) in {s:?}; {MOUNT_FORMS}")
                    }
                    None => format!("unknown key {other:?} in {s:?}; {MOUNT_FORMS}"),
                });
            }
        };
        let value = value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{key} has no value in {s:?}; {MOUNT_FORMS}"))?;
        if slot.replace(value.to_owned()).is_some() {
            return Err(format!("{key} is given twice in {s:?}; {MOUNT_FORMS}"));
        }
    }
    let target_path = target.ok_or_else(|| format!("{s:?} has no target=; {MOUNT_FORMS}"))?;
    let missing =
        |key: &str, kind: &str| format!("a {kind} mount needs {key}= in {s:?}; {MOUNT_FORMS}");
    let stray = |key: &str, kind: &str| {
        format!("{key}= does not apply to a {kind} mount in {s:?}; {MOUNT_FORMS}")
    };
    let source = match kind.as_deref() {
        Some("nfs") => {
            if claim.is_some() {
                return Err(stray("pvc_name", "nfs"));
            }
            VolumeSource::Nfs {
                host: host.ok_or_else(|| missing("nfs_host", "nfs"))?,
                export_path: export.ok_or_else(|| missing("nfs_export_path", "nfs"))?,
            }
        }
        Some("pvc") => {
            if host.is_some() {
                return Err(stray("nfs_host", "pvc"));
            }
            if export.is_some() {
                return Err(stray("nfs_export_path", "pvc"));
            }
            VolumeSource::Pvc {
                claim_name: claim.ok_or_else(|| missing("pvc_name", "pvc"))?,
            }
        }
        Some(other) => {
            return Err(format!(
                "unknown mount type {other:?} in {s:?}; {MOUNT_FORMS}"
            ));
        }
        None => return Err(format!("{s:?} has no type=; {MOUNT_FORMS}")),
    };
    Ok(VolumeMountDraft {
        source: Some(source),
        target_path,
        read_only,
    })
}

/// An environment variable given as `--env NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value (may be empty).
    pub value: String,
}

/// Parses `NAME=VALUE` (e.g. `MODE=prod`); the value is everything after the first '=' and may
/// be empty. The launcher checks the name; this only splits it off.
pub fn parse_env_var(s: &str) -> Result<EnvVar, String> {
    const FORM: &str = "expected NAME=VALUE, e.g. MODE=prod";
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} has no '='; {FORM}"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{s:?} has no name before '='; {FORM}"));
    }
    Ok(EnvVar {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

/// Parses an RFC 3339 time such as `2026-01-31T12:00:00Z`.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time ({e}); expected e.g. 2026-01-31T12:00:00Z")
        })
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
