//! Reading what content asks for from Connect's `manifest.json`.

use serde_json::Value;

use super::request::{LanguageNeed, Requirements};
use crate::error::{Error, FieldViolation};

/// Parses Connect's manifest.json: environment.identifier, environment.image,
/// environment.python.requires, environment.r.requires, environment.quarto.requires,
/// python.version, platform (the R version), quarto.version. Unknown fields ignored.
/// InvalidArgument on bad JSON (naming the line and column) or on a field of the wrong type.
pub fn parse_manifest(json: &str) -> Result<Requirements, Error> {
    let root: Value = serde_json::from_str(json).map_err(|e| {
        Error::invalid_field(
            "manifest",
            format!(
                "manifest.json is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !root.is_object() {
        return Err(Error::invalid_field(
            "manifest",
            "manifest.json must be a JSON object",
        ));
    }
    let mut violations = Vec::new();
    let mut text = |path: &[&str]| string_at(&root, path, &mut violations);
    let requirements = Requirements {
        python: LanguageNeed {
            version: text(&["python", "version"]),
            constraint: text(&["environment", "python", "requires"]),
        },
        r: LanguageNeed {
            version: text(&["platform"]),
            constraint: text(&["environment", "r", "requires"]),
        },
        quarto: LanguageNeed {
            version: text(&["quarto", "version"]),
            constraint: text(&["environment", "quarto", "requires"]),
        },
        target_environment_guid: text(&["environment", "identifier"]),
        target_image: text(&["environment", "image"]),
    };
    if violations.is_empty() {
        Ok(requirements)
    } else {
        Err(Error::invalid(violations))
    }
}

/// The string at `path`: `None` when it (or an object on the way) is absent or null, or when it
/// is blank; a violation when something on the way has the wrong type.
fn string_at(root: &Value, path: &[&str], violations: &mut Vec<FieldViolation>) -> Option<String> {
    let mut at = root;
    for (depth, key) in path.iter().enumerate() {
        let map = match at {
            Value::Object(map) => map,
            Value::Null => return None,
            other => {
                let field = path[..depth].join(".");
                // Several fields live under one object: report it once.
                if !violations.iter().any(|v| v.field == field) {
                    violations.push(FieldViolation::new(
                        field,
                        format!("must be an object, not {}", kind(other)),
                    ));
                }
                return None;
            }
        };
        at = map.get(*key)?;
    }
    match at {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => {
            violations.push(FieldViolation::new(
                path.join("."),
                format!("must be a string, not {}", kind(other)),
            ));
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
