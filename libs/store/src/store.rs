//! The [`Store`] trait every backend implements, with [`AccountStore`] (the accounts in the same
//! database) and the values they return. Callers hold an `Arc<dyn Store>` from [`crate::open`]
//! and never name a backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::accounts::{
    ApiKey, Group, KeyOwner, Lookup, NewApiKey, NewUser, User, UserUpdate,
};
use execenv_core::query::{ChangeFilter, ListQuery};
use execenv_core::security::{NewSecurityEvent, SecurityEvent, SecurityEventFilter};
use execenv_core::sync::{SyncFence, SyncPlan};
use execenv_core::{
    Actor, Change, Environment, EnvironmentSpec, Error, ManagedBy, Permission, Principal,
};
use tokio::sync::mpsc;
use uuid::Uuid;

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

/// The catalogue store, with the accounts ([`AccountStore`]) and the security audit events
/// ([`SecurityEventStore`]) in the same database. Errors are
/// execenv [`Error`]s: NotFound, AlreadyExists, Conflict, OutOfRange for logical failures;
/// Unavailable when the database cannot be reached.
#[async_trait]
pub trait Store: AccountStore + SecurityEventStore {
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
    /// Returns the revision of the deletion.
    async fn delete_environment(
        &self,
        guid: Uuid,
        expected_revision: i64,
        actor: &Actor,
    ) -> Result<i64, Error>;

    /// Lists environments matching `query`, one page, with the total count.
    async fn list_environments(&self, query: &ListQuery) -> Result<EnvironmentPage, Error>;

    /// Adds a permission entry naming an existing user or group by guid (stored as its
    /// canonical guid), with its `permission_added` security event. NotFound for an unknown
    /// environment; InvalidArgument (field `user_guid` or `group_guid`) when no user or group
    /// has that guid; AlreadyExists when the same user or group is already listed. Returns the
    /// entry and the revision of the change that added it.
    async fn add_permission(
        &self,
        environment: Uuid,
        principal: &Principal,
        actor: &Actor,
    ) -> Result<(Permission, i64), Error>;

    /// Removes a permission entry, with its `permission_removed` security event. NotFound when
    /// the environment or entry is absent. Returns the revision of the removal.
    async fn remove_permission(
        &self,
        environment: Uuid,
        permission: Uuid,
        actor: &Actor,
    ) -> Result<i64, Error>;

    /// The whole catalogue and the revision it reflects, read consistently.
    async fn snapshot(&self) -> Result<Snapshot, Error>;

    /// The whole catalogue, read consistently as [`Store::snapshot`] but handed to `out` as
    /// pages of at most `page` environments (by internal id), each with the revision the whole
    /// reflects — at least one page, empty for an empty catalogue. Each page waits until `out`
    /// has room, so a reader of 100,000 environments holds a page or two, not the catalogue;
    /// the read (and its database connection) lasts until the last page is taken. Stops, Ok,
    /// when `out` is closed.
    async fn snapshot_pages(&self, page: usize, out: mpsc::Sender<Snapshot>) -> Result<(), Error>;

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
    ///
    /// With a `fence` (config-sync's leader election), the same transaction first checks it
    /// against the highest term applied under its Lease (`SyncFence::admits`; refused:
    /// FailedPrecondition and nothing changes) and records it — for a no-op plan too, so that a
    /// deposed leader is refused even when its successor had nothing to change.
    async fn apply_sync(
        &self,
        plan: &SyncPlan,
        base_revision: i64,
        actor: &Actor,
        fence: Option<&SyncFence>,
    ) -> Result<i64, Error>;

    /// Creates `environments` (guid, spec) as unmanaged environments in ONE transaction, only if
    /// the catalogue has no environment at all; `None` (and nothing changes) otherwise.
    async fn bootstrap(
        &self,
        environments: &[(Uuid, EnvironmentSpec)],
        actor: &Actor,
    ) -> Result<Option<Vec<Environment>>, Error>;
}

