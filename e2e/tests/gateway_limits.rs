//! The limits of the real gateway (and registry), each refusal checked for its status and
//! Connect's JSON body: failed authentications throttled per client address (429, Retry-After,
//! the metric) while known keys pass; bodies over the limit (announced or counted), JSON nested
//! too deep, a query or a path axum cannot read, a body that never ends (the request timeout),
//! event streams per person; and on gRPC, a message over the registry's size limit and watch
//! streams per client.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{
    RegistryProcess, ServiceProcess, eventually, http_get, http_send, http_stream, sqlite_url,
};
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use serde_json::{Value, json};

/// The gateway's address (`127.0.0.1:PORT`).
fn addr(gateway: &ServiceProcess) -> &str {
    gateway.url.trim_start_matches("http://")
}

/// A request with `key` (and an optional JSON body given as text).
fn call(
    gateway: &ServiceProcess,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> Result<execenv_e2e::HttpResponse> {
    let authorization = format!("Key {key}");
    http_send(
        addr(gateway),
        method,
        path,
        &[("Authorization", &authorization)],
        body.map(|b| ("application/json", b.as_bytes())),
    )
}

/// Checks that `answer` is Connect's error with `status`, `code` and the message `error`.
fn refused(answer: &execenv_e2e::HttpResponse, status: u16, code: u64, error: &str) -> Result<()> {
    ensure!(answer.status == status, "{answer:?}");
    ensure!(
        answer.header("content-type") == Some("application/json"),
        "{answer:?}"
    );
    let body: Value = answer.json()?;
    ensure!(
        body == json!({ "code": code, "error": error, "payload": null }),
        "{body}\nexpected: {error}"
    );
    Ok(())
}

#[test]
fn failed_authentications_are_throttled_per_address_while_known_keys_pass() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[
            ("EXECENV_LIMITS__AUTH_FAILURE_BURST", "3".to_owned()),
            ("EXECENV_LIMITS__AUTH_FAILURES_PER_MINUTE", "1".to_owned()),
        ],
    )?;
    let known = user_key(&registry, "kim", "publisher")?;
    ensure!(call(&gateway, "GET", "/__api__/v1/user", &known, None)?.status == 200);

    for guess in ["ee_guess1", "ee_guess2", "ee_guess3"] {
        let answer = call(&gateway, "GET", "/__api__/v1/user", guess, None)?;
        ensure!(answer.status == 401, "{guess}: {answer:?}");
    }
    let throttled = call(&gateway, "GET", "/__api__/v1/user", "ee_guess4", None)?;
    let message = |wait: &str| {
        format!(
            "too many failed authentications from 127.0.0.1; try again in {wait} s with a valid API key (limits: EXECENV_LIMITS__AUTH_FAILURE_BURST, EXECENV_LIMITS__AUTH_FAILURES_PER_MINUTE)"
        )
    };
    let wait = throttled
        .header("retry-after")
        .unwrap_or_default()
        .to_owned();
    let seconds: u64 = wait.parse()?;
    ensure!((50..=60).contains(&seconds), "Retry-After: {wait}");
    refused(&throttled, 429, 2, &message(&wait))?;

    // The key that authenticated before is not held back by the guesses.
    let me = call(&gateway, "GET", "/__api__/v1/user", &known, None)?;
    ensure!(me.status == 200, "{me:?}");
    ensure!(me.json()?["username"] == "kim", "{me:?}");

    // A key never seen from this address waits like a guess, and signing in is throttled too.
    let fresh = user_key(&registry, "fay", "publisher")?;
    let answer = call(&gateway, "GET", "/__api__/v1/user", &fresh, None)?;
    ensure!(answer.status == 429, "{answer:?}");
    let sign_in = http_send(
        addr(&gateway),
        "POST",
        "/__api__/execenv/v1/session",
        &[],
        Some(("application/json", br#"{"api_key": "ee_guess5"}"#)),
    )?;
    ensure!(sign_in.status == 429, "{sign_in:?}");
    ensure!(sign_in.header("retry-after").is_some(), "{sign_in:?}");

    let (status, metrics) = http_get(&gateway.admin, "/metrics")?;
    ensure!(status == 200);
    ensure!(
        metrics.contains("execenv_gateway_auth_throttled_total 3"),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn every_refusal_is_connects_json_with_the_limit_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[
            ("EXECENV_LIMITS__MAX_BODY_BYTES", "1024".to_owned()),
            ("EXECENV_LIMITS__MAX_JSON_DEPTH", "8".to_owned()),
            ("EXECENV_LIMITS__REQUEST_TIMEOUT_S", "2".to_owned()),
            ("EXECENV_LIMITS__HEADER_READ_TIMEOUT_S", "1".to_owned()),
        ],
    )?;
    let key = user_key(&registry, "ada", "administrator")?;
    let too_large = "the request body is larger than 1024 bytes, the most this gateway accepts (EXECENV_LIMITS__MAX_BODY_BYTES); bundles are uploaded to POST /__api__/execenv/v1/content/<guid>/bundles";

    // A body over the limit, announced by its Content-Length.
    let big = json!({ "title": "x".repeat(2000) }).to_string();
    let answer = call(
        &gateway,
        "POST",
        "/__api__/v1/environments",
        &key,
        Some(&big),
    )?;
    refused(&answer, 413, 2, too_large)?;

    // The same body sent chunked, counted as it comes.
    let authorization = format!("Key {key}");
    let streamed = http_stream(
        addr(&gateway),
        "/__api__/execenv/v1/select",
        &[("Authorization", &authorization)],
        std::io::Cursor::new(big.into_bytes()),
        None,
    )?;
    refused(&streamed.response, 413, 2, too_large)?;

    // JSON nested deeper than the limit.
    let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
    let answer = call(
        &gateway,
        "POST",
        "/__api__/execenv/v1/select",
        &key,
        Some(&deep),
    )?;
    refused(
        &answer,
        400,
        2,
        "the request body nests arrays and objects more than 8 deep (at byte 8), the most this gateway accepts (EXECENV_LIMITS__MAX_JSON_DEPTH)",
    )?;

    // A query axum cannot deserialise, and a path segment that is not UTF-8.
    let answer = call(
        &gateway,
        "GET",
        "/__api__/v1/users?prefix=a&prefix=b",
        &key,
        None,
    )?;
    refused(
        &answer,
        400,
        2,
        "the request is malformed: Failed to deserialize query string: duplicate field `prefix`; see /__api__/openapi.json for what this route accepts",
    )?;
    let answer = call(&gateway, "GET", "/__api__/v1/environments/%FF", &key, None)?;
    ensure!(answer.status == 400, "{answer:?}");
    ensure!(
        answer.header("content-type") == Some("application/json"),
        "{answer:?}"
    );
    let body = answer.json()?;
    ensure!(body["code"] == 2 && body["payload"].is_null(), "{body}");
    ensure!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the request is malformed: ")),
        "{body}"
    );

    // A wrong method and an unknown route.
    let answer = call(&gateway, "DELETE", "/__api__/v1/user", &key, None)?;
    refused(
        &answer,
        405,
        2,
        "this route does not accept that method; see the API documentation for its methods",
    )?;
    let answer = call(&gateway, "GET", "/__api__/v1/nothing-here", &key, None)?;
    refused(
        &answer,
        404,
        4,
        "no such API route; environments are under /__api__/v1/environments",
    )?;

    // A body that announces more than it sends is cut off by the request timeout.
    let mut s = TcpStream::connect(addr(&gateway))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST /__api__/execenv/v1/select HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Key {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"content\":",
        addr(&gateway)
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    ensure!(raw.starts_with("HTTP/1.1 503"), "{raw}");
    ensure!(raw.contains("content-type: application/json"), "{raw}");
    ensure!(
        raw.contains(r#"{"code":1,"error":"the gateway did not answer within 2 s, the most a request may take (EXECENV_LIMITS__REQUEST_TIMEOUT_S); what it asked for may still finish: check before you retry","payload":null}"#),
        "{raw}"
    );

    // A request head that never ends (a slowloris client) gets its connection closed, with
    // nothing answered: there is no request yet to answer.
    let mut s = TcpStream::connect(addr(&gateway))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET /__api__/v1/user HTTP/1.1\r\nHost: {}\r\nAuthorization: Key {key}\r\n",
        addr(&gateway)
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)
        .context("the gateway kept open a connection whose request head never ended")?;
    ensure!(raw.is_empty(), "{raw}");
    Ok(())
}

#[test]
fn one_person_holds_at_most_the_event_streams_allowed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_LIMITS__MAX_EVENT_STREAMS_PER_USER", "1".to_owned())],
    )?;
    let key = user_key(&registry, "eve", "viewer")?;
    let other = user_key(&registry, "oto", "viewer")?;

    let open = |key: &str| -> Result<(TcpStream, String)> {
        let mut s = TcpStream::connect(addr(&gateway))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET /__api__/execenv/v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Key {key}\r\n\r\n",
            addr(&gateway)
        )?;
        // The head and the `ready` event.
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        Ok((s, String::from_utf8_lossy(&head).into_owned()))
    };
    let (first, head) = open(&key)?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_theirs, head) = open(&other)?;
    ensure!(
        head.starts_with("HTTP/1.1 200"),
        "another person has a place: {head}"
    );

    let second = call(&gateway, "GET", "/__api__/execenv/v1/events", &key, None)?;
    let me = call(&gateway, "GET", "/__api__/v1/user", &key, None)?.json()?;
    let guid = me["guid"].as_str().unwrap_or_default().to_owned();
    refused(
        &second,
        429,
        2,
        &format!(
            "user {guid} holds 1 event streams open already, the most one client may (EXECENV_LIMITS__MAX_EVENT_STREAMS_PER_USER); close one first, or raise the limit"
        ),
    )?;

    // Closing the first stream frees its place.
    drop(first);
    eventually(Duration::from_secs(10), "a place for a new stream", || {
        open(&key).is_ok_and(|(_, head)| head.starts_with("HTTP/1.1 200"))
    })?;
    Ok(())
}

