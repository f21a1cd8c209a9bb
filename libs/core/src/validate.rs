//! Validation of environment input: every problem of one input is reported together, each with
//! its field path, and nothing is accepted half-valid. The grammar of the image name is
//! [`crate::image_reference`]'s.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldViolation};
use crate::image_reference::check_image_reference;
use crate::model::{
    DEFAULT_CLUSTER_NAME, EnvironmentSpec, Installation, Language, Matching, VolumeMount,
    VolumeSource,
};

/// Longest accepted title.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest accepted description.
pub const MAX_DESCRIPTION_LEN: usize = 4096;

/// Unvalidated environment input, as it arrives from the API, a file or the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentDraft {
    /// Optional caller-chosen UUID v4.
    pub guid: Option<String>,
    /// Container image reference.
    pub name: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Cluster name (default "Kubernetes").
    pub cluster_name: Option<String>,
    /// `any`, `exact` or `none` (default `any`).
    pub matching: Option<String>,
    /// Supervisor path.
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
    pub volume_mounts: Vec<VolumeMountDraft>,
}

impl EnvironmentDraft {
    /// The installations of `language`.
    pub fn installations(&self, language: Language) -> &[Installation] {
        match language {
            Language::Python => &self.python,
            Language::R => &self.r,
            Language::Quarto => &self.quarto,
            Language::Tensorflow => &self.tensorflow,
        }
    }
}

/// An unvalidated volume mount; `source` is `None` when the input named neither NFS nor PVC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMountDraft {
    /// NFS or PVC.
    pub source: Option<VolumeSource>,
    /// Absolute mount path.
    pub target_path: String,
    /// Read-only.
    pub read_only: bool,
}

/// Fields an update may name in its mask.
pub const UPDATABLE_FIELDS: [&str; 10] = [
    "title",
    "description",
    "cluster_name",
    "matching",
    "supervisor",
    "python",
    "r",
    "quarto",
    "tensorflow",
    "volume_mounts",
];

/// Validates a new environment: returns its guid (when the caller chose one) and its spec, or every
/// violation.
pub fn validate_new(draft: &EnvironmentDraft) -> Result<(Option<Uuid>, EnvironmentSpec), Error> {
    let mut violations = Vec::new();
    let guid = match draft.guid.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => match parse_guid(g) {
            Ok(u) => Some(u),
            Err(d) => {
                violations.push(FieldViolation::new("guid", d));
                None
            }
        },
        None => None,
    };
    match check_spec(draft, "", &mut violations) {
        Some(spec) if violations.is_empty() => Ok((guid, spec)),
        _ => Err(Error::invalid(violations)),
    }
}