/// Users, groups and API keys: the part of every [`Store`] the gateway authenticates with.
/// A user or group is named by a [`Lookup`] (guid, or username / group name); an unknown one is
/// NotFound. Account changes are not part of the catalogue's change log.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates a user (enabled, in no group). AlreadyExists when the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User, Error>;

    /// One user with their groups.
    async fn get_user(&self, user: &Lookup) -> Result<User, Error>;

    /// Every user with their groups, ordered by username.
    async fn list_users(&self) -> Result<Vec<User>, Error>;

    /// Applies `update` (and sets the update time when something changed).
    async fn update_user(&self, user: &Lookup, update: &UserUpdate) -> Result<User, Error>;

    /// Deletes a user with their API keys (an `api_key_revoked` event for each, by `actor`)
    /// and group memberships.
    async fn delete_user(&self, user: &Lookup, actor: &Actor) -> Result<(), Error>;

    /// Creates an empty group. AlreadyExists when the name is taken.
    async fn create_group(&self, guid: Uuid, name: &str) -> Result<Group, Error>;

    /// One group with its members.
    async fn get_group(&self, group: &Lookup) -> Result<Group, Error>;

    /// Every group with its members, ordered by name.
    async fn list_groups(&self) -> Result<Vec<Group>, Error>;

    /// Deletes a group and its memberships (the users stay).
    async fn delete_group(&self, group: &Lookup) -> Result<(), Error>;

    /// Adds a user to a group; returns the group. AlreadyExists when they are a member.
    async fn add_group_member(&self, group: &Lookup, user: &Lookup) -> Result<Group, Error>;

    /// Removes a user from a group; returns the group. NotFound when they are not a member.
    async fn remove_group_member(&self, group: &Lookup, user: &Lookup) -> Result<Group, Error>;

    /// Stores a new key (its digest and prefix; the secret never reaches the store), with its
    /// `api_key_created` security event by `actor`.
    async fn create_api_key(&self, key: &NewApiKey, actor: &Actor) -> Result<ApiKey, Error>;

    /// The keys of one user, or of everyone, oldest first.
    async fn list_api_keys(&self, user: Option<&Lookup>) -> Result<Vec<ApiKey>, Error>;

    /// Disables a key for good (a disabled key is never enabled again: create another), with
    /// its `api_key_revoked` security event by `actor` (none when it was disabled already).
    async fn disable_api_key(&self, id: Uuid, actor: &Actor) -> Result<ApiKey, Error>;

    /// Deletes a key, with its `api_key_revoked` security event by `actor`.
    async fn delete_api_key(&self, id: Uuid, actor: &Actor) -> Result<(), Error>;

    /// The key with this digest and its user, whether or not either is disabled.
    async fn find_api_key(&self, digest: &str) -> Result<Option<KeyOwner>, Error>;

    /// Records that key `id` was used at `at`, unless a use within the last
    /// [`execenv_core::accounts::LAST_USED_RESOLUTION`] is recorded already; returns whether
    /// it wrote.
    async fn record_api_key_use(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, Error>;
}

/// The security audit events: written with the changes they record by the [`Store`] and
/// [`AccountStore`] methods, and on their own for failed sign-ins.
#[async_trait]
pub trait SecurityEventStore: Send + Sync + 'static {
    /// Records an event that goes with no change (a client that failed to sign in too often).
    async fn record_security_event(&self, event: &NewSecurityEvent) -> Result<(), Error>;

    /// The events matching `filter`, oldest (lowest id) first.
    async fn list_security_events(
        &self,
        filter: &SecurityEventFilter,
    ) -> Result<Vec<SecurityEvent>, Error>;

    /// Deletes the events recorded before `before`; returns how many.
    async fn compact_security_events(&self, before: DateTime<Utc>) -> Result<u64, Error>;
}
