//! The SQL of users, groups and API keys, with every input bound to a `$N` placeholder, and the
//! decoding of their rows.

use chrono::{DateTime, Utc};
use execenv_core::accounts::{ApiKey, Group, Lookup, User};
use execenv_core::{Error, Role};
use uuid::Uuid;

use crate::common::{StoreRow, Value, corrupt, parse_guid};

/// The columns of [`KeyRecord`], for `api_keys k JOIN users u`.
pub const KEY_COLUMNS: &str = "k.guid, k.name, k.prefix, k.digest, k.disabled, k.created_time, \
     k.last_used_time, u.guid AS user_guid";

/// Inserts a user.
pub const INSERT_USER: &str = "INSERT INTO users (guid, username, email, first_name, last_name, \
     role, disabled, created_time, updated_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Rewrites the changeable fields of a user by id (`$7`).
pub const UPDATE_USER: &str = "UPDATE users SET email = $1, first_name = $2, last_name = $3, \
     role = $4, disabled = $5, updated_time = $6 WHERE id = $7";

/// Inserts a group.
pub const INSERT_GROUP: &str = "INSERT INTO groups (guid, name, created_time) VALUES ($1, $2, $3)";

/// Inserts an API key (never used before, enabled).
pub const INSERT_KEY: &str = "INSERT INTO api_keys (guid, user_id, name, prefix, digest, \
     disabled, created_time, last_used_time) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)";

/// A user or a group: how to select them by [`Lookup`], and the guids related through
/// `group_members` (a user's groups, a group's members).
pub trait Account: Sized + Send {
    /// The undecoded row.
    type Record: Send;
    /// What messages call it: "user" or "group".
    const NOUN: &'static str;
    /// What a lookup by name compares: `u.username` or `g.name`.
    const NAME_COLUMN: &'static str;
    /// `SELECT … FROM … ` (the `WHERE` is appended).
    const SELECT: &'static str;
    /// The sort order of lists.
    const ORDER: &'static str;
    /// `SELECT owner, guid` of the related rows, joined with the table of `SELECT` under the
    /// same alias (the `WHERE` is appended).
    const RELATED: &'static str;
    /// Decodes a row of `SELECT`.
    fn decode<R: StoreRow>(row: &R) -> Result<Self::Record, sqlx::Error>;
    /// The record's id.
    fn id(record: &Self::Record) -> i64;
    /// Assembles the account from its record and the related guids.
    fn assemble(record: Self::Record, related: &[String]) -> Result<Self, Error>;
}

impl Account for User {
    type Record = UserRecord;
    const NOUN: &'static str = "user";
    const NAME_COLUMN: &'static str = "u.username";
    const SELECT: &'static str = "SELECT u.id, u.guid, u.username, u.email, u.first_name, \
         u.last_name, u.role, u.disabled, u.created_time, u.updated_time FROM users u";
    const ORDER: &'static str = " ORDER BY u.username";
    const RELATED: &'static str = "SELECT gm.user_id AS owner, g.guid AS guid \
         FROM group_members gm JOIN groups g ON g.id = gm.group_id JOIN users u ON u.id = gm.user_id";
    fn decode<R: StoreRow>(row: &R) -> Result<UserRecord, sqlx::Error> {
        user_record(row)
    }
    fn id(record: &UserRecord) -> i64 {
        record.id
    }
    fn assemble(record: UserRecord, related: &[String]) -> Result<User, Error> {
        record.into_user(related)
    }
}

impl Account for Group {
    type Record = GroupRecord;
    const NOUN: &'static str = "group";
    const NAME_COLUMN: &'static str = "g.name";
    const SELECT: &'static str = "SELECT g.id, g.guid, g.name, g.created_time FROM groups g";
    const ORDER: &'static str = " ORDER BY g.name";
    const RELATED: &'static str = "SELECT gm.group_id AS owner, u.guid AS guid \
         FROM group_members gm JOIN users u ON u.id = gm.user_id JOIN groups g ON g.id = gm.group_id";
    fn decode<R: StoreRow>(row: &R) -> Result<GroupRecord, sqlx::Error> {
        group_record(row)
    }
    fn id(record: &GroupRecord) -> i64 {
        record.id
    }
    fn assemble(record: GroupRecord, related: &[String]) -> Result<Group, Error> {
        record.into_group(related)
    }
}

