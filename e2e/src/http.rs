//! Plain HTTP/1.1 over loopback, by hand: enough for the admin endpoints and the gateway's API
//! (the server sends a length, or a chunked body, and closes the connection after it), and for
//! uploads streamed from a generator while the answer is awaited ([`http_stream`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

    /// The body parsed as JSON, null when it is empty.
    pub fn json_or_null(&self) -> Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        self.json()
    }
}

/// A request to the gateway at `api` with `Authorization: Key KEY` (none when `key` is empty)
/// and an optional JSON `body`: the response as sent, whatever its type (logs are plain text).
pub fn request_with_key(
    api: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<HttpResponse> {
    let authorization = format!("Key {key}");
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        Vec::new()
    } else {
        vec![("Authorization", authorization.as_str())]
    };
    http_request(api, method, path, &headers, body)
}

/// [`request_with_key`] for a JSON route: the status and the JSON answered (null when empty).
pub fn call_with_key(
    api: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value)> {
    let response = request_with_key(api, key, method, path, body)?;
    Ok((response.status, response.json_or_null()?))
}

/// How long a request waits for its answer unless told otherwise.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A plain HTTP/1.1 request on loopback with extra `headers` and an optional JSON `body`.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Result<HttpResponse> {
    http_request_within(ANSWER_WITHIN, addr, method, path, headers, body)
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
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let content = (!body.is_empty() || matches!(method, "POST" | "PUT"))
        .then_some(("application/json; charset=utf-8", body.as_bytes()));
    send(timeout, addr, method, path, headers, content)
}

/// A plain HTTP/1.1 request on loopback with extra `headers` and an optional body of a content
/// type: `(type, bytes)`.
pub fn http_send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Result<HttpResponse> {
    send(ANSWER_WITHIN, addr, method, path, headers, body)
}

fn send(
    timeout: Duration,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let mut request = head(addr, method, path, headers);
    if let Some((content_type, bytes)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    request.push_str("\r\n");
    let mut raw = request.into_bytes();
    raw.extend_from_slice(body.map_or(&[][..], |(_, b)| b));
    s.write_all(&raw)?;
    read_response(&mut s)
}

/// What [`http_stream`] sent and got.
#[derive(Debug)]
pub struct Streamed {
    /// The answer.
    pub response: HttpResponse,
    /// Body bytes the socket accepted before the answer came (or the body ended).
    pub sent: u64,
}

/// A request whose body is read from `body` as it is sent — chunked, or with `length` as its
/// Content-Length — while the answer is awaited: the server may answer before the body's end,
/// and then sending stops. The body is never held in memory.
pub fn http_stream(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    mut body: impl Read + Send + 'static,
    length: Option<u64>,
) -> Result<Streamed> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut request = head(addr, "POST", path, headers);
    request.push_str("Content-Type: application/gzip\r\n");
    match length {
        Some(n) => request.push_str(&format!("Content-Length: {n}\r\n")),
        None => request.push_str("Transfer-Encoding: chunked\r\n"),
    }
    request.push_str("\r\n");
    let mut writer = s.try_clone()?;
    let answered = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&answered);
    let sending = std::thread::spawn(move || -> u64 {
        let mut sent = 0;
        if writer.write_all(request.as_bytes()).is_err() {
            return sent;
        }
        let mut buffer = vec![0; 64 * 1024];
        while !stop.load(Ordering::Relaxed) {
            let n = match body.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let piece = &buffer[..n];
            let written = match length {
                Some(_) => writer.write_all(piece),
                None => writer
                    .write_all(format!("{n:X}\r\n").as_bytes())
                    .and_then(|()| writer.write_all(piece))
                    .and_then(|()| writer.write_all(b"\r\n")),
            };
            if written.is_err() {
                return sent;
            }
            sent += n as u64;
        }
        if length.is_none() && !stop.load(Ordering::Relaxed) {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
        sent
    });
    let response = read_response(&mut s);
    answered.store(true, Ordering::Relaxed);
    // The server answered and closed its side; unblock a writer stuck on a full socket.
    let _ = s.shutdown(std::net::Shutdown::Both);
    let sent = sending
        .join()
        .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?;
    Ok(Streamed {
        response: response?,
        sent,
    })
}

/// The request line and the headers every request has, then `headers`.
fn head(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request
}

/// Reads an answer until the server closes the connection. Bytes received before a reset
/// (the server closing with part of a body unread) still count.
fn read_response(s: &mut TcpStream) -> Result<HttpResponse> {
    let mut bytes = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        match s.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !bytes.is_empty() => break,
            Err(e) => return Err(e.into()),
        }
    }
    let raw = String::from_utf8_lossy(&bytes);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
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

/// One HTTPS request with curl, verifying the server against the CA file `ca` and sending
/// `Authorization: Key KEY` (none when `key` is empty): the status and the JSON answered (a
/// JSON string of the body when it is not JSON, null when empty). Fails when curl does (no TLS
/// connection, a certificate refused).
pub fn https_request(
    ca: impl AsRef<std::path::Path>,
    key: &str,
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value)> {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(ca.as_ref())
        .args(["-X", method, "-w", "\n%{http_code}", url]);
    if !key.is_empty() {
        cmd.arg("-H").arg(format!("Authorization: Key {key}"));
    }
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(body.to_string());
    }
    let out = cmd.output().context("cannot run curl")?;
    anyhow::ensure!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').context("curl printed no status")?;
    let json = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::String(body.to_owned()))
    };
    Ok((status.trim().parse()?, json))
}
