//! What both backends share and what needs no database: the rows they read, the SQL they run
//! (in [`sql`]), the assembly of rows into [`Environment`]s, change-log JSON, and the mapping of database errors.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use execenv_core::{
    Change, ChangeAction, ChangeSource, Environment, EnvironmentSpec, Error, ErrorKind,
    Installation, Language, ManagedBy, Matching, Permission, Principal, VolumeMount, VolumeSource,
};
use uuid::Uuid;

mod sql;
#[cfg(test)]
mod tests;

pub use sql::*;

/// A value bound to a `$N` placeholder; each backend encodes it in its own types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text (or NULL).
    Text(Option<String>),
    /// A 64-bit integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A point in time, already truncated to microseconds.
    Time(DateTime<Utc>),
    /// A point in time or NULL (typed, unlike a NULL text), already truncated to microseconds.
    OptionalTime(Option<DateTime<Utc>>),
}

impl Value {
    fn text(s: impl Into<String>) -> Value {
        Value::Text(Some(s.into()))
    }
}

/// One row of `environments`, as read.
#[derive(Debug, Clone)]
pub struct EnvironmentRow {
    pub id: i64,
    pub guid: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub cluster_name: String,
    pub environment_type: String,
    pub matching: String,
    pub supervisor: Option<String>,
    pub managed_by: Option<String>,
    pub created_time: DateTime<Utc>,
    pub updated_time: DateTime<Utc>,
    pub revision: i64,
    /// The installations, as [`installations_json`] writes them.
    pub installations: String,
}

/// One row of `volume_mounts`.
#[derive(Debug, Clone)]
pub struct MountRow {
    pub environment_id: i64,
    pub source_type: String,
    pub nfs_host: Option<String>,
    pub nfs_export_path: Option<String>,
    pub pvc_name: Option<String>,
    pub target_path: String,
    pub read_only: bool,
}

/// One row of `permissions`.
#[derive(Debug, Clone)]
pub struct PermissionRow {
    pub environment_id: i64,
    pub guid: String,
    pub user_guid: Option<String>,
    pub group_guid: Option<String>,
}

