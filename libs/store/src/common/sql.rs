//! Every SQL statement the store runs, built from fixed fragments with every input bound to a
//! `$N` placeholder (which SQLite and PostgreSQL both accept), and the values to bind.

use chrono::{DateTime, Utc};
use execenv_core::query::{
    ChangeFilter, DEFAULT_PAGE_SIZE, ListQuery, SortField, search_text, title_sort_key,
    version_sort_key,
};
use execenv_core::{
    Actor, ChangeAction, Environment, EnvironmentSpec, Error, Language, Permission, Principal,
    VolumeSource,
};
use uuid::Uuid;

use super::Value;

/// The columns of [`EnvironmentRow`], in its field order, for `environments e`.
pub const ENVIRONMENT_COLUMNS: &str = "e.id, e.guid, e.name, e.title, e.description, \
     e.cluster_name, e.environment_type, e.matching, e.supervisor, e.managed_by, \
     e.created_time, e.updated_time, e.revision, e.installations";

fn encode(env: Option<&Environment>) -> Result<Value, Error> {
    env.map(|e| {
        serde_json::to_string(e)
            .map_err(|err| Error::internal(format!("cannot encode environment {}: {err}", e.guid)))
    })
    .transpose()
    .map(Value::Text)
}

/// The most values one statement binds: under SQLite's limit (32,766) and PostgreSQL's (65,535).
pub const MAX_BOUND_VALUES: usize = 30_000;

/// A statement over many rows of values: a multi-row `INSERT`, or an `UPDATE … FROM` the rows.
/// Its text around the rows, and how many values each row binds. The rows are written as a
/// `VALUES` list of `$N` placeholders ([`Batch::sql`]) or, on PostgreSQL, as one array per
/// column ([`Batch::unnest_sql`]).
pub struct Batch {
    head: &'static str,
    /// The number of values of one row.
    pub width: usize,
    tail: &'static str,
    /// How the statement takes its rows.
    rows: Rows,
}

/// How a [`Batch`] takes its rows.
enum Rows {
    /// `INSERT INTO t (…) VALUES (…), …` or `INSERT INTO t (…) SELECT * FROM UNNEST(…)`.
    Inserted,
    /// `… FROM (VALUES (…), …) AS v …` or `… FROM UNNEST(…) AS v(column1, …) …`: the columns
    /// of the rows are `v.column1`, `v.column2`, … (as both databases name those of `VALUES`).
    Joined,
}

impl Batch {
    /// The statement for `rows` rows (`$1..$n`, row by row).
    pub fn sql(&self, rows: usize) -> String {
        let tuples = (0..rows)
            .map(|row| format!("({})", placeholders(row * self.width + 1, self.width)))
            .collect::<Vec<_>>()
            .join(", ");
        match self.rows {
            Rows::Inserted => format!("{}VALUES {tuples}{}", self.head, self.tail),
            Rows::Joined => format!("{}(VALUES {tuples}) AS v{}", self.head, self.tail),
        }
    }

