//! Interactive content through the gateway, end to end with the real registry, selector, local
//! launcher and content runner: a bundle uploaded and built, then viewed at `/content/<guid>/`
//! — a cold start as its owner, the request proxied with its path stripped and execenv's
//! credentials removed —, its instance cancelled elsewhere and started again on the next
//! request, then adopted by another gateway that stops it when it has been idle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::bundles::{RawTar, upload};
use execenv_e2e::gateway::user_key;
use execenv_e2e::launcher::{HostPython, local_launcher_and_gateway, python_manifest};
use execenv_e2e::stack::sample;
use execenv_e2e::{
    HttpResponse, RegistryProcess, ServiceProcess, eventually, http_get, http_request_within,
};
use serde_json::{Value, json};

const CONTENT: &str = "5d2c8e1a-7b3f-4c6d-9e0a-1b2c3d4e5f60";
/// Long enough for a virtual environment and a cold start on a busy machine.
const SLOW: Duration = Duration::from_secs(180);

/// An app of the standard library: it echoes each request as JSON, on the port the launcher
/// gives it.
const APP: &str = r#"import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        data = json.dumps({"method": self.command, "path": self.path, "body": body,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass

host = os.environ.get("EXECENV_CONTENT_HOST", "127.0.0.1")
ThreadingHTTPServer((host, int(os.environ["EXECENV_CONTENT_PORT"])), Echo).serve_forever()
"#;

/// Requests to a gateway with one person's key; each may wait for a cold start.
struct Person<'a> {
    gateway: &'a ServiceProcess,
    key: &'a str,
}

impl Person<'_> {
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<HttpResponse> {
        let auth = format!("Key {}", self.key);
        let headers = [("Authorization", auth.as_str())];
        http_request_within(SLOW, self.gateway.address(), method, path, &headers, body)
    }

    /// The JSON answer of `method path`, which must be `status`.
    fn expect(&self, status: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let response = self.send(method, path, body)?;
        ensure!(
            response.status == status,
            "{method} {path}: expected {status}, got {response:?}"
        );
        response.json()
    }

    /// The state of launch `id`.
    fn state_of(&self, id: &str) -> Result<String> {
        let launch = self.expect(
            200,
            "GET",
            &format!("/__api__/execenv/v1/launches/{id}"),
            None,
        )?;
        Ok(launch["state"].as_str().unwrap_or_default().to_owned())
    }

    /// The content as the gateway describes it.
    fn content(&self) -> Result<Value> {
        self.expect(
            200,
            "GET",
            &format!("/__api__/execenv/v1/content/{CONTENT}"),
            None,
        )
    }
}

