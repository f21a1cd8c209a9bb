//! The machinery of the authorisation matrix (`e2e/tests/authorization_matrix.rs`): its table
//! written as text — one line per gRPC method or REST operation, one column per kind of caller —
//! parsed, compared with what the services answered, and printed; the gRPC methods that exist
//! (from `execenv_proto::FILE_DESCRIPTOR_SET`) and the REST operations (from the gateway's
//! OpenAPI document) to hold the table against; and an HTTP call that reads no more of an answer
//! than its status needs (an event stream never ends).
//!
//! A cell is the answer expected: a gRPC code's short name ([`code_name`]) or an HTTP status.
//! `today!wanted` marks a known defect: the service answers `today`, which is wrong, and should
//! answer `wanted`; the cell passes on `today`, and fails on anything else — `wanted` too, so
//! that whoever fixes it writes the right answer into the table.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use prost::Message as _;

/// The kinds of caller, in the table's column order.
pub const COLUMNS: [&str; 7] = [
    "none", "badkey", "viewer", "pub+", "pub-", "admin", "service",
];

/// One cell: the answer expected today, and the right one when today's is a known defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// What the service answers today.
    pub today: String,
    /// What it should answer instead, when today's answer is a defect.
    pub wanted: Option<String>,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The gRPC method (`execenv.registry.v1.Registry/GetEnvironment`) or REST operation
    /// (`GET /__api__/v1/environments/{guid}`).
    pub key: String,
    /// One cell per column of [`COLUMNS`].
    pub cells: Vec<Cell>,
}

/// Parses a table: one row per line, `#` starts a comment, blank lines are skipped; a row is its
/// key (`key_words` words) and then one cell per column.
pub fn parse(table: &str, key_words: usize) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::new();
    for (number, line) in table.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            words.len() == key_words + COLUMNS.len(),
            "line {} of the table has {} cells, not {}: {line}",
            number + 1,
            words.len().saturating_sub(key_words),
            COLUMNS.len()
        );
        let key = words[..key_words].join(" ");
        ensure!(
            rows.iter().all(|r| r.key != key),
            "{key} is in the table twice"
        );
        let cells = words[key_words..]
            .iter()
            .map(|w| match w.split_once('!') {
                Some((today, wanted)) => Cell {
                    today: today.to_owned(),
                    wanted: Some(wanted.to_owned()),
                },
                None => Cell {
                    today: (*w).to_owned(),
                    wanted: None,
                },
            })
            .collect();
        rows.push(Row { key, cells });
    }
    Ok(rows)
}

/// Fails naming what exists but has no row, and the rows of what does not exist.
pub fn same_keys(what: &str, rows: &[Row], existing: &BTreeSet<String>) -> Result<()> {
    let listed: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
    let missing: Vec<&String> = existing.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(existing).collect();
    ensure!(
        missing.is_empty() && gone.is_empty(),
        "the {what} table does not match what exists:\n  without a row (add one): {missing:?}\n  rows of nothing (remove them): {gone:?}"
    );
    Ok(())
}

/// What each cell of a table answered.
#[derive(Debug, Default)]
pub struct Answers {
    rows: Vec<(Row, Vec<Answer>)>,
}

/// What one cell answered: the short name or status, and the message or body, for the report.
#[derive(Debug, Clone)]
pub struct Answer {
    /// A gRPC code's short name or an HTTP status.
    pub got: String,
    /// The error message or body (shortened).
    pub detail: String,
}

impl Answers {
    /// Records the answers of `row`, one per column.
    pub fn record(&mut self, row: &Row, answers: Vec<Answer>) {
        self.rows.push((row.clone(), answers));
    }

    /// The table as answered, one line per row, cells that differ shown as `got≠expected`,
    /// known defects with a `!`; and the differences, one line each.
    pub fn report(&self, key_width: usize) -> (String, Vec<String>) {
        let mut table = format!("{:key_width$}", "");
        for column in COLUMNS {
            let _ = write!(table, " {column:>14}");
        }
        table.push('\n');
        let mut differences = Vec::new();
        for (row, answers) in &self.rows {
            let _ = write!(table, "{:key_width$}", row.key);
            for ((column, cell), answer) in COLUMNS.iter().zip(&row.cells).zip(answers) {
                let shown = if answer.got != cell.today {
                    let expected = match &cell.wanted {
                        Some(wanted) if *wanted == answer.got => format!(
                            "{} (a known defect is fixed: write {wanted} in this cell)",
                            cell.today
                        ),
                        _ => cell.today.clone(),
                    };
                    differences.push(format!(
                        "{} as {column}: answered {}, the table says {expected}: {}",
                        row.key, answer.got, answer.detail
                    ));
                    format!("{}≠{}", answer.got, cell.today)
                } else if cell.wanted.is_some() {
                    format!("{}!", answer.got)
                } else {
                    answer.got.clone()
                };
                let _ = write!(table, " {shown:>14}");
            }
            table.push('\n');
        }
        (table, differences)
    }
}

