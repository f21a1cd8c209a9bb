#![allow(clippy::unwrap_used)]

use super::*;

const GUID: &str = "0e4f3c2a-8b1d-4e6f-9a7c-5d3b2e1f0a9c";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// Every header as `name: value` lines, sorted.
fn lines(h: &HeaderMap) -> Vec<String> {
    let mut lines: Vec<String> = h
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    lines.sort();
    lines
}

fn forwarded(websocket: bool) -> Forwarded<'static> {
    Forwarded {
        guid: GUID,
        peer: Some("10.1.2.3".parse().unwrap()),
        username: "val",
        websocket,
    }
}

#[test]
fn the_path_loses_its_content_prefix_and_keeps_its_query_as_sent() {
    let cases = [
        (format!("/content/{GUID}/"), "/"),
        (format!("/content/{GUID}"), "/"),
        (format!("/content/{GUID}/a/b.js"), "/a/b.js"),
        (format!("/content/{GUID}/api?x=1&y=%20"), "/api?x=1&y=%20"),
        (format!("/content/{GUID}/a%2Fb/"), "/a%2Fb/"),
        (format!("/content/{GUID}/?q"), "/?q"),
    ];
    for (path, expected) in cases {
        let uri: Uri = path.parse().unwrap();
        assert_eq!(upstream_path(&uri, GUID), expected, "{path}");
    }
}

#[test]
fn the_guid_is_the_segment_after_content() {
    assert_eq!(guid_of(&format!("/content/{GUID}/x/y")), GUID);
    assert_eq!(guid_of("/content/abc/"), "abc");
    assert_eq!(guid_of("/content/abc"), "abc");
    assert_eq!(guid_of("/elsewhere"), "");
}

#[test]
fn credentials_of_execenv_are_removed_and_the_apps_own_kept() {
    let incoming = headers(&[
        ("host", "gateway.example:3939"),
        ("authorization", "Key ee_secret"),
        ("x-rsc-authorization", "Key ee_other"),
        ("x-csrf-token", "t0k"),
        ("cookie", "theme=dark; execenv_session=abc123"),
        ("cookie", "app_session=s1"),
        ("accept", "text/html"),
        ("content-length", "12"),
    ]);
    let out = request_headers(&incoming, &forwarded(false));
    assert_eq!(
        lines(&out),
        vec![
            "accept: text/html".to_owned(),
            "content-length: 12".to_owned(),
            "cookie: theme=dark; app_session=s1".to_owned(),
            "host: gateway.example:3939".to_owned(),
            format!("rstudio-connect-app-base-url: http://gateway.example:3939/content/{GUID}/"),
            r#"rstudio-connect-credentials: {"user":"val","groups":[]}"#.to_owned(),
            "x-execenv-user: val".to_owned(),
            "x-forwarded-for: 10.1.2.3".to_owned(),
            "x-forwarded-host: gateway.example:3939".to_owned(),
            format!("x-forwarded-prefix: /content/{GUID}"),
            "x-forwarded-proto: http".to_owned(),
        ]
    );
}

#[test]
fn another_authorization_scheme_is_the_apps_and_is_kept() {
    let incoming = headers(&[("authorization", "Bearer app-token")]);
    let out = request_headers(&incoming, &forwarded(false));
    assert_eq!(out["authorization"], "Bearer app-token");
    // Only the session cookie was sent: no Cookie header is left.
    let only_session = headers(&[("cookie", "execenv_session=abc")]);
    assert!(!request_headers(&only_session, &forwarded(false)).contains_key("cookie"));
}

#[test]
fn a_proxy_in_front_is_believed_and_a_client_cannot_claim_who_it_is() {
    let incoming = headers(&[
        ("host", "10.0.0.5:3939"),
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "apps.example.com"),
        ("x-execenv-user", "ada"),
        (
            "rstudio-connect-credentials",
            r#"{"user":"ada","groups":["admins"]}"#,
        ),
        ("x-forwarded-prefix", "/elsewhere"),
    ]);
    let out = request_headers(&incoming, &forwarded(false));
    assert_eq!(out["x-forwarded-for"], "203.0.113.9, 10.1.2.3");
    assert_eq!(out["x-forwarded-proto"], "https");
    assert_eq!(out["x-forwarded-host"], "apps.example.com");
    assert_eq!(
        out["rstudio-connect-app-base-url"],
        format!("https://apps.example.com/content/{GUID}/").as_str()
    );
    assert_eq!(out["x-execenv-user"], "val");
    assert_eq!(
        out["rstudio-connect-credentials"],
        r#"{"user":"val","groups":[]}"#
    );
    assert_eq!(
        out["x-forwarded-prefix"],
        format!("/content/{GUID}").as_str()
    );
    assert_eq!(out.get_all("x-execenv-user").iter().count(), 1);
}

#[test]
fn hop_by_hop_headers_go_but_a_websockets_upgrade_stays() {
    let incoming = headers(&[
        ("connection", "keep-alive, x-private"),
        ("keep-alive", "timeout=5"),
        ("x-private", "p"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("proxy-authorization", "Basic x"),
        ("upgrade", "h2c"),
        ("expect", "100-continue"),
        ("x-kept", "k"),
    ]);
    let out = request_headers(&incoming, &forwarded(false));
    for gone in [
        "connection",
        "keep-alive",
        "x-private",
        "te",
        "transfer-encoding",
        "proxy-authorization",
        "upgrade",
        "expect",
    ] {
        assert!(!out.contains_key(gone), "{gone} forwarded");
    }
    assert_eq!(out["x-kept"], "k");

    let upgrade = headers(&[
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ]);
    assert!(is_websocket(&upgrade));
    let out = request_headers(&upgrade, &forwarded(true));
    assert_eq!(out["connection"], "upgrade");
    assert_eq!(out["upgrade"], "websocket");
    assert_eq!(out["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(out["sec-websocket-version"], "13");
}

#[test]
fn only_requests_without_a_body_may_be_sent_twice() {
    let cases = [
        (Method::GET, &[][..], true),
        (Method::HEAD, &[][..], true),
        (Method::OPTIONS, &[][..], true),
        (Method::POST, &[("content-length", "0")][..], true),
        (Method::POST, &[][..], false),
        (Method::POST, &[("content-length", "5")][..], false),
        (Method::GET, &[("transfer-encoding", "chunked")][..], false),
        (
            Method::PUT,
            &[("content-length", "0"), ("transfer-encoding", "chunked")][..],
            false,
        ),
    ];
    for (method, h, expected) in cases {
        assert_eq!(
            has_no_body(&method, &headers(h)),
            expected,
            "{method} {h:?}"
        );
    }
}

#[test]
fn an_answer_loses_hop_by_hop_headers_and_cannot_set_the_session_cookie() {
    let mut answer = headers(&[
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
        ("content-type", "text/html"),
        ("set-cookie", "app=1; Path=/"),
        ("set-cookie", "execenv_session=forged; Path=/"),
        ("set-cookie", "other=2"),
    ]);
    response_headers(&mut answer, false);
    assert_eq!(
        lines(&answer),
        vec![
            "content-type: text/html",
            "set-cookie: app=1; Path=/",
            "set-cookie: other=2"
        ]
    );
    let mut switching = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
    response_headers(&mut switching, true);
    assert_eq!(
        lines(&switching),
        vec!["connection: Upgrade", "upgrade: websocket"]
    );
}