/// Validates a draft as a whole spec, appending violations under `prefix` (e.g. `executionEnvironments[3].`).
/// Returns the spec when this draft had no violations.
pub fn check_spec(
    draft: &EnvironmentDraft,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<EnvironmentSpec> {
    let before = violations.len();
    let mut v = |field: &str, d: String| {
        violations.push(FieldViolation::new(format!("{prefix}{field}"), d))
    };

    let name = draft.name.clone().unwrap_or_default();
    if let Err(d) = check_image_reference(&name) {
        v("name", d);
    }
    if let Some(t) = &draft.title
        && t.chars().count() > MAX_TITLE_LEN
    {
        v(
            "title",
            format!("is longer than {MAX_TITLE_LEN} characters"),
        );
    }
    if let Some(d) = &draft.description
        && d.chars().count() > MAX_DESCRIPTION_LEN
    {
        v(
            "description",
            format!("is longer than {MAX_DESCRIPTION_LEN} characters"),
        );
    }
    let cluster_name = match draft.cluster_name.as_deref() {
        None => DEFAULT_CLUSTER_NAME.to_owned(),
        Some(c) if c.trim().is_empty() => {
            v(
                "cluster_name",
                "must not be empty (omit it for the default \"Kubernetes\")".into(),
            );
            String::new()
        }
        Some(c) => c.to_owned(),
    };
    let matching = match draft.matching.as_deref() {
        None | Some("") => Matching::Any,
        Some(m) => Matching::parse(m).unwrap_or_else(|| {
            v(
                "matching",
                format!("{m:?} is not a matching mode; use any, exact or none"),
            );
            Matching::Any
        }),
    };
    let supervisor = draft.supervisor.clone().filter(|s| !s.is_empty());
    if let Some(s) = &supervisor
        && let Err(d) = check_absolute_path(s)
    {
        v("supervisor", d);
    }
    for language in Language::ALL {
        let list = draft.installations(language);
        for (i, inst) in list.iter().enumerate() {
            let at = format!("{}.installations[{i}]", language.as_str());
            if let Err(d) = check_semver(&inst.version) {
                v(&format!("{at}.version"), d);
            } else if let Some(j) = list[..i].iter().position(|o| o.version == inst.version) {
                v(
                    &format!("{at}.version"),
                    format!(
                        "{:?} is listed twice (also {}.installations[{j}]); each version may appear once",
                        inst.version,
                        language.as_str()
                    ),
                );
            }
            if let Err(d) = check_absolute_path(&inst.path) {
                v(&format!("{at}.path"), d);
            }
        }
    }
    let mut mounts = Vec::new();
    for (i, m) in draft.volume_mounts.iter().enumerate() {
        let at = format!("volume_mounts[{i}]");
        match &m.source {
            None => v(&format!("{at}.source"), "is required: give an nfs source (host and export path) or a pvc source (claim name)".into()),
            Some(VolumeSource::Nfs { host, export_path }) => {
                if host.trim().is_empty() {
                    v(&format!("{at}.source.nfs.host"), "is required for an NFS volume".into());
                } else if host.chars().any(|c| c.is_whitespace() || c == '/') {
                    v(&format!("{at}.source.nfs.host"), format!("{host:?} is not a host name or address"));
                }
                if let Err(d) = check_absolute_path(export_path) {
                    v(&format!("{at}.source.nfs.export_path"), d);
                }
            }
            Some(VolumeSource::Pvc { claim_name }) => {
                if let Err(d) = check_dns_subdomain(claim_name) {
                    v(&format!("{at}.source.pvc.claim_name"), d);
                }
            }
        }
        if let Err(d) = check_absolute_path(&m.target_path) {
            v(&format!("{at}.target_path"), d);
        } else if let Some(j) = draft.volume_mounts[..i]
            .iter()
            .position(|o| o.target_path == m.target_path)
        {
            v(
                &format!("{at}.target_path"),
                format!(
                    "{:?} is already the target of volume_mounts[{j}]; each path may be mounted once",
                    m.target_path
                ),
            );
        }
        if let Some(source) = &m.source {
            mounts.push(VolumeMount {
                source: source.clone(),
                target_path: m.target_path.clone(),
                read_only: m.read_only,
            });
        }
    }
    if violations.len() > before {
        return None;
    }
    Some(EnvironmentSpec {
        name,
        title: draft.title.clone(),
        description: draft.description.clone(),
        cluster_name,
        matching,
        supervisor,
        python: draft.python.clone(),
        r: draft.r.clone(),
        quarto: draft.quarto.clone(),
        tensorflow: draft.tensorflow.clone(),
        volume_mounts: mounts,
    })
}

/// Applies an update to `current`: the fields named in `mask` are taken from `draft` (an empty
/// mask replaces every updatable field). The image name cannot change. The result is validated
/// as a whole.
pub fn apply_update(
    current: &EnvironmentSpec,
    draft: &EnvironmentDraft,
    mask: &[String],
) -> Result<EnvironmentSpec, Error> {
    let mut violations = Vec::new();
    let name_change = draft
        .name
        .as_deref()
        .filter(|n| !n.is_empty() && *n != current.name);
    if mask.iter().any(|p| p == "name") || name_change.is_some() {
        violations.push(FieldViolation::new(
            "name",
            format!(
                "the image name of an environment cannot be changed (it is {:?}); create a new environment for another image",
                current.name
            ),
        ));
    }
    for p in mask {
        if p != "name" && !UPDATABLE_FIELDS.contains(&p.as_str()) {
            violations.push(FieldViolation::new(
                "update_mask",
                format!(
                    "{p:?} is not an updatable field; use one of {}",
                    UPDATABLE_FIELDS.join(", ")
                ),
            ));
        }
    }
    let takes = |f: &str| mask.is_empty() || mask.iter().any(|p| p == f);
    let mut merged = EnvironmentDraft {
        guid: None,
        name: Some(current.name.clone()),
        title: current.title.clone(),
        description: current.description.clone(),
        cluster_name: Some(current.cluster_name.clone()),
        matching: Some(current.matching.as_str().to_owned()),
        supervisor: current.supervisor.clone(),
        python: current.python.clone(),
        r: current.r.clone(),
        quarto: current.quarto.clone(),
        tensorflow: current.tensorflow.clone(),
        volume_mounts: current
            .volume_mounts
            .iter()
            .map(|m| VolumeMountDraft {
                source: Some(m.source.clone()),
                target_path: m.target_path.clone(),
                read_only: m.read_only,
            })
            .collect(),
    };
    if takes("title") {
        merged.title = draft.title.clone();
    }
    if takes("description") {
        merged.description = draft.description.clone();
    }
    if takes("cluster_name") {
        merged.cluster_name = draft.cluster_name.clone();
    }
    if takes("matching") {
        merged.matching = draft.matching.clone();
    }
    if takes("supervisor") {
        merged.supervisor = draft.supervisor.clone();
    }
    if takes("python") {
        merged.python = draft.python.clone();
    }
    if takes("r") {
        merged.r = draft.r.clone();
    }
    if takes("quarto") {
        merged.quarto = draft.quarto.clone();
    }
    if takes("tensorflow") {
        merged.tensorflow = draft.tensorflow.clone();
    }
    if takes("volume_mounts") {
        merged.volume_mounts = draft.volume_mounts.clone();
    }
    // Report the name and mask problems together with those of the merged spec.
    match check_spec(&merged, "", &mut violations) {
        Some(spec) if violations.is_empty() => Ok(spec),
        _ => Err(Error::invalid(violations)),
    }
}

/// Parses a guid that must be an RFC 4122 version-4 UUID.
pub fn parse_guid(s: &str) -> Result<Uuid, String> {
    let u = Uuid::parse_str(s.trim()).map_err(|_| {
        format!("{s:?} is not a UUID (expected e.g. 0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10)")
    })?;
    if u.get_variant() != uuid::Variant::RFC4122 {
        return Err(format!(
            "{s:?} is not an RFC 4122 UUID (its variant is {:?})",
            u.get_variant()
        ));
    }
    if u.get_version_num() != 4 {
        return Err(format!(
            "{s:?} is a version-{} UUID; environments use random version-4 UUIDs",
            u.get_version_num()
        ));
    }
    Ok(u)
}

/// Parses a guid argument for a request, as an InvalidArgument error naming `field`.
pub fn require_guid(field: &str, s: &str) -> Result<Uuid, Error> {
    if s.is_empty() {
        return Err(Error::invalid_field(field, "is required"));
    }
    parse_guid(s).map_err(|d| Error::invalid_field(field, d))
}

/// Checks a semantic version (`MAJOR.MINOR.PATCH`, optional pre-release and build).
pub fn check_semver(version: &str) -> Result<semver::Version, String> {
    if version.is_empty() {
        return Err("is required (a semantic version such as 3.11.9)".to_owned());
    }
    semver::Version::parse(version).map_err(|_| {
        let parts = version.split('.').count();
        if parts < 3 && version.split('.').all(|p| p.parse::<u64>().is_ok()) {
            let missing = ".0".repeat(3 - parts);
            format!("{version:?} is not a semantic version: give all three parts, MAJOR.MINOR.PATCH (e.g. {version}{missing})")
        } else {
            format!("{version:?} is not a semantic version (expected MAJOR.MINOR.PATCH such as 3.11.9)")
        }
    })
}

/// Checks an absolute path inside a container.
pub fn check_absolute_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(
            "is required (an absolute path such as /opt/python/3.11.9/bin/python3)".to_owned(),
        );
    }
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} is not an absolute path; it must start with /"
        ));
    }
    if path.contains('\0') || path.chars().any(|c| c.is_control()) {
        return Err(format!("{path:?} contains control characters"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err(format!(
            "{path:?} contains a \"..\" component; give the path without it"
        ));
    }
    Ok(())
}

/// Checks a Kubernetes object name (RFC 1123 subdomain), as used for PVC names.
pub fn check_dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required for a PVC volume".to_owned());
    }
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    // Every '.'-separated label is lower-case letters, digits and '-', starting and ending with a
    // letter or digit (so "a..b" and "a.-b" are not names).
    let labels_ok = name.split('.').all(|label| {
        label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && ends_ok(label.chars().next())
            && ends_ok(label.chars().last())
    });
    if name.len() > 253 || !labels_ok {
        return Err(format!(
            "{name:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_update;
