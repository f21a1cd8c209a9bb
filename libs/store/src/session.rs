//! The two traits a backend implements — [`Backend`] begins transactions, [`Session`] runs
//! statements in one — and the small helpers over them that the catalogue and the accounts
//! both use.

use async_trait::async_trait;
use execenv_core::Error;

use crate::common::{self, Batch, StoreRow, Value};

/// One open transaction. Dropping it without [`Session::commit`] rolls it back.
#[async_trait]
pub trait Session: Send + 'static {
    /// The backend's row type.
    type Row: StoreRow;
    /// Runs a statement built from fixed fragments with every input bound to a `$N`
    /// placeholder; returns the number of rows affected.
    async fn execute(&mut self, sql: &str, values: Vec<Value>) -> Result<u64, Error>;
    /// Runs a query (same rules as [`Session::execute`]) and returns its rows, each decoded as
    /// it arrives (so the database's copy of a row is freed at once, never the whole result).
    async fn fetch<T: Send>(
        &mut self,
        sql: &str,
        values: Vec<Value>,
        decode: for<'r> fn(&'r Self::Row) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, Error>;
    /// A batch made ready to run by [`Session::encode_batch`].
    type Encoded: Send + 'static;
    /// Makes `batch` over `rows` (each of `batch.width` values) ready to run: every value
    /// encoded, so that running it is the database's work alone. Needs no session, so that it
    /// can be done on another thread while the session runs something else. By default `VALUES`
    /// statements as few as the databases' limits on bound values allow.
    fn encode_batch(batch: &Batch, rows: Vec<Vec<Value>>) -> Result<Self::Encoded, Error>;
    /// Runs an encoded batch; nothing when it has no rows. Returns how many rows it wrote.
    async fn execute_encoded(&mut self, encoded: Self::Encoded) -> Result<u64, Error>;
    /// Runs `batch` over `rows` (each of `batch.width` values); nothing when there are none.
    async fn execute_batch(&mut self, batch: &Batch, rows: Vec<Vec<Value>>) -> Result<(), Error> {
        let encoded = Self::encode_batch(batch, rows)?;
        self.execute_encoded(encoded).await.map(|_| ())
    }
    /// Takes `count` new environment ids, ascending, that no other environment has or will be
    /// given: inserts then name their ids themselves, so everything a create writes (its row,
    /// its mounts, its change with the environment in it) can be made before the environment
    /// row is written, off the writer's task.
    async fn take_environment_ids(&mut self, count: usize) -> Result<Vec<i64>, Error>;
    /// Commits the transaction.
    async fn commit(self) -> Result<(), Error>;
}

/// An internal error unless every row of `rows` has `batch.width` values.
pub(crate) fn check_widths(batch: &Batch, rows: &[Vec<Value>]) -> Result<(), Error> {
    match rows.iter().find(|r| r.len() != batch.width) {
        Some(row) => Err(Error::internal(format!(
            "a row of {} values for a statement of {}",
            row.len(),
            batch.width
        ))),
        None => Ok(()),
    }
}

/// The `VALUES` statements of `batch` over `rows`, each with its values (none for no rows).
pub(crate) fn values_statements(
    batch: &Batch,
    rows: Vec<Vec<Value>>,
) -> Result<Vec<(String, Vec<Value>)>, Error> {
    check_widths(batch, &rows)?;
    let per_statement = batch.rows_per_statement();
    let mut rows = rows.into_iter().peekable();
    let mut statements = Vec::new();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        statements.push((
            batch.sql(chunk.len()),
            chunk.into_iter().flatten().collect(),
        ));
    }
    Ok(statements)
}

/// Runs a query and decodes its rows.
pub(crate) async fn fetch_rows<S: Session, T: Send>(
    s: &mut S,
    sql: &str,
    values: Vec<Value>,
    decode: fn(&S::Row) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, Error> {
    s.fetch(sql, values, decode).await
}

/// The first row of an integer query (`(0, 0)` when there is none).
pub(crate) async fn integers<S: Session>(
    s: &mut S,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<(i64, i64)>, Error> {
    Ok(fetch_rows(s, sql, values, common::integer_pair)
        .await?
        .into_iter()
        .next())
}

/// A database the catalogue runs on.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The session type.
    type Session: Session;
    /// `sqlite` or `postgres`.
    const NAME: &'static str;
    /// Begins a write transaction that holds the backend's writer lock from its first
    /// statement, so that writes (and their revisions) are serialised in commit order.
    async fn write(&self) -> Result<Self::Session, Error>;
    /// Begins a write transaction without the catalogue's writer lock (READ COMMITTED on
    /// PostgreSQL), for tables that are not the catalogue's.
    async fn plain(&self) -> Result<Self::Session, Error>;
    /// Begins a read transaction that sees one consistent state.
    async fn read(&self) -> Result<Self::Session, Error>;
}
