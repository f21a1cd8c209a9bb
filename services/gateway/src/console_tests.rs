#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::to_bytes;
use std::io::Read;

/// Console files held in memory.
struct Files(HashMap<&'static str, Vec<u8>>);

impl Assets for Files {
    fn file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        self.0.get(path).map(|d| Cow::Owned(d.clone()))
    }
}

const INDEX: &str = "<!doctype html><html><head><script type=\"module\" src=\"/assets/index-abc.js\"></script></head><body><div id=\"root\"></div></body></html>";

fn built() -> Console {
    let big_js = "console.log('execenv');\n".repeat(100);
    Console::over(Arc::new(Files(HashMap::from([
        ("index.html", INDEX.as_bytes().to_vec()),
        ("assets/index-abc.js", big_js.into_bytes()),
        ("assets/logo-1.png", vec![0x89, b'P', b'N', b'G']),
        ("favicon.svg", b"<svg/>".to_vec()),
    ]))))
}

fn missing() -> Console {
    Console::over(Arc::new(Files(HashMap::new())))
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

async fn body(r: Response) -> Vec<u8> {
    to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec()
}

#[tokio::test]
async fn client_routes_get_index_html_revalidated_with_security_headers() {
    let console = built();
    for path in ["/", "/environments", "/launches/42", "/sign-in"] {
        let r = console.respond(path, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "x-execenv-console"), "built");
        assert!(header(&r, "content-security-policy").starts_with("default-src 'self'"));
        assert!(!header(&r, "content-security-policy").contains("unsafe-inline"));
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "referrer-policy"), "same-origin");
        assert_eq!(header(&r, "x-frame-options"), "DENY");
        assert_eq!(body(r).await, INDEX.as_bytes());
    }
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_typed() {
    let console = built();
    let r = console.respond("/assets/logo-1.png", &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&r, "content-security-policy"), "");
    let r = console.respond("/assets/index-abc.js", &HeaderMap::new());
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header(&r, "content-encoding"), "");
}

#[tokio::test]
async fn a_missing_asset_is_404_not_the_app() {
    let r = built().respond("/assets/index-old.js", &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, "content-type").starts_with("text/plain"));
}

#[tokio::test]
async fn top_level_files_are_served_as_themselves_revalidated() {
    let r = built().respond("/favicon.svg", &HeaderMap::new());
    assert_eq!(header(&r, "content-type"), "image/svg+xml");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert_eq!(body(r).await, b"<svg/>");
}

#[tokio::test]
async fn paths_leaving_dist_are_the_app_not_a_file() {
    let r = built().respond("/assets/../index.html", &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = built().respond("/x/../favicon.svg", &HeaderMap::new());
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
}

#[tokio::test]
async fn text_is_gzipped_when_the_client_accepts_it_and_kept() {
    let console = built();
    let accept = headers(&[("accept-encoding", "br, gzip;q=0.8")]);
    let r = console.respond("/assets/index-abc.js", &accept);
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert_eq!(header(&r, "vary"), "accept-encoding");
    let zipped = body(r).await;
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert!(plain.starts_with("console.log('execenv');"));
    assert_eq!(console.gzipped.lock().unwrap().len(), 1);
    // Images are not compressed again.
    let r = console.respond("/assets/logo-1.png", &accept);
    assert_eq!(header(&r, "content-encoding"), "");
}

#[test]
fn gzip_is_accepted_unless_refused() {
    assert!(accepts_gzip(&headers(&[(
        "accept-encoding",
        "gzip, deflate"
    )])));
    assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
    assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
    assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
    assert!(!accepts_gzip(&HeaderMap::new()));
}

#[tokio::test]
async fn without_the_console_every_page_says_how_to_build_it() {
    let console = missing();
    assert!(!console.built());
    let r = console.respond("/environments", &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-execenv-console"), "missing");
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    let page = String::from_utf8(body(r).await).unwrap();
    assert!(page.contains("make ui"), "{page}");
}
