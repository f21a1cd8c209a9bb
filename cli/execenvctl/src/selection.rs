//! `execenvctl select` and `execenvctl explain`: the request from flags or a manifest.json, what
//! the selector answers as views, and how they print. Pure: nothing here does network I/O.

use execenv_core::{Error, ErrorKind, FieldViolation};
use execenv_proto::selector::v1 as sel;
pub use execenv_proto::views::{ExplanationView, InstallationView, SelectionView, VerdictView};

use crate::render::{GAP, NONE, key_values, or_none, table};
use crate::select_args::SelectArgs;

/// The `Select`/`Explain` request: the flags, or the manifest file's text as `manifest_json`.
pub fn select_request(a: &SelectArgs) -> Result<sel::SelectRequest, Error> {
    let manifest_json = match &a.manifest {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_field("--manifest", format!("cannot read {}: {e}", path.display()))
        })?,
        None => String::new(),
    };
    let r = &a.requirements;
    // With a manifest the requirement flags are refused by clap, so they are all None here.
    let requirements = sel::Requirements {
        python_version: r.python.clone(),
        python_requires: r.python_requires.clone(),
        r_version: r.r.clone(),
        r_requires: r.r_requires.clone(),
        quarto_version: r.quarto.clone(),
        quarto_requires: r.quarto_requires.clone(),
        target_environment_guid: r.environment.clone(),
        target_image: r.image.clone(),
    };
    Ok(sel::SelectRequest {
        requirements: (requirements != sel::Requirements::default()).then_some(requirements),
        manifest_json,
        content: Some(sel::ContentSettings {
            default_environment_guid: a.default_environment.clone(),
            default_image_name: a.default_image.clone(),
        }),
        min_revision: a.min_revision,
    })
}

/// A failed selection with each environment's violation named by its guid alone: the selector
/// sends `environments[<guid>]` as the field, which reads as noise in `  - <guid>: <reason>`.
pub fn selection_failure(mut e: Error) -> Error {
    if e.kind == ErrorKind::FailedPrecondition {
        for v in &mut e.violations {
            if let Some(guid) = v
                .field
                .strip_prefix("environments[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                *v = FieldViolation::new(guid, std::mem::take(&mut v.description));
            }
        }
    }
    e
}

/// The `select` table: a `key: value` block with one line per installation used.
pub fn selection_block(s: &SelectionView) -> String {
    let spec = &s.environment.spec;
    let one = |v: String| vec![v];
    let mut pairs = vec![
        ("environment", one(s.environment.guid.to_string())),
        ("title", one(or_none(spec.title.as_deref()))),
        ("image", one(spec.name.clone())),
        ("selected by", one(s.selected_by.clone())),
    ];
    let lines = installation_lines(&s.installations);
    for (i, line) in s.installations.iter().zip(lines) {
        pairs.push((i.language.as_str(), one(line)));
    }
    pairs.push(("revision", one(s.revision.to_string())));
    pairs.push(("catalogue age", one(age(s.catalogue_age_seconds))));
    key_values(&pairs)
}

/// The `explain` table (chosen, then compatible in rank order, then rejected), then what was
/// chosen (or why nothing was) and the catalogue revision and age. A DRIFT column (the image
/// examiner's line) appears when any environment's image is in drift or unreadable.
pub fn explanation_table(x: &ExplanationView) -> String {
    let rank = |v: &VerdictView| match v.outcome.as_str() {
        "chosen" => 0,
        "compatible" => 1,
        "rejected" => 2,
        _ => 3,
    };
    let mut verdicts: Vec<&VerdictView> = x.verdicts.iter().collect();
    // Stable: within a verdict the selector's order (the rank order for compatible ones) is kept.
    verdicts.sort_by_key(|v| rank(v));
    let drift = verdicts.iter().any(|v| v.drift.is_some());
    let rows: Vec<Vec<String>> = verdicts
        .iter()
        .map(|v| {
            let mut row = vec![
                v.outcome.clone(),
                v.environment_guid.clone(),
                or_none(v.title.as_deref()),
                v.name.clone(),
                installations_cell(&v.installations),
            ];
            if drift {
                row.push(or_none(v.drift.as_deref()));
            }
            row.push(if v.reasons.is_empty() {
                NONE.to_owned()
            } else {
                v.reasons.join("; ")
            });
            row
        })
        .collect();
    let mut headers = vec!["VERDICT", "GUID", "TITLE", "IMAGE", "INSTALLATIONS"];
    if drift {
        headers.push("DRIFT");
    }
    headers.push("WHY");
    let mut out = table(&headers, &rows);
    out.push('\n');
    out.push_str(&match &x.selection {
        Some(s) => {
            let spec = &s.environment.spec;
            let title = spec.title.as_deref().filter(|t| !t.is_empty());
            format!(
                "chosen: {} ({}) by {}\n",
                title.unwrap_or(&spec.name),
                s.environment.guid,
                s.selected_by
            )
        }
        None => format!("nothing chosen: {}\n", x.error),
    });
    out.push_str(&format!(
        "revision {}, catalogue age {}\n",
        x.revision,
        age(x.catalogue_age_seconds)
    ));
    out
}

/// `12 s (registry unreachable)`; the selector reports 0 while connected to the registry.
pub fn age(seconds: f64) -> String {
    if seconds > 0.0 {
        format!("{seconds:.0} s (registry unreachable)")
    } else {
        "0 s".to_owned()
    }
}

/// `VERSION  PATH  (CLOSENESS)` per installation, versions and paths padded to line up.
fn installation_lines(list: &[InstallationView]) -> Vec<String> {
    let width = |f: fn(&InstallationView) -> &str| {
        list.iter().map(|i| f(i).chars().count()).max().unwrap_or(0)
    };
    let (version, path) = (width(|i| &i.version), width(|i| &i.path));
    list.iter()
        .map(|i| {
            format!(
                "{:<version$}{GAP}{:<path$}{GAP}({})",
                i.version, i.path, i.closeness
            )
        })
        .collect()
}

/// `python 3.11.9 (exact), r 4.4.1 (major)`.
fn installations_cell(list: &[InstallationView]) -> String {
    if list.is_empty() {
        return NONE.to_owned();
    }
    list.iter()
        .map(|i| format!("{} {} ({})", i.language, i.version, i.closeness))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