#[test]
fn content_is_started_as_its_owner_proxied_started_again_adopted_and_stopped_when_idle()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let host = HostPython::create(&registry)?;
    let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
    let data = dir.path().join("data");
    let never_idle = [("EXECENV_CONTENT__IDLE_TIMEOUT_S", "0".to_owned())];
    let (launcher, gateway) =
        local_launcher_and_gateway(&registry, &selector, dir.path(), &data, (&[], &never_idle))?;
    let owner_key = user_key(&registry, "pat", "publisher")?;
    let viewer_key = user_key(&registry, "val", "viewer")?;
    let owner = Person {
        gateway: &gateway,
        key: &owner_key,
    };
    let viewer = Person {
        gateway: &gateway,
        key: &viewer_key,
    };

    // Published and built by its owner.
    let bundle = RawTar::default()
        .manifest(&python_manifest(&host.version).to_string())
        .file("app.py", APP)
        .file("requirements.txt", "")
        .gz();
    let uploaded = upload(&gateway, &owner_key, CONTENT, &bundle)?;
    ensure!(uploaded.status == 201, "{uploaded:?}");
    let build = owner.expect(
        200,
        "POST",
        "/__api__/execenv/v1/launches",
        Some(&json!({"kind": "build", "content": {"guid": CONTENT, "bundle": "1"}, "command": []})),
    )?;
    let build = build["id"].as_str().context("a build id")?.to_owned();
    eventually(SLOW, "the build succeeding", || {
        owner.state_of(&build).is_ok_and(|s| s == "succeeded")
    })?;

    // Not listed yet, then listed by the owner.
    let page = format!("/content/{CONTENT}/hello?x=1");
    let refused = viewer.send("GET", &page, None)?;
    ensure!(refused.status == 403, "{refused:?}");
    let me = viewer.expect(200, "GET", "/__api__/v1/user", None)?;
    owner.expect(
        200,
        "POST",
        &format!("/__api__/execenv/v1/content/{CONTENT}/permissions"),
        Some(&json!({"user_guid": me["guid"]})),
    )?;

    // The cold start, and what the app was sent.
    let echo = viewer.expect(200, "GET", &page, None)?;
    ensure!(echo["path"] == "/hello?x=1", "{echo}");
    let headers = &echo["headers"];
    ensure!(headers["x-execenv-user"] == "val", "{echo}");
    ensure!(
        headers["x-forwarded-prefix"] == format!("/content/{CONTENT}").as_str(),
        "{echo}"
    );
    ensure!(headers.get("authorization").is_none(), "{echo}");
    let first = viewer.content()?;
    let instance = &first["instance"];
    ensure!(instance["state"] == "ready", "{first}");
    let first_launch = instance["launch_id"]
        .as_str()
        .context("a launch")?
        .to_owned();
    ensure!(
        first_launch.starts_with(&format!("app-{CONTENT}-")),
        "{first}"
    );
    let (_, scrape) = http_get(&gateway.admin, "/metrics")?;
    ensure!(
        sample(
            &scrape,
            "execenv_gateway_content_cold_start_seconds_count{outcome=\"ready\"}"
        ) == Some(1.0),
        "{scrape}"
    );

    // Cancelled elsewhere: the next request starts another.
    let cancel = format!("/__api__/execenv/v1/launches/{first_launch}/cancel");
    owner.expect(200, "POST", &cancel, None)?;
    eventually(SLOW, "the first instance cancelled", || {
        owner
            .state_of(&first_launch)
            .is_ok_and(|s| s == "cancelled")
    })?;
    let again = viewer.expect(200, "GET", &page, None)?;
    ensure!(again["path"] == "/hello?x=1", "{again}");
    let second = viewer.content()?;
    let second_launch = second["instance"]["launch_id"]
        .as_str()
        .context("a launch")?
        .to_owned();
    ensure!(second_launch != first_launch, "{second}");

    // Another gateway adopts it (a restart neither leaks nor duplicates it) and stops it once
    // idle for 2 s.
    drop(gateway);
    let next = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[
            ("EXECENV_SELECTOR__URL", selector.url.clone()),
            ("EXECENV_LAUNCHER__URL", launcher.url.clone()),
            ("EXECENV_BUNDLES__DIR", data.display().to_string()),
            ("EXECENV_CONTENT__IDLE_TIMEOUT_S", "2".to_owned()),
        ],
    )?;
    let owner = Person {
        gateway: &next,
        key: &owner_key,
    };
    eventually(SLOW, "the idle instance stopped", || {
        owner
            .state_of(&second_launch)
            .is_ok_and(|s| s == "cancelled")
    })?;
    let log = next.process.output();
    ensure!(
        log.contains("adopted a running instance") && log.contains(&second_launch),
        "{log}"
    );
    ensure!(log.contains("stopped an idle instance"), "{log}");
    ensure!(owner.content()?["instance"].is_null());
    let (_, scrape) = http_get(&next.admin, "/metrics")?;
    ensure!(
        sample(&scrape, "execenv_gateway_content_idle_stops_total") == Some(1.0)
            && sample(&scrape, "execenv_gateway_content_instances") == Some(0.0),
        "{scrape}"
    );
    let running = owner.expect(
        200,
        "GET",
        "/__api__/execenv/v1/launches?kind=interactive&state=pending,running,ready",
        None,
    )?;
    ensure!(running == json!([]), "{running}");
    Ok(())
}
