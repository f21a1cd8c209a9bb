//! End to end: the web console's half of the gateway against the real registry (SQLite) and
//! config-sync. Signing in gives an HttpOnly, SameSite=Strict cookie (Secure behind TLS); the
//! cookie authenticates reads, changes need the CSRF token too, signing out, idling and a
//! disabled key end the session; no key reaches the log or an answer; `Authorization: Key`
//! works as before; the event stream reports a create within a second; `/sync` reports a failed
//! sync; client routes are the console, `/__api__/…` keeps its JSON 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::declarative::file_managed;
use execenv_e2e::gateway::user_key;
use execenv_e2e::{HttpResponse, RegistryProcess, ServiceProcess, eventually, http_request};
use serde_json::{Value, json};

const SESSION: &str = "/__api__/execenv/v1/session";
const ENVIRONMENTS: &str = "/__api__/v1/environments";

/// Signs in with `key`; the answer and the `name=value` part of its cookie.
fn sign_in(
    gateway: &ServiceProcess,
    key: &str,
    extra: &[(&str, &str)],
) -> Result<(HttpResponse, String)> {
    let answer = http_request(
        gateway.address(),
        "POST",
        SESSION,
        extra,
        Some(&json!({ "api_key": key })),
    )?;
    ensure!(answer.status == 200, "sign-in: {answer:?}");
    let cookie = answer
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("no Set-Cookie")?
        .to_owned();
    Ok((answer, cookie))
}

fn with_cookie<'a>(cookie: &'a str, csrf: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Cookie", cookie)];
    if let Some(token) = csrf {
        h.push(("X-CSRF-Token", token));
    }
    h
}

fn titles(gateway: &ServiceProcess, key: &str) -> Result<Vec<String>> {
    let auth = format!("Key {key}");
    let list = http_request(
        gateway.address(),
        "GET",
        ENVIRONMENTS,
        &[("Authorization", &auth)],
        None,
    )?;
    Ok(list
        .json()?
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|e| e["title"].as_str().map(str::to_owned))
        .collect())
}

