//! Everything execenvctl prints: aligned tables, key: value blocks, JSON/YAML documents and error
//! text. Pure functions from data to strings.

use chrono::{DateTime, SecondsFormat, Utc};
use execenv_core::{
    Environment, Error, ErrorKind, Installation, Permission, Principal, VolumeSource,
};
use execenv_proto::convert::from_timestamp;
use execenv_proto::registry::v1 as reg;
use serde::Serialize;

use crate::args::OutputFormat;

/// Gap between table columns.
pub const GAP: &str = "  ";
/// Shown for an absent value.
pub const NONE: &str = "-";

/// A page (or, with `--all`, every page) of `env list`, as printed in json/yaml.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentList {
    /// The environments.
    pub environments: Vec<Environment>,
    /// Total matching the filters, over all pages.
    pub total_count: u64,
    /// Token of the next page; empty on the last page.
    pub next_page_token: String,
}

/// One change-log entry as printed: before/after as JSON values rather than strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeView {
    /// Revision (strictly increasing).
    pub revision: i64,
    /// Commit time.
    pub time: Option<DateTime<Utc>>,
    /// Who made it.
    pub actor: String,
    /// api | config-file | bootstrap.
    pub source: String,
    /// create | update | delete | permission-add | permission-remove.
    pub action: String,
    /// The environment changed.
    pub environment_guid: String,
    /// The environment before the change (absent for create).
    pub before: Option<serde_json::Value>,
    /// The environment after the change (absent for delete).
    pub after: Option<serde_json::Value>,
}

impl From<reg::Change> for ChangeView {
    fn from(c: reg::Change) -> Self {
        // Kept as a string when the registry sent something that is not JSON, so nothing is lost.
        let json = |s: String| {
            (!s.is_empty())
                .then(|| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
        };
        ChangeView {
            revision: c.revision,
            time: c.time.as_ref().and_then(from_timestamp),
            actor: c.actor,
            source: c.source,
            action: c.action,
            environment_guid: c.environment_guid,
            before: json(c.before_json),
            after: json(c.after_json),
        }
    }
}

/// A value as a JSON (pretty) or YAML document, ending in a newline.
pub fn document<T: Serialize>(value: &T, format: OutputFormat) -> Result<String, Error> {
    let text = match format {
        OutputFormat::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| Error::internal(format!("cannot write YAML: {e}")))?,
        OutputFormat::Json | OutputFormat::Table => serde_json::to_string_pretty(value)
            .map_err(|e| Error::internal(format!("cannot write JSON: {e}")))?,
    };
    Ok(if text.ends_with('\n') {
        text
    } else {
        text + "\n"
    })
}

/// Aligned columns: a header row, then one row per item; each column as wide as its widest cell,
/// columns separated by two spaces, no trailing blanks.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A `key: value` block with the values aligned; a key with several values continues on
/// indented lines.
pub fn key_values(pairs: &[(&str, Vec<String>)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, values) in pairs {
        let label = format!("{key}:");
        let mut values = values.iter();
        let first = values.next().map_or(NONE, String::as_str);
        out.push_str(format!("{label:<width$}{GAP}{first}").trim_end());
        out.push('\n');
        for more in values {
            out.push_str(&format!("{:width$}{GAP}{more}\n", ""));
        }
    }
    out
}

/// The `env list` table.
pub fn environments_table(environments: &[Environment]) -> String {
    let rows: Vec<Vec<String>> = environments
        .iter()
        .map(|e| {
            let s = &e.spec;
            vec![
                e.guid.to_string(),
                or_none(s.title.as_deref()),
                s.name.clone(),
                s.matching.as_str().to_owned(),
                versions(&s.python),
                versions(&s.r),
                versions(&s.quarto),
                or_none(e.managed_by.map(|m| m.as_str())),
            ]
        })
        .collect();
    table(
        &[
            "GUID", "TITLE", "IMAGE", "MATCHING", "PYTHON", "R", "QUARTO", "MANAGED",
        ],
        &rows,
    )
}

/// The line below a list: how many of how many, and how to get the next page.
pub fn list_footer(shown: usize, total: Option<u64>, noun: &str, next_page_token: &str) -> String {
    let mut out = match total {
        Some(total) => format!("{shown} of {total} {noun}"),
        None => format!("{shown} {noun}"),
    };
    if !next_page_token.is_empty() {
        out.push_str(&format!(
            "; next page: --page-token {next_page_token} (or --all)"
        ));
    }
    out
}