#[tokio::test]
async fn the_registry_bounds_message_sizes_and_watches_per_client() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::start(
        &sqlite_url(dir.path()),
        dir.path(),
        &[
            (
                "EXECENV_SERVER__MAX_DECODING_MESSAGE_BYTES",
                "4096".to_owned(),
            ),
            ("EXECENV_SERVER__MAX_WATCHES_PER_CLIENT", "2".to_owned()),
        ],
    )?;
    let channel = tonic::transport::Channel::from_shared(registry.url.clone())?
        .connect()
        .await?;
    let mut client = RegistryClient::new(channel);

    let listed = client
        .list_environments(reg::ListEnvironmentsRequest::default())
        .await;
    ensure!(listed.is_ok(), "{listed:?}");
    let large = reg::ListEnvironmentsRequest {
        search: "x".repeat(5000),
        ..Default::default()
    };
    // Refused for its size, naming the setting.
    let too_large = |refused: tonic::Status| {
        ensure!(
            refused.code() == tonic::Code::ResourceExhausted
                && refused.message()
                    == "the request is larger than 4096 bytes, the most this service reads (EXECENV_SERVER__MAX_DECODING_MESSAGE_BYTES)",
            "{refused:?}"
        );
        Ok(())
    };
    too_large(client.list_environments(large).await.unwrap_err())?;
    // A sync request, which the registry reads its own way (each definition kept encoded), is
    // bounded alike.
    let file = reg::ApplyManagedSetRequest {
        definitions: vec![execenv_proto::environments::v1::EnvironmentSpec {
            name: "ghcr.io/acme/large:1".to_owned(),
            description: Some("x".repeat(5000)),
            ..Default::default()
        }],
        ..Default::default()
    };
    too_large(client.apply_managed_set(file).await.unwrap_err())?;

    let watch = || {
        let mut client = client.clone();
        async move {
            client
                .watch_environments(reg::WatchEnvironmentsRequest::default())
                .await
        }
    };
    let first = watch().await?;
    let second = watch().await?;
    let third = watch().await.unwrap_err();
    ensure!(third.code() == tonic::Code::ResourceExhausted, "{third:?}");
    ensure!(
        third.message()
            == "127.0.0.1 as the service holds 2 catalogue watches open already, the most one client may (EXECENV_SERVER__MAX_WATCHES_PER_CLIENT); close one first, or raise the limit",
        "{third:?}"
    );
    // Closing one frees its place (once the registry sees the stream gone).
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let again = loop {
        match watch().await {
            Ok(stream) => break stream,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                ensure!(
                    tokio::time::Instant::now() < deadline,
                    "a closed watch did not free its place: {status:?}"
                );
                // The polling interval of a bounded wait.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => return Err(status.into()),
        }
    };
    drop((second, again));
    Ok(())
}

