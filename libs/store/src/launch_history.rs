//! The launcher's durable launch history: one row per launch — its id, the whole record as the
//! launcher keeps it (JSON, opaque here), whether it is final and when it finished — in a table
//! every launcher replica shares, on the registry's PostgreSQL (or, for one local launcher, a
//! SQLite file).
//!
//! The tables are not the catalogue's and are not created by the catalogue's migrations: the
//! registry's sqlx migrations own `_sqlx_migrations` in that database, and a second migration set
//! there would be taken for a registry migration it does not know (sqlx refuses to start on
//! a migration it did not apply). So the launcher creates its two tables with idempotent DDL
//! (`CREATE TABLE IF NOT EXISTS`), in one transaction that first takes an advisory lock of its own
//! on PostgreSQL: two launchers starting at once would otherwise race in the catalog of
//! PostgreSQL and one fail with a unique violation. A later change of these tables must likewise
//! be idempotent (`ADD COLUMN IF NOT EXISTS`, …).
//!
//! A final row is final: [`LaunchHistory::record`] never changes it again, and tells the caller
//! whether its own write made the launch final — the conditional `UPDATE … WHERE NOT is_final` is
//! the arbiter between replicas that saw the same end. [`LaunchHistory::claim`] is the arbiter
//! for everything else counted once per launch (a metric of its start, of each phase): the first
//! replica to claim an event of a launch counts it.

use chrono::{DateTime, Utc};
use execenv_core::{Error, ErrorKind};

use crate::common::{StoreRow, Value};
use crate::postgres::PgStore;
use crate::session::{Backend, Session};
use crate::sqlite::SqliteStore;

/// One launch as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRecord {
    /// The launch id (the request id).
    pub id: String,
    /// The whole launch as the launcher serialises it (JSON).
    pub record: String,
    /// Whether the launch has reached a final state.
    pub is_final: bool,
    /// When it finished (final launches; the purge goes by it).
    pub finished: Option<DateTime<Utc>>,
}

/// What [`LaunchHistory::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The record was written; it is not final.
    Stored,
    /// The record was written and this write made the launch final.
    Finalized,
    /// The launch was already final: nothing was written; here is what the history holds.
    AlreadyFinal(LaunchRecord),
}

/// The launch history in a SQLite or PostgreSQL database.
#[derive(Debug, Clone)]
pub struct LaunchHistory {
    db: Db,
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs the generic function `$f` over the history's backend.
macro_rules! on_backend {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match &$self.db {
            Db::Sqlite(b) => $f(b, $($arg),*).await,
            Db::Postgres(b) => $f(b, $($arg),*).await,
        }
    };
}

/// The advisory-lock key of the history's DDL ("execenv" in ASCII, then 2).
const SCHEMA_LOCK: i64 = 0x6578_6563_656e_7602;

/// The history's DDL, with times of type `time` (PostgreSQL's TIMESTAMPTZ; SQLite keeps times
/// as microseconds since the Unix epoch in an INTEGER, as the catalogue does).
fn schema(time: &str) -> [String; 3] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS execenv_launches (
                id       TEXT    PRIMARY KEY,
                record   TEXT    NOT NULL,
                is_final BOOLEAN NOT NULL,
                finished {time} NULL,
                updated  {time} NOT NULL
            )"
        ),
        "CREATE INDEX IF NOT EXISTS execenv_launches_finished ON execenv_launches (finished) WHERE is_final".to_owned(),
        "CREATE TABLE IF NOT EXISTS execenv_launch_counts (
            launch_id TEXT NOT NULL,
            event     TEXT NOT NULL,
            PRIMARY KEY (launch_id, event)
        )"
        .to_owned(),
    ]
}

const COLUMNS: &str = "id, record, is_final, finished";

