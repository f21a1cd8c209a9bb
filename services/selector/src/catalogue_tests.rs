#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn age_is_zero_while_current_and_grows_once_stale() {
    let shared = SharedCatalogue::new();
    assert!(!shared.is_current());
    shared.mark_current();
    assert_eq!(shared.age(), Duration::ZERO);
    shared.mark_stale();
    let first = shared.stale_since().unwrap();
    shared.mark_stale();
    assert_eq!(shared.stale_since(), Some(first), "the first loss counts");
    shared.mark_current();
    assert!(shared.is_current());
}

/// Yields until `shared` has a request waiting for a build (the waiter subscribed).
async fn until_waiting(shared: &SharedCatalogue) {
    while shared.inner.builds.receiver_count() == 0 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_for_a_newer_revision_is_answered_once_the_catalogue_reaches_it() {
    let shared = SharedCatalogue::new();
    shared.publish(Catalogue::new(41, Vec::<execenv_core::Environment>::new()));
    let waiter = tokio::spawn({
        let shared = shared.clone();
        async move {
            shared
                .view_at_least(45, Duration::from_secs(2))
                .await
                .map(|v| v.catalogue.revision())
        }
    });
    until_waiting(&shared).await;
    shared.publish(Catalogue::new(43, Vec::<execenv_core::Environment>::new()));
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "43 is not 45 yet");
    shared.publish(Catalogue::new(46, Vec::<execenv_core::Environment>::new()));
    assert_eq!(waiter.await.unwrap().ok(), Some(46));
}

#[tokio::test(start_paused = true)]
async fn a_request_for_a_revision_never_reached_is_refused_after_the_wait() {
    let shared = SharedCatalogue::new();
    shared.publish(Catalogue::new(41, Vec::<execenv_core::Environment>::new()));
    let started = tokio::time::Instant::now();
    let behind = shared
        .view_at_least(45, Duration::from_secs(2))
        .await
        .err()
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(behind.held.unwrap().catalogue.revision(), 41);
}

#[tokio::test(start_paused = true)]
async fn a_request_before_the_first_catalogue_is_refused_with_none_held() {
    let shared = SharedCatalogue::new();
    let behind = shared
        .view_at_least(1, Duration::from_millis(500))
        .await
        .err()
        .unwrap();
    assert!(behind.held.is_none());
}

#[tokio::test]
async fn a_revision_already_reached_is_answered_without_waiting() {
    let shared = SharedCatalogue::new();
    shared.publish(Catalogue::new(45, Vec::<execenv_core::Environment>::new()));
    let view = shared.view_at_least(45, Duration::ZERO).await.ok().unwrap();
    assert_eq!(view.catalogue.revision(), 45);
}
