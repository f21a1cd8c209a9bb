//! execenv-store: the catalogue's durable state behind one [`Store`] trait, with an embedded
//! SQLite implementation (the default) and a PostgreSQL one, chosen from the database URL.
//!
//! Every mutation appends to the change log in the same transaction, and writers are serialised
//! so that change revisions are strictly increasing in commit order (a watcher that resumes from
//! revision N never misses a change committed later with a smaller revision).

mod catalogue;
mod common;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::query::{ChangeFilter, ListQuery};
use execenv_core::sync::SyncPlan;
use execenv_core::{
    Actor, Change, Environment, EnvironmentSpec, Error, ErrorKind, ManagedBy, Permission, Principal,
};
use uuid::Uuid;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// One page of environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentPage {
    /// The environments of this page, in the requested order, each with its permissions.
    pub environments: Vec<Environment>,
    /// How many environments match the query in total (over all pages).
    pub total: u64,
}

/// The whole catalogue as of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The revision of the newest change included (0 for an empty log).
    pub revision: i64,
    /// Every environment, ordered by internal id.
    pub environments: Vec<Environment>,
}

/// The revisions the change log can still serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// Changes up to and including this revision were compacted away (0 = none).
    pub compacted_through: i64,
    /// The newest revision (0 for an empty log).
    pub latest: i64,
}

/// The catalogue store. Errors are execenv [`Error`]s: NotFound, AlreadyExists, Conflict,
/// OutOfRange for logical failures; Unavailable when the database cannot be reached.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Creates an environment with `guid`. AlreadyExists when the guid is taken.
    async fn create_environment(
        &self,
        guid: Uuid,
        spec: &EnvironmentSpec,
        managed_by: Option<ManagedBy>,
        actor: &Actor,
    ) -> Result<Environment, Error>;

    /// One environment with its permissions. NotFound when absent.
    async fn get_environment(&self, guid: Uuid) -> Result<Environment, Error>;

    /// Replaces the spec of an environment (its name is never changed by the store: the caller
    /// passes the same name). When `expected_revision` is non-zero and differs from the stored
    /// revision, fails with Conflict and changes nothing. NotFound when absent.
    async fn update_environment(
        &self,
        guid: Uuid,
        spec: &EnvironmentSpec,
        expected_revision: i64,
        actor: &Actor,
    ) -> Result<Environment, Error>;

    /// Deletes an environment and its permissions. Same `expected_revision` rule as update.
    async fn delete_environment(
        &self,
        guid: Uuid,
        expected_revision: i64,
        actor: &Actor,
    ) -> Result<(), Error>;

    /// Lists environments matching `query`, one page, with the total count.
    async fn list_environments(&self, query: &ListQuery) -> Result<EnvironmentPage, Error>;

    /// Adds a permission entry. NotFound for an unknown environment; AlreadyExists when the same
    /// user or group is already listed.
    async fn add_permission(
        &self,
        environment: Uuid,
        principal: &Principal,
        actor: &Actor,
    ) -> Result<Permission, Error>;

    /// Removes a permission entry. NotFound when the environment or entry is absent.
    async fn remove_permission(
        &self,
        environment: Uuid,
        permission: Uuid,
        actor: &Actor,
    ) -> Result<(), Error>;

    /// The whole catalogue and the revision it reflects, read consistently.
    async fn snapshot(&self) -> Result<Snapshot, Error>;

    /// Up to `limit` changes with revision > `after`, oldest first. OutOfRange when `after` is
    /// below the compacted revision (the caller must re-list).
    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<Change>, Error>;

    /// The audit trail, oldest first, filtered.
    async fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>, Error>;

    /// Deletes changes committed before `before` (never the newest change); returns how many.
    async fn compact_changes(&self, before: DateTime<Utc>) -> Result<u64, Error>;

    /// The revisions still served.
    async fn log_bounds(&self) -> Result<LogBounds, Error>;

    /// Applies a sync plan (creates and adopts become `managed_by = config-file`; updates replace
    /// the spec; deletes remove the environment and its permissions) in ONE transaction, only if
    /// the change log is still at `base_revision` — the revision of the snapshot the plan was
    /// computed from. Otherwise Conflict, and nothing changes. Adoption keeps the guid, the
    /// permissions and the creation time. Every operation appends one change with `actor`.
    /// Returns the newest revision after the commit (`base_revision` for a no-op plan).
    async fn apply_sync(
        &self,
        plan: &SyncPlan,
        base_revision: i64,
        actor: &Actor,
    ) -> Result<i64, Error>;

    /// Creates `environments` (guid, spec) as unmanaged environments in ONE transaction, only if
    /// the catalogue has no environment at all; `None` (and nothing changes) otherwise.
    async fn bootstrap(
        &self,
        environments: &[(Uuid, EnvironmentSpec)],
        actor: &Actor,
    ) -> Result<Option<Vec<Environment>>, Error>;
}

/// Opens the store named by `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`) and runs
/// its migrations.
///
/// An unknown scheme is InvalidArgument; a database that cannot be reached is Unavailable.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, Error> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::open(url).await?)),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the database URL scheme {scheme:?} is not supported; use sqlite://PATH, \
                 sqlite::memory: or postgres://USER@HOST:PORT/DATABASE (postgresql:// works too)"
            ),
        )),
    }
}