#[test]
fn a_console_session_is_a_cookie_with_csrf_that_ends_when_signed_out_or_the_key_is_disabled()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_SERVER__KEY_CACHE_MS", "0".to_owned())],
    )?;
    let admin = user_key(&registry, "ada", "administrator")?;
    let mut secrets = vec![admin.clone()];

    // Sign in: the cookie's attributes, over plain HTTP and behind TLS.
    let (answer, cookie) = sign_in(&gateway, &admin, &[])?;
    let set = answer.header("set-cookie").unwrap_or_default().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        ensure!(set.contains(attribute), "{attribute} missing: {set}");
    }
    ensure!(!set.contains("Secure"), "Secure over plain HTTP: {set}");
    let (tls, _) = sign_in(&gateway, &admin, &[("X-Forwarded-Proto", "https")])?;
    ensure!(
        tls.header("set-cookie")
            .is_some_and(|c| c.contains("; Secure")),
        "{tls:?}"
    );
    let body = answer.json()?;
    ensure!(body["user"]["username"] == "ada", "{body}");
    ensure!(body["expires_time"].is_string(), "{body}");
    let csrf = body["csrf_token"]
        .as_str()
        .context("csrf_token")?
        .to_owned();
    secrets.push(cookie.trim_start_matches("execenv_session=").to_owned());
    let mut answers = vec![answer, tls];

    // The cookie authenticates reads; GET /session gives the token back.
    let me = http_request(
        gateway.address(),
        "GET",
        "/__api__/v1/user",
        &with_cookie(&cookie, None),
        None,
    )?;
    ensure!(
        me.status == 200 && me.json()?["username"] == "ada",
        "{me:?}"
    );
    let again = http_request(
        gateway.address(),
        "GET",
        SESSION,
        &with_cookie(&cookie, None),
        None,
    )?;
    ensure!(again.json()?["csrf_token"] == csrf.as_str(), "{again:?}");
    answers.push(again);

    // A change without the token, or with a wrong one: 403 and nothing changed.
    let create = json!({"name": "ghcr.io/acme/console:1", "title": "From the console"});
    for token in [None, Some("wrong")] {
        let refused = http_request(
            gateway.address(),
            "POST",
            ENVIRONMENTS,
            &with_cookie(&cookie, token),
            Some(&create),
        )?;
        ensure!(refused.status == 403, "{token:?}: {refused:?}");
        let error = refused.json()?;
        ensure!(
            error["code"] == 22 && error["error"].as_str().is_some_and(|e| e.contains("CSRF")),
            "{error}"
        );
        ensure!(
            titles(&gateway, &admin)?.is_empty(),
            "a refused change was made"
        );
    }
    // With it, the change is made.
    let made = http_request(
        gateway.address(),
        "POST",
        ENVIRONMENTS,
        &with_cookie(&cookie, Some(&csrf)),
        Some(&create),
    )?;
    ensure!(made.status == 200, "{made:?}");
    ensure!(
        titles(&gateway, &admin)? == ["From the console"],
        "not created"
    );

    // A key needs no token, and wins over a cookie.
    let auth = format!("Key {admin}");
    let by_key = http_request(
        gateway.address(),
        "POST",
        ENVIRONMENTS,
        &[("Authorization", &auth)],
        Some(&json!({"name": "ghcr.io/acme/key:1"})),
    )?;
    ensure!(by_key.status == 200, "{by_key:?}");
    let both = http_request(
        gateway.address(),
        "GET",
        "/__api__/v1/user",
        &[
            ("Authorization", &auth),
            ("Cookie", "execenv_session=forged"),
        ],
        None,
    )?;
    ensure!(both.status == 200, "{both:?}");

    // Sign out: the old cookie is refused.
    let out = http_request(
        gateway.address(),
        "DELETE",
        SESSION,
        &with_cookie(&cookie, Some(&csrf)),
        None,
    )?;
    ensure!(out.status == 204, "{out:?}");
    ensure!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{out:?}"
    );
    answers.push(out);
    let after = http_request(
        gateway.address(),
        "GET",
        ENVIRONMENTS,
        &with_cookie(&cookie, None),
        None,
    )?;
    ensure!(after.status == 401, "{after:?}");

    // A disabled key ends its sessions (the key cache is off here).
    registry
        .ctl(&["users", "create", "pat", "--role", "publisher"])?
        .ok()?;
    let created = registry.ctl_json(&["keys", "create", "pat", "--name", "console"])?;
    let pat = created["key"].as_str().context("key")?.to_owned();
    let pat_id = created["api_key"]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| created["api_key"]["id"].to_string());
    secrets.push(pat.clone());
    let (answer, pat_cookie) = sign_in(&gateway, &pat, &[])?;
    secrets.push(pat_cookie.trim_start_matches("execenv_session=").to_owned());
    answers.push(answer);
    let ok = http_request(
        gateway.address(),
        "GET",
        "/__api__/v1/user",
        &with_cookie(&pat_cookie, None),
        None,
    )?;
    ensure!(ok.status == 200, "{ok:?}");
    registry.ctl(&["keys", "disable", &pat_id])?.ok()?;
    let ended = http_request(
        gateway.address(),
        "GET",
        SESSION,
        &with_cookie(&pat_cookie, None),
        None,
    )?;
    ensure!(ended.status == 401, "{ended:?}");
    answers.push(ended);

    // No key nor cookie in any answer of the session routes, nor in the log.
    for answer in &answers {
        let text = format!("{:?} {}", answer.headers, answer.body);
        for (i, secret) in secrets.iter().enumerate() {
            if i % 2 == 1 {
                continue; // cookies are meant to be in Set-Cookie
            }
            ensure!(
                !text.contains(secret.as_str()),
                "a key in an answer: {text}"
            );
        }
    }
    let port = gateway.url.rsplit(':').next().context("port")?;
    let log = std::fs::read_to_string(dir.path().join(format!("execenv-gateway-{port}.log")))?;
    ensure!(!log.is_empty(), "the gateway logged nothing");
    for secret in &secrets {
        ensure!(
            !log.contains(secret.as_str()),
            "a secret in the gateway's log"
        );
    }
    Ok(())
}

#[test]
fn a_session_expires_when_idle_and_at_its_max_age_however_used() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[
            ("EXECENV_CONSOLE__SESSION_IDLE_S", "1".to_owned()),
            ("EXECENV_CONSOLE__SESSION_MAX_S", "3".to_owned()),
        ],
    )?;
    let key = user_key(&registry, "ada", "administrator")?;
    let alive = |cookie: &str| -> Result<bool> {
        let r = http_request(
            gateway.address(),
            "GET",
            SESSION,
            &with_cookie(cookie, None),
            None,
        )?;
        Ok(r.status == 200)
    };
    // Time passing is the behaviour under test; each wait is bounded.
    // Used all the time, a session outlives its idle time but ends at its max age.
    let started = Instant::now();
    let (answer, used) = sign_in(&gateway, &key, &[])?;
    ensure!(
        answer
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=1")),
        "{answer:?}"
    );
    eventually(
        Duration::from_secs(10),
        "the used session reaching its max age",
        || !alive(&used).unwrap_or(true),
    )?;
    let lasted = started.elapsed();
    ensure!(
        lasted >= Duration::from_millis(2500),
        "ended after {lasted:?}, before its max age"
    );
    // Not used for longer than its idle time (1 s), it has ended. The wait is the behaviour
    // under test, not a synchronisation: polling would use the session and keep it alive.
    let (_, idle) = sign_in(&gateway, &key, &[])?;
    ensure!(alive(&idle)?, "a new session refused");
    std::thread::sleep(Duration::from_millis(1300));
    ensure!(!alive(&idle)?, "an idle session still accepted");
    Ok(())
}