impl LaunchHistory {
    /// Opens the history in the database at `url` (`postgres://…`, `sqlite://PATH?mode=rwc`)
    /// and creates its tables if they are missing.
    ///
    /// An unknown scheme is InvalidArgument; a database that cannot be reached is Unavailable.
    pub async fn open(url: &str) -> Result<LaunchHistory, Error> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let db = match scheme {
            "sqlite" => Db::Sqlite(SqliteStore::connect(url).await?),
            "postgres" | "postgresql" => Db::Postgres(PgStore::connect(url, false).await?),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "the launch history's database URL scheme {scheme:?} is not supported; use \
                         postgres://USER@HOST:PORT/DATABASE (the registry's database) or \
                         sqlite://PATH?mode=rwc (one local launcher)"
                    ),
                ));
            }
        };
        let history = LaunchHistory { db };
        on_backend!(history, create_tables())?;
        Ok(history)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => SqliteStore::NAME,
            Db::Postgres(_) => PgStore::NAME,
        }
    }

    /// Adds a launch unless its id is taken: `None` when added, else the launch held.
    pub async fn insert_new(&self, launch: &LaunchRecord) -> Result<Option<LaunchRecord>, Error> {
        on_backend!(self, insert_new(launch))
    }

    /// Writes a launch (adding it if missing) unless the history holds it final already.
    pub async fn record(&self, launch: &LaunchRecord) -> Result<Recorded, Error> {
        on_backend!(self, record(launch))
    }

    /// One launch.
    pub async fn get(&self, id: &str) -> Result<Option<LaunchRecord>, Error> {
        on_backend!(self, get(id))
    }

    /// Every launch, by id.
    pub async fn load(&self) -> Result<Vec<LaunchRecord>, Error> {
        on_backend!(self, load())
    }

    /// Removes a launch that never started (and what was counted of it); a final one is kept.
    /// Returns whether it was removed.
    pub async fn forget(&self, id: &str) -> Result<bool, Error> {
        on_backend!(self, forget(id))
    }

    /// Claims event `event` of launch `id` (e.g. `running`, `phase:init`): true for the first
    /// claim of it, false for every later one, by any replica.
    pub async fn claim(&self, id: &str, event: &str) -> Result<bool, Error> {
        on_backend!(self, claim(id, event))
    }

    /// Deletes the final launches that finished before `before` (and what was counted of them);
    /// returns how many.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        on_backend!(self, purge(before))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(b) => b.close().await,
            Db::Postgres(b) => b.close().await,
        }
    }
}

async fn create_tables<B: Backend>(b: &B) -> Result<(), Error> {
    let mut s = b.plain().await?;
    let schema = if B::NAME == PgStore::NAME {
        s.execute(
            "SELECT pg_advisory_xact_lock($1)",
            vec![Value::Int(SCHEMA_LOCK)],
        )
        .await?;
        // "relation … already exists, skipping" on every start is no news.
        s.execute("SET LOCAL client_min_messages = warning", vec![])
            .await?;
        schema("TIMESTAMPTZ")
    } else {
        schema("INTEGER")
    };
    for statement in schema {
        s.execute(&statement, vec![]).await?;
    }
    s.commit().await
}

fn values(launch: &LaunchRecord) -> Vec<Value> {
    vec![
        Value::Text(Some(launch.id.clone())),
        Value::Text(Some(launch.record.clone())),
        Value::Bool(launch.is_final),
        Value::OptionalTime(launch.finished.map(micros)),
        Value::Time(micros(Utc::now())),
    ]
}

/// `t` truncated to microseconds, as both backends keep it.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

async fn insert_new<B: Backend>(
    b: &B,
    launch: &LaunchRecord,
) -> Result<Option<LaunchRecord>, Error> {
    let mut s = b.plain().await?;
    let added = s
        .execute(
            "INSERT INTO execenv_launches (id, record, is_final, finished, updated) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            values(launch),
        )
        .await?;
    let held = if added == 1 {
        None
    } else {
        held(&mut s, &launch.id).await?
    };
    s.commit().await?;
    Ok(held)
}