    /// The statement for any number of rows bound as one array per column, `$1` the first
    /// column's: `types` are the PostgreSQL types of the columns (`text`, `int8`, …).
    pub fn unnest_sql(&self, types: &[&str]) -> String {
        let arrays = (1..)
            .zip(types)
            .map(|(i, t)| format!("${i}::{t}[]"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.rows {
            Rows::Inserted => format!("{}SELECT * FROM UNNEST({arrays}){}", self.head, self.tail),
            Rows::Joined => {
                let columns = (1..=self.width)
                    .map(|i| format!("column{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{}UNNEST({arrays}) AS v({columns}){}", self.head, self.tail)
            }
        }
    }

    /// How many rows one statement of [`Batch::sql`] takes at most.
    pub fn rows_per_statement(&self) -> usize {
        (MAX_BOUND_VALUES / self.width).max(1)
    }
}

/// Appends changes ([`change_values`]).
pub const INSERT_CHANGES: Batch = Batch {
    head: "INSERT INTO changes (revision, time, actor, source, action, environment_guid, before_json, \
           after_json) ",
    width: 8,
    tail: "",
    rows: Rows::Inserted,
};

/// One change to append to the log, borrowing the environment before and after it (a
/// [`execenv_core::Change`] as written, without copies of the environments).
#[derive(Debug, Clone, Copy)]
pub struct LoggedChange<'a> {
    pub revision: i64,
    pub time: DateTime<Utc>,
    pub actor: &'a Actor,
    pub action: ChangeAction,
    pub environment_guid: Uuid,
    pub before: Option<&'a Environment>,
    pub after: Option<&'a Environment>,
}

/// The values of one row of [`INSERT_CHANGES`].
pub fn change_values(change: &LoggedChange<'_>) -> Result<Vec<Value>, Error> {
    Ok(vec![
        Value::Int(change.revision),
        Value::Time(change.time),
        Value::text(&change.actor.name),
        Value::text(change.actor.source.as_str()),
        Value::text(change.action.as_str()),
        Value::text(change.environment_guid.to_string()),
        encode(change.before)?,
        encode(change.after)?,
    ])
}

/// Inserts environments ([`insert_environment_values`], ids from
/// [`crate::session::Session::take_environment_ids`]); a row whose guid is taken is skipped
/// (and not counted among the rows written).
pub const INSERT_ENVIRONMENTS: Batch = Batch {
    head: "INSERT INTO environments (id, guid, name, title, description, cluster_name, \
           environment_type, matching, supervisor, managed_by, created_time, updated_time, \
           revision, installations, search_text, title_key, python_key, r_key, quarto_key, \
           installed) ",
    width: 20,
    tail: " ON CONFLICT (guid) DO NOTHING",
    rows: Rows::Inserted,
};

/// The values of one row of [`INSERT_ENVIRONMENTS`] for `env`.
pub fn insert_environment_values(env: &Environment) -> Vec<Value> {
    let spec = &env.spec;
    let mut values = vec![
        Value::Int(env.id),
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
    values.extend(spec_values(env.guid, spec));
    values
}

/// Rewrites the fields of environments by id ([`update_environment_values`]); names are kept.
/// Both databases name the columns of a `VALUES` list `column1`, `column2`, ….
pub const UPDATE_ENVIRONMENTS: Batch = Batch {
    head: "UPDATE environments SET title = v.column2, description = v.column3, \
           cluster_name = v.column4, matching = v.column5, supervisor = v.column6, \
           managed_by = v.column7, updated_time = v.column8, revision = v.column9, \
           installations = v.column10, search_text = v.column11, title_key = v.column12, \
           python_key = v.column13, r_key = v.column14, quarto_key = v.column15, \
           installed = v.column16 FROM ",
    width: 16,
    tail: " WHERE environments.id = v.column1",
    rows: Rows::Joined,
};

/// The values of one row of [`UPDATE_ENVIRONMENTS`] for `env`.
pub fn update_environment_values(env: &Environment) -> Vec<Value> {
    let spec = &env.spec;
    let mut values = vec![
        Value::Int(env.id),
        Value::Text(spec.title.clone()),
        Value::Text(spec.description.clone()),
        Value::text(&spec.cluster_name),
        Value::text(spec.matching.as_str()),
        Value::Text(spec.supervisor.clone()),
        Value::Text(env.managed_by.map(|m| m.as_str().to_owned())),
        Value::Time(env.updated_time),
        Value::Int(env.revision),
    ];
    values.extend(spec_values(env.guid, spec));
    values
}

/// The columns both a create and an update write last: installations, then those derived from
/// the spec for filtering and sorting (search_text, title_key, python_key, r_key, quarto_key,
/// installed).
fn spec_values(guid: Uuid, spec: &EnvironmentSpec) -> [Value; 7] {
    [
        Value::text(installations_json(spec)),
        Value::text(search_text(guid, spec)),
        Value::text(title_sort_key(spec)),
        Value::text(version_sort_key(&spec.python)),
        Value::text(version_sort_key(&spec.r)),
        Value::text(version_sort_key(&spec.quarto)),
        Value::text(installed_key(spec)),
    ]
}

/// One installation as the `installations` column of `environments` holds it: a JSON array of
/// these, by language and then in the spec's order. The installations are part of their
/// environment's row rather than rows of their own: a sync of 100,000 environments then writes
/// 100,000 rows where it wrote 300,000, with no foreign-key check per installation (1.5 s of
/// a sync of 100,000 on PostgreSQL), and a read assembles no second query's rows.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredInstallation<'a> {
    #[serde(borrow)]
    pub language: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub version: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub path: std::borrow::Cow<'a, str>,
}

/// The `installations` column of `spec`: [`StoredInstallation`]s as a JSON array.
pub fn installations_json(spec: &EnvironmentSpec) -> String {
    let stored: Vec<StoredInstallation> = Language::ALL
        .into_iter()
        .flat_map(|language| {
            spec.installations(language)
                .iter()
                .map(move |i| StoredInstallation {
                    language: language.as_str().into(),
                    version: i.version.as_str().into(),
                    path: i.path.as_str().into(),
                })
        })
        .collect();
    // Strings and a list of them always encode.
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned())
}

/// The `installed` column of `spec`, which the language and version filters of a list match
/// ([`list_queries`]): ` language=version` for each installation, then a space, e.g.
/// ` python=3.11.9 r=4.4.1 `. Versions are semantic versions, which hold neither spaces nor
/// `=`, so a pattern that starts with ` python=` and ends with a space or `.` matches whole
/// versions or dotted prefixes only.
pub fn installed_key(spec: &EnvironmentSpec) -> String {
    let mut key = String::from(" ");
    for language in Language::ALL {
        for i in spec.installations(language) {
            key.push_str(language.as_str());
            key.push('=');
            key.push_str(&i.version);
            key.push(' ');
        }
    }
    key
}

/// Sets an environment's revision (`$1`) by id (`$2`).
pub const SET_REVISION: &str = "UPDATE environments SET revision = $1 WHERE id = $2";
/// Deletes environments by id (with [`in_list`]); their mounts and permissions cascade.
pub const DELETE_ENVIRONMENTS: &str = "DELETE FROM environments WHERE id";
/// Deletes the volume mounts of environments (with [`in_list`]).
pub const DELETE_MOUNTS: &str = "DELETE FROM volume_mounts WHERE environment_id";
/// Inserts volume mounts.
pub const INSERT_MOUNTS: Batch = Batch {
    head: "INSERT INTO volume_mounts (environment_id, position, source_type, nfs_host, nfs_export_path, \
           pvc_name, target_path, read_only) ",
    width: 8,
    tail: "",
    rows: Rows::Inserted,
};
/// Inserts permissions ([`permission_values`]).
pub const INSERT_PERMISSIONS: Batch = Batch {
    head: "INSERT INTO permissions (guid, environment_id, user_guid, group_guid) ",
    width: 4,
    tail: "",
    rows: Rows::Inserted,
};
/// Deletes one permission by guid.
pub const DELETE_PERMISSION: &str = "DELETE FROM permissions WHERE guid = $1";

/// `{condition} IN ($1, …, $count)`: completes a statement that ends with a column.
pub fn in_list(condition: &str, count: usize) -> String {
    format!("{condition} IN ({})", placeholders(1, count))
}

/// Selects environments ([`ENVIRONMENT_COLUMNS`]) by guid (with [`in_list`]).
pub fn select_environments_by_guid() -> String {
    format!("SELECT {ENVIRONMENT_COLUMNS} FROM environments e WHERE e.guid")
}

/// The rows of the volume mounts of environments, for [`INSERT_MOUNTS`].
#[derive(Debug, Default)]
pub struct ChildRows {
    pub mounts: Vec<Vec<Value>>,
}

impl ChildRows {
    /// Adds the rows of the mounts of `spec`, for environment `id`.
    pub fn add(&mut self, id: i64, spec: &EnvironmentSpec) {
        for (position, m) in (0_i64..).zip(&spec.volume_mounts) {
            let (kind, host, export, pvc) = match &m.source {
                VolumeSource::Nfs { host, export_path } => {
                    ("nfs", Some(host.clone()), Some(export_path.clone()), None)
                }
                VolumeSource::Pvc { claim_name } => ("pvc", None, None, Some(claim_name.clone())),
            };
            self.mounts.push(vec![
                Value::Int(id),
                Value::Int(position),
                Value::text(kind),
                Value::Text(host),
                Value::Text(export),
                Value::Text(pvc),
                Value::text(&m.target_path),
                Value::Bool(m.read_only),
            ]);
        }
    }
}

/// The values of one row of [`INSERT_PERMISSIONS`].
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
/// `None`). Returns one query per table: mounts, permissions.
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
        // Over the `installed` column (see [`installed_key`]): ` python=` starts an installation
        // of Python, and a version is matched whole (`3.11 `) or as a dotted prefix (`3.11.`).
        let language = query
            .language
            .map_or(String::from("%="), |l| format!("% {}=", l.as_str()));
        let condition = match &query.language_version {
            None => {
                let p = bind(&mut values, Value::text(format!("{language}%")));
                format!("e.installed LIKE {p} ESCAPE '\\'")
            }
            Some(version) => {
                let version = escape_like(version);
                let whole = bind(&mut values, Value::text(format!("{language}{version} %")));
                let prefix = bind(&mut values, Value::text(format!("{language}{version}.%")));
                format!(
                    "(e.installed LIKE {whole} ESCAPE '\\' OR e.installed LIKE {prefix} ESCAPE '\\')"
                )
            }
        };
        conditions.push(condition);
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
    fn multi_row_inserts_number_placeholders_row_by_row() {
        assert_eq!(
            INSERT_PERMISSIONS.sql(2),
            "INSERT INTO permissions (guid, environment_id, user_guid, group_guid) \
             VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)"
        );
        assert!(INSERT_ENVIRONMENTS.sql(1).ends_with("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT (guid) DO NOTHING"));
        assert!(
            INSERT_ENVIRONMENTS.rows_per_statement() * INSERT_ENVIRONMENTS.width
                <= MAX_BOUND_VALUES
        );
    }