/// posit-sdk creating an environment whose body is over the limit: its ClientError carries
/// Connect's code, the status and the gateway's message.
const SDK_TOO_LARGE: &str = r#"
from posit import connect
from posit.connect.errors import ClientError
client = connect.Client()
try:
    client.environments.create(title="x" * 2000, name="name", cluster_name="Kubernetes")
except ClientError as e:
    assert e.error_code == 2 and e.http_status == 413, (e.error_code, e.http_status)
    print(e.error_message)
else:
    raise SystemExit("a body over the limit was accepted")
"#;

#[test]
fn posit_sdk_turns_a_body_over_the_limit_into_its_client_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_LIMITS__MAX_BODY_BYTES", "1024".to_owned())],
    )?;
    let key = user_key(&registry, "ada", "administrator")?;
    let venv = execenv_e2e::connect_clients::venv()?;
    let out = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", SDK_TOO_LARGE])
        .env("CONNECT_SERVER", &gateway.url)
        .env("CONNECT_API_KEY", &key)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        stdout.trim()
            == "the request body is larger than 1024 bytes, the most this gateway accepts (EXECENV_LIMITS__MAX_BODY_BYTES); bundles are uploaded to POST /__api__/execenv/v1/content/<guid>/bundles",
        "{stdout}"
    );
    Ok(())
}
