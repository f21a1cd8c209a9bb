//! Listing the catalogue: filters, sort orders, pages, and the derived values stores index.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{EnvironmentSpec, Installation, Language, Matching};

/// Default page size of list calls.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page size of list calls.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The column a list is sorted by. Ties are broken by the internal id, so orders are total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// Title (environments without one sort by image name).
    Title,
    /// Image name.
    Name,
    /// Creation time (the default).
    #[default]
    Created,
    /// Last update time.
    Updated,
    /// Matching mode (any < exact < none).
    Matching,
    /// Highest Python version.
    PythonVersion,
    /// Highest R version.
    RVersion,
    /// Highest Quarto version.
    QuartoVersion,
}

/// Restricts a list to what a publisher may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// The publisher's user guid.
    pub user: Option<String>,
    /// Their groups.
    pub groups: Vec<String>,
}

/// A list request, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Case-insensitive substring of [`search_text`].
    pub search: Option<String>,
    /// Exact image name.
    pub name: Option<String>,
    /// Matching mode.
    pub matching: Option<Matching>,
    /// `Some(true)`: only file-managed; `Some(false)`: only API-managed.
    pub managed: Option<bool>,
    /// Only environments with an installation of this language...
    pub language: Option<Language>,
    /// ...whose version equals this or starts with it followed by "." (needs `language`).
    pub language_version: Option<String>,
    /// Only environments this publisher may use (`None` = no restriction).
    pub visible_to: Option<Visibility>,
    /// Sort column.
    pub sort: SortField,
    /// Descending order.
    pub descending: bool,
    /// Number of items to skip.
    pub offset: u64,
    /// Page size (1..=MAX_PAGE_SIZE).
    pub limit: u32,
}

/// Filters of the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeFilter {
    /// Only changes of this environment.
    pub environment_guid: Option<Uuid>,
    /// Only changes at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only changes before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only changes with a revision greater than this.
    pub after_revision: i64,
    /// Page size (1..=MAX_PAGE_SIZE).
    pub limit: u32,
}

/// The lower-cased text that free-text search matches: title, description, image name, guid,
/// supervisor and every installation version, separated by newlines.
pub fn search_text(guid: Uuid, spec: &EnvironmentSpec) -> String {
    let mut parts: Vec<&str> = vec![spec.name.as_str()];
    parts.extend(spec.title.as_deref());
    parts.extend(spec.description.as_deref());
    parts.extend(spec.supervisor.as_deref());
    for language in Language::ALL {
        parts.extend(
            spec.installations(language)
                .iter()
                .map(|i| i.version.as_str()),
        );
    }
    let guid = guid.to_string();
    parts.push(&guid);
    parts.join("\n").to_lowercase()
}

/// A key that sorts installations' highest versions numerically as plain strings:
/// "3.9.1" < "3.11.0". Each numeric component is zero-padded to 10 digits; an environment
/// without installations of the language gets the empty key (sorts first).
pub fn version_sort_key(installations: &[Installation]) -> String {
    installations
        .iter()
        .map(|i| version_key(&i.version))
        .max()
        .unwrap_or_default()
}

fn version_key(version: &str) -> String {
    version
        .split(['.', '-', '+'])
        .map(|part| match part.parse::<u64>() {
            Ok(n) => format!("{n:010}"),
            Err(_) => format!("~{part}"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The key of the `title` sort: the title, or the image name when there is none, lower-cased.
pub fn title_sort_key(spec: &EnvironmentSpec) -> String {
    spec.title
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(&spec.name)
        .to_lowercase()
}

/// Whether an installation version is selected by a `language_version` filter: equal, or a
/// dotted prefix ("3.11" selects "3.11.9" but not "3.110.0").
pub fn version_has_prefix(version: &str, prefix: &str) -> bool {
    version == prefix || (version.starts_with(prefix) && version[prefix.len()..].starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(v: &str) -> Installation {
        Installation {
            version: v.to_owned(),
            path: "/x".to_owned(),
        }
    }

    #[test]
    fn version_sort_key_orders_numerically_not_lexically() {
        assert!(version_sort_key(&[inst("3.9.1")]) < version_sort_key(&[inst("3.11.0")]));
        assert!(version_sort_key(&[]) < version_sort_key(&[inst("0.0.1")]));
    }

    #[test]
    fn version_sort_key_uses_the_highest_installation() {
        assert_eq!(
            version_sort_key(&[inst("3.12.1"), inst("3.9.0")]),
            version_sort_key(&[inst("3.12.1")])
        );
    }

    #[test]
    fn version_prefix_matches_whole_components_only() {
        assert!(version_has_prefix("3.11.9", "3.11"));
        assert!(version_has_prefix("3.11.9", "3.11.9"));
        assert!(!version_has_prefix("3.110.0", "3.11"));
    }
}