async fn record<B: Backend>(b: &B, launch: &LaunchRecord) -> Result<Recorded, Error> {
    let mut s = b.plain().await?;
    // On PostgreSQL, a concurrent writer of the same row waits for this one and then sees the
    // row final: exactly one write makes a launch final.
    let written = s
        .execute(
            "INSERT INTO execenv_launches (id, record, is_final, finished, updated) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET record = excluded.record, is_final = excluded.is_final, \
             finished = excluded.finished, updated = excluded.updated \
             WHERE NOT execenv_launches.is_final",
            values(launch),
        )
        .await?;
    let outcome = match (written, launch.is_final) {
        (1, true) => Recorded::Finalized,
        (1, false) => Recorded::Stored,
        _ => match held(&mut s, &launch.id).await? {
            Some(held) => Recorded::AlreadyFinal(held),
            None => {
                return Err(Error::internal(format!(
                    "launch {:?} was neither written nor found in the launch history",
                    launch.id
                )));
            }
        },
    };
    s.commit().await?;
    Ok(outcome)
}

async fn held<S: Session>(s: &mut S, id: &str) -> Result<Option<LaunchRecord>, Error> {
    Ok(s.fetch(
        &format!("SELECT {COLUMNS} FROM execenv_launches WHERE id = $1"),
        vec![Value::Text(Some(id.to_owned()))],
        launch_row,
    )
    .await?
    .into_iter()
    .next())
}

async fn get<B: Backend>(b: &B, id: &str) -> Result<Option<LaunchRecord>, Error> {
    let mut s = b.plain().await?;
    let found = held(&mut s, id).await?;
    s.commit().await?;
    Ok(found)
}

async fn load<B: Backend>(b: &B) -> Result<Vec<LaunchRecord>, Error> {
    let mut s = b.plain().await?;
    let all = s
        .fetch(
            &format!("SELECT {COLUMNS} FROM execenv_launches ORDER BY id"),
            vec![],
            launch_row,
        )
        .await?;
    s.commit().await?;
    Ok(all)
}

async fn forget<B: Backend>(b: &B, id: &str) -> Result<bool, Error> {
    let mut s = b.plain().await?;
    let id = Value::Text(Some(id.to_owned()));
    let removed = s
        .execute(
            "DELETE FROM execenv_launches WHERE id = $1 AND NOT is_final",
            vec![id.clone()],
        )
        .await?;
    if removed == 1 {
        s.execute(
            "DELETE FROM execenv_launch_counts WHERE launch_id = $1",
            vec![id],
        )
        .await?;
    }
    s.commit().await?;
    Ok(removed == 1)
}

async fn claim<B: Backend>(b: &B, id: &str, event: &str) -> Result<bool, Error> {
    let mut s = b.plain().await?;
    let claimed = s
        .execute(
            "INSERT INTO execenv_launch_counts (launch_id, event) VALUES ($1, $2) \
             ON CONFLICT (launch_id, event) DO NOTHING",
            vec![
                Value::Text(Some(id.to_owned())),
                Value::Text(Some(event.to_owned())),
            ],
        )
        .await?;
    s.commit().await?;
    Ok(claimed == 1)
}

async fn purge<B: Backend>(b: &B, before: DateTime<Utc>) -> Result<u64, Error> {
    let mut s = b.plain().await?;
    let purged = s
        .execute(
            "DELETE FROM execenv_launches WHERE is_final AND finished < $1",
            vec![Value::Time(micros(before))],
        )
        .await?;
    s.execute(
        "DELETE FROM execenv_launch_counts WHERE launch_id NOT IN (SELECT id FROM execenv_launches)",
        vec![],
    )
    .await?;
    s.commit().await?;
    Ok(purged)
}

fn launch_row<R: StoreRow>(row: &R) -> Result<LaunchRecord, sqlx::Error> {
    Ok(LaunchRecord {
        id: row.text("id")?,
        record: row.text("record")?,
        is_final: row.boolean("is_final")?,
        finished: row.optional_time("finished")?,
    })
}