/// One row of `changes`.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub revision: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub environment_guid: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// Typed access to the columns of a row; each backend maps the store's column types to its own
/// (times in particular).
pub trait StoreRow: Send {
    /// A text column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn optional_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// A 64-bit integer column, by position.
    fn integer(&self, index: usize) -> Result<i64, sqlx::Error>;
    /// A boolean column.
    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error>;
    /// A time column.
    fn time(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    /// A nullable time column.
    fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// The number of columns.
    fn columns(&self) -> usize;
    /// A 64-bit integer column, by name.
    fn named_integer(&self, column: &str) -> Result<i64, sqlx::Error>;
}

/// Decodes a row of [`ENVIRONMENT_COLUMNS`].
pub fn environment_row<R: StoreRow>(row: &R) -> Result<EnvironmentRow, sqlx::Error> {
    Ok(EnvironmentRow {
        id: row.named_integer("id")?,
        guid: row.text("guid")?,
        name: row.text("name")?,
        title: row.optional_text("title")?,
        description: row.optional_text("description")?,
        cluster_name: row.text("cluster_name")?,
        environment_type: row.text("environment_type")?,
        matching: row.text("matching")?,
        supervisor: row.optional_text("supervisor")?,
        managed_by: row.optional_text("managed_by")?,
        created_time: row.time("created_time")?,
        updated_time: row.time("updated_time")?,
        revision: row.named_integer("revision")?,
        installations: row.text("installations")?,
    })
}

/// Decodes a row of [`ChildQueries::mounts`].
pub fn mount_row<R: StoreRow>(row: &R) -> Result<MountRow, sqlx::Error> {
    Ok(MountRow {
        environment_id: row.named_integer("environment_id")?,
        source_type: row.text("source_type")?,
        nfs_host: row.optional_text("nfs_host")?,
        nfs_export_path: row.optional_text("nfs_export_path")?,
        pvc_name: row.optional_text("pvc_name")?,
        target_path: row.text("target_path")?,
        read_only: row.boolean("read_only")?,
    })
}

/// Decodes a row of [`ChildQueries::permissions`].
pub fn permission_row<R: StoreRow>(row: &R) -> Result<PermissionRow, sqlx::Error> {
    Ok(PermissionRow {
        environment_id: row.named_integer("environment_id")?,
        guid: row.text("guid")?,
        user_guid: row.optional_text("user_guid")?,
        group_guid: row.optional_text("group_guid")?,
    })
}

/// Decodes a row of [`CHANGE_COLUMNS`].
pub fn change_row<R: StoreRow>(row: &R) -> Result<ChangeRow, sqlx::Error> {
    Ok(ChangeRow {
        revision: row.named_integer("revision")?,
        time: row.time("time")?,
        actor: row.text("actor")?,
        source: row.text("source")?,
        action: row.text("action")?,
        environment_guid: row.text("environment_guid")?,
        before_json: row.optional_text("before_json")?,
        after_json: row.optional_text("after_json")?,
    })
}

/// Decodes an environment's `id` and `guid`.
pub fn id_and_guid<R: StoreRow>(row: &R) -> Result<(i64, String), sqlx::Error> {
    Ok((row.named_integer("id")?, row.text("guid")?))
}

/// Decodes the first one or two integer columns (the second 0 when absent).
pub fn integer_pair<R: StoreRow>(row: &R) -> Result<(i64, i64), sqlx::Error> {
    let second = if row.columns() > 1 {
        row.integer(1)?
    } else {
        0
    };
    Ok((row.integer(0)?, second))
}

/// Decodes the rows of a query as they stream in: each row the driver returns is decoded and
/// dropped before the next is read, so a large result (the whole catalogue for a snapshot or a
/// sync plan) never exists twice, once as driver rows and once decoded.
pub async fn decode_each<R, T>(
    mut rows: impl futures::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    decode: fn(&R) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, Error> {
    use futures::TryStreamExt;
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await.map_err(database_error)? {
        out.push(decode(&row).map_err(database_error)?);
    }
    Ok(out)
}

/// The current time as the store records it: truncated to microseconds, the precision both
/// databases keep, so that what a write returns equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Maps a database failure to an execenv error: Unavailable when retrying may help (the
/// connection, the pool, a lock or serialisation failure), Internal otherwise.
pub fn database_error(e: sqlx::Error) -> Error {
    let retryable = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            let code = code.as_ref();
            if code.len() == 5 {
                // PostgreSQL SQLSTATE: connection exceptions (08), insufficient resources (53),
                // operator intervention (57), serialisation failure and deadlock (40001, 40P01).
                ["08", "53", "57"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "40001"
                    || code == "40P01"
            } else {
                // SQLite result codes: SQLITE_BUSY (5), SQLITE_LOCKED (6), and their extended
                // codes (the primary code is the low byte).
                matches!(code.parse::<i64>().map(|c| c & 0xff), Ok(5 | 6))
            }
        }),
        _ => false,
    };
    let message = format!("database error: {e}");
    if retryable {
        Error::unavailable(message)
    } else {
        Error::internal(message)
    }
}

/// Maps a failed migration: database failures as [`database_error`]; a schema that does not
/// match the embedded migrations is FailedPrecondition (retrying will not help).
pub fn migration_error(database: &str, e: sqlx::migrate::MigrateError) -> Error {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
            let mapped = database_error(inner);
            Error::new(
                mapped.kind,
                format!("cannot migrate {database}: {}", mapped.message),
            )
        }
        other => Error::new(
            ErrorKind::FailedPrecondition,
            format!(
                "cannot migrate {database}: {other}; its schema was written by another execenv \
                 version: use a matching version or a fresh database"
            ),
        ),
    }
}

/// The error for a stored value this version cannot read.
pub(crate) fn corrupt(what: &str, value: &str) -> Error {
    Error::internal(format!(
        "the database holds an unknown {what} {value:?}; was it written by a newer execenv?"
    ))
}

/// A stored guid; a value that is not one is corrupt.
pub(crate) fn parse_guid(value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value).map_err(|_| corrupt("guid", value))
}

/// `AlreadyExists` for an environment guid.
pub fn environment_exists(guid: Uuid) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        format!(
            "environment {guid} already exists; update it instead, or create it with another guid"
        ),
    )
}