    #[test]
    fn updates_join_their_rows_as_v() {
        let sql = UPDATE_ENVIRONMENTS.sql(1);
        assert!(sql.contains(" FROM (VALUES ($1, $2, "), "{sql}");
        assert!(
            sql.ends_with(", $16)) AS v WHERE environments.id = v.column1"),
            "{sql}"
        );
    }

    #[test]
    fn unnested_rows_bind_one_array_per_column() {
        assert_eq!(
            INSERT_PERMISSIONS.unnest_sql(&["text", "int8", "text", "text"]),
            "INSERT INTO permissions (guid, environment_id, user_guid, group_guid) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[])"
        );
        let types = ["int8"; 16];
        let update = UPDATE_ENVIRONMENTS.unnest_sql(&types);
        assert!(
            update.contains(" FROM UNNEST($1::int8[], $2::int8[], "),
            "{update}"
        );
        assert!(
            update.ends_with(
                "$16::int8[]) AS v(column1, column2, column3, column4, column5, column6, column7, \
                 column8, column9, column10, column11, column12, column13, column14, column15, \
                 column16) \
                 WHERE environments.id = v.column1"
            ),
            "{update}"
        );
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

    #[test]
    fn language_filters_match_whole_installed_versions_or_dotted_prefixes() {
        let values = |query: ListQuery| -> Vec<Value> { list_queries(&query).count_values };
        let language = ListQuery {
            language: Some(Language::R),
            ..ListQuery::default()
        };
        assert_eq!(values(language.clone()), [Value::text("% r=%")]);
        let version = ListQuery {
            language_version: Some("3.1_0".to_owned()),
            ..language
        };
        assert_eq!(
            values(version.clone()),
            [Value::text("% r=3.1\\_0 %"), Value::text("% r=3.1\\_0.%")]
        );
        let any_language = ListQuery {
            language: None,
            ..version
        };
        assert_eq!(
            values(any_language),
            [Value::text("%=3.1\\_0 %"), Value::text("%=3.1\\_0.%")]
        );
    }
}
