//! The catalogue's reads inside a session, shared by the operations (`catalogue.rs`) and the
//! writes (`write.rs`), which read what they are about to change.

use std::collections::HashMap;

use execenv_core::query::ChangeFilter;
use execenv_core::{Change, Environment, Error};
use uuid::Uuid;

use crate::common::{self, EnvironmentRow, Value};
use crate::session::{Session, fetch_rows, integers};

/// How many ids or guids one `IN (…)` list binds.
pub(super) const IN_LIST_CHUNK: usize = 1_000;

/// The newest revision and the compacted-through mark.
pub(super) async fn revision_state<S: Session>(s: &mut S) -> Result<(i64, i64), Error> {
    integers(s, common::REVISION_STATE, Vec::new())
        .await?
        .ok_or_else(|| Error::internal("the log_state row is missing; the migrations did not run"))
}

/// The newest revision (0 for an empty log): a compacted log may be empty of rows but not of
/// history.
pub(super) async fn newest_revision<S: Session>(s: &mut S) -> Result<i64, Error> {
    let (latest, compacted) = revision_state(s).await?;
    Ok(latest.max(compacted))
}

/// One environment with its children; NotFound when absent.
pub(super) async fn get<S: Session>(s: &mut S, guid: Uuid) -> Result<Environment, Error> {
    load(s, &[guid])
        .await?
        .remove(&guid)
        .ok_or_else(|| Error::environment_not_found(guid))
}

/// Reads the children of `rows` (of every environment when `all`) and assembles them.
pub(super) async fn with_children<S: Session>(
    s: &mut S,
    rows: Vec<EnvironmentRow>,
    all: bool,
) -> Result<Vec<Environment>, Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let q = common::children_queries(if all { None } else { Some(&ids) });
    let mounts = fetch_rows(s, &q.mounts, q.values.clone(), common::mount_row).await?;
    let permissions = fetch_rows(s, &q.permissions, q.values, common::permission_row).await?;
    common::assemble(rows, mounts, permissions)
}

/// The changes `filter` selects, oldest first.
pub(super) async fn read_changes<S: Session>(
    s: &mut S,
    filter: &ChangeFilter,
) -> Result<Vec<Change>, Error> {
    let (sql, values) = common::change_query(filter);
    fetch_rows(s, &sql, values, common::change_row)
        .await?
        .into_iter()
        .map(common::change_from_row)
        .collect()
}

/// The environments with `guids` (with their children) that exist, by guid.
pub(super) async fn load<S: Session>(
    s: &mut S,
    guids: &[Uuid],
) -> Result<HashMap<Uuid, Environment>, Error> {
    let select = common::select_environments_by_guid();
    let mut found = HashMap::new();
    for chunk in guids.chunks(IN_LIST_CHUNK) {
        let values = chunk
            .iter()
            .map(|g| Value::Text(Some(g.to_string())))
            .collect();
        let sql = common::in_list(&select, chunk.len());
        let rows = fetch_rows(s, &sql, values, common::environment_row).await?;
        for env in with_children(s, rows, false).await? {
            found.insert(env.guid, env);
        }
    }
    Ok(found)
}

/// The environments with `guids`, in order; NotFound for the first absent one.
pub(super) async fn load_each<S: Session>(
    s: &mut S,
    guids: &[Uuid],
) -> Result<Vec<Environment>, Error> {
    let mut found = load(s, guids).await?;
    guids
        .iter()
        .map(|guid| {
            found
                .remove(guid)
                .ok_or_else(|| Error::environment_not_found(guid))
        })
        .collect()
}