/// The short name of a gRPC code, as the table writes it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid",
        Code::DeadlineExceeded => "deadline",
        Code::NotFound => "notfound",
        Code::AlreadyExists => "exists",
        Code::PermissionDenied => "denied",
        Code::ResourceExhausted => "exhausted",
        Code::FailedPrecondition => "precond",
        Code::Aborted => "aborted",
        Code::OutOfRange => "range",
        Code::Unimplemented => "unimpl",
        Code::Internal => "internal",
        Code::Unavailable => "unavail",
        Code::DataLoss => "dataloss",
        Code::Unauthenticated => "unauthn",
    }
}

/// Every gRPC method of execenv's protos, as `package.Service/Method`.
pub fn grpc_methods() -> Result<BTreeSet<String>> {
    let set = prost_types::FileDescriptorSet::decode(execenv_proto::FILE_DESCRIPTOR_SET)
        .context("execenv_proto::FILE_DESCRIPTOR_SET does not decode")?;
    let mut methods = BTreeSet::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!("{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    Ok(methods)
}

/// Every operation of an OpenAPI document, as `METHOD /path`.
pub fn rest_operations(document: &serde_json::Value) -> Result<BTreeSet<String>> {
    let paths = document["paths"]
        .as_object()
        .context("an OpenAPI document without paths")?;
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .context("a path item that is not an object")?;
        for method in item.keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                operations.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    Ok(operations)
}

/// One HTTP/1.1 request on loopback; the status and as much of the body as came before the
/// server closed the connection or the body's length was read. An event stream's body is not
/// read at all.
pub fn http_status(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    let bytes = body.map_or(&[][..], |(_, b)| b);
    if let Some((content_type, b)) = body {
        let _ = write!(
            request,
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            b.len()
        );
    } else if matches!(method, "POST" | "PUT" | "PATCH") {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    let mut raw = request.into_bytes();
    raw.extend_from_slice(bytes);
    stream.write_all(&raw)?;
    let mut received = Vec::new();
    let mut buffer = [0; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            bail!(
                "{method} {path}: the connection closed before the answer's head: {:?}",
                String::from_utf8_lossy(&received)
            );
        }
        received.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{method} {path}: no status line in {head:?}"))?;
    if head.contains("content-type: text/event-stream") {
        return Ok((status, String::new()));
    }
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let mut rest = received[head_end + 4..].to_vec();
    while length.is_none_or(|n| rest.len() < n) {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok((status, String::from_utf8_lossy(&rest).into_owned()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The first `limit` characters of `text` on one line, for a report.
pub fn shorten(text: &str, limit: usize) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    match one_line.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_key_then_one_cell_per_column_and_a_defect_names_both_answers() {
        let rows = parse(
            "# a comment\n\nGET /x  401 401 403 200 200!404 200 401  # why\n",
            2,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].key, "GET /x");
        assert_eq!(
            rows[0].cells[4],
            Cell {
                today: "200".to_owned(),
                wanted: Some("404".to_owned())
            }
        );
        assert!(parse("GET /x 401", 2).is_err());
    }

    #[test]
    fn a_differing_cell_and_a_fixed_defect_are_both_reported() {
        let rows = parse("a ok ok ok ok ok!notfound ok ok", 1).unwrap();
        let mut answers = Answers::default();
        let answer = |got: &str| Answer {
            got: got.to_owned(),
            detail: String::new(),
        };
        let mut got: Vec<Answer> = ["ok", "ok", "denied", "ok", "notfound", "ok", "ok"]
            .into_iter()
            .map(answer)
            .collect();
        answers.record(&rows[0], got.clone());
        let (_, differences) = answers.report(4);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[1].contains("a known defect is fixed"));
        got[2] = answer("ok");
        got[4] = answer("ok");
        let mut answers = Answers::default();
        answers.record(&rows[0], got);
        let (table, differences) = answers.report(4);
        assert!(differences.is_empty(), "{differences:?}");
        assert!(table.contains("ok!"), "{table}");
    }
}
