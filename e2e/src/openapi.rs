//! The gateway's contract: calls recorded as they are made, then the OpenAPI document the
//! gateway serves and every recorded response checked with openapi-core (pinned, in a venv under
//! target/) by `e2e/contract/check_openapi.py`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{HttpResponse, connect_clients, http_request, http_send, http_stream};

/// One call and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// GET, POST, …
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// The query parameters (the last value of a repeated one).
    pub query: BTreeMap<String, String>,
    /// The JSON body sent, if any.
    pub request_body: Option<Value>,
    /// The status answered.
    pub status: u16,
    /// The Content-Type answered.
    pub content_type: Option<String>,
    /// Every header answered, names lower-cased (the last value of a repeated one).
    pub headers: BTreeMap<String, String>,
    /// The body answered.
    pub body: String,
}

/// What the checker found.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    /// How many responses were checked.
    pub checked: usize,
    /// One line per response that does not match the document (or a document that is invalid).
    pub failures: Vec<String>,
    /// Documented operations no recorded call reached.
    pub uncovered: Vec<String>,
}

/// Calls the gateway at `addr` and keeps every exchange.
pub struct Recorder {
    addr: String,
    exchanges: RefCell<Vec<Exchange>>,
}

impl Recorder {
    /// A recorder of calls to the gateway at `addr` (`host:port`).
    pub fn new(addr: &str) -> Self {
        Recorder {
            addr: addr.to_owned(),
            exchanges: RefCell::new(Vec::new()),
        }
    }

    /// Calls `method path` with `key` (as `Authorization: Key …`) and `body`; records it.
    pub fn call(
        &self,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse> {
        let auth = authorization(key);
        let response = http_request(&self.addr, method, path, &headers(&auth), body)?;
        Ok(self.record(method, path, body, response))
    }

    /// Calls `method path` with `headers` (a session cookie, a CSRF token…) and `body`, expects
    /// `status`; records it and returns the whole answer (its headers too).
    pub fn expect_with(
        &self,
        status: u16,
        headers: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse> {
        let response = http_request(&self.addr, method, path, headers, body)?;
        let response = self.record(method, path, body, response);
        ensure!(
            response.status == status,
            "{method} {path}: expected {status}, got {response:?}"
        );
        Ok(response)
    }

    /// POSTs `bytes` as a `.tar.gz` to `path` with `key`, expects `status`; records it and
    /// returns the JSON body.
    pub fn upload(
        &self,
        status: u16,
        key: Option<&str>,
        path: &str,
        bytes: &[u8],
    ) -> Result<Value> {
        let auth = authorization(key);
        let body = Some(("application/gzip", bytes));
        let response = http_send(&self.addr, "POST", path, &headers(&auth), body)?;
        expected(
            status,
            "POST",
            path,
            self.record("POST", path, None, response),
        )
    }

    /// POSTs an upload announcing `length` bytes (and sending none unless asked for them),
    /// expects `status`; records it and returns the JSON body.
    pub fn upload_declaring(
        &self,
        status: u16,
        key: Option<&str>,
        path: &str,
        length: u64,
    ) -> Result<Value> {
        let auth = authorization(key);
        let streamed = http_stream(
            &self.addr,
            path,
            &headers(&auth),
            std::io::empty(),
            Some(length),
        )?;
        expected(
            status,
            "POST",
            path,
            self.record("POST", path, None, streamed.response),
        )
    }

    fn record(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        response: HttpResponse,
    ) -> HttpResponse {
        let (bare, query) = path.split_once('?').unwrap_or((path, ""));
        let query = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        self.exchanges.borrow_mut().push(Exchange {
            method: method.to_owned(),
            path: bare.to_owned(),
            query,
            request_body: body.cloned(),
            status: response.status,
            content_type: response.header("content-type").map(str::to_owned),
            headers: response.headers.iter().cloned().collect(),
            body: response.body.clone(),
        });
        response
    }

    /// Calls and expects `status`; returns the JSON body (null when there is none).
    pub fn expect(
        &self,
        status: u16,
        key: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let response = self.call(key, method, path, body)?;
        expected(status, method, path, response)
    }

    /// Everything recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.borrow().clone()
    }
}

/// `Key KEY`, when there is a key.
fn authorization(key: Option<&str>) -> Option<String> {
    key.map(|k| format!("Key {k}"))
}

/// The `Authorization` header, when there is one.
fn headers(authorization: &Option<String>) -> Vec<(&str, &str)> {
    authorization
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default()
}

/// The JSON body of `response` (a string when it is not JSON, null when empty), if it answered
/// `status`.
fn expected(status: u16, method: &str, path: &str, response: HttpResponse) -> Result<Value> {
    ensure!(
        response.status == status,
        "{method} {path}: expected {status}, got {response:?}"
    );
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    if response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
    {
        return response.json();
    }
    Ok(Value::String(response.body))
}

/// Checks `spec` (the served document) and `exchanges` against it.
pub fn check(spec: &Value, exchanges: &[Exchange]) -> Result<Report> {
    let venv = connect_clients::contract_venv()?;
    let dir = tempfile::tempdir()?;
    let spec_path = dir.path().join("openapi.json");
    let exchanges_path = dir.path().join("exchanges.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec)?)?;
    std::fs::write(&exchanges_path, serde_json::to_vec(exchanges)?)?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contract/check_openapi.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(&spec_path)
        .arg(&exchanges_path)
        .output()
        .context("cannot run the OpenAPI checker")?;
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the OpenAPI checker answered no report (exit {:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
