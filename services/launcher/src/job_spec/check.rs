//! Input checks of [`super::build_job`]: every problem is collected and reported at once.

use std::collections::HashSet;

use execenv_core::{Environment, Error, FieldViolation, Language, VolumeSource};

use super::runner::{
    CONTENT_BASE_PATH_VARIABLE, CONTENT_HOST_VARIABLE, CONTENT_PORT_VARIABLE, interpreter_variable,
};
use super::{ChosenInstallation, LaunchKind, LaunchRequest, RESERVED_PATHS, Resources};

/// `Ok` when the launch can become a Job; otherwise `InvalidArgument` with every violation.
pub(super) fn check(
    launch: &LaunchRequest,
    environment: &Environment,
    installations: &[ChosenInstallation],
) -> Result<(), Error> {
    let mut v = request_violations(launch, installations);
    mount_violations(environment, &mut v);
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(v))
    }
}

/// The request's own problems, found before any environment is chosen: the service checks this at
/// the edge. Every interpreter variable counts as the launcher's here, whichever gets chosen.
pub fn check_request(launch: &LaunchRequest) -> Result<(), Error> {
    let all =
        [Language::Python, Language::R, Language::Quarto].map(|language| ChosenInstallation {
            language,
            version: String::new(),
            path: String::new(),
        });
    let v = request_violations(launch, &all);
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(v))
    }
}

/// The variables the launcher sets for interactive content.
const CONTENT_VARIABLES: [&str; 3] = [
    CONTENT_PORT_VARIABLE,
    CONTENT_HOST_VARIABLE,
    CONTENT_BASE_PATH_VARIABLE,
];

/// A rule an id must follow; the error completes "<id> …".
type IdRule = fn(&str) -> Result<(), &'static str>;

fn request_violations(
    launch: &LaunchRequest,
    installations: &[ChosenInstallation],
) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    let ids: [(&str, &String, IdRule, &str); 3] = [
        (
            "request_id",
            &launch.request_id,
            label_value,
            "it labels the Job (a UUID works)",
        ),
        (
            "content_guid",
            &launch.content_guid,
            label_value,
            "it labels the Job and names the content folder",
        ),
        (
            "bundle_id",
            &launch.bundle_id,
            path_segment,
            "it names the bundle folder",
        ),
    ];
    for (field, value, rule, role) in ids {
        if let Err(why) = rule(value) {
            v.push(FieldViolation::new(
                field,
                format!("{value:?} {why}; {role}"),
            ));
        }
    }
    if launch.kind == LaunchKind::Build && !launch.command.is_empty() {
        v.push(FieldViolation::new(
            "command",
            "a BUILD launch takes no command (the runner restores the packages); send it with the RUN launch",
        ));
    }
    check_env(launch, installations, &mut v);
    v.extend(resource_violations("resources", &launch.resources));
    v
}

/// The quantities of `r` that are malformed, named `<prefix>.<field>`: every value must be a
/// Kubernetes quantity, and `gpu` a whole number.
pub(crate) fn resource_violations(prefix: &str, r: &Resources) -> Vec<FieldViolation> {
    let mut v = Vec::new();
    for (name, value) in r.fields() {
        let Some(q) = value.as_deref() else { continue };
        if name == "gpu" {
            if q.is_empty() || !q.chars().all(|c| c.is_ascii_digit()) {
                v.push(FieldViolation::new(
                    format!("{prefix}.gpu"),
                    format!("{q:?} is not a whole number of GPUs; write e.g. \"1\""),
                ));
            }
        } else if !is_quantity(q) {
            v.push(FieldViolation::new(
                format!("{prefix}.{name}"),
                format!("{q:?} is not a Kubernetes quantity; write e.g. \"500m\", \"2\", \"512Mi\" or \"1Gi\""),
            ));
        }
    }
    v
}

