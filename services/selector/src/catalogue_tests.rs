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
