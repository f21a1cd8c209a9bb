//! `execenvctl sync …`: what config-sync reports (the last sync, the plan of the next one) and how
//! it prints. Pure: the wire messages become views, the views become text. The status is the
//! view config-sync itself keeps ([`SyncStatus`]).

use chrono::{DateTime, Utc};
use execenv_proto::registry::v1 as reg;
use execenv_proto::views::SyncStatus;
use serde::Serialize;

use crate::render::{NONE, key_values, time};

/// How many hex digits of the digest the table shows.
const SHORT_DIGEST: usize = 12;

/// What a sync of the file would do now, as printed by `sync plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPlan {
    /// Environments the file defines that the registry lacks.
    pub created: Vec<PlannedChange>,
    /// Unmanaged environments the file takes over.
    pub adopted: Vec<PlannedChange>,
    /// Managed environments whose fields differ from the file.
    pub updated: Vec<PlannedChange>,
    /// Managed environments the file no longer defines.
    pub deleted: Vec<PlannedChange>,
    /// Guids of the managed environments that already match the file.
    pub unchanged: Vec<String>,
    /// The registry's current change-log revision.
    pub revision: i64,
}

/// One environment a sync would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    /// Its guid.
    pub guid: String,
    /// Its image name.
    pub name: String,
    /// For adopted and updated environments: the fields that change.
    pub changed_fields: Vec<String>,
}

impl From<reg::PlannedChange> for PlannedChange {
    fn from(c: reg::PlannedChange) -> Self {
        PlannedChange {
            guid: c.guid,
            name: c.name,
            changed_fields: c.changed_fields,
        }
    }
}

impl From<reg::ApplyManagedSetResponse> for SyncPlan {
    fn from(r: reg::ApplyManagedSetResponse) -> Self {
        let changes = |list: Vec<reg::PlannedChange>| list.into_iter().map(Into::into).collect();
        SyncPlan {
            created: changes(r.created),
            adopted: changes(r.adopted),
            updated: changes(r.updated),
            deleted: changes(r.deleted),
            unchanged: r.unchanged,
            revision: r.revision,
        }
    }
}

/// The `sync status` table: a `key: value` block, each problem on its own line.
pub fn status_block(s: &SyncStatus) -> String {
    let text = |v: &str| vec![if v.is_empty() { NONE } else { v }.to_owned()];
    let at = |t: &Option<DateTime<Utc>>| vec![t.as_ref().map_or_else(|| NONE.to_owned(), time)];
    let digest: String = s.digest.chars().take(SHORT_DIGEST).collect();
    key_values(&[
        ("file", text(&s.file)),
        ("outcome", text(s.outcome.as_str())),
        ("last sync", at(&s.last_sync_time)),
        ("last success", at(&s.last_success_time)),
        ("digest", text(&digest)),
        ("managed environments", vec![s.managed_count.to_string()]),
        ("error", text(&s.error)),
        ("problems", s.problems.clone()),
    ])
}

/// The `sync plan` table: one line per change, like `terraform plan`, then the counts.
pub fn plan_summary(p: &SyncPlan) -> String {
    let groups = [
        ("+ create", &p.created),
        ("~ adopt", &p.adopted),
        ("~ update", &p.updated),
        ("- delete", &p.deleted),
    ];
    let changes: usize = groups.iter().map(|(_, list)| list.len()).sum();
    if changes == 0 {
        let n = p.unchanged.len();
        return format!(
            "no changes: the registry matches the file ({n} environment{})\n",
            if n == 1 { "" } else { "s" }
        );
    }
    let mut out = String::new();
    for (action, list) in groups {
        for c in list {
            out.push_str(&change_line(action, c));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\n{} to create, {} to adopt, {} to update, {} to delete, {} unchanged\n",
        p.created.len(),
        p.adopted.len(),
        p.updated.len(),
        p.deleted.len(),
        p.unchanged.len()
    ));
    out
}

/// `~ update  NAME (GUID): field, field`; the guid is left out when there is none yet.
fn change_line(action: &str, c: &PlannedChange) -> String {
    let mut line = format!("{action:<8}  {}", c.name);
    if !c.guid.is_empty() {
        line.push_str(&format!(" ({})", c.guid));
    }
    if !c.changed_fields.is_empty() {
        line.push_str(": ");
        line.push_str(&c.changed_fields.join(", "));
    }
    line
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