/// A server-sent event stream read off a socket.
struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    fn open(gateway: &ServiceProcess, headers: &[(&str, &str)]) -> Result<Events> {
        let mut s = TcpStream::connect(gateway.address())?;
        let mut request = format!(
            "GET /__api__/execenv/v1/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
            gateway.address()
        );
        for (n, v) in headers {
            request.push_str(&format!("{n}: {v}\r\n"));
        }
        request.push_str("\r\n");
        s.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        ensure!(status.contains(" 200 "), "events: {status}");
        Ok(Events { reader })
    }

    /// The next event (name, data) within `within`.
    fn next(&mut self, within: Duration) -> Result<(String, Value)> {
        let deadline = Instant::now() + within;
        let mut name = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no event within {within:?}");
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the event stream ended");
            }
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix("event:") {
                name = Some(n.trim().to_owned());
            } else if let (Some(data), Some(n)) = (line.strip_prefix("data:"), name.take()) {
                return Ok((n, serde_json::from_str(data.trim())?));
            }
        }
    }

    /// The next event named `wanted` within `within`, skipping others.
    fn next_named(&mut self, wanted: &str, within: Duration) -> Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let (name, data) = self.next(deadline.saturating_duration_since(Instant::now()))?;
            if name == wanted {
                return Ok(data);
            }
        }
    }
}

#[test]
fn events_report_a_create_within_a_second_and_sync_reports_a_failed_sync() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let (sync, _) = file_managed(&registry, dir.path(), &["ghcr.io/acme/managed:1"])?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_CONFIG_SYNC__URL", sync.url.clone())],
    )?;
    let admin = user_key(&registry, "ada", "administrator")?;
    let auth = format!("Key {admin}");
    let (_, cookie) = sign_in(&gateway, &admin, &[])?;

    // One subscriber by cookie, one by key: both get ready, then the create.
    let mut by_cookie = Events::open(&gateway, &[("Cookie", &cookie)])?;
    let mut by_key = Events::open(&gateway, &[("Authorization", &auth)])?;
    let ready = by_cookie.next_named("ready", Duration::from_secs(10))?;
    ensure!(ready["revision"].as_i64() >= Some(1), "{ready}");
    by_key.next_named("ready", Duration::from_secs(10))?;
    let made = http_request(
        gateway.address(),
        "POST",
        ENVIRONMENTS,
        &[("Authorization", &auth)],
        Some(&json!({"name": "ghcr.io/acme/live:1"})),
    )?;
    ensure!(made.status == 200, "{made:?}");
    for events in [&mut by_cookie, &mut by_key] {
        let change = events.next_named("catalogue", Duration::from_secs(1))?;
        ensure!(change["kind"] == "upsert", "{change}");
        ensure!(
            change["revision"].as_i64() > ready["revision"].as_i64(),
            "{change}"
        );
        ensure!(
            change.get("guid").is_none() && change.get("environment").is_none(),
            "{change}"
        );
    }

    // A bad file: /sync reports the failed sync with what is wrong, and so do the events.
    let sync_now = || -> Result<Value> {
        http_request(
            gateway.address(),
            "GET",
            "/__api__/execenv/v1/sync",
            &[("Authorization", &auth)],
            None,
        )?
        .json()
    };
    ensure!(sync_now()?["outcome"] == "ok", "{}", sync_now()?);
    std::fs::write(
        dir.path().join("environments.yaml"),
        "- title: no image\n- name: \"\"\n",
    )?;
    let mut last = Value::Null;
    eventually(
        Duration::from_secs(20),
        "config-sync reporting the failed sync",
        || {
            last = sync_now().unwrap_or(Value::Null);
            last["outcome"] == "failed"
        },
    )?;
    ensure!(
        last["configured"] == true
            && last["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("environments.yaml")),
        "{last}"
    );
    ensure!(
        last["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{last}"
    );
    ensure!(
        last["problems"].as_array().is_some_and(|p| !p.is_empty()),
        "{last}"
    );
    let event = by_cookie.next_named("sync", Duration::from_secs(10))?;
    let event = if event["outcome"] == "failed" {
        event
    } else {
        by_cookie.next_named("sync", Duration::from_secs(10))?
    };
    ensure!(event["outcome"] == "failed", "{event}");
    Ok(())
}

#[test]
fn client_routes_are_the_console_and_the_api_keeps_its_json_404() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(&registry, dir.path(), &[])?;
    let page = http_request(gateway.address(), "GET", "/environments", &[], None)?;
    ensure!(page.status == 200, "{page:?}");
    ensure!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{page:?}"
    );
    ensure!(page.header("x-frame-options") == Some("DENY"), "{page:?}");
    match page.header("x-execenv-console") {
        Some("built") => ensure!(
            page.body.contains("<script type=\"module\""),
            "{}",
            page.body
        ),
        Some("missing") => ensure!(page.body.contains("make ui"), "{}", page.body),
        other => bail!("X-Execenv-Console: {other:?}"),
    }
    let api = http_request(gateway.address(), "GET", "/__api__/nope", &[], None)?;
    ensure!(api.status == 404, "{api:?}");
    ensure!(api.json()?["code"] == 4, "{api:?}");
    Ok(())
}
