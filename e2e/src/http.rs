//! Plain HTTP/1.1 over loopback, by hand: enough for the admin endpoints and the gateway's API
//! (the server sends a length, or a chunked body, and closes the connection after it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};

/// A plain HTTP/1.1 GET on loopback: the status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let response = http_request(addr, "GET", path, &[], None)?;
    Ok((response.status, response.body))
}

/// What one HTTP request answered.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (the server sends a length, or closes the connection after it).
    pub body: String,
}

impl HttpResponse {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("HTTP {} answered no JSON: {:?}", self.status, self.body))
    }
}

/// A plain HTTP/1.1 request on loopback with extra `headers` and an optional JSON `body`; the
/// answer must come within 10 s.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Result<HttpResponse> {
    http_request_within(Duration::from_secs(10), addr, method, path, headers, body)
}

/// [`http_request`] whose answer may take up to `timeout` (a followed log, say).
pub fn http_request_within(
    timeout: Duration,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        request.push_str(&format!(
            "Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    s.write_all(request.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// The payload of a chunked body: `SIZE-IN-HEX\r\nDATA\r\n` repeated, ending with size 0.
fn dechunk(mut rest: &str) -> Result<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .context("a chunk without its size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16)
            .with_context(|| format!("a chunk size that is not hex: {size:?}"))?;
        if size == 0 {
            return Ok(body);
        }
        let data = after.get(..size).context("a chunk shorter than its size")?;
        body.push_str(data);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
}
