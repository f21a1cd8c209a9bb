#![allow(clippy::unwrap_used)]

use super::*;
use axum::http::HeaderValue;

const HOUR: Duration = Duration::from_secs(3600);

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn a_session_gives_back_its_key_and_token_until_it_is_removed() {
    let store = SessionStore::new(HOUR, 8 * HOUR);
    let now = Instant::now();
    let made = store.create("ee_secret", now).unwrap();
    let live = store.touch(&made.cookie, now).unwrap();
    assert_eq!(live.key, "ee_secret");
    assert_eq!(live.csrf, made.csrf);
    assert_ne!(made.cookie, made.csrf);
    assert!(store.touch("another cookie", now).is_none());
    store.remove(&made.cookie);
    assert!(store.touch(&made.cookie, now).is_none());
}

#[test]
fn tokens_are_256_bits_url_safe_and_differ() {
    let a = random_token().unwrap();
    let b = random_token().unwrap();
    assert_ne!(a, b);
    assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
}

#[test]
fn an_idle_session_expires_and_use_keeps_it_alive() {
    let store = SessionStore::new(HOUR, 8 * HOUR);
    let start = Instant::now();
    let made = store.create("k", start).unwrap();
    assert_eq!(made.expires_in, HOUR);
    // Used every 50 minutes it stays alive past the idle limit.
    let mut now = start;
    for _ in 0..3 {
        now += Duration::from_secs(50 * 60);
        assert!(store.touch(&made.cookie, now).is_some());
    }
    // An hour without use ends it, and it is dropped.
    assert!(store.touch(&made.cookie, now + HOUR).is_none());
    assert!(store.is_empty());
}

#[test]
fn a_session_ends_at_its_max_age_however_much_it_is_used() {
    let store = SessionStore::new(HOUR, 2 * HOUR);
    let start = Instant::now();
    let made = store.create("k", start).unwrap();
    let mut now = start;
    let mut last = None;
    for _ in 0..4 {
        now += Duration::from_secs(30 * 60);
        last = store.touch(&made.cookie, now);
    }
    assert!(last.is_none(), "alive at its max age");
    // Just before the max age, what remains is bounded by it, not by the idle time.
    let made = store.create("k", start).unwrap();
    for minutes in [55, 105] {
        assert!(
            store
                .touch(&made.cookie, start + Duration::from_secs(minutes * 60))
                .is_some()
        );
    }
    let live = store
        .touch(&made.cookie, start + Duration::from_secs(110 * 60))
        .unwrap();
    assert_eq!(live.expires_in, Duration::from_secs(10 * 60));
}

#[test]
fn the_store_is_bounded_and_drops_the_least_recently_used() {
    let store = SessionStore::with_capacity(HOUR, 8 * HOUR, 2);
    let now = Instant::now();
    let a = store.create("a", now).unwrap();
    let b = store.create("b", now + Duration::from_secs(1)).unwrap();
    assert!(
        store
            .touch(&a.cookie, now + Duration::from_secs(2))
            .is_some()
    );
    let c = store.create("c", now + Duration::from_secs(3)).unwrap();
    assert_eq!(store.len(), 2);
    assert!(
        store
            .touch(&b.cookie, now + Duration::from_secs(4))
            .is_none()
    );
    assert!(
        store
            .touch(&a.cookie, now + Duration::from_secs(4))
            .is_some()
    );
    assert!(
        store
            .touch(&c.cookie, now + Duration::from_secs(4))
            .is_some()
    );
}

#[test]
fn the_cookie_is_found_among_others_in_any_cookie_header() {
    let h = headers(&[
        ("cookie", "theme=dark; execenv_session=abc_-1"),
        ("cookie", "other=1"),
    ]);
    assert_eq!(cookie_value(&h), Some("abc_-1"));
    assert_eq!(cookie_value(&headers(&[("cookie", "x=1")])), None);
    assert_eq!(
        cookie_value(&headers(&[("cookie", "execenv_session=")])),
        None
    );
    assert_eq!(
        cookie_value(&headers(&[("cookie", "not_execenv_session=z")])),
        None
    );
}

#[test]
fn the_cookie_is_http_only_strict_and_secure_only_when_asked() {
    let plain = set_cookie("v", Duration::from_secs(28800), false);
    assert_eq!(
        plain,
        "execenv_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800"
    );
    assert!(set_cookie("v", HOUR, true).ends_with("; Secure"));
    assert!(clear_cookie(false).starts_with("execenv_session=; "));
    assert!(clear_cookie(false).contains("Max-Age=0"));
}

#[test]
fn tls_is_read_from_the_forwarded_proto() {
    assert!(forwarded_tls(&headers(&[("x-forwarded-proto", "https")])));
    assert!(forwarded_tls(&headers(&[(
        "x-forwarded-proto",
        "HTTPS, http"
    )])));
    assert!(!forwarded_tls(&headers(&[("x-forwarded-proto", "http")])));
    assert!(!forwarded_tls(&headers(&[])));
}

#[test]
fn csrf_is_needed_for_every_method_that_is_not_safe() {
    let good = headers(&[("x-csrf-token", "tok")]);
    let wrong = headers(&[("x-csrf-token", "tik")]);
    let none = headers(&[]);
    for safe in [Method::GET, Method::HEAD, Method::OPTIONS] {
        assert!(check_csrf(&safe, &none, "tok").is_ok());
    }
    for unsafe_method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        assert!(check_csrf(&unsafe_method, &good, "tok").is_ok());
        let missing = check_csrf(&unsafe_method, &none, "tok").unwrap_err();
        assert_eq!(missing.kind, ErrorKind::PermissionDenied);
        assert!(missing.message.contains("missing"));
        let wrong = check_csrf(&unsafe_method, &wrong, "tok").unwrap_err();
        assert_eq!(wrong.kind, ErrorKind::PermissionDenied);
        assert!(wrong.message.contains("wrong"));
    }
}

#[test]
fn nothing_secret_is_in_debug_output() {
    let store = SessionStore::new(HOUR, HOUR);
    let made = store.create("ee_secret", Instant::now()).unwrap();
    let live = store.touch(&made.cookie, Instant::now()).unwrap();
    let text = format!("{made:?} {live:?}");
    assert!(!text.contains("ee_secret"), "{text}");
    assert!(!text.contains(&made.cookie), "{text}");
    assert!(!text.contains(&made.csrf), "{text}");
}
