//! What both backends share and what needs no database: the rows they read, the SQL they run
//! (written once, with `$N` placeholders, which SQLite and PostgreSQL both accept), the
//! assembly of rows into [`Environment`]s, change-log JSON, and the mapping of database errors.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use execenv_core::query::{
    ChangeFilter, DEFAULT_PAGE_SIZE, ListQuery, SortField, search_text, title_sort_key,
    version_sort_key,
};
use execenv_core::{
    Change, ChangeAction, ChangeSource, Environment, EnvironmentSpec, Error, ErrorKind,
    Installation, Language, ManagedBy, Matching, Permission, Principal, VolumeMount, VolumeSource,
};
use uuid::Uuid;

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
}

/// One row of `installations`.
#[derive(Debug, Clone)]
pub struct InstallationRow {
    pub environment_id: i64,
    pub language: String,
    pub version: String,
    pub path: String,
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
    })
}

/// Decodes a row of [`ChildQueries::installations`].
pub fn installation_row<R: StoreRow>(row: &R) -> Result<InstallationRow, sqlx::Error> {
    Ok(InstallationRow {
        environment_id: row.named_integer("environment_id")?,
        language: row.text("language")?,
        version: row.text("version")?,
        path: row.text("path")?,
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

/// Decodes the first one or two integer columns (the second 0 when absent).
pub fn integer_pair<R: StoreRow>(row: &R) -> Result<(i64, i64), sqlx::Error> {
    let second = if row.columns() > 1 {
        row.integer(1)?
    } else {
        0
    };
    Ok((row.integer(0)?, second))
}

/// The columns of [`EnvironmentRow`], in its field order, for `environments e`.
pub const ENVIRONMENT_COLUMNS: &str = "e.id, e.guid, e.name, e.title, e.description, \
     e.cluster_name, e.environment_type, e.matching, e.supervisor, e.managed_by, \
     e.created_time, e.updated_time, e.revision";

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
fn corrupt(what: &str, value: &str) -> Error {
    Error::internal(format!(
        "the database holds an unknown {what} {value:?}; was it written by a newer execenv?"
    ))
}

fn parse_guid(value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value).map_err(|_| corrupt("guid", value))
}

/// `Conflict` unless `expected` is 0 or the stored revision.
pub fn check_revision(env: &Environment, expected: i64) -> Result<(), Error> {
    if expected != 0 && expected != env.revision {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "environment {} changed since revision {expected} (now {}); re-read it and retry",
                env.guid, env.revision
            ),
        ));
    }
    Ok(())
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
/// `environments`. Children must be ordered by position (installations, mounts) or insertion
/// (permissions).
pub fn assemble(
    environments: Vec<EnvironmentRow>,
    installations: Vec<InstallationRow>,
    mounts: Vec<MountRow>,
    permissions: Vec<PermissionRow>,
) -> Result<Vec<Environment>, Error> {
    let mut out = Vec::with_capacity(environments.len());
    let mut index = HashMap::with_capacity(environments.len());
    for row in environments {
        index.insert(row.id, out.len());
        out.push(environment_from_row(row)?);
    }
    for row in installations {
        let Some(&i) = index.get(&row.environment_id) else {
            continue;
        };
        let language =
            Language::parse(&row.language).ok_or_else(|| corrupt("language", &row.language))?;
        out[i].spec.installations_mut(language).push(Installation {
            version: row.version,
            path: row.path,
        });
    }
    for row in mounts {
        let Some(&i) = index.get(&row.environment_id) else {
            continue;
        };
        let source = match row.source_type.as_str() {
            "nfs" => VolumeSource::Nfs {
                host: row.nfs_host.unwrap_or_default(),
                export_path: row.nfs_export_path.unwrap_or_default(),
            },
            "pvc" => VolumeSource::Pvc {
                claim_name: row.pvc_name.unwrap_or_default(),
            },
            other => return Err(corrupt("volume source type", other)),
        };
        out[i].spec.volume_mounts.push(VolumeMount {
            source,
            target_path: row.target_path,
            read_only: row.read_only,
        });
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
    let matching =
        Matching::parse(&row.matching).ok_or_else(|| corrupt("matching", &row.matching))?;
    let managed_by = match row.managed_by {
        None => None,
        Some(m) => Some(ManagedBy::parse(&m).ok_or_else(|| corrupt("manager", &m))?),
    };
    Ok(Environment {
        id: row.id,
        guid: parse_guid(&row.guid)?,
        spec: EnvironmentSpec {
            name: row.name,
            title: row.title,
            description: row.description,
            cluster_name: row.cluster_name,
            matching,
            supervisor: row.supervisor,
            python: Vec::new(),
            r: Vec::new(),
            quarto: Vec::new(),
            tensorflow: Vec::new(),
            volume_mounts: Vec::new(),
        },
        environment_type: row.environment_type,
        managed_by,
        permissions: Vec::new(),
        created_time: row.created_time,
        updated_time: row.updated_time,
        revision: row.revision,
    })
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

fn encode(env: Option<&Environment>) -> Result<Value, Error> {
    env.map(|e| {
        serde_json::to_string(e)
            .map_err(|err| Error::internal(format!("cannot encode environment {}: {err}", e.guid)))
    })
    .transpose()
    .map(Value::Text)
}

/// Appends one change (`$1..$8`).
pub const INSERT_CHANGE: &str = "INSERT INTO changes (revision, time, actor, source, action, \
     environment_guid, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The values of [`INSERT_CHANGE`].
pub fn change_values(change: &Change) -> Result<Vec<Value>, Error> {
    Ok(vec![
        Value::Int(change.revision),
        Value::Time(change.time),
        Value::text(&change.actor),
        Value::text(change.source.as_str()),
        Value::text(change.action.as_str()),
        Value::text(change.environment_guid.to_string()),
        encode(change.before.as_ref())?,
        encode(change.after.as_ref())?,
    ])
}

/// Inserts an environment (`$1..$18`) and returns its id.
pub const INSERT_ENVIRONMENT: &str = "INSERT INTO environments (guid, name, title, description, \
     cluster_name, environment_type, matching, supervisor, managed_by, created_time, \
     updated_time, revision, search_text, title_key, python_key, r_key, quarto_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
     RETURNING id";

/// The values of [`INSERT_ENVIRONMENT`] for `env` (its id is ignored).
pub fn insert_environment_values(env: &Environment) -> Vec<Value> {
    let spec = &env.spec;
    let mut values = vec![
        Value::text(env.guid.to_string()),
        Value::text(&spec.name),
        Value::Text(spec.title.clone()),
        Value::Text(spec.description.clone()),
        Value::text(&spec.cluster_name),
        Value::text(&env.environment_type),
        Value::text(spec.matching.as_str()),
        Value::Text(spec.supervisor.clone()),
        Value::Text(env.managed_by.map(|m| m.as_str().to_owned())),
        Value::Time(env.created_time),
        Value::Time(env.updated_time),
        Value::Int(env.revision),
    ];
    values.extend(derived_values(env.guid, spec));
    values
}

/// Rewrites the fields of an environment (`$1..$12`, id last); the name is kept.
pub const UPDATE_ENVIRONMENT: &str = "UPDATE environments SET title = $1, description = $2, \
     cluster_name = $3, matching = $4, supervisor = $5, updated_time = $6, revision = $7, \
     search_text = $8, title_key = $9, python_key = $10, r_key = $11, quarto_key = $12 \
     WHERE id = $13";

/// The values of [`UPDATE_ENVIRONMENT`] for `env`.
pub fn update_environment_values(env: &Environment) -> Vec<Value> {
    let spec = &env.spec;
    let mut values = vec![
        Value::Text(spec.title.clone()),
        Value::Text(spec.description.clone()),
        Value::text(&spec.cluster_name),
        Value::text(spec.matching.as_str()),
        Value::Text(spec.supervisor.clone()),
        Value::Time(env.updated_time),
        Value::Int(env.revision),
    ];
    values.extend(derived_values(env.guid, spec));
    values.push(Value::Int(env.id));
    values
}

/// search_text, title_key, python_key, r_key, quarto_key.
fn derived_values(guid: Uuid, spec: &EnvironmentSpec) -> [Value; 5] {
    [
        Value::text(search_text(guid, spec)),
        Value::text(title_sort_key(spec)),
        Value::text(version_sort_key(&spec.python)),
        Value::text(version_sort_key(&spec.r)),
        Value::text(version_sort_key(&spec.quarto)),
    ]
}

/// Sets an environment's revision (`$1`) by id (`$2`).
pub const SET_REVISION: &str = "UPDATE environments SET revision = $1 WHERE id = $2";
/// Deletes an environment by id; installations, mounts and permissions cascade.
pub const DELETE_ENVIRONMENT: &str = "DELETE FROM environments WHERE id = $1";
/// Deletes the installations of an environment.
pub const DELETE_INSTALLATIONS: &str = "DELETE FROM installations WHERE environment_id = $1";
/// Deletes the volume mounts of an environment.
pub const DELETE_MOUNTS: &str = "DELETE FROM volume_mounts WHERE environment_id = $1";
/// Inserts one installation.
pub const INSERT_INSTALLATION: &str = "INSERT INTO installations (environment_id, language, \
     position, version, path) VALUES ($1, $2, $3, $4, $5)";
/// Inserts one volume mount.
pub const INSERT_MOUNT: &str = "INSERT INTO volume_mounts (environment_id, position, source_type, \
     nfs_host, nfs_export_path, pvc_name, target_path, read_only) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Inserts one permission.
pub const INSERT_PERMISSION: &str = "INSERT INTO permissions (guid, environment_id, user_guid, \
     group_guid) VALUES ($1, $2, $3, $4)";
/// Deletes one permission by guid.
pub const DELETE_PERMISSION: &str = "DELETE FROM permissions WHERE guid = $1";

/// The rows to insert for the installations and mounts of `spec`: (SQL, values) pairs.
pub fn child_inserts(id: i64, spec: &EnvironmentSpec) -> Vec<(&'static str, Vec<Value>)> {
    let mut out = Vec::new();
    for language in Language::ALL {
        for (position, i) in (0_i64..).zip(spec.installations(language)) {
            out.push((
                INSERT_INSTALLATION,
                vec![
                    Value::Int(id),
                    Value::text(language.as_str()),
                    Value::Int(position),
                    Value::text(&i.version),
                    Value::text(&i.path),
                ],
            ));
        }
    }
    for (position, m) in (0_i64..).zip(&spec.volume_mounts) {
        let (kind, host, export, pvc) = match &m.source {
            VolumeSource::Nfs { host, export_path } => {
                ("nfs", Some(host.clone()), Some(export_path.clone()), None)
            }
            VolumeSource::Pvc { claim_name } => ("pvc", None, None, Some(claim_name.clone())),
        };
        out.push((
            INSERT_MOUNT,
            vec![
                Value::Int(id),
                Value::Int(position),
                Value::text(kind),
                Value::Text(host),
                Value::Text(export),
                Value::Text(pvc),
                Value::text(&m.target_path),
                Value::Bool(m.read_only),
            ],
        ));
    }
    out
}

/// The values of [`INSERT_PERMISSION`].
pub fn permission_values(environment_id: i64, permission: &Permission) -> Vec<Value> {
    let (user, group) = match &permission.principal {
        Principal::User(u) => (Some(u.clone()), None),
        Principal::Group(g) => (None, Some(g.clone())),
    };
    vec![
        Value::text(permission.guid.to_string()),
        Value::Int(environment_id),
        Value::Text(user),
        Value::Text(group),
    ]
}

/// The newest revision and the compacted-through mark: the next revision is one more than
/// the larger (a compacted log may be empty of rows but not of history).
pub const REVISION_STATE: &str = "SELECT (SELECT COALESCE(MAX(revision), 0) FROM changes), \
     compacted_through FROM log_state";

/// The children of environments, in a stable order, for the ids `$1..$n` (all when `ids` is
/// `None`). Returns one query per table: installations, mounts, permissions.
pub fn children_queries(ids: Option<&[i64]>) -> ChildQueries {
    let (filter, values) = match ids {
        None => (String::new(), Vec::new()),
        Some(ids) => {
            let list = placeholders(1, ids.len());
            (
                format!(" WHERE environment_id IN ({list})"),
                ids.iter().map(|&id| Value::Int(id)).collect(),
            )
        }
    };
    ChildQueries {
        installations: format!(
            "SELECT environment_id, language, version, path FROM installations{filter} \
             ORDER BY environment_id, language, position"
        ),
        mounts: format!(
            "SELECT environment_id, source_type, nfs_host, nfs_export_path, pvc_name, target_path, \
             read_only FROM volume_mounts{filter} ORDER BY environment_id, position"
        ),
        permissions: format!(
            "SELECT environment_id, guid, user_guid, group_guid FROM permissions{filter} ORDER BY id"
        ),
        values,
    }
}

/// See [`children_queries`].
pub struct ChildQueries {
    pub installations: String,
    pub mounts: String,
    pub permissions: String,
    pub values: Vec<Value>,
}

/// `$first, $first+1, …` (`count` of them).
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The queries of one list page: the total count and the page of environment rows.
pub struct ListQueries {
    pub count: String,
    pub page: String,
    pub count_values: Vec<Value>,
    pub page_values: Vec<Value>,
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Builds the SQL of a list request from fixed fragments; every input is a bound value.
pub fn list_queries(query: &ListQuery) -> ListQueries {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let bind = |values: &mut Vec<Value>, v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(search) = &query.search {
        let p = bind(
            &mut values,
            Value::text(format!("%{}%", escape_like(&search.to_lowercase()))),
        );
        conditions.push(format!("e.search_text LIKE {p} ESCAPE '\\'"));
    }
    if let Some(name) = &query.name {
        let p = bind(&mut values, Value::text(name));
        conditions.push(format!("e.name = {p}"));
    }
    if let Some(matching) = query.matching {
        let p = bind(&mut values, Value::text(matching.as_str()));
        conditions.push(format!("e.matching = {p}"));
    }
    match query.managed {
        Some(true) => conditions.push("e.managed_by IS NOT NULL".to_owned()),
        Some(false) => conditions.push("e.managed_by IS NULL".to_owned()),
        None => {}
    }
    if query.language.is_some() || query.language_version.is_some() {
        let mut exists =
            "EXISTS (SELECT 1 FROM installations i WHERE i.environment_id = e.id".to_owned();
        if let Some(language) = query.language {
            let p = bind(&mut values, Value::text(language.as_str()));
            exists.push_str(&format!(" AND i.language = {p}"));
        }
        if let Some(version) = &query.language_version {
            let exact = bind(&mut values, Value::text(version));
            let prefix = bind(
                &mut values,
                Value::text(format!("{}.%", escape_like(version))),
            );
            exists.push_str(&format!(
                " AND (i.version = {exact} OR i.version LIKE {prefix} ESCAPE '\\')"
            ));
        }
        exists.push(')');
        conditions.push(exists);
    }
    if let Some(visibility) = &query.visible_to {
        let mut grants: Vec<String> = Vec::new();
        if let Some(user) = &visibility.user {
            let p = bind(&mut values, Value::text(user));
            grants.push(format!("p.user_guid = {p}"));
        }
        if !visibility.groups.is_empty() {
            let list = visibility
                .groups
                .iter()
                .map(|g| bind(&mut values, Value::text(g)))
                .collect::<Vec<_>>()
                .join(", ");
            grants.push(format!("p.group_guid IN ({list})"));
        }
        let mut visible =
            "(NOT EXISTS (SELECT 1 FROM permissions p WHERE p.environment_id = e.id)".to_owned();
        if !grants.is_empty() {
            visible.push_str(&format!(
                " OR EXISTS (SELECT 1 FROM permissions p WHERE p.environment_id = e.id AND ({}))",
                grants.join(" OR ")
            ));
        }
        visible.push(')');
        conditions.push(visible);
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let column = match query.sort {
        SortField::Title => "e.title_key",
        SortField::Name => "e.name",
        SortField::Created => "e.created_time",
        SortField::Updated => "e.updated_time",
        SortField::Matching => "e.matching",
        SortField::PythonVersion => "e.python_key",
        SortField::RVersion => "e.r_key",
        SortField::QuartoVersion => "e.quarto_key",
    };
    let direction = if query.descending { "DESC" } else { "ASC" };
    let count_values = values.clone();
    let limit = if query.limit == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        query.limit
    };
    let limit_p = bind(&mut values, Value::Int(i64::from(limit)));
    let offset_p = bind(
        &mut values,
        Value::Int(i64::try_from(query.offset).unwrap_or(i64::MAX)),
    );
    ListQueries {
        count: format!("SELECT COUNT(*) FROM environments e{filter}"),
        page: format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM environments e{filter} \
             ORDER BY {column} {direction}, e.id {direction} LIMIT {limit_p} OFFSET {offset_p}"
        ),
        count_values,
        page_values: values,
    }
}

/// The columns of [`ChangeRow`], in its field order.
pub const CHANGE_COLUMNS: &str =
    "revision, time, actor, source, action, environment_guid, before_json, after_json";

/// Builds the SQL of an audit-trail query.
pub fn change_query(filter: &ChangeFilter) -> (String, Vec<Value>) {
    let mut values = vec![Value::Int(filter.after_revision)];
    let mut sql = format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE revision > $1");
    if let Some(guid) = filter.environment_guid {
        values.push(Value::text(guid.to_string()));
        sql.push_str(&format!(" AND environment_guid = ${}", values.len()));
    }
    if let Some(since) = filter.since {
        values.push(Value::Time(since));
        sql.push_str(&format!(" AND time >= ${}", values.len()));
    }
    if let Some(until) = filter.until {
        values.push(Value::Time(until));
        sql.push_str(&format!(" AND time < ${}", values.len()));
    }
    let limit = if filter.limit == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        filter.limit
    };
    values.push(Value::Int(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY revision LIMIT ${}", values.len()));
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn list_queries_bind_every_input() {
        let query = ListQuery {
            search: Some("x'; DROP TABLE environments; --".to_owned()),
            ..ListQuery::default()
        };
        let q = list_queries(&query);
        assert!(!q.page.contains("DROP"));
        assert_eq!(q.count_values.len(), 1);
        assert_eq!(q.page_values.len(), 3);
    }
}