/// Every field of one environment as a `key: value` block.
pub fn environment_block(e: &Environment) -> String {
    let s = &e.spec;
    let one = |v: String| vec![v];
    let opt = |v: Option<&str>| vec![or_none(v)];
    let mounts = s
        .volume_mounts
        .iter()
        .map(|m| {
            let source = match &m.source {
                VolumeSource::Nfs { host, export_path } => format!("nfs {host}:{export_path}"),
                VolumeSource::Pvc { claim_name } => format!("pvc {claim_name}"),
            };
            let mode = if m.read_only { " (read-only)" } else { "" };
            format!("{source} -> {}{mode}", m.target_path)
        })
        .collect();
    let permissions = if e.permissions.is_empty() {
        vec!["- (no entries: every publisher may use it)".to_owned()]
    } else {
        e.permissions.iter().map(permission_line).collect()
    };
    key_values(&[
        ("guid", one(e.guid.to_string())),
        ("id", one(e.id.to_string())),
        ("name", one(s.name.clone())),
        ("title", opt(s.title.as_deref())),
        ("description", opt(s.description.as_deref())),
        ("cluster_name", one(s.cluster_name.clone())),
        ("environment_type", one(e.environment_type.clone())),
        ("matching", one(s.matching.as_str().to_owned())),
        ("supervisor", opt(s.supervisor.as_deref())),
        ("python", installation_lines(&s.python)),
        ("r", installation_lines(&s.r)),
        ("quarto", installation_lines(&s.quarto)),
        ("tensorflow", installation_lines(&s.tensorflow)),
        ("volume_mounts", mounts),
        ("permissions", permissions),
        ("managed_by", opt(e.managed_by.map(|m| m.as_str()))),
        ("revision", one(e.revision.to_string())),
        ("created_time", one(time(&e.created_time))),
        ("updated_time", one(time(&e.updated_time))),
    ])
}

/// The `env permissions list` table.
pub fn permissions_table(permissions: &[Permission]) -> String {
    let rows: Vec<Vec<String>> = permissions
        .iter()
        .map(|p| {
            let (user, group) = match &p.principal {
                Principal::User(u) => (u.clone(), NONE.to_owned()),
                Principal::Group(g) => (NONE.to_owned(), g.clone()),
            };
            vec![p.guid.to_string(), user, group]
        })
        .collect();
    table(&["PERMISSION GUID", "USER", "GROUP"], &rows)
}

/// The `changes` table.
pub fn changes_table(changes: &[ChangeView]) -> String {
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            vec![
                c.revision.to_string(),
                c.time.as_ref().map_or_else(|| NONE.to_owned(), time),
                c.actor.clone(),
                c.source.clone(),
                c.action.clone(),
                c.environment_guid.clone(),
            ]
        })
        .collect();
    table(
        &[
            "REVISION",
            "TIME",
            "ACTOR",
            "SOURCE",
            "ACTION",
            "ENVIRONMENT",
        ],
        &rows,
    )
}

/// The text printed for a failure: `error: <message>`, then each field violation on its own line.
pub fn error_text(e: &Error) -> String {
    let mut out = String::from("error: ");
    // Error::invalid repeats the violations in its message; list them once, one per line.
    if !e.violations.is_empty() && e.message == Error::invalid(e.violations.clone()).message {
        let n = e.violations.len();
        out.push_str(&format!(
            "invalid input ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        ));
    } else {
        out.push_str(&e.message);
    }
    for v in &e.violations {
        out.push_str(&format!("\n  - {}: {}", v.field, v.description));
    }
    out
}

/// The process exit code for a failure: 2 for invalid input, 1 for everything else.
pub fn exit_code(e: &Error) -> u8 {
    if e.kind == ErrorKind::InvalidArgument {
        2
    } else {
        1
    }
}

fn permission_line(p: &Permission) -> String {
    match &p.principal {
        Principal::User(u) => format!("user {u} (entry {})", p.guid),
        Principal::Group(g) => format!("group {g} (entry {})", p.guid),
    }
}

/// `VERSION  PATH` per installation, the versions padded so the paths line up.
pub fn installation_lines(list: &[Installation]) -> Vec<String> {
    let width = list
        .iter()
        .map(|i| i.version.chars().count())
        .max()
        .unwrap_or(0);
    list.iter()
        .map(|i| format!("{:<width$}{GAP}{}", i.version, i.path))
        .collect()
}

fn versions(list: &[Installation]) -> String {
    if list.is_empty() {
        NONE.to_owned()
    } else {
        list.iter()
            .map(|i| i.version.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The text, or [`NONE`] when it is absent or empty.
pub fn or_none(v: Option<&str>) -> String {
    v.filter(|v| !v.is_empty()).unwrap_or(NONE).to_owned()
}

/// A time as RFC 3339 in UTC, to the second: `2026-01-31T12:00:00Z`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
