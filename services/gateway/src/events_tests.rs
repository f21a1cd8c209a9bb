#![allow(clippy::unwrap_used)]

use super::*;

fn message(kind: Kind, revision: i64) -> reg::WatchEnvironmentsResponse {
    reg::WatchEnvironmentsResponse {
        kind: kind as i32,
        revision,
        ..Default::default()
    }
}

fn events() -> Events {
    Events::new(
        Registry::new("http://127.0.0.1:1", None).unwrap(),
        ConfigSync::new(None, None).unwrap(),
        Shutdown::new(),
    )
}

fn subscription(events: &Events, revision: i64) -> Subscription {
    Subscription {
        revision,
        sync: None,
        rx: events.inner.tx.subscribe(),
        events: events.clone(),
    }
}

#[test]
fn the_snapshot_is_silent_and_changes_after_it_are_events() {
    let mut cursor = Cursor::default();
    assert_eq!(cursor.on_message(&message(Kind::Snapshot, 5)), None);
    assert_eq!(cursor.on_message(&message(Kind::Snapshot, 5)), None);
    assert_eq!(cursor.on_message(&message(Kind::Synced, 5)), None);
    assert!(cursor.synced_once);
    assert_eq!(
        cursor.on_message(&message(Kind::Upsert, 6)),
        Some(Event::Catalogue {
            kind: "upsert",
            revision: 6
        })
    );
    assert_eq!(
        cursor.on_message(&message(Kind::Delete, 7)),
        Some(Event::Catalogue {
            kind: "delete",
            revision: 7
        })
    );
    // A dropped stream resumes after the last revision seen.
    assert_eq!(cursor.revision, 7);
}

#[test]
fn a_relisted_catalogue_ends_with_a_resync() {
    let mut cursor = Cursor::default();
    cursor.on_message(&message(Kind::Synced, 3));
    cursor.relist();
    assert_eq!(cursor.revision, 0);
    assert_eq!(cursor.on_message(&message(Kind::Snapshot, 9)), None);
    assert_eq!(
        cursor.on_message(&message(Kind::Synced, 9)),
        Some(Event::Catalogue {
            kind: "resync",
            revision: 9
        })
    );
    // Resuming (not re-listing) ends with no resync: the missed changes came as events.
    assert_eq!(cursor.on_message(&message(Kind::Synced, 9)), None);
}

#[tokio::test]
async fn a_subscriber_skips_what_ready_already_covered() {
    let events = events();
    let mut sub = subscription(&events, 4);
    for revision in [3, 4, 5] {
        events
            .inner
            .tx
            .send(Event::Catalogue {
                kind: "upsert",
                revision,
            })
            .unwrap();
    }
    assert_eq!(
        sub.next().await,
        Some(Event::Catalogue {
            kind: "upsert",
            revision: 5
        })
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_a_resync() {
    let events = events();
    let mut sub = subscription(&events, 0);
    for revision in 1..=(CHANNEL as i64 + 10) {
        events
            .inner
            .tx
            .send(Event::Catalogue {
                kind: "upsert",
                revision,
            })
            .unwrap();
    }
    events
        .inner
        .revision
        .send_replace(Some(CHANNEL as i64 + 10));
    assert_eq!(
        sub.next().await,
        Some(Event::Catalogue {
            kind: "resync",
            revision: CHANNEL as i64 + 10
        })
    );
    // What it fell behind by is covered by the resync (which repeats while the channel
    // overflows); newer events come through.
    events
        .inner
        .tx
        .send(Event::Catalogue {
            kind: "delete",
            revision: CHANNEL as i64 + 11,
        })
        .unwrap();
    let next = loop {
        match sub.next().await {
            Some(Event::Catalogue { kind: "resync", .. }) => continue,
            other => break other,
        }
    };
    assert_eq!(
        next,
        Some(Event::Catalogue {
            kind: "delete",
            revision: CHANNEL as i64 + 11
        })
    );
}
