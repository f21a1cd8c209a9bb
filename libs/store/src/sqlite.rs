//! The embedded SQLite backend (the default).
//!
//! Writers are serialised by SQLite itself: every write transaction starts with
//! `BEGIN IMMEDIATE`, which takes the database's write lock at once (waiting up to the busy
//! timeout), so revisions are assigned in commit order. WAL mode lets readers run meanwhile,
//! each read transaction seeing one consistent state.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::{Error, ErrorKind};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};
use tokio::sync::mpsc;

use crate::common::{Batch, StoreRow, Value, database_error, decode_each, migration_error};
use crate::session::{Backend, Session, values_statements};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a writer waits for another to finish before failing with Unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Each connection's page cache of a database file (`PRAGMA cache_size`; negative: KiB).
/// SQLite's default is 2 MiB per connection, and the pool holds up to 8: the registry's resident
/// memory grew by 12 MiB after a sync of 10,000 environments, mostly pages that the kernel's
/// cache of the file holds anyway. At 512 KiB it grew by 6 MiB, and syncs of 100,000 were no
/// slower (3.7 against 3.8 s, measured alternately).
const PAGE_CACHE: &str = "-512";

/// The catalogue in a SQLite database file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Asks for a checkpoint after a write commits; none for an in-memory database.
    checkpoints: Option<mpsc::Sender<()>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://PATH` or
    /// `sqlite::memory:`) and runs the migrations.
    pub async fn open(url: &str) -> Result<SqliteStore, Error> {
        let store = SqliteStore::connect(url).await?;
        let mut conn = store
            .pool
            .acquire()
            .await
            .map_err(|e| cannot_open(url, &e))?;
        // `run_direct` on a concrete connection: `Migrator::run` takes `impl Acquire`, whose
        // future is not `Send` for every lifetime, which would make `open` unusable from spawned tasks.
        MIGRATOR
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(|e| migration_error(&format!("the SQLite database {url}"), e))?;
        drop(conn);
        Ok(store)
    }

    /// Opens (creating if missing) the database at `url` without running the catalogue's
    /// migrations: for tables that are not the catalogue's (the launcher's history).
    pub(crate) async fn connect(url: &str) -> Result<SqliteStore, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{url:?} is not a SQLite URL ({e}); use sqlite://PATH or sqlite::memory:"
                    ),
                )
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Checkpoints are run by `checkpoint_after_writes`, off the committing connection.
            .pragma("wal_autocheckpoint", "0");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // An in-memory database is its page cache.
        let options = if in_memory {
            options
        } else {
            options.pragma("cache_size", PAGE_CACHE)
        };
        // An in-memory database lives as long as its one connection: keep exactly one open,
        // forever, so every session sees the same database.
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let pool = pool_options
            .acquire_timeout(BUSY_TIMEOUT * 3)
            .connect_with(options)
            .await
            .map_err(|e| cannot_open(url, &e))?;
        let checkpoints = (!in_memory).then(|| checkpoint_after_writes(pool.clone()));
        Ok(SqliteStore { pool, checkpoints })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Session = SqliteSession;
    const NAME: &'static str = "sqlite";

    async fn write(&self) -> Result<SqliteSession, Error> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(database_error)?;
        Ok(SqliteSession {
            tx,
            checkpoint: self.checkpoints.clone(),
            next_environment_id: None,
        })
    }

    async fn plain(&self) -> Result<SqliteSession, Error> {
        // SQLite has one writer at a time whatever the transaction: take its lock at once rather
        // than upgrade a reader (which can fail with SQLITE_BUSY instead of waiting).
        self.write().await
    }

    async fn read(&self) -> Result<SqliteSession, Error> {
        // A deferred transaction takes its WAL snapshot at the first read and keeps it.
        let tx = self.pool.begin().await.map_err(database_error)?;
        Ok(SqliteSession {
            tx,
            checkpoint: None,
            next_environment_id: None,
        })
    }
}

/// At most one checkpoint a second, like SQLite's own every 1,000 pages or so: a burst of small
/// writes is copied into the file once, not once each.
const CHECKPOINT_SPACING: Duration = Duration::from_secs(1);

