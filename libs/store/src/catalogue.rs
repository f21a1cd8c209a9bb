//! The store's operations, written once over a [`Session`] (one database transaction). Each
//! backend supplies sessions (how to begin a serialised write or a consistent read, and how to
//! bind values and read rows); everything they do is decided here, so both behave alike.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::query::{ChangeFilter, ListQuery};
use execenv_core::security::SecurityEventKind;
use execenv_core::sync::{SyncFence, SyncPlan};
use execenv_core::{
    Actor, Change, ChangeAction, Environment, EnvironmentSpec, Error, ErrorKind, ManagedBy,
    Permission, Principal,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::accounts::existing_principal;
use crate::common::{self, StoreRow, Value};
use crate::security::{self, permission_event};
use crate::session::{Backend, Session, fetch_rows, integers};
use crate::store::{EnvironmentPage, LogBounds, Snapshot, Store};

mod read;
mod write;

use read::{get, newest_revision, read_changes, revision_state, with_children};
use write::{PendingChanges, Replacement};

#[async_trait]
impl<B: Backend> Store for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn create_environment(
        &self,
        guid: Uuid,
        spec: &EnvironmentSpec,
        managed_by: Option<ManagedBy>,
        actor: &Actor,
    ) -> Result<Environment, Error> {
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        let created = write::create(&mut s, &mut log, &[(guid, spec)], managed_by).await?;
        log.commit(s).await?;
        single(created)
    }

    async fn get_environment(&self, guid: Uuid) -> Result<Environment, Error> {
        let mut s = self.read().await?;
        get(&mut s, guid).await
    }

    async fn update_environment(
        &self,
        guid: Uuid,
        spec: &EnvironmentSpec,
        expected_revision: i64,
        actor: &Actor,
    ) -> Result<Environment, Error> {
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        let replacement = Replacement {
            guid,
            spec,
            expected_revision,
        };
        let updated = write::replace(&mut s, &mut log, &[replacement], None).await?;
        log.commit(s).await?;
        single(updated)
    }

    async fn delete_environment(
        &self,
        guid: Uuid,
        expected_revision: i64,
        actor: &Actor,
    ) -> Result<i64, Error> {
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        write::delete(&mut s, &mut log, &[(guid, expected_revision)]).await?;
        log.commit(s).await
    }

    async fn list_environments(&self, query: &ListQuery) -> Result<EnvironmentPage, Error> {
        let q = common::list_queries(query);
        let mut s = self.read().await?;
        let total = integers(&mut s, &q.count, q.count_values)
            .await?
            .map_or(0, |(n, _)| u64::try_from(n).unwrap_or(0));
        let rows = fetch_rows(&mut s, &q.page, q.page_values, common::environment_row).await?;
        let environments = with_children(&mut s, rows, false).await?;
        Ok(EnvironmentPage {
            environments,
            total,
        })
    }

    async fn add_permission(
        &self,
        environment: Uuid,
        principal: &Principal,
        actor: &Actor,
    ) -> Result<(Permission, i64), Error> {
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        let before = get(&mut s, environment).await?;
        let principal = &existing_principal(&mut s, principal).await?;
        if before.permissions.iter().any(|p| &p.principal == principal) {
            let (kind, who) = match principal {
                Principal::User(u) => ("user", u),
                Principal::Group(g) => ("group", g),
            };
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{kind} {who} may already use environment {environment}; nothing to add"),
            ));
        }
        let revision = log.next_revision();
        let permission = Permission {
            guid: Uuid::new_v4(),
            environment_guid: environment,
            principal: principal.clone(),
        };
        s.execute_batch(
            &common::INSERT_PERMISSIONS,
            vec![common::permission_values(before.id, &permission)],
        )
        .await?;
        s.execute(
            common::SET_REVISION,
            vec![Value::Int(revision), Value::Int(before.id)],
        )
        .await?;
        let mut after = before.clone();
        after.permissions.push(permission.clone());
        after.revision = revision;
        let states = (Some(&before), Some(&after));
        log.record(
            &mut s,
            revision,
            ChangeAction::PermissionAdd,
            environment,
            states,
        )
        .await?;
        let event = permission_event(
            SecurityEventKind::PermissionAdded,
            &actor.name,
            environment,
            permission.guid,
            principal,
        );
        security::record(&mut s, &event).await?;
        let revision = log.commit(s).await?;
        Ok((permission, revision))
    }

    async fn remove_permission(
        &self,
        environment: Uuid,
        permission: Uuid,
        actor: &Actor,
    ) -> Result<i64, Error> {
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        let before = get(&mut s, environment).await?;
        let Some(removed) = before.permissions.iter().find(|p| p.guid == permission) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "permission {permission} of environment {environment} does not exist; \
                     list the environment's permissions to find its guid"
                ),
            ));
        };
        let event = permission_event(
            SecurityEventKind::PermissionRemoved,
            &actor.name,
            environment,
            permission,
            &removed.principal,
        );
        security::record(&mut s, &event).await?;
        let revision = log.next_revision();
        s.execute(
            common::DELETE_PERMISSION,
            vec![Value::Text(Some(permission.to_string()))],
        )
        .await?;
        s.execute(
            common::SET_REVISION,
            vec![Value::Int(revision), Value::Int(before.id)],
        )
        .await?;
        let mut after = before.clone();
        after.permissions.retain(|p| p.guid != permission);
        after.revision = revision;
        let states = (Some(&before), Some(&after));
        log.record(
            &mut s,
            revision,
            ChangeAction::PermissionRemove,
            environment,
            states,
        )
        .await?;
        log.commit(s).await
    }

    async fn snapshot(&self) -> Result<Snapshot, Error> {
        let mut s = self.read().await?;
        let revision = newest_revision(&mut s).await?;
        let sql = format!(
            "SELECT {} FROM environments e ORDER BY e.id",
            common::ENVIRONMENT_COLUMNS
        );
        let rows = fetch_rows(&mut s, &sql, Vec::new(), common::environment_row).await?;
        let environments = with_children(&mut s, rows, true).await?;
        Ok(Snapshot {
            revision,
            environments,
        })
    }

    async fn snapshot_pages(&self, page: usize, out: mpsc::Sender<Snapshot>) -> Result<(), Error> {
        let page = page.max(1);
        let mut s = self.read().await?;
        let revision = newest_revision(&mut s).await?;
        let sql = format!(
            "SELECT {} FROM environments e WHERE e.id > $1 ORDER BY e.id LIMIT $2",
            common::ENVIRONMENT_COLUMNS
        );
        let limit = i64::try_from(page).unwrap_or(i64::MAX);
        let mut after = 0;
        let mut first = true;
        loop {
            let values = vec![Value::Int(after), Value::Int(limit)];
            let rows = fetch_rows(&mut s, &sql, values, common::environment_row).await?;
            let last = rows.len() < page;
            let Some(row) = rows.last() else {
                // An empty catalogue is one empty page; a full last page ends with none.
                if first {
                    let _ = out
                        .send(Snapshot {
                            revision,
                            environments: Vec::new(),
                        })
                        .await;
                }
                return Ok(());
            };
            after = row.id;
            first = false;
            let environments = with_children(&mut s, rows, false).await?;
            let taken = out.send(Snapshot {
                revision,
                environments,
            });
            if taken.await.is_err() || last {
                return Ok(());
            }
        }
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<Change>, Error> {
        let mut s = self.read().await?;
        let (_, compacted) = revision_state(&mut s).await?;
        if after < compacted {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "revision {after} was compacted (history starts after {compacted}); \
                     re-list the catalogue"
                ),
            ));
        }
        let filter = ChangeFilter {
            after_revision: after,
            limit,
            ..ChangeFilter::default()
        };
        read_changes(&mut s, &filter).await
    }

    async fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, Error> {
        let mut s = self.read().await?;
        read_changes(&mut s, filter).await
    }

    async fn compact_changes(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        let mut s = self.write().await?;
        // Compaction removes a prefix of the log (so "compacted through N" means every
        // revision up to N is gone), never the newest change (which carries the revision).
        let through = integers(
            &mut s,
            "SELECT COALESCE(MAX(revision), 0) FROM changes WHERE time < $1 \
             AND revision < (SELECT MAX(revision) FROM changes)",
            vec![Value::Time(before)],
        )
        .await?
        .map_or(0, |(n, _)| n);
        if through == 0 {
            return Ok(0);
        }
        let deleted = s
            .execute(
                "DELETE FROM changes WHERE revision <= $1",
                vec![Value::Int(through)],
            )
            .await?;
        s.execute(
            "UPDATE log_state SET compacted_through = $1 WHERE compacted_through < $1",
            vec![Value::Int(through)],
        )
        .await?;
        s.commit().await?;
        Ok(deleted)
    }

    async fn log_bounds(&self) -> Result<LogBounds, Error> {
        let mut s = self.read().await?;
        let (_, compacted_through) = revision_state(&mut s).await?;
        Ok(LogBounds {
            compacted_through,
            latest: newest_revision(&mut s).await?,
        })
    }

    async fn apply_sync(
        &self,
        plan: &SyncPlan,
        base_revision: i64,
        actor: &Actor,
        fence: Option<&SyncFence>,
    ) -> Result<i64, Error> {
        if plan.is_noop() {
            // An unchanged file costs no write (but its fence's); a stale plan still conflicts,
            // so the caller never reports "in sync" for a catalogue it has not seen.
            let Some(fence) = fence else {
                let mut s = self.read().await?;
                check_base_revision(base_revision, newest_revision(&mut s).await?)?;
                return Ok(base_revision);
            };
            let mut s = self.write().await?;
            check_base_revision(base_revision, newest_revision(&mut s).await?)?;
            hold_fence(&mut s, fence).await?;
            s.commit().await?;
            return Ok(base_revision);
        }
        let mut s = self.write().await?;
        let mut log = PendingChanges::start(&mut s, actor).await?;
        check_base_revision(base_revision, log.newest())?;
        if let Some(fence) = fence {
            hold_fence(&mut s, fence).await?;
        }
        write::apply_plan(&mut s, &mut log, plan).await?;
        log.commit(s).await
    }

    async fn bootstrap(
        &self,
        environments: &[(Uuid, EnvironmentSpec)],
        actor: &Actor,
    ) -> Result<Option<Vec<Environment>>, Error> {
        let mut s = self.write().await?;
        let existing = integers(&mut s, "SELECT COUNT(*) FROM environments", Vec::new())
            .await?
            .map_or(0, |(n, _)| n);
        if existing > 0 {
            return Ok(None);
        }
        let mut log = PendingChanges::start(&mut s, actor).await?;
        let items: Vec<(Uuid, &EnvironmentSpec)> = environments
            .iter()
            .map(|(guid, spec)| (*guid, spec))
            .collect();
        let created = write::create(&mut s, &mut log, &items, None).await?;
        log.commit(s).await?;
        Ok(Some(created))
    }
}

