//! The web console's files, embedded from `ui/dist` at compile time (`rust-embed`, in debug
//! builds too; a gateway built without them serves a page saying how to build them). Every GET
//! outside `/__api__` lands here: `/assets/<hashed file>` cached for a year, other files at the
//! top of dist (the favicon) and `index.html` for every other path (the app's own routes)
//! revalidated each time. Text is gzipped for clients that accept it (once per file, then
//! kept); the HTML carries the security headers (CSP without inline scripts, no framing).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use rust_embed::RustEmbed;

/// The header saying whether this gateway has the console (`built`) or not (`missing`).
pub const CONSOLE_HEADER: &str = "x-execenv-console";

/// The console's Content-Security-Policy: the built app needs nothing inline nor foreign.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Files smaller than this are sent as they are.
const GZIP_FROM: usize = 512;

#[derive(RustEmbed)]
#[folder = "../../ui/dist/"]
#[allow_missing = true]
struct Dist;

/// Where the console's files come from.
pub trait Assets: Send + Sync + 'static {
    /// The file at `path` (relative to dist, e.g. `assets/index-3f2a.js`), if there is one.
    fn file(&self, path: &str) -> Option<Cow<'static, [u8]>>;
}

/// The files compiled into this binary.
struct Embedded;

impl Assets for Embedded {
    fn file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        Dist::get(path).map(|f| f.data)
    }
}

/// Serves the console's files; cheap to clone.
#[derive(Clone)]
pub struct Console {
    assets: Arc<dyn Assets>,
    gzipped: Arc<Mutex<HashMap<String, Bytes>>>,
    built: bool,
}

impl Console {
    /// The console compiled into this binary.
    pub fn embedded() -> Self {
        Console::over(Arc::new(Embedded))
    }

    /// The console made of `assets`.
    pub fn over(assets: Arc<dyn Assets>) -> Self {
        let built = assets.file("index.html").is_some();
        Console {
            assets,
            gzipped: Arc::default(),
            built,
        }
    }

    /// Whether the console's files are there (else the not-built page is served).
    pub fn built(&self) -> bool {
        self.built
    }

    /// The answer to a GET of `path` (outside `/__api__`) from a client sending `headers`.
    pub fn respond(&self, path: &str, headers: &HeaderMap) -> Response {
        let gzip = accepts_gzip(headers);
        let relative = path.trim_start_matches('/');
        let safe = !relative.split('/').any(|s| s == ".." || s == ".");
        let mut response = if relative.starts_with("assets/") {
            match self.assets.file(relative).filter(|_| safe) {
                Some(data) => self.file(relative, data, gzip, IMMUTABLE),
                None => (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "no such console file; reload the page to get the current console\n",
                )
                    .into_response(),
            }
        } else if let Some(data) = Some(relative)
            .filter(|r| safe && !r.is_empty() && !r.ends_with('/'))
            .and_then(|r| self.assets.file(r))
        {
            self.file(relative, data, gzip, NO_CACHE)
        } else if let Some(index) = self.assets.file("index.html") {
            self.file("index.html", index, gzip, NO_CACHE)
        } else {
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, NO_CACHE),
                ],
                NOT_BUILT,
            )
                .into_response()
        };
        let h = response.headers_mut();
        h.insert(
            CONSOLE_HEADER,
            HeaderValue::from_static(if self.built { "built" } else { "missing" }),
        );
        let html = h
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        if html {
            for (name, value) in security_headers() {
                h.insert(name, HeaderValue::from_static(value));
            }
        }
        response
    }

    fn file(
        &self,
        path: &str,
        data: Cow<'static, [u8]>,
        gzip: bool,
        cache: &'static str,
    ) -> Response {
        let content_type = content_type(path);
        let compressible = compressible(content_type);
        let mut headers = vec![
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ];
        if compressible {
            headers.push((header::VARY, "accept-encoding"));
        }
        let body = match (gzip && compressible && data.len() >= GZIP_FROM)
            .then(|| self.gzipped(path, &data))
            .flatten()
        {
            Some(zipped) => {
                headers.push((header::CONTENT_ENCODING, "gzip"));
                zipped
            }
            None => match data {
                Cow::Borrowed(b) => Bytes::from_static(b),
                Cow::Owned(v) => Bytes::from(v),
            },
        };
        let mut response = body.into_response();
        for (name, value) in headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }

    /// `data` gzipped, made once per path.
    fn gzipped(&self, path: &str, data: &[u8]) -> Option<Bytes> {
        if let Some(hit) = self.gzipped.lock().ok()?.get(path) {
            return Some(hit.clone());
        }
        let zipped = Bytes::from(gzip(data)?);
        self.gzipped
            .lock()
            .ok()?
            .insert(path.to_owned(), zipped.clone());
        Some(zipped)
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// The page a gateway built without the console serves in its place.
pub const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>execenv console not built</title></head>
<body>
<h1>The execenv web console was not built into this gateway</h1>
<p>The REST API under <code>/__api__/</code> works as usual. To get the console, build it with
<code>make ui</code> (which runs <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>),
then rebuild the gateway (<code>cargo build -p execenv-gateway</code>), which embeds
<code>ui/dist</code>.</p>
</body>
</html>
";

fn security_headers() -> [(&'static str, &'static str); 4] {
    [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ]
}

/// Whether the client takes gzip (`Accept-Encoding: gzip`, not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The content type of a console file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest")
        || content_type == "image/svg+xml"
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
