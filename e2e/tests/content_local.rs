//! Interactive content on the local backend, through the real binaries: a FastAPI app and a
//! Shiny for Python app (real packages from the wheelhouse) uploaded, built and served through
//! the gateway's `/content/{guid}/`, in two environments at once; who may reach them; idle stops
//! and cold starts; a killed app restarted; an app that cannot start saying why.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::content::{
    COLD_WITHIN, LocalSite, PYTHON_A, PYTHON_B, TestApp, failing_bundle, round_trip, shiny_session,
};
use execenv_e2e::stack::sample;
use execenv_e2e::{eventually, http_get, http_request, log_line};
use serde_json::{Value, json};

const FASTAPI: &str = "0b6f3c1e-5a2d-4e8f-9c7b-1d2e3f4a5b60";
const SHINY: &str = "5c4d3e2f-1a0b-4c9d-8e7f-6a5b4c3d2e10";
/// Long enough for a restarted app to answer again.
const RECOVER_WITHIN: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread")]
async fn a_fastapi_app_and_a_shiny_app_are_served_through_the_gateway_in_their_own_environments()
-> Result<()> {
    let site = LocalSite::start(&[], &[])?;
    let pat = site.client(&site.publisher);
    pat.publish(
        FASTAPI,
        TestApp::FastApi,
        &site.python,
        Some(PYTHON_A),
        &site.pip(),
    )?;
    pat.publish(
        SHINY,
        TestApp::Shiny,
        &site.python,
        Some(PYTHON_B),
        &site.pip(),
    )?;

    // The first request starts the app (a cold start) and is answered by it.
    let (root, cold) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    log_line!(
        "FastAPI cold start (request to answer, local): {} ms",
        cold.as_millis()
    );
    let base = format!("/content/{FASTAPI}");
    assert_eq!(root["app"], "fastapi");
    assert_eq!(
        root["path"],
        format!("{base}/"),
        "uvicorn puts the root path before the path"
    );
    assert_eq!(root["root_path"], base);
    assert_eq!(root["prefix"], base);
    assert_eq!(root["user"], "pat");
    assert_eq!(
        root["base_url"],
        format!("http://{}{base}/", site.gateway.address())
    );
    assert_eq!(
        root["authorization"],
        Value::Null,
        "the API key never reaches the app"
    );

    // Paths, queries, JSON bodies and streamed answers pass through.
    let (item, _) = pat.content_json(FASTAPI, "/items/tea?q=green", COLD_WITHIN)?;
    assert_eq!(item, json!({"item": "tea", "q": "green"}));
    let auth = format!("Key {}", site.publisher);
    let sum = http_request(
        site.gateway.address(),
        "POST",
        &format!("{base}/sum"),
        &[("Authorization", &auth)],
        Some(&json!([1, 2, 39])),
    )?;
    assert_eq!((sum.status, sum.json()?), (200, json!({"sum": 42})));
    let streamed = pat.content(FASTAPI, "/stream?lines=3", COLD_WITHIN)?;
    assert_eq!(
        (streamed.status, streamed.body.as_str()),
        (200, "line 0\nline 1\nline 2\n")
    );
    // Without the trailing slash: redirected to it.
    let bare = http_request(
        site.gateway.address(),
        "GET",
        &base,
        &[("Authorization", &auth)],
        None,
    )?;
    assert_eq!(bare.status, 308, "{}", bare.body);
    assert_eq!(bare.header("location"), Some(format!("{base}/").as_str()));

    // A WebSocket through the gateway: the FastAPI echo, then a Shiny session.
    let mut socket = pat.websocket(FASTAPI, "/ws").await?;
    assert_eq!(round_trip(&mut socket, "hello").await?, "echo: hello");
    assert_eq!(round_trip(&mut socket, "again").await?, "echo: again");
    let started = Instant::now();
    shiny_session(pat, SHINY).await?;
    log_line!(
        "Shiny cold start and session (local): {} ms",
        started.elapsed().as_millis()
    );
    let page = pat.content(SHINY, "/", COLD_WITHIN)?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("execenv test app"), "{}", page.body);

    // Both run at the same time, each in the environment its manifest names.
    let ready = pat.call(
        "GET",
        "/__api__/execenv/v1/launches?kind=interactive&state=ready",
        None,
        200,
    )?;
    let mut running: Vec<(String, String)> = ready
        .as_array()
        .context("a list of launches")?
        .iter()
        .map(|l| {
            (
                l["content_guid"].as_str().unwrap_or_default().to_owned(),
                l["image"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    running.sort();
    assert_eq!(
        running,
        vec![
            (FASTAPI.to_owned(), PYTHON_A.to_owned()),
            (SHINY.to_owned(), PYTHON_B.to_owned())
        ]
    );
    for launch in ready.as_array().into_iter().flatten() {
        let address = launch["address"].as_str().unwrap_or_default();
        assert!(address.starts_with("127.0.0.1:"), "{launch}");
        assert!(launch["ready_time"].is_string(), "{launch}");
    }

    // The gateway counted what it proxied.
    let (_, metrics) = http_get(&site.gateway.admin, "/metrics")?;
    assert_eq!(
        sample(&metrics, "execenv_gateway_content_instances"),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "execenv_gateway_content_cold_start_seconds_count{outcome=\"ready\"}"
        ),
        Some(2.0)
    );
    assert!(
        sample(
            &metrics,
            "execenv_gateway_content_requests_total{code=\"200\"}"
        )
        .is_some_and(|n| n >= 5.0),
        "{metrics}"
    );
    Ok(())
}

#[test]
fn only_signed_in_users_with_access_reach_content() -> Result<()> {
    let site = LocalSite::start(&[], &[])?;
    let pat = site.client(&site.publisher);
    pat.publish(FASTAPI, TestApp::FastApi, &site.python, None, &site.pip())?;
    let path = format!("/content/{FASTAPI}/");

    let anonymous = http_request(site.gateway.address(), "GET", &path, &[], None)?;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let bad = http_request(
        site.gateway.address(),
        "GET",
        &path,
        &[("Authorization", "Key not-a-key")],
        None,
    )?;
    assert_eq!(bad.status, 401, "{}", bad.body);

    // The viewer is not on the content's list: 403, and no instance was started for them.
    let vic = site.client(&site.viewer);
    let refused = vic.content(FASTAPI, "/", COLD_WITHIN)?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.json()?["code"],
        json!(22),
        "the API's permission-denied code: {}",
        refused.body
    );
    assert_eq!(
        site.client(&site.admin).content_info(FASTAPI)?["instance"],
        Value::Null
    );

    // The owner lets them in; an administrator could too; another publisher may not.
    let me = vic.call("GET", "/__api__/v1/user", None, 200)?;
    let vic_guid = me["guid"].as_str().context("vic's guid")?;
    let permissions = format!("/__api__/execenv/v1/content/{FASTAPI}/permissions");
    let other = site.client(&site.admin);
    let eve_key = execenv_e2e::gateway::user_key(&site.registry, "eve", "publisher")?;
    let eve = site.client(&eve_key);
    eve.call(
        "POST",
        &permissions,
        Some(&json!({"user_guid": vic_guid})),
        403,
    )?;
    // Nor may they put their own code under pat's content.
    let upload = eve.upload(FASTAPI, &TestApp::FastApi.bundle(&site.python, None)?);
    let refused = upload.expect_err("another publisher's upload is refused");
    assert!(refused.to_string().contains("answered 403"), "{refused:#}");
    let entry = pat.call(
        "POST",
        &permissions,
        Some(&json!({"user_guid": vic_guid})),
        200,
    )?;
    assert_eq!(entry["user_guid"], vic_guid);
    assert_eq!(
        other
            .call("GET", &permissions, None, 200)?
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let (root, _) = vic.content_json(FASTAPI, "/", COLD_WITHIN)?;
    assert_eq!(root["user"], "vic");

    // Taken off the list: refused again.
    let id = entry["guid"].as_str().context("the entry's guid")?;
    pat.call("DELETE", &format!("{permissions}/{id}"), None, 204)?;
    assert_eq!(vic.content(FASTAPI, "/", COLD_WITHIN)?.status, 403);
    Ok(())
}

#[test]
fn idle_instances_stop_and_the_next_request_starts_one_again() -> Result<()> {
    let site = LocalSite::start(&[], &[("EXECENV_CONTENT__IDLE_TIMEOUT_S", "2".to_owned())])?;
    let pat = site.client(&site.publisher);
    pat.publish(FASTAPI, TestApp::FastApi, &site.python, None, &site.pip())?;

    let (_, first) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    let launch = pat.instance_launch(FASTAPI)?;
    // Nothing asks for it: after the idle timeout the gateway stops it.
    let stopped = pat.launch_until(&launch, Duration::from_secs(60), "stopped when idle", |l| {
        l["state"] == "cancelled"
    })?;
    assert_eq!(stopped["state"], "cancelled");
    eventually(Duration::from_secs(10), "the instance forgotten", || {
        pat.content_info(FASTAPI)
            .is_ok_and(|i| i["instance"].is_null())
    })?;
    let (_, metrics) = http_get(&site.gateway.admin, "/metrics")?;
    assert_eq!(
        sample(&metrics, "execenv_gateway_content_idle_stops_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "execenv_gateway_content_instances"),
        Some(0.0)
    );

    // The next request starts a new instance and is answered by it.
    let (root, second) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    assert_eq!(root["app"], "fastapi");
    let relaunched = pat.instance_launch(FASTAPI)?;
    assert_ne!(relaunched, launch);
    log_line!(
        "cold starts (request to answer, local FastAPI): first {} ms, after an idle stop {} ms",
        first.as_millis(),
        second.as_millis()
    );
    Ok(())
}

#[test]
fn a_killed_app_is_restarted_and_requests_resume() -> Result<()> {
    let site = LocalSite::start(&[], &[])?;
    let pat = site.client(&site.publisher);
    pat.publish(FASTAPI, TestApp::FastApi, &site.python, None, &site.pip())?;
    let (root, _) = pat.content_json(FASTAPI, "/", COLD_WITHIN)?;
    let launch = pat.instance_launch(FASTAPI)?;
    let before = pat.launch_now(&launch)?;

    let pid = root["pid"].as_i64().context("the app's pid")?;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    ensure!(killed.success(), "kill -KILL {pid} failed");

    let after = pat.launch_until(&launch, RECOVER_WITHIN, "restarted and ready", |l| {
        l["restarts"].as_u64().unwrap_or(0) >= 1 && l["state"] == "ready"
    })?;
    assert_eq!(
        after["address"], before["address"],
        "the same address after a restart"
    );
    let (again, _) = pat.content_json(FASTAPI, "/", RECOVER_WITHIN)?;
    assert_eq!(again["app"], "fastapi");
    assert_ne!(again["pid"], root["pid"], "a new process answers");
    assert_eq!(
        pat.instance_launch(FASTAPI)?,
        launch,
        "the same launch serves"
    );
    let logs = pat.logs(&launch)?;
    assert!(
        logs.contains("restart 1"),
        "the logs say it restarted:\n{logs}"
    );
    Ok(())
}

#[test]
fn an_app_that_cannot_start_shows_why_in_its_launch_and_logs() -> Result<()> {
    let site = LocalSite::start(
        &[("EXECENV_LOCAL__RESTART_BACKOFF_MAX_MS", "1000".to_owned())],
        &[("EXECENV_CONTENT__START_TIMEOUT_S", "20".to_owned())],
    )?;
    let pat = site.client(&site.publisher);

    // Built, but the app raises as it starts: it is restarted, and the answer says why.
    let bundle = pat.upload(FASTAPI, &failing_bundle(&site.python, None)?)?;
    pat.build(
        FASTAPI,
        &bundle,
        &TestApp::FastApi.manifest(&site.python, None),
        &site.pip(),
    )?;
    let answer = pat.content(FASTAPI, "/", Duration::from_secs(60))?;
    assert_eq!(answer.status, 504, "{}", answer.body);
    let body = answer.json()?;
    let launch = body["payload"]["launch_id"]
        .as_str()
        .with_context(|| format!("the answer names the launch: {body}"))?
        .to_owned();
    // Between two runs the launch waits to restart, saying why; each run counts.
    let waiting = pat.launch_until(&launch, RECOVER_WITHIN, "waiting to restart", |l| {
        l["reason"] == "Restarting"
    })?;
    assert_eq!(waiting["state"], "running", "{waiting}");
    let message = waiting["message"].as_str().unwrap_or_default();
    assert!(message.contains("the app exited with code 1"), "{waiting}");
    pat.launch_until(&launch, RECOVER_WITHIN, "restarted", |l| {
        l["restarts"].as_u64().unwrap_or(0) >= 1
    })?;
    let logs = pat.logs(&launch)?;
    assert!(
        logs.contains("the test app needs DATABASE_URL"),
        "the app's own error is in the logs:\n{logs}"
    );
    pat.call(
        "POST",
        &format!("/__api__/execenv/v1/launches/{launch}/cancel"),
        None,
        200,
    )?;

    // Uploaded but never built: the runner refuses, the launch fails, the answer says so.
    let unbuilt = pat.upload(SHINY, &TestApp::Shiny.bundle(&site.python, None)?)?;
    let refused = pat.content(SHINY, "/", Duration::from_secs(60))?;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let body = refused.json()?;
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("RunnerRefused"), "{body}");
    assert!(
        error.contains("build"),
        "the answer says to build {unbuilt}: {body}"
    );
    Ok(())
}
