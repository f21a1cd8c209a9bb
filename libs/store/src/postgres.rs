//! The PostgreSQL backend.
//!
//! Writers are serialised by a transaction-scoped advisory lock taken as the first statement of
//! every write transaction: revisions are then assigned (newest + 1) and committed in order,
//! so a watcher that resumes from revision N never misses a change committed later with a
//! smaller revision. Reads run in REPEATABLE READ READ ONLY transactions, so a snapshot is
//! consistent.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use execenv_core::{Error, ErrorKind};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, Row, Transaction};

use crate::common::{Batch, StoreRow, Value, database_error, decode_each, migration_error};
use crate::session::{Backend, Session, check_widths};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The advisory-lock key every catalogue writer takes ("execenv" in ASCII, then 1).
const WRITER_LOCK: i64 = 0x6578_6563_656e_7601;

/// How long a caller waits for a pooled connection before failing with Unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The catalogue in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) and runs the migrations.
    pub async fn open(url: &str) -> Result<PgStore, Error> {
        PgStore::connect(url, true).await
    }

    /// Connects to `url`, running the catalogue's migrations when `migrate` (not for tables that
    /// are not the catalogue's: the launcher's history).
    pub(crate) async fn connect(url: &str, migrate: bool) -> Result<PgStore, Error> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the PostgreSQL URL is invalid ({e}); use postgres://USER@HOST:PORT/DATABASE"
                ),
            )
        })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        // One connection first, so that an unreachable server fails at once (the pool would
        // retry until its acquire timeout; callers such as the registry retry themselves).
        let mut first = PgConnection::connect_with(&options).await.map_err(|e| {
            Error::unavailable(format!("cannot connect to PostgreSQL at {target}: {e}"))
        })?;
        if migrate {
            // `run_direct`: `Migrator::run`'s future is not `Send` for every lifetime (see sqlite.rs).
            MIGRATOR
                .run_direct(None, &mut first, false)
                .await
                .map_err(|e| migration_error(&format!("the PostgreSQL database at {target}"), e))?;
        }
        // Closing is a courtesy to the server; the connection is gone either way.
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgStore { pool })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Backend for PgStore {
    type Session = PgSession;
    const NAME: &'static str = "postgres";

    async fn write(&self) -> Result<PgSession, Error> {
        let mut tx = self.pool.begin().await.map_err(database_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?;
        Ok(PgSession { tx })
    }

    async fn plain(&self) -> Result<PgSession, Error> {
        let tx = self.pool.begin().await.map_err(database_error)?;
        Ok(PgSession { tx })
    }

    async fn read(&self) -> Result<PgSession, Error> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(database_error)?;
        Ok(PgSession { tx })
    }
}

/// One PostgreSQL transaction.
pub struct PgSession {
    tx: Transaction<'static, Postgres>,
}

type Query = sqlx::query::Query<'static, Postgres, PgArguments>;

fn query(sql: &str, values: Vec<Value>) -> Query {
    values
        .into_iter()
        .fold(sqlx::query(AssertSqlSafe(sql.to_owned())), |q, v| match v {
            Value::Text(s) => q.bind(s),
            Value::Int(n) => q.bind(n),
            Value::Bool(b) => q.bind(b),
            Value::Time(t) => q.bind(t),
            Value::OptionalTime(t) => q.bind(t),
        })
}

#[async_trait]
impl Session for PgSession {
    type Row = PgRow;
    /// One statement binding an array per column ([`unnest`]); none for no rows.
    type Encoded = Option<Query>;

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
        decode: for<'r> fn(&'r PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, Error> {
        decode_each(query(sql, values).fetch(&mut *self.tx), decode).await
    }

    fn encode_batch(batch: &Batch, rows: Vec<Vec<Value>>) -> Result<Self::Encoded, Error> {
        if rows.is_empty() {
            return Ok(None);
        }
        unnest(batch, rows).map(Some)
    }

