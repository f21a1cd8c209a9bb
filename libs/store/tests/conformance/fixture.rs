//! A fresh, empty store per test: a temporary SQLite file, or a new PostgreSQL database on the
//! server named by EXECENV_TEST_DATABASE_URL (dropped when the test finishes).

use std::sync::Arc;

use execenv_store::Store;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The store under test and what to clean up afterwards.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    database: Database,
}

/// A fresh, empty database: its URL and what to clean up afterwards.
pub struct Database {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, database: String },
}

/// A store in a new SQLite file.
pub async fn sqlite() -> Fixture {
    Fixture::open(sqlite_database(), "sqlite").await
}

/// A store in a new PostgreSQL database.
pub async fn postgres() -> Fixture {
    Fixture::open(postgres_database().await, "postgres").await
}

/// A new SQLite file (created on first use: `mode=rwc`).
pub fn sqlite_database() -> Database {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Database {
        url: format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("catalogue.db").display()
        ),
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A new database on the PostgreSQL server named by EXECENV_TEST_DATABASE_URL.
pub async fn postgres_database() -> Database {
    let server = std::env::var("EXECENV_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "EXECENV_TEST_DATABASE_URL is not set: run `make test`, which starts a PostgreSQL \
             server (or `export EXECENV_TEST_DATABASE_URL=$(e2e/infra/postgres start)`)"
        )
    });
    let database = format!("execenv_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to EXECENV_TEST_DATABASE_URL ({server}): {e}"));
    // The name is generated above from a UUID: safe to splice.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
        .execute(&mut admin)
        .await
        .expect("the test database is created");
    admin.close().await.expect("the admin connection closes");
    Database {
        url: database_url(&server, &database),
        cleanup: Cleanup::Postgres { server, database },
    }
}

impl Fixture {
    async fn open(database: Database, backend: &str) -> Fixture {
        let store = execenv_store::open(&database.url)
            .await
            .unwrap_or_else(|e| panic!("the {backend} store opens: {e}"));
        assert_eq!(store.backend(), backend);
        Fixture { store, database }
    }

    /// Drops the store and its database.
    pub async fn finish(self) {
        drop(self.store);
        self.database.finish().await;
    }
}

impl Database {
    /// Drops the database.
    pub async fn finish(self) {
        match self.cleanup {
            Cleanup::Sqlite(_) => {}
            Cleanup::Postgres { server, database } => {
                if let Ok(mut admin) = PgConnection::connect(&server).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

/// `server` (a URL naming any database) with its database replaced by `database`.
fn database_url(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{root}/{database}{query}")
}

#[test]
fn database_url_replaces_only_the_database() {
    assert_eq!(
        database_url("postgres://u@h:1/postgres?sslmode=disable", "d"),
        "postgres://u@h:1/d?sslmode=disable"
    );
    assert_eq!(database_url("postgres://u@h:1", "d"), "postgres://u@h:1/d");
}
