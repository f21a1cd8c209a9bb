//! Content bundles: Connect's `.tar.gz` with `manifest.json` at its root, kept under
//! `content/<guid>/<id>/bundle` of the data folder. The rules an uploaded archive follows — which
//! content guids and bundle ids name folders, which entry names and link targets stay inside the
//! bundle — and the summary of its manifest. No I/O: the gateway applies them as it unpacks.
//!
//! The link rule is lexical and sound on its own: a link's target is relative, has `..` only at
//! its start and never more of them than the link is deep. Every link therefore resolves, through
//! any other link of the bundle, to a path inside it (the gateway also refuses entries whose path
//! passes through a link, so the folders a target climbs out of are real folders).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::select::parse_manifest;

/// The manifest's name, at the bundle's root.
pub const MANIFEST: &str = "manifest.json";

/// Longest entry name accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

/// Longest name of one folder or file, in bytes (Linux's NAME_MAX).
pub const MAX_NAME_BYTES: usize = 255;

/// One stored bundle, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Its id: "1", "2", … in the order the content's bundles were uploaded.
    pub bundle_id: String,
    /// The content it belongs to.
    pub content_guid: String,
    /// When it was stored.
    pub created_time: DateTime<Utc>,
    /// Bytes of its files, unpacked.
    pub size: u64,
    /// How many files it holds (folders and links not counted).
    pub files: u64,
    /// What its manifest says.
    pub manifest: ManifestSummary,
}

/// What a bundle's manifest.json says, in short.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// `metadata.appmode`: python-script, python-fastapi, shiny, quarto-static, …
    pub appmode: String,
    /// `metadata.entrypoint`, when given.
    pub entrypoint: Option<String>,
    /// The Python version it was written with (`python.version`).
    pub python: Option<String>,
    /// The R version (`platform`).
    pub r: Option<String>,
    /// The Quarto version (`quarto.version`).
    pub quarto: Option<String>,
}

/// The summary of a manifest.json; InvalidArgument naming `manifest.json` and each problem when
/// it is not JSON, not an object, has a field of the wrong type, or has no `metadata.appmode`.
pub fn summarize_manifest(json: &str) -> Result<ManifestSummary, Error> {
    let refuse = |what: String| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the bundle's {MANIFEST} {what}; write it with `rsconnect write-manifest`"),
        )
    };
    let root: Value =
        serde_json::from_str(json).map_err(|e| refuse(format!("is not valid JSON: {e}")))?;
    if !root.is_object() {
        return Err(refuse("is not a JSON object".to_owned()));
    }
    let invalid = |problems: Vec<String>| refuse(format!("is invalid: {}", problems.join("; ")));
    let requirements = parse_manifest(json).map_err(|e| {
        invalid(
            e.violations
                .iter()
                .map(|v| format!("{} {}", v.field, v.description))
                .collect(),
        )
    })?;
    let metadata = &root["metadata"];
    if !(metadata.is_object() || metadata.is_null()) {
        return Err(invalid(vec!["metadata must be an object".to_owned()]));
    }
    let text = |key: &str| -> Result<Option<String>, Error> {
        match &metadata[key] {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(invalid(vec![format!("metadata.{key} must be a string")])),
        }
    };
    let appmode = text("appmode")?.ok_or_else(|| {
        invalid(vec![
            "it has no metadata.appmode (python-script, shiny, quarto-static, …)".to_owned(),
        ])
    })?;
    Ok(ManifestSummary {
        appmode,
        entrypoint: text("entrypoint")?,
        python: requirements.python.version,
        r: requirements.r.version,
        quarto: requirements.quarto.version,
    })
}

/// A content guid usable as a folder name: a UUID written as `8f0c1e2a-4b5c-4d6e-8f70-…`
/// (lowercase, with hyphens), so one content never has two folders.
pub fn content_guid(text: &str) -> Result<&str, Error> {
    match uuid::Uuid::parse_str(text) {
        Ok(u) if u.hyphenated().to_string() == text => Ok(text),
        _ => Err(Error::invalid_field(
            "guid",
            format!(
                "{text:?} is not a content guid; use a UUID such as \
                 6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70 (lowercase, with hyphens)"
            ),
        )),
    }
}

/// The number of a bundle id written as the gateway writes them (`1`, `2`, … without leading
/// zeros); `None` for anything else, which therefore names no bundle.
pub fn bundle_number(text: &str) -> Option<u64> {
    let n: u64 = text.parse().ok()?;
    (n > 0 && n.to_string() == text).then_some(n)
}

/// The path of an archive entry inside the bundle, as its names: `./app/main.py` → `["app",
/// "main.py"]`; empty for the bundle folder itself (`.`, `./`). Refuses (with the reason) an
/// absolute path, a `..`, a NUL, and names longer than Linux allows.
pub fn entry_names(name: &str) -> Result<Vec<&str>, String> {
    if name.is_empty() {
        return Err("an entry has no name".to_owned());
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(format!(
            "its name is {} bytes long; at most {MAX_PATH_BYTES} are accepted",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("its name holds a NUL byte".to_owned());
    }
    if name.starts_with('/') {
        return Err(
            "it is an absolute path; entries must be relative to the bundle folder".to_owned(),
        );
    }
    let mut names = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err("its path holds `..`, which would leave the bundle folder".to_owned());
            }
            part if part.len() > MAX_NAME_BYTES => {
                return Err(format!(
                    "a name in its path is {} bytes long; at most {MAX_NAME_BYTES} are accepted",
                    part.len()
                ));
            }
            part => names.push(part),
        }
    }
    Ok(names)
}

/// Whether a symbolic link at `link` (its names inside the bundle) may point at `target`: a
/// relative path with `..` only at its start, no more of them than the folders above the link.
/// The reason when not.
pub fn check_link_target(link: &[&str], target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("it is a symbolic link with an empty target".to_owned());
    }
    if target.len() > MAX_PATH_BYTES || target.contains('\0') {
        return Err("it is a symbolic link whose target is not a usable path".to_owned());
    }
    let outside = || format!("it is a symbolic link to {target:?}, outside the bundle folder");
    if target.starts_with('/') {
        return Err(outside());
    }
    let depth = link.len().saturating_sub(1);
    let mut ups = 0;
    let mut named = false;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." if named => {
                return Err(format!(
                    "it is a symbolic link to {target:?}, with `..` after a name; write the \
                     target without it (e.g. `../b` rather than `a/../../b`)"
                ));
            }
            ".." => ups += 1,
            _ => named = true,
        }
    }
    if ups > depth {
        return Err(outside());
    }
    Ok(())
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