/// Copies what writers committed to the write-ahead log back into the database file, in a task
/// of its own, after a commit that asks for it ([`SqliteSession::commit`] of a write): at once,
/// or [`CHECKPOINT_SPACING`] after the last checkpoint; asks made meanwhile are served by that
/// one. Returns the sender of the asks: the task ends when every sender is gone (the store is
/// dropped) or the pool is closed.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses its threshold: the
/// writer waits for it, and so does its caller — 0.4 s of a sync of 100,000 environments,
/// whose log is 150 MB. A checkpoint is `PASSIVE`: it never blocks readers or writers, and
/// copies what no reader still needs (the rest, at the next one). The log is reused from its
/// start once everything in it is copied, so it grows only while readers hold on to old frames.
fn checkpoint_after_writes(pool: SqlitePool) -> mpsc::Sender<()> {
    let (asks, mut asked) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let mut last: Option<tokio::time::Instant> = None;
        while asked.recv().await.is_some() {
            if let Some(last) = last {
                tokio::time::sleep_until(last + CHECKPOINT_SPACING).await;
            }
            if pool.is_closed() {
                return;
            }
            last = Some(tokio::time::Instant::now());
            let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
            match done {
                Err(_) if pool.is_closed() => return,
                Err(e) => tracing::warn!(error = %e,
                    "cannot checkpoint the SQLite write-ahead log; trying again after the next write"),
                Ok(_) => {}
            }
        }
    });
    asks
}

/// One SQLite transaction.
pub struct SqliteSession {
    tx: Transaction<'static, Sqlite>,
    /// Where to ask for a checkpoint once this (write) transaction commits.
    checkpoint: Option<mpsc::Sender<()>>,
    /// The environment id [`Session::take_environment_ids`] gives next, once it has been asked.
    next_environment_id: Option<i64>,
}

type Query = sqlx::query::Query<'static, Sqlite, SqliteArguments>;

/// Statements binding more values than this are batches (multi-row writes, `IN` lists) and
/// are prepared for one execution instead of joining the connection's statement cache.
const CACHED_STATEMENT_MAX_VALUES: usize = 100;

/// Binds values; times are stored as microseconds since the Unix epoch (see the migration).
///
/// A prepared statement holds memory in proportion to its values (about 100 bytes each), and
/// each connection caches up to 100 statements by their text: cached, the batches of a large
/// sync (thousands of values each, one text per row count) would stay resident long after it.
fn query(sql: &str, values: Vec<Value>) -> Query {
    let cached = values.len() <= CACHED_STATEMENT_MAX_VALUES;
    values.into_iter().fold(
        sqlx::query(AssertSqlSafe(positional(sql))).persistent(cached),
        |q, v| match v {
            Value::Text(s) => q.bind(s),
            Value::Int(n) => q.bind(n),
            Value::Bool(b) => q.bind(b),
            Value::Time(t) => q.bind(t.timestamp_micros()),
            Value::OptionalTime(t) => q.bind(t.map(|t| t.timestamp_micros())),
        },
    )
}

/// `sql` with `$1, $2, …, $n` replaced by `?` when they appear exactly in that order, else
/// `sql` unchanged. SQLite looks a `$N` parameter up by name with a linear search, both when it
/// prepares a statement and when sqlx binds it, so a statement of n named values costs O(n²):
/// seconds for the multi-row inserts of a large sync. Anonymous `?` parameters bind by position
/// at no such cost. (Statements never hold `$` in literals: every input is a bound value.)
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1_usize;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        if rest[at + 1..at + 1 + digits].parse() != Ok(expected) {
            return sql.to_owned();
        }
        out.push_str(&rest[..at]);
        out.push('?');
        rest = &rest[at + 1 + digits..];
        expected += 1;
    }
    out.push_str(rest);
    out
}

#[async_trait]
impl Session for SqliteSession {
    type Row = SqliteRow;
    /// `VALUES` statements with their values.
    type Encoded = Vec<(String, Vec<Value>)>;

    fn encode_batch(batch: &Batch, rows: Vec<Vec<Value>>) -> Result<Self::Encoded, Error> {
        values_statements(batch, rows)
    }

    async fn execute_encoded(&mut self, encoded: Self::Encoded) -> Result<u64, Error> {
        let mut written = 0;
        for (sql, values) in encoded {
            written += self.execute(&sql, values).await?;
        }
        Ok(written)
    }

