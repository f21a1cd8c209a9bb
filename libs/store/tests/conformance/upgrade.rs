//! A catalogue written by an older execenv opens in this one: its migrations move what the
//! older schema held into the current one, and nothing is lost. Each test makes the older
//! schema with the embedded migrations up to that version, writes rows as that version did,
//! then opens the store (which runs the rest).

use execenv_core::query::{ListQuery, SortField};
use execenv_core::{Installation, Language};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::fixture::Database;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The last migration before installations moved into the environment rows, per backend.
const SQLITE_SEPARATE_INSTALLATIONS: i64 = 4;
const POSTGRES_SEPARATE_INSTALLATIONS: i64 = 5;

/// Two environments as the older schema held them: one with three installations (written out
/// of position order) and one with none.
fn older_rows(old: Uuid, bare: Uuid, time: &str) -> String {
    format!(
        "INSERT INTO environments (id, guid, name, cluster_name, environment_type, matching, \
         created_time, updated_time, revision, search_text, title_key, python_key, r_key, \
         quarto_key) VALUES \
         (1, '{old}', 'img/old', 'Kubernetes', 'Kubernetes', 'any', {time}, {time}, 1, 'img/old', '', '', '', ''), \
         (2, '{bare}', 'img/bare', 'Kubernetes', 'Kubernetes', 'any', {time}, {time}, 2, 'img/bare', '', '', '', ''); \
         INSERT INTO installations (environment_id, language, position, version, path) VALUES \
         (1, 'python', 1, '3.12.1', '/opt/python/3.12 \"new\"/bin/python'), \
         (1, 'r', 0, '4.4.1', '/opt/R/bin/R'), \
         (1, 'python', 0, '3.11.9', '/opt/python/3.11/bin/python');"
    )
}

pub async fn sqlite_installations_move_into_their_environments_rows() {
    let database = crate::fixture::sqlite_database();
    installations_move_into_their_environments_rows(database, "0").await;
}

pub async fn postgres_installations_move_into_their_environments_rows() {
    let database = crate::fixture::postgres_database().await;
    installations_move_into_their_environments_rows(database, "'2026-01-01T00:00:00Z'").await;
}

/// Makes the schema of `$migrator` up to `$version` in the database at `$url` and runs `$rows`
/// in it, over a connection of type `$connection`.
macro_rules! older_schema {
    ($connection:ty, $migrator:expr, $version:expr, $url:expr, $rows:expr) => {{
        let mut conn = <$connection>::connect($url).await.expect("connects");
        let migrated = $migrator.run_to($version, &mut conn).await;
        migrated.expect("the older schema");
        sqlx::raw_sql($rows)
            .execute(&mut conn)
            .await
            .expect("the older rows");
        conn.close().await.expect("closes");
    }};
}

/// Writes [`older_rows`] (with `time` for their times) in the older schema of `database`,
/// then reads them back through the store.
async fn installations_move_into_their_environments_rows(database: Database, time: &str) {
    let (old, bare) = (Uuid::new_v4(), Uuid::new_v4());
    let rows = AssertSqlSafe(older_rows(old, bare, time));
    let url = database.url.as_str();
    if url.starts_with("sqlite:") {
        older_schema!(
            SqliteConnection,
            SQLITE,
            SQLITE_SEPARATE_INSTALLATIONS,
            url,
            rows
        );
    } else {
        older_schema!(
            PgConnection,
            POSTGRES,
            POSTGRES_SEPARATE_INSTALLATIONS,
            url,
            rows
        );
    }
    read_back(url, old, bare).await;
    database.finish().await;
}

/// Opens the store on the older database and checks that every installation is there, in
/// position order, found by the list filters, and that writes go on.
async fn read_back(url: &str, old: Uuid, bare: Uuid) {
    let store = execenv_store::open(url)
        .await
        .expect("the store opens and migrates");
    let env = store
        .get_environment(old)
        .await
        .expect("the older environment");
    let installation = |version: &str, path: &str| Installation {
        version: version.to_owned(),
        path: path.to_owned(),
    };
    assert_eq!(
        env.spec.python,
        [
            installation("3.11.9", "/opt/python/3.11/bin/python"),
            installation("3.12.1", "/opt/python/3.12 \"new\"/bin/python"),
        ]
    );
    assert_eq!(env.spec.r, [installation("4.4.1", "/opt/R/bin/R")]);
    assert!(env.spec.quarto.is_empty() && env.spec.tensorflow.is_empty());
    let bare_env = store
        .get_environment(bare)
        .await
        .expect("the bare environment");
    assert!(bare_env.spec.python.is_empty() && bare_env.spec.r.is_empty());

    let names = |language, version: Option<&str>| {
        let store = store.clone();
        let query = ListQuery {
            language: Some(language),
            language_version: version.map(str::to_owned),
            sort: SortField::Name,
            limit: 100,
            ..ListQuery::default()
        };
        async move {
            let page = store.list_environments(&query).await.expect("lists");
            page.environments
                .into_iter()
                .map(|e| e.spec.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(Language::Python, Some("3.12")).await, ["img/old"]);
    assert_eq!(names(Language::R, None).await, ["img/old"]);
    assert!(names(Language::Quarto, None).await.is_empty());

    // The migrated rows are written like any other.
    let mut spec = env.spec.clone();
    spec.python.truncate(1);
    let updated = store
        .update_environment(old, &spec, 0, &crate::suite::alice())
        .await
        .expect("an update");
    assert_eq!(
        store.get_environment(old).await.expect("read again").spec,
        updated.spec
    );
    assert!(names(Language::Python, Some("3.12")).await.is_empty());
}