/// ` WHERE column = $1` and its value for a lookup of an `A`, or nothing.
pub fn lookup_condition<A: Account>(lookup: Option<&Lookup>) -> (String, Vec<Value>) {
    let alias = &A::NAME_COLUMN[..1];
    match lookup {
        Some(Lookup::Guid(guid)) => (
            format!(" WHERE {alias}.guid = $1"),
            vec![Value::Text(Some(guid.to_string()))],
        ),
        Some(Lookup::Name(name)) => (
            format!(" WHERE {} = $1", A::NAME_COLUMN),
            vec![Value::Text(Some(name.clone()))],
        ),
        None => (String::new(), Vec::new()),
    }
}

/// Sorted guids, parsed.
fn guids(list: &[String]) -> Result<Vec<Uuid>, Error> {
    let mut guids = list
        .iter()
        .map(|g| parse_guid(g))
        .collect::<Result<Vec<_>, _>>()?;
    guids.sort();
    Ok(guids)
}

/// One row of `users`, undecoded.
pub struct UserRecord {
    pub id: i64,
    guid: String,
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    role: String,
    disabled: bool,
    created_time: DateTime<Utc>,
    updated_time: DateTime<Utc>,
}

/// Decodes a row of `User::SELECT`.
pub fn user_record<R: StoreRow>(row: &R) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.named_integer("id")?,
        guid: row.text("guid")?,
        username: row.text("username")?,
        email: row.optional_text("email")?,
        first_name: row.optional_text("first_name")?,
        last_name: row.optional_text("last_name")?,
        role: row.text("role")?,
        disabled: row.boolean("disabled")?,
        created_time: row.time("created_time")?,
        updated_time: row.time("updated_time")?,
    })
}

impl UserRecord {
    /// The user, with the guids of its groups.
    pub fn into_user(self, group_guids: &[String]) -> Result<User, Error> {
        Ok(User {
            guid: parse_guid(&self.guid)?,
            username: self.username,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            role: Role::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            group_guids: guids(group_guids)?,
            disabled: self.disabled,
            created_time: self.created_time,
            updated_time: self.updated_time,
        })
    }
}

/// The values of [`UPDATE_USER`] for `user`, stored with id `id`.
pub fn update_user_values(id: i64, user: &User) -> Vec<Value> {
    vec![
        Value::Text(user.email.clone()),
        Value::Text(user.first_name.clone()),
        Value::Text(user.last_name.clone()),
        Value::Text(Some(user.role.as_str().to_owned())),
        Value::Bool(user.disabled),
        Value::Time(user.updated_time),
        Value::Int(id),
    ]
}

/// One row of `groups`, undecoded.
pub struct GroupRecord {
    pub id: i64,
    guid: String,
    name: String,
    created_time: DateTime<Utc>,
}

/// Decodes a row of `Group::SELECT`.
pub fn group_record<R: StoreRow>(row: &R) -> Result<GroupRecord, sqlx::Error> {
    Ok(GroupRecord {
        id: row.named_integer("id")?,
        guid: row.text("guid")?,
        name: row.text("name")?,
        created_time: row.time("created_time")?,
    })
}

impl GroupRecord {
    /// The group, with the guids of its members.
    pub fn into_group(self, member_guids: &[String]) -> Result<Group, Error> {
        Ok(Group {
            guid: parse_guid(&self.guid)?,
            name: self.name,
            member_guids: guids(member_guids)?,
            created_time: self.created_time,
        })
    }
}

/// One row of `api_keys` joined with its user's guid, undecoded.
pub struct KeyRecord {
    guid: String,
    name: String,
    prefix: String,
    pub digest: String,
    disabled: bool,
    created_time: DateTime<Utc>,
    last_used_time: Option<DateTime<Utc>>,
    user_guid: String,
}

/// Decodes a row of [`KEY_COLUMNS`].
pub fn key_record<R: StoreRow>(row: &R) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        guid: row.text("guid")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        digest: row.text("digest")?,
        disabled: row.boolean("disabled")?,
        created_time: row.time("created_time")?,
        last_used_time: row.optional_time("last_used_time")?,
        user_guid: row.text("user_guid")?,
    })
}

impl KeyRecord {
    /// The key as listed (without its digest).
    pub fn to_key(&self) -> Result<ApiKey, Error> {
        Ok(ApiKey {
            id: parse_guid(&self.guid)?,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            user_guid: parse_guid(&self.user_guid)?,
            created_time: self.created_time,
            last_used_time: self.last_used_time,
            disabled: self.disabled,
        })
    }
}

/// Decodes an `(id, guid)` pair named `owner` and `guid` (a membership: whose, and which).
pub fn membership<R: StoreRow>(row: &R) -> Result<(i64, String), sqlx::Error> {
    Ok((row.named_integer("owner")?, row.text("guid")?))
}
