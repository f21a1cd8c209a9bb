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

/// The accepted forms of `--mount`.
pub const MOUNT_FORMS: &str = "expected type=nfs,host=H,export=/path,target=/mnt[,readonly] \
     or type=pvc,claim=NAME,target=/mnt[,readonly]";

/// Parses a `--mount` spec: comma-separated `key=value` pairs plus the bare word `readonly`.
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
            "readonly" | "ro" | "read_only" => {
                read_only = match value {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(v) => {
                        return Err(format!(
                            "readonly={v:?} must be true or false; {MOUNT_FORMS}"
                        ));
                    }
                };
                continue;
            }
            "type" => &mut kind,
            "host" => &mut host,
            "export" | "export_path" => &mut export,
            "claim" | "claim_name" => &mut claim,
            "target" | "target_path" => &mut target,
            "" => return Err(format!("{s:?} has an empty item; {MOUNT_FORMS}")),
            other => return Err(format!("unknown key {other:?} in {s:?}; {MOUNT_FORMS}")),
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
                return Err(stray("claim", "nfs"));
            }
            VolumeSource::Nfs {
                host: host.ok_or_else(|| missing("host", "nfs"))?,
                export_path: export.ok_or_else(|| missing("export", "nfs"))?,
            }
        }
        Some("pvc") => {
            if host.is_some() {
                return Err(stray("host", "pvc"));
            }
            if export.is_some() {
                return Err(stray("export", "pvc"));
            }
            VolumeSource::Pvc {
                claim_name: claim.ok_or_else(|| missing("claim", "pvc"))?,
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