    async fn execute(&mut self, sql: &str, values: Vec<Value>) -> Result<u64, Error> {
        let done = query(sql, values)
            .execute(&mut *self.tx)
            .await
            .map_err(database_error)?;
        Ok(done.rows_affected())
    }

    async fn fetch<T: Send>(
        &mut self,
        sql: &str,
        values: Vec<Value>,
        decode: for<'r> fn(&'r SqliteRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, Error> {
        decode_each(query(sql, values).fetch(&mut *self.tx), decode).await
    }

    async fn take_environment_ids(&mut self, count: usize) -> Result<Vec<i64>, Error> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let next = match self.next_environment_id {
            Some(next) => next,
            // After any id ever given (AUTOINCREMENT's record) and any id there is. The write
            // lock is held, so no other connection takes ids meanwhile; later calls in this
            // transaction go on from here, whether or not the ids taken are inserted yet.
            None => {
                let sql = "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence \
                           WHERE name = 'environments'), 0), \
                           COALESCE((SELECT MAX(id) FROM environments), 0))";
                let rows = self.fetch(sql, Vec::new(), |r| r.integer(0)).await?;
                rows.first().copied().unwrap_or(0) + 1
            }
        };
        let count = i64::try_from(count).map_err(|_| Error::internal("too many ids asked for"))?;
        self.next_environment_id = Some(next + count);
        Ok((next..next + count).collect())
    }

    async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(database_error)?;
        if let Some(checkpoint) = self.checkpoint {
            // Full: a checkpoint is asked for already and copies this commit too.
            let _ = checkpoint.try_send(());
        }
        Ok(())
    }
}

impl StoreRow for SqliteRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }

    fn integer(&self, index: usize) -> Result<i64, sqlx::Error> {
        self.try_get(index)
    }

    fn named_integer(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }

    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }

    fn time(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        let us: i64 = self.try_get(column)?;
        micros(column, us)
    }

    fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let us: Option<i64> = self.try_get(column)?;
        us.map(|us| micros(column, us)).transpose()
    }

    fn columns(&self) -> usize {
        self.len()
    }
}

/// A time stored as microseconds since the Unix epoch.
fn micros(column: &str, us: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("{us} microseconds is not a representable time").into(),
    })
}

/// A SQLite file that cannot be opened is a configuration problem (a wrong path, a missing
/// folder, no permission), not a server to wait for: retrying cannot help.
fn cannot_open(url: &str, e: &sqlx::Error) -> Error {
    Error::new(
        execenv_core::ErrorKind::FailedPrecondition,
        format!(
            "cannot open the SQLite database {url}: {e}; check that its folder exists and is writable \
             (the URL is sqlite://PATH, e.g. sqlite:///var/lib/execenv/registry.db)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use sqlx::Execute;

    use super::{CACHED_STATEMENT_MAX_VALUES, Value, positional, query};

    #[test]
    fn batches_are_prepared_for_one_execution_and_small_statements_cached() {
        let small = query("UPDATE t SET a = $1 WHERE id = $2", vec![Value::Int(1); 2]);
        assert!(Execute::persistent(&small));
        let limit = query(
            "SELECT $1",
            vec![Value::Int(1); CACHED_STATEMENT_MAX_VALUES],
        );
        assert!(Execute::persistent(&limit));
        let batch = query(
            "SELECT $1",
            vec![Value::Int(1); CACHED_STATEMENT_MAX_VALUES + 1],
        );
        assert!(!Execute::persistent(&batch));
    }

    #[test]
    fn in_order_placeholders_become_positional() {
        assert_eq!(
            positional("INSERT INTO t VALUES ($1, $2), ($3, $4)"),
            "INSERT INTO t VALUES (?, ?), (?, ?)"
        );
        assert_eq!(positional("SELECT 1"), "SELECT 1");
        assert_eq!(positional("SELECT $10"), "SELECT $10");
    }

    #[test]
    fn reused_or_reordered_placeholders_stay_named() {
        for sql in [
            "UPDATE t SET a = $1 WHERE a < $1",
            "SELECT $2, $1",
            "SELECT $1, $3",
        ] {
            assert_eq!(positional(sql), sql);
        }
    }
}
