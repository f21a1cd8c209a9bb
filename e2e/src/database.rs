//! The databases a registry under test runs on: a SQLite file of the test's own, or a fresh
//! database on the PostgreSQL server `make test` started (`EXECENV_TEST_DATABASE_URL`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Which database a registry under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's folder.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

impl Backend {
    /// A new, empty database of this kind (the SQLite file goes in `dir`); returns its URL.
    pub fn fresh_database(self, dir: &Path) -> Result<String> {
        match self {
            Backend::Sqlite => Ok(sqlite_url(dir)),
            Backend::Postgres => fresh_postgres_database(),
        }
    }
}

/// The URL of the SQLite database `registry.db` in `dir` (created by the registry on start).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("registry.db").display())
}

/// The PostgreSQL server URL the tests use (`make test` sets it).
pub fn postgres_server_url() -> Result<String> {
    std::env::var("EXECENV_TEST_DATABASE_URL").context(
        "EXECENV_TEST_DATABASE_URL is not set: run `make test`, which starts a PostgreSQL server, or point it at one",
    )
}

/// Replaces the database name of a PostgreSQL URL.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Runs one SQL statement with `psql` against the database at `url`; an error says what
/// `doing` was and what psql printed.
pub fn psql(url: &str, sql: &str, doing: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!("cannot {doing}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A fresh, uniquely named database on the test server (created with `psql`); returns its URL.
pub fn fresh_postgres_database() -> Result<String> {
    let server = postgres_server_url()?;
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE DATABASE {name}");
    psql(&server, &create, &format!("create database {name}"))?;
    Ok(with_database(&server, &name))
}

/// Drops a database [`fresh_postgres_database`] made (its URL), closing any connection still
/// open to it: a run that makes many large ones (the scale bench) leaves none behind on a server
/// it was given.
pub fn drop_postgres_database(url: &str) -> Result<()> {
    let server = postgres_server_url()?;
    let name = database_name(url)
        .filter(|name| name.starts_with("e2e_"))
        .with_context(|| format!("{url} is not a database fresh_postgres_database made"))?;
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    psql(&server, &drop, &format!("drop database {name}"))
}

/// The database name of a PostgreSQL URL, if it names one.
fn database_name(url: &str) -> Option<&str> {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let after_scheme = base.find("://")? + 3;
    let (_, name) = base[after_scheme..].split_once('/')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h/p?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }

    #[test]
    fn the_database_name_is_the_path_of_the_url() {
        assert_eq!(
            database_name("postgres://u@h:5/e2e_ab?sslmode=disable"),
            Some("e2e_ab")
        );
        assert_eq!(database_name("postgres://u@h:5/e2e_ab"), Some("e2e_ab"));
        assert_eq!(database_name("postgres://u@h:5"), None);
        assert_eq!(database_name("postgres://u@h:5/"), None);
    }

    #[test]
    fn a_sqlite_database_is_registry_db_in_the_folder() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/t")),
            "sqlite:///tmp/t/registry.db"
        );
    }
}