    async fn execute_encoded(&mut self, encoded: Self::Encoded) -> Result<u64, Error> {
        match encoded {
            Some(statement) => Ok(statement
                .execute(&mut *self.tx)
                .await
                .map_err(database_error)?
                .rows_affected()),
            None => Ok(0),
        }
    }

    async fn take_environment_ids(&mut self, count: usize) -> Result<Vec<i64>, Error> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let count = i64::try_from(count).map_err(|_| Error::internal("too many ids asked for"))?;
        // The identity's sequence: what it gives is never given again, committed or not. One
        // nextval and a setval past the rest take `count` ids in one step (a nextval per id took
        // 0.3 s for 100,000): every writer holds WRITER_LOCK, and every insert names its id, so
        // no other nextval runs in between.
        let sql = "SELECT setval(pg_get_serial_sequence('environments', 'id'), \
                   nextval(pg_get_serial_sequence('environments', 'id')) + $1 - 1)";
        let last = self
            .fetch(sql, vec![Value::Int(count)], |r| r.integer(0))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("setval returned no row"))?;
        Ok((last - count + 1..=last).collect())
    }

    async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(database_error)
    }
}

/// `batch` over `rows` as one statement binding one array per column
/// ([`Batch::unnest_sql`]), whatever the number of rows. PostgreSQL parses and plans a
/// statement of a few arrays at once, where a `VALUES` list of thousands of placeholders costs
/// it time in proportion (1.5 s of a sync of 100,000 environments went to the statements of
/// their installations alone, when those had a table of their own).
fn unnest(batch: &Batch, rows: Vec<Vec<Value>>) -> Result<Query, Error> {
    check_widths(batch, &rows)?;
    let mut columns: Vec<Column> = match rows.first() {
        Some(first) => first.iter().map(|v| Column::of(v, rows.len())).collect(),
        None => return Err(Error::internal("a batch of no rows")),
    };
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value)?;
        }
    }
    let types: Vec<&str> = columns.iter().map(Column::array_of).collect();
    let sql = batch.unnest_sql(&types);
    Ok(columns
        .into_iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |q, column| match column {
            Column::Text(c) => q.bind(c),
            Column::Int(c) => q.bind(c),
            Column::Bool(c) => q.bind(c),
            Column::Time(c) | Column::OptionalTime(c) => q.bind(c),
        }))
}

/// The values of one column of a batch, as the array bound for it.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Time(Vec<Option<DateTime<Utc>>>),
    OptionalTime(Vec<Option<DateTime<Utc>>>),
}

impl Column {
    /// An empty column of the type of `first`, for `rows` values.
    fn of(first: &Value, rows: usize) -> Column {
        match first {
            Value::Text(_) => Column::Text(Vec::with_capacity(rows)),
            Value::Int(_) => Column::Int(Vec::with_capacity(rows)),
            Value::Bool(_) => Column::Bool(Vec::with_capacity(rows)),
            Value::Time(_) => Column::Time(Vec::with_capacity(rows)),
            Value::OptionalTime(_) => Column::OptionalTime(Vec::with_capacity(rows)),
        }
    }

    fn push(&mut self, value: Value) -> Result<(), Error> {
        match (self, value) {
            (Column::Text(c), Value::Text(v)) => c.push(v),
            (Column::Int(c), Value::Int(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            (Column::Time(c), Value::Time(v)) => c.push(Some(v)),
            (Column::OptionalTime(c), Value::OptionalTime(v)) => c.push(v),
            (_, value) => {
                return Err(Error::internal(format!(
                    "a batch column holds values of two types (one is {value:?})"
                )));
            }
        }
        Ok(())
    }

    /// The PostgreSQL type of the column's values.
    fn array_of(&self) -> &'static str {
        match self {
            Column::Text(_) => "text",
            Column::Int(_) => "int8",
            Column::Bool(_) => "bool",
            Column::Time(_) | Column::OptionalTime(_) => "timestamptz",
        }
    }
}

impl StoreRow for PgRow {
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
        self.try_get(column)
    }

    fn optional_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        self.try_get(column)
    }

    fn columns(&self) -> usize {
        self.len()
    }
}