/// Assembles environment rows and their children into environments, keeping the order of
/// `environments`. Children must be ordered by position (mounts) or insertion (permissions);
/// mounts grouped by environment.
///
/// Each list of installations and mounts is allocated at its exact length: grown one push at a
/// time, the one installation an environment typically has per language would take a vector of
/// four, and a whole catalogue (a snapshot) several megabytes more than it needs.
pub fn assemble(
    environments: Vec<EnvironmentRow>,
    mut mounts: Vec<MountRow>,
    permissions: Vec<PermissionRow>,
) -> Result<Vec<Environment>, Error> {
    let mut out = Vec::with_capacity(environments.len());
    let mut index = HashMap::with_capacity(environments.len());
    for row in environments {
        index.insert(row.id, out.len());
        out.push(environment_from_row(row)?);
    }
    for run in mounts.chunk_by_mut(|a, b| a.environment_id == b.environment_id) {
        let Some(&i) = index.get(&run[0].environment_id) else {
            continue;
        };
        let list = &mut out[i].spec.volume_mounts;
        list.reserve_exact(run.len());
        for row in run {
            let source = match row.source_type.as_str() {
                "nfs" => VolumeSource::Nfs {
                    host: row.nfs_host.take().unwrap_or_default(),
                    export_path: row.nfs_export_path.take().unwrap_or_default(),
                },
                "pvc" => VolumeSource::Pvc {
                    claim_name: row.pvc_name.take().unwrap_or_default(),
                },
                other => return Err(corrupt("volume source type", other)),
            };
            list.push(VolumeMount {
                source,
                target_path: std::mem::take(&mut row.target_path),
                read_only: row.read_only,
            });
        }
    }
    for row in permissions {
        let Some(&i) = index.get(&row.environment_id) else {
            continue;
        };
        let principal = match (row.user_guid, row.group_guid) {
            (Some(user), None) => Principal::User(user),
            (None, Some(group)) => Principal::Group(group),
            _ => return Err(corrupt("permission principal of", &row.guid)),
        };
        let environment_guid = out[i].guid;
        out[i].permissions.push(Permission {
            guid: parse_guid(&row.guid)?,
            environment_guid,
            principal,
        });
    }
    Ok(out)
}

fn environment_from_row(row: EnvironmentRow) -> Result<Environment, Error> {
    let mut spec = EnvironmentSpec {
        name: row.name,
        title: row.title,
        description: row.description,
        cluster_name: row.cluster_name,
        matching: Matching::parse(&row.matching)
            .ok_or_else(|| corrupt("matching", &row.matching))?,
        supervisor: row.supervisor,
        python: Vec::new(),
        r: Vec::new(),
        quarto: Vec::new(),
        tensorflow: Vec::new(),
        volume_mounts: Vec::new(),
    };
    add_installations(&mut spec, &row.installations)?;
    let managed_by = match row.managed_by {
        None => None,
        Some(m) => Some(ManagedBy::parse(&m).ok_or_else(|| corrupt("manager", &m))?),
    };
    Ok(Environment {
        id: row.id,
        guid: parse_guid(&row.guid)?,
        spec,
        environment_type: row.environment_type,
        managed_by,
        permissions: Vec::new(),
        created_time: row.created_time,
        updated_time: row.updated_time,
        revision: row.revision,
    })
}

/// Adds the installations of an `installations` column ([`installations_json`]) to `spec`.
/// The column lists them by language, so each language's list is allocated at its length.
fn add_installations(spec: &mut EnvironmentSpec, json: &str) -> Result<(), Error> {
    let stored: Vec<StoredInstallation> = serde_json::from_str(json)
        .map_err(|e| corrupt("list of installations", &format!("{json} ({e})")))?;
    for run in stored.chunk_by(|a, b| a.language == b.language) {
        let language = Language::parse(&run[0].language)
            .ok_or_else(|| corrupt("language", &run[0].language))?;
        let list = spec.installations_mut(language);
        list.reserve_exact(run.len());
        list.extend(run.iter().map(|i| Installation {
            version: i.version.to_string(),
            path: i.path.to_string(),
        }));
    }
    Ok(())
}

/// Decodes a change-log row.
pub fn change_from_row(row: ChangeRow) -> Result<Change, Error> {
    let decode = |json: Option<String>| -> Result<Option<Environment>, Error> {
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| {
                Error::internal(format!(
                    "change {} holds unreadable JSON: {e}",
                    row.revision
                ))
            })
        })
        .transpose()
    };
    Ok(Change {
        revision: row.revision,
        time: row.time,
        source: ChangeSource::parse(&row.source)
            .ok_or_else(|| corrupt("change source", &row.source))?,
        action: ChangeAction::parse(&row.action)
            .ok_or_else(|| corrupt("change action", &row.action))?,
        environment_guid: parse_guid(&row.environment_guid)?,
        before: decode(row.before_json)?,
        after: decode(row.after_json)?,
        actor: row.actor,
    })
}
