//! Turning flags and `--file` documents into environment drafts and update masks. Pure: the
//! registry validates the values, every field at once; this only decides what is sent.

use execenv_core::validate::{EnvironmentDraft, UPDATABLE_FIELDS};
use execenv_core::{Error, ErrorKind, FieldViolation};
use execenv_proto::convert::connect::EnvironmentEntry;

use crate::env_args::{ClearField, FieldArgs};

/// An update request's payload: the new values and the mask naming exactly the fields to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The new values (fields outside the mask are left empty).
    pub draft: EnvironmentDraft,
    /// update_mask paths, in API field order.
    pub mask: Vec<String>,
}

/// The draft of a new environment from `env create` flags.
pub fn create_draft(image: &str, guid: Option<&str>, fields: &FieldArgs) -> EnvironmentDraft {
    let mut draft = EnvironmentDraft {
        guid: guid.map(str::to_owned),
        name: Some(image.to_owned()),
        ..Default::default()
    };
    apply_fields(&mut draft, fields);
    draft
}

/// The update for `env update` flags: every given field and every `--clear`ed one is named in the
/// mask; a list flag sends the whole new list. Fails when nothing is given or a field is both set
/// and cleared.
pub fn build_update(fields: &FieldArgs, clear: &[ClearField]) -> Result<Update, Error> {
    let mut draft = EnvironmentDraft::default();
    apply_fields(&mut draft, fields);
    let given = given_fields(fields);
    if let Some(both) = clear.iter().find(|c| given.contains(&c.path())) {
        let flag = flag_of(both.path());
        return Err(Error::invalid_field(
            "--clear",
            format!(
                "--clear {} contradicts {flag}; give one of them",
                both.path()
            ),
        ));
    }
    let named = |f: &str| given.contains(&f) || clear.iter().any(|c| c.path() == f);
    let mask: Vec<String> = UPDATABLE_FIELDS
        .iter()
        .copied()
        .filter(|f| named(f))
        .map(str::to_owned)
        .collect();
    if mask.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "nothing to update: give at least one field flag (e.g. --title, --python) or --clear FIELD",
        ));
    }
    Ok(Update { draft, mask })
}

/// Parses a `--file` document (JSON when `json`, YAML otherwise): one environment in Connect's
/// shape, read as config-sync reads an entry of its file. Unknown keys and former spellings are
/// reported together, each naming the file; `origin` names it in messages.
pub fn parse_file(text: &str, json: bool, origin: &str) -> Result<EnvironmentDraft, Error> {
    let entry: EnvironmentEntry = if json {
        serde_json::from_str(text).map_err(|e| file_error(origin, &e.to_string()))?
    } else {
        // serde-saphyr appends a source snippet after the first line; the line and column suffice.
        serde_saphyr::from_str(text).map_err(|e| {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            file_error(origin, first.strip_prefix("error: ").unwrap_or(first))
        })?
    };
    if entry.problems.is_empty() {
        return Ok(entry.draft);
    }
    Err(Error::invalid(
        entry
            .problems
            .into_iter()
            .map(|p| {
                let at = if p.field.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", p.field)
                };
                FieldViolation::new("--file", format!("{origin}: {at}{}", p.description))
            })
            .collect(),
    ))
}

/// Whether a `--file` should be read as JSON: a `.json` name or a document starting with `{`.
pub fn is_json(path: &str, text: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with('{')
}

fn file_error(origin: &str, message: &str) -> Error {
    Error::invalid_field("--file", format!("{origin}: {}", message.trim_end()))
}

fn apply_fields(draft: &mut EnvironmentDraft, f: &FieldArgs) {
    draft.title.clone_from(&f.title);
    draft.description.clone_from(&f.description);
    draft.cluster_name.clone_from(&f.cluster_name);
    draft.matching.clone_from(&f.matching);
    draft.supervisor.clone_from(&f.supervisor);
    draft.python.clone_from(&f.python);
    draft.r.clone_from(&f.r);
    draft.quarto.clone_from(&f.quarto);
    draft.tensorflow.clone_from(&f.tensorflow);
    draft.volume_mounts.clone_from(&f.mounts);
}

/// The update_mask paths of the fields given as flags.
fn given_fields(f: &FieldArgs) -> Vec<&'static str> {
    [
        ("title", f.title.is_some()),
        ("description", f.description.is_some()),
        ("cluster_name", f.cluster_name.is_some()),
        ("matching", f.matching.is_some()),
        ("supervisor", f.supervisor.is_some()),
        ("python", !f.python.is_empty()),
        ("r", !f.r.is_empty()),
        ("quarto", !f.quarto.is_empty()),
        ("tensorflow", !f.tensorflow.is_empty()),
        ("volume_mounts", !f.mounts.is_empty()),
    ]
    .into_iter()
    .filter_map(|(path, given)| given.then_some(path))
    .collect()
}

fn flag_of(path: &str) -> String {
    match path {
        "volume_mounts" => "--mount".to_owned(),
        p => format!("--{}", p.replace('_', "-")),
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
