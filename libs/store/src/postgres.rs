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

use crate::common::{StoreRow, Value, database_error, decode_each, migration_error};
use crate::session::{Backend, Session};

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

    async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(database_error)
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