/// Conflict unless the catalogue is still at the revision a sync was planned from.
/// Checks `fence` against the highest term applied under its Lease and records it, in the
/// transaction of `s` (writers are serialised, so no other sync lands in between).
async fn hold_fence<S: Session>(s: &mut S, fence: &SyncFence) -> Result<(), Error> {
    let last = fetch_rows(
        s,
        "SELECT term, holder FROM sync_fences WHERE lease = $1",
        vec![Value::Text(Some(fence.lease.clone()))],
        |row| Ok((row.integer(0)?, row.text("holder")?)),
    )
    .await?
    .into_iter()
    .next();
    fence.admits(last.as_ref().map(|(term, holder)| (*term, holder.as_str())))?;
    s.execute(
        "INSERT INTO sync_fences (lease, holder, term, time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (lease) DO UPDATE SET holder = excluded.holder, term = excluded.term, \
         time = excluded.time",
        vec![
            Value::Text(Some(fence.lease.clone())),
            Value::Text(Some(fence.holder.clone())),
            Value::Int(fence.term),
            Value::Time(common::now()),
        ],
    )
    .await?;
    Ok(())
}

fn check_base_revision(base: i64, newest: i64) -> Result<(), Error> {
    if base == newest {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Conflict,
        format!(
            "the catalogue changed since revision {base} (now {newest}) while the sync was \
             planned; plan again"
        ),
    ))
}

/// The one element of a one-element batch.
fn single<T>(items: Vec<T>) -> Result<T, Error> {
    items
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("a one-item write returned nothing"))
}