fn mount_violations(environment: &Environment, v: &mut Vec<FieldViolation>) {
    for (i, m) in environment.spec.volume_mounts.iter().enumerate() {
        if let Some(reserved) = reserved_path(&m.target_path) {
            let source = match &m.source {
                VolumeSource::Nfs { host, export_path } => format!("NFS {host}:{export_path}"),
                VolumeSource::Pvc { claim_name } => format!("PVC {claim_name}"),
            };
            v.push(FieldViolation::new(
                format!("environment.volume_mounts[{i}].target_path"),
                format!(
                    "the mount of {source} in environment {} targets {:?}, inside {reserved}, which the launcher reserves \
                     (reserved: {}); mount it elsewhere",
                    environment.spec.name,
                    m.target_path,
                    RESERVED_PATHS.join(", ")
                ),
            ));
        }
    }
}

fn check_env(
    launch: &LaunchRequest,
    installations: &[ChosenInstallation],
    v: &mut Vec<FieldViolation>,
) {
    let ours: HashSet<&str> = installations
        .iter()
        .filter_map(|i| interpreter_variable(i.language))
        .collect();
    let mut seen = HashSet::new();
    for (i, (name, _)) in launch.env.iter().enumerate() {
        let field = format!("env[{i}].name");
        if name.is_empty() || name.contains('=') || name.chars().any(|c| !c.is_ascii_graphic()) {
            v.push(FieldViolation::new(
                field,
                format!("{name:?} is not a variable name; use printable characters without '=' or spaces"),
            ));
        } else if ours.contains(name.as_str()) {
            v.push(FieldViolation::new(
                field,
                format!("{name} is set by the launcher from the chosen installation; remove it"),
            ));
        } else if launch.kind == LaunchKind::Interactive
            && CONTENT_VARIABLES.contains(&name.as_str())
        {
            v.push(FieldViolation::new(
                field,
                format!(
                    "{name} is set by the launcher for interactive content (where it listens and its public path); remove it"
                ),
            ));
        } else if !seen.insert(name.as_str()) {
            v.push(FieldViolation::new(
                field,
                format!("{name} is given twice; keep one"),
            ));
        }
    }
}

/// The reserved path that `target` is, or lies below (compared after lexical normalisation, so
/// `/opt//execenv/` and `/mnt/x/../cache` are caught).
pub(crate) fn reserved_path(target: &str) -> Option<&'static str> {
    let target = normalise(target);
    RESERVED_PATHS.into_iter().find(|r| {
        let r = normalise(r);
        target.len() >= r.len() && target[..r.len()] == r[..]
    })
}

fn normalise(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts
}

/// A Kubernetes label value: at most 63 of `[A-Za-z0-9._-]`, beginning and ending alphanumeric.
fn label_value(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("is empty");
    }
    if s.len() > 63 {
        return Err("is longer than 63 characters");
    }
    safe_characters(s)?;
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(s.chars().next()) || !alnum(s.chars().last()) {
        return Err("must begin and end with a letter or digit");
    }
    Ok(())
}

/// One safe folder name: `[A-Za-z0-9._-]`, at most 253 characters, not `.` or `..`.
fn path_segment(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("is empty");
    }
    if s.len() > 253 {
        return Err("is longer than 253 characters");
    }
    if s == "." || s == ".." {
        return Err("is not a folder name");
    }
    safe_characters(s)
}

/// Only `[A-Za-z0-9._-]`: what both a label value and a safe folder name may hold.
fn safe_characters(s: &str) -> Result<(), &'static str> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Ok(())
    } else {
        Err("may only hold letters, digits, '.', '_' and '-'")
    }
}

/// The Kubernetes quantity grammar: a signed decimal number, then an optional binary (`Ki`…`Ei`),
/// decimal (`n u m k M G T P E`) or exponent (`e3`, `E-2`) suffix.
pub(super) fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits_end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let mut halves = number.splitn(2, '.');
    let whole = halves.next().unwrap_or("");
    let fraction = halves.next();
    if fraction.is_some_and(|f| f.contains('.'))
        || (whole.is_empty() && fraction.is_none_or(str::is_empty))
    {
        return false;
    }
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        exp => {
            let Some(rest) = exp.strip_prefix(['e', 'E']) else {
                return false;
            };
            let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
        }
    }
}
