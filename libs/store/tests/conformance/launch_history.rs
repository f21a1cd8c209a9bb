//! The launcher's launch history (`LaunchHistory`), the same tests on SQLite and PostgreSQL
//! (instantiated by `history_suite!` in main.rs). Each test gets the URL of a fresh database.

use chrono::{DateTime, Duration, Utc};
use execenv_store::{LaunchHistory, LaunchRecord, Recorded};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

fn pending(id: &str) -> LaunchRecord {
    LaunchRecord {
        id: id.to_owned(),
        record: format!(r#"{{"id":"{id}","state":"pending"}}"#),
        is_final: false,
        finished: None,
    }
}

fn done(id: &str, state: &str, finished: &str) -> LaunchRecord {
    LaunchRecord {
        id: id.to_owned(),
        record: format!(r#"{{"id":"{id}","state":"{state}"}}"#),
        is_final: true,
        finished: Some(at(finished)),
    }
}

/// The ids of the launches the history holds.
async fn ids(history: &LaunchHistory) -> Vec<String> {
    let all = history.load().await.expect("loads");
    all.into_iter().map(|l| l.id).collect()
}

async fn open(url: &str) -> LaunchHistory {
    LaunchHistory::open(url)
        .await
        .unwrap_or_else(|e| panic!("the history opens on {url}: {e}"))
}

pub async fn history_tables_live_beside_the_catalogue_and_open_again(url: String) {
    // The registry's migrations first, as in a shared database; then two launchers at once.
    let catalogue = execenv_store::open(&url)
        .await
        .expect("the catalogue opens");
    let (a, b) = tokio::join!(LaunchHistory::open(&url), LaunchHistory::open(&url));
    let (a, b) = (a.expect("one launcher opens"), b.expect("the other opens"));
    a.insert_new(&pending("l-1")).await.expect("added");
    drop(catalogue);
    // The registry starting again still finds only its own migrations.
    execenv_store::open(&url)
        .await
        .expect("the catalogue opens again beside the history");
    let again = open(&url).await;
    assert_eq!(again.load().await.expect("loads"), vec![pending("l-1")]);
    assert_eq!(b.get("l-1").await.expect("reads"), Some(pending("l-1")));
}

pub async fn insert_new_adds_once_and_answers_the_launch_held(url: String) {
    let history = open(&url).await;
    assert_eq!(
        history.insert_new(&pending("l-1")).await.expect("adds"),
        None
    );
    let mut other = pending("l-1");
    other.record = r#"{"id":"l-1","state":"pending","other":true}"#.to_owned();
    assert_eq!(
        history.insert_new(&other).await.expect("answers"),
        Some(pending("l-1"))
    );
    assert_eq!(history.load().await.expect("loads"), vec![pending("l-1")]);
}

pub async fn record_writes_until_final_and_then_changes_nothing(url: String) {
    let history = open(&url).await;
    assert_eq!(
        history.record(&pending("l-1")).await.expect("adds"),
        Recorded::Stored
    );
    let mut running = pending("l-1");
    running.record = r#"{"id":"l-1","state":"running"}"#.to_owned();
    assert_eq!(
        history.record(&running).await.expect("writes"),
        Recorded::Stored
    );
    let cancelled = done("l-1", "cancelled", "2026-01-02T03:04:05.123456Z");
    assert_eq!(
        history.record(&cancelled).await.expect("finalizes"),
        Recorded::Finalized
    );
    let late = done("l-1", "failed", "2026-01-02T03:05:00Z");
    assert_eq!(
        history.record(&late).await.expect("answers"),
        Recorded::AlreadyFinal(cancelled.clone())
    );
    assert_eq!(
        history.record(&running).await.expect("answers"),
        Recorded::AlreadyFinal(cancelled.clone())
    );
    assert_eq!(
        history.get("l-1").await.expect("reads"),
        Some(cancelled),
        "the finished time keeps its microseconds"
    );
    assert_eq!(history.get("l-2").await.expect("reads"), None);
}

pub async fn of_concurrent_final_writes_exactly_one_makes_the_launch_final(url: String) {
    let history = open(&url).await;
    history.record(&pending("l-1")).await.expect("adds");
    let writers = (0..8).map(|i| {
        let history = history.clone();
        tokio::spawn(async move {
            let mut end = done("l-1", "succeeded", "2026-01-02T03:04:05Z");
            end.record = format!(r#"{{"id":"l-1","writer":{i}}}"#);
            (history.record(&end).await.expect("writes"), end)
        })
    });
    let mut finalized = Vec::new();
    for writer in writers {
        let (outcome, end) = writer.await.expect("the writer ran");
        if outcome == Recorded::Finalized {
            finalized.push(end);
        }
    }
    assert_eq!(finalized.len(), 1, "one writer made it final");
    assert_eq!(
        history.get("l-1").await.expect("reads"),
        finalized.pop(),
        "the history holds that writer's record"
    );
}

pub async fn each_event_of_a_launch_is_claimed_once(url: String) {
    let (a, b) = (open(&url).await, open(&url).await);
    let claims = tokio::join!(a.claim("l-1", "running"), b.claim("l-1", "running"));
    let won = [claims.0.expect("claims"), claims.1.expect("claims")];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert!(b.claim("l-1", "phase:init").await.expect("claims"));
    assert!(!a.claim("l-1", "phase:init").await.expect("claims"));
    assert!(a.claim("l-2", "running").await.expect("another launch's"));
}

pub async fn purge_removes_final_launches_finished_before_the_cutoff_only(url: String) {
    let history = open(&url).await;
    for launch in [
        done("old", "succeeded", "2026-01-01T00:00:00Z"),
        done("new", "failed", "2026-01-20T00:00:00Z"),
        pending("running"),
    ] {
        history.record(&launch).await.expect("writes");
    }
    history.claim("old", "running").await.expect("claims");
    let purged = history
        .purge(at("2026-01-10T00:00:00Z"))
        .await
        .expect("purges");
    assert_eq!(purged, 1);
    let left = ids(&history).await;
    assert_eq!(left, ["new", "running"]);
    assert!(
        history.claim("old", "running").await.expect("claims"),
        "the purged launch's claims went with it"
    );
    assert_eq!(
        history
            .purge(at("2026-01-10T00:00:00Z") + Duration::days(365))
            .await
            .expect("purges"),
        1,
        "an unfinished launch is never purged"
    );
}

pub async fn forget_removes_an_unfinished_launch_and_keeps_a_final_one(url: String) {
    let history = open(&url).await;
    history.record(&pending("l-1")).await.expect("writes");
    history
        .record(&done("l-2", "cancelled", "2026-01-01T00:00:00Z"))
        .await
        .expect("writes");
    assert!(history.forget("l-1").await.expect("forgets"));
    assert!(!history.forget("l-2").await.expect("answers"));
    assert!(!history.forget("l-3").await.expect("answers"));
    let left = ids(&history).await;
    assert_eq!(left, ["l-2"]);
}

pub async fn open_rejects_an_unknown_scheme_naming_the_accepted_ones() {
    let err = LaunchHistory::open("mysql://localhost/db")
        .await
        .expect_err("an error");
    assert_eq!(err.kind, execenv_core::ErrorKind::InvalidArgument);
    assert!(
        err.message.contains("\"mysql\"")
            && err.message.contains("postgres://")
            && err.message.contains("sqlite://"),
        "{}",
        err.message
    );
}
