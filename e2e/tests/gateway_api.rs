//! The gateway's contract and execenv's own routes, end to end: the real registry (SQLite),
//! selector, launcher (local backend, the real content runner), image examiner (reading a real
//! OCI registry) and gateway. Interactive
//! content is called here for the answers it gives before any instance runs. Every route is
//! called, successes and the errors it really gives, each response is recorded, and then the
//! OpenAPI document served at /__api__/openapi.json and every recorded response are checked with
//! openapi-core: a response that does not validate, a status the document does not list, or a
//! documented operation never called fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::bundles::{MANIFEST, RawTar, example_targz};
use execenv_e2e::declarative::file_managed;
use execenv_e2e::drift_images::{DECLARED_PYTHON, DRIFT_MESSAGE, DriftImages};
use execenv_e2e::gateway::user_key;
use execenv_e2e::launcher::{
    HostPython, local_launcher_and_gateway, place_bundle, python_manifest,
};
use execenv_e2e::openapi::{self, Recorder};
use execenv_e2e::{RegistryProcess, ServiceProcess, eventually, http_request};
use serde_json::{Value, json};

const CONTENT: &str = "5b7e2c1a-9d3f-4a6b-8c0e-1f2a3b4c5d6e";
/// The content the bundle routes are called for.
const UPLOADED: &str = "3a9c1e7b-2d4f-4b6a-9e8c-7f1a2b3c4d5e";
const BUNDLE: &str = "1";
/// A content nothing was uploaded to (also a guid no user or group has).
const NO_BUNDLE: &str = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
/// Long enough for a cold virtual environment on a busy machine.
const FINISH: Duration = Duration::from_secs(180);

struct Stack {
    dir: tempfile::TempDir,
    registry: RegistryProcess,
    // Dropped (killed) after the gateway that calls them.
    _selector: ServiceProcess,
    _launcher: ServiceProcess,
    gateway: ServiceProcess,
    _examiner: ServiceProcess,
    images: DriftImages,
    version: String,
    host_env: String,
}

fn stack() -> Result<Stack> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let host = HostPython::create(&registry)?;
    let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
    let images = DriftImages::push(&dir.path().join("layouts"))?;
    let examiner = images.examiner(&registry, dir.path(), &[])?;
    let data = dir.path().join("data");
    place_bundle(&data, CONTENT, BUNDLE, &host.version)?;
    let (launcher, gateway) = local_launcher_and_gateway(
        &registry,
        &selector,
        dir.path(),
        &data,
        (
            &[("EXECENV_LOCAL__CANCEL_GRACE_MS", "3000".to_owned())],
            &[("EXECENV_EXAMINER__URL", examiner.url.clone())],
        ),
    )?;
    Ok(Stack {
        dir,
        registry,
        _selector: selector,
        _launcher: launcher,
        gateway,
        _examiner: examiner,
        images,
        version: host.version,
        host_env: host.guid,
    })
}

/// A content's record and permission list, and what `/content/…` answers before anything
/// runs: a redirect, 401 without a key, 403 for who is not listed, 404 without a bundle. The
/// publisher uploaded UPLOADED's bundle 1, so they own it.
fn content_routes(
    api: &Recorder,
    registry: &RegistryProcess,
    (admin, publisher, viewer): (Option<&str>, Option<&str>, Option<&str>),
) -> Result<()> {
    let content = format!("/__api__/execenv/v1/content/{UPLOADED}");
    let owner = api.expect(200, publisher, "GET", "/__api__/v1/user", None)?;
    let described = api.expect(200, publisher, "GET", &content, None)?;
    ensure!(
        described
            == json!({"guid": UPLOADED, "owner_guid": owner["guid"], "bundles": 1,
                "newest_bundle": "1", "url": format!("/content/{UPLOADED}/"), "instance": null}),
        "{described}"
    );
    is_error(&api.expect(403, viewer, "GET", &content, None)?, 22)?;
    is_error(
        &api.expect(
            404,
            admin,
            "GET",
            &format!("/__api__/execenv/v1/content/{NO_BUNDLE}"),
            None,
        )?,
        4,
    )?;
    is_error(
        &api.expect(400, admin, "GET", "/__api__/execenv/v1/content/x", None)?,
        3,
    )?;

    let instances = api.expect(200, publisher, "GET", "/__api__/execenv/v1/instances", None)?;
    ensure!(
        instances["instances"] == json!([]) && instances["totals"]["requests"] == 0,
        "{instances}"
    );
    is_error(
        &api.expect(403, viewer, "GET", "/__api__/execenv/v1/instances", None)?,
        22,
    )?;

    // The app's paths before the viewer is listed.
    let app = format!("/content/{UPLOADED}/page");
    let redirect = api.call(None, "GET", &format!("/content/{UPLOADED}?tab=2"), None)?;
    ensure!(
        redirect.status == 308
            && redirect.header("location") == Some(&format!("/content/{UPLOADED}/?tab=2")),
        "{redirect:?}"
    );
    // Every other method is redirected and passed on the same way (the document lists each).
    for method in ["PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"] {
        let folder = api.call(None, method, &format!("/content/{UPLOADED}"), None)?;
        ensure!(folder.status == 308, "{method}: {folder:?}");
        if method != "POST" {
            api.expect(401, None, method, &app, None)?;
        }
    }
    let not_content = api.call(None, "GET", "/content/not-a-guid", None)?;
    ensure!(not_content.status == 404, "{not_content:?}");
    let unsigned = api.expect(401, None, "GET", &app, None)?;
    is_error(&unsigned, 30)?;
    ensure!(
        unsigned["error"]
            .as_str()
            .is_some_and(|e| e.contains("sign in at /")),
        "{unsigned}"
    );
    is_error(&api.expect(401, None, "POST", &app, Some(&json!({})))?, 30)?;
    is_error(&api.expect(403, viewer, "GET", &app, None)?, 22)?;
    is_error(
        &api.expect(
            404,
            admin,
            "POST",
            &format!("/content/{NO_BUNDLE}/api"),
            Some(&json!({})),
        )?,
        4,
    )?;

    // The permission list: the owner lists the viewer (once), nobody else may touch it.
    let permissions = format!("{content}/permissions");
    ensure!(api.expect(200, publisher, "GET", &permissions, None)? == json!([]));
    is_error(&api.expect(403, viewer, "GET", &permissions, None)?, 22)?;
    let val = api.expect(200, viewer, "GET", "/__api__/v1/user", None)?;
    let grant = json!({"user_guid": val["guid"]});
    let entry = api.expect(200, publisher, "POST", &permissions, Some(&grant))?;
    ensure!(
        entry["content_guid"] == UPLOADED
            && entry["user_guid"] == val["guid"]
            && entry["group_guid"].is_null(),
        "{entry}"
    );
    let again = api.expect(200, admin, "POST", &permissions, Some(&grant))?;
    ensure!(again == entry, "{again} != {entry}");
    let sam = user_key(registry, "sam", "publisher")?;
    is_error(
        &api.expect(403, Some(sam.as_str()), "POST", &permissions, Some(&grant))?,
        22,
    )?;
    for (refused, status, code) in [
        // Nobody has that guid: not found, whatever its shape.
        (json!({"user_guid": NO_BUNDLE}), 404, 4),
        (
            json!({"user_guid": val["guid"], "group_guid": NO_BUNDLE}),
            400,
            262,
        ),
    ] {
        let answer = api.expect(status, publisher, "POST", &permissions, Some(&refused))?;
        is_error(&answer, code)?;
    }
    let listed = api.expect(200, admin, "GET", &permissions, None)?;
    ensure!(listed == json!([entry]), "{listed}");
    let one = format!("{permissions}/{}", entry["guid"].as_str().context("guid")?);
    is_error(&api.expect(403, viewer, "DELETE", &one, None)?, 22)?;
    api.expect(204, publisher, "DELETE", &one, None)?;
    is_error(&api.expect(404, publisher, "DELETE", &one, None)?, 4)?;
    Ok(())
}

fn is_error(body: &Value, code: u64) -> Result<()> {
    ensure!(body["code"] == code, "expected code {code}: {body}");
    ensure!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    Ok(())
}

/// Polls launch `id` through the gateway (unrecorded) until it has finished.
fn finished(stack: &Stack, key: &str, id: &str) -> Result<Value> {
    let path = format!("/__api__/execenv/v1/launches/{id}");
    let quiet = Recorder::new(stack.gateway.address());
    let mut last = Value::Null;
    eventually(FINISH, &format!("launch {id} finishing"), || {
        last = quiet
            .expect(200, Some(key), "GET", &path, None)
            .unwrap_or(Value::Null);
        matches!(
            last["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })?;
    Ok(last)
}

/// Images and drift, through the real image examiner: an image examined (and a reference that
/// does not parse, a publisher, a missing tag, a registry that does not answer), the checks of
/// an environment in drift, one check, a round of checks now.
fn image_routes(
    stack: &Stack,
    api: &Recorder,
    (admin, publisher, viewer): (Option<&str>, Option<&str>, Option<&str>),
) -> Result<()> {
    let examine = "/__api__/execenv/v1/images/examine";
    let examined = api.expect(
        200,
        admin,
        "POST",
        examine,
        Some(&json!({"image": stack.images.fill, "platform": "linux/amd64"})),
    )?;
    ensure!(
        examined["definition"]
            == json!({
                "name": stack.images.fill, "title": "quarto:1.5 (Quarto 1.5.57)",
                "python": {"installations": []}, "r": {"installations": []},
                "quarto": {"installations": [{"version": "1.5.57", "path": "/opt/quarto/1.5.57/bin/quarto"}]},
            })
            && examined["examination"]["digest"] == stack.images.digests[2].as_str()
            && examined["examination"]["layers"] == 2,
        "{examined}"
    );
    is_error(
        &api.expect(
            400,
            admin,
            "POST",
            examine,
            Some(&json!({"image": "Not An Image"})),
        )?,
        25,
    )?;
    is_error(
        &api.expect(
            403,
            publisher,
            "POST",
            examine,
            Some(&json!({"image": stack.images.fill})),
        )?,
        22,
    )?;
    let missing = format!("{}/nothing:1", stack.images.oci.host());
    is_error(
        &api.expect(
            404,
            admin,
            "POST",
            examine,
            Some(&json!({"image": missing})),
        )?,
        4,
    )?;
    let silent = api.expect(
        502,
        admin,
        "POST",
        examine,
        Some(&json!({"image": "127.0.0.1:9/python:3.12"})),
    )?;
    ensure!(
        silent["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the image's registry cannot be reached: ")),
        "{silent}"
    );

    // An environment declaring Python 3.12.4 on an image with 3.11.2: in drift once checked.
    let (version, path) = DECLARED_PYTHON;
    let created = api.expect(
        200,
        admin,
        "POST",
        "/__api__/v1/environments",
        Some(&json!({"name": stack.images.drift, "title": "Drifting",
            "python": {"installations": [{"version": version, "path": path}]}})),
    )?;
    let guid = created["guid"].as_str().context("guid")?.to_owned();
    let key = format!("Key {}", admin.context("a key")?);
    eventually(
        Duration::from_secs(30),
        "the examiner's check of Drifting",
        || {
            http_request(
                stack.gateway.address(),
                "GET",
                "/__api__/execenv/v1/checks",
                &[("Authorization", &key)],
                None,
            )
            .and_then(|r| r.json())
            .is_ok_and(|b| {
                b["checks"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["guid"] == guid.as_str() && c["state"] == "drift")
                })
            })
        },
    )?;
    let checks = api.expect(200, publisher, "GET", "/__api__/execenv/v1/checks", None)?;
    ensure!(checks["interval_seconds"] == 300, "{checks}");
    is_error(
        &api.expect(403, viewer, "GET", "/__api__/execenv/v1/checks", None)?,
        22,
    )?;
    let check = format!("/__api__/execenv/v1/environments/{guid}/check");
    let one = api.expect(200, publisher, "GET", &check, None)?;
    ensure!(
        one["state"] == "drift"
            && one["digest"] == stack.images.digests[0].as_str()
            && one["findings"][0]["kind"] == "version_mismatch"
            && one["findings"][0]["message"] == DRIFT_MESSAGE
            && one["unreadable"].is_null(),
        "{one}"
    );
    is_error(
        &api.expect(
            404,
            admin,
            "GET",
            "/__api__/execenv/v1/environments/7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b/check",
            None,
        )?,
        4,
    )?;
    let refresh = "/__api__/execenv/v1/checks/refresh";
    let round = api.expect(200, admin, "POST", refresh, None)?;
    ensure!(
        round["checks"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["guid"] == guid.as_str() && c["state"] == "drift")),
        "{round}"
    );
    is_error(&api.expect(403, publisher, "POST", refresh, None)?, 22)?;
    api.expect(
        204,
        admin,
        "DELETE",
        &format!("/__api__/v1/environments/{guid}"),
        None,
    )?;
    Ok(())
}

#[test]
fn every_gateway_route_answers_as_its_openapi_document_says() -> Result<()> {
    let stack = stack()?;
    let api = Recorder::new(stack.gateway.address());
    let registry = &stack.registry;
    let admin = user_key(registry, "ada", "administrator")?;
    let publisher = user_key(registry, "pat", "publisher")?;
    let viewer = user_key(registry, "val", "viewer")?;
    let (admin, publisher, viewer) = (
        Some(admin.as_str()),
        Some(publisher.as_str()),
        Some(viewer.as_str()),
    );
    let (_sync, managed) = file_managed(registry, stack.dir.path(), &["ghcr.io/acme/managed:1"])?;
    let managed = managed[0].clone();

    // Open routes.
    let spec = api.expect(200, None, "GET", "/__api__/openapi.json", None)?;
    ensure!(spec["openapi"] == "3.1.0", "{spec}");
    api.expect(200, None, "GET", "/__api__/server_settings", None)?;

    // Who am I, who is there.
    is_error(&api.expect(401, None, "GET", "/__api__/v1/user", None)?, 30)?;
    let me = api.expect(200, admin, "GET", "/__api__/v1/user", None)?;
    api.expect(200, admin, "GET", "/__api__/v1/users", None)?;
    is_error(
        &api.expect(403, publisher, "GET", "/__api__/v1/users", None)?,
        22,
    )?;
    api.expect(200, admin, "GET", "/__api__/v1/groups", None)?;
    api.expect(200, admin, "GET", "/__api__/v1/users?prefix=ad", None)?;
    api.expect(200, admin, "GET", "/__api__/v1/groups?prefix=x", None)?;

    // The console's routes: the catalogue a page at a time, the sync (none configured here),
    // the events (their stream is followed in console_session), a session.
    let page = api.expect(
        200,
        publisher,
        "GET",
        "/__api__/execenv/v1/environments?page_size=1&sort=name&order=desc",
        None,
    )?;
    ensure!(page["total"].as_u64() >= Some(1), "{page}");
    is_error(
        &api.expect(
            400,
            admin,
            "GET",
            "/__api__/execenv/v1/environments?page_size=0",
            None,
        )?,
        25,
    )?;
    is_error(
        &api.expect(403, viewer, "GET", "/__api__/execenv/v1/environments", None)?,
        22,
    )?;
    let sync = api.expect(200, publisher, "GET", "/__api__/execenv/v1/sync", None)?;
    ensure!(sync == json!({"configured": false}), "{sync}");
    is_error(
        &api.expect(403, viewer, "GET", "/__api__/execenv/v1/sync", None)?,
        22,
    )?;
    is_error(
        &api.expect(401, None, "GET", "/__api__/execenv/v1/events", None)?,
        30,
    )?;
    let session = "/__api__/execenv/v1/session";
    api.expect(400, None, "POST", session, Some(&json!({"key": "x"})))?;
    is_error(
        &api.expect(
            401,
            None,
            "POST",
            session,
            Some(&json!({"api_key": "ee_nope"})),
        )?,
        30,
    )?;
    let signed_in = api.expect_with(
        200,
        &[],
        "POST",
        session,
        Some(&json!({"api_key": admin.context("a key")?})),
    )?;
    let cookie = signed_in
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let csrf = signed_in.json()?["csrf_token"]
        .as_str()
        .context("no csrf_token")?
        .to_owned();
    api.expect_with(200, &[("Cookie", &cookie)], "GET", session, None)?;
    api.expect_with(403, &[("Cookie", &cookie)], "DELETE", session, None)?;
    api.expect_with(
        204,
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "DELETE",
        session,
        None,
    )?;
    api.expect_with(401, &[("Cookie", &cookie)], "GET", session, None)?;
    for language in ["python", "r", "quarto"] {
        api.expect(
            200,
            admin,
            "GET",
            &format!("/__api__/v1/server_settings/{language}"),
            None,
        )?;
    }
    is_error(
        &api.expect(400, admin, "GET", "/__api__/v1/server_settings/julia", None)?,
        25,
    )?;

    // Environments.
    let environments = "/__api__/v1/environments";
    let created = api.expect(
        200,
        admin,
        "POST",
        environments,
        Some(&json!({
            "name": "ghcr.io/acme/py:3.11", "title": "Py", "cluster_name": "Kubernetes",
            "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
            "volume_mounts": [{"source": {"volume_type": "pvc", "pvc_name": "cache"}, "target": {"path": "/data", "read_only": true}}]
        })),
    )?;
    let guid = created["guid"].as_str().context("guid")?.to_owned();
    let one = format!("{environments}/{guid}");
    is_error(
        &api.expect(400, admin, "POST", environments, Some(&json!({"name": "x", "python": {"installations": [{"version": "3.11", "path": "/p"}]}})))?,
        174,
    )?;
    is_error(
        &api.expect(
            403,
            viewer,
            "POST",
            environments,
            Some(&json!({"name": "y"})),
        )?,
        22,
    )?;
    api.expect(200, admin, "GET", environments, None)?;
    api.expect(
        200,
        admin,
        "GET",
        &format!("{environments}?name=ghcr.io/acme/py:3.11"),
        None,
    )?;
    api.expect(200, admin, "GET", &one, None)?;
    is_error(
        &api.expect(
            404,
            admin,
            "GET",
            &format!("{environments}/7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"),
            None,
        )?,
        4,
    )?;
    api.expect(200, admin, "PUT", &one, Some(&json!({"title": "Py 3.11"})))?;
    is_error(
        &api.expect(400, admin, "PUT", &one, Some(&json!({"colour": "red"})))?,
        25,
    )?;
    let managed_path = format!("{environments}/{managed}");
    is_error(
        &api.expect(
            409,
            admin,
            "PUT",
            &managed_path,
            Some(&json!({"title": "t"})),
        )?,
        265,
    )?;
    is_error(&api.expect(409, admin, "DELETE", &managed_path, None)?, 265)?;

    // Permissions.
    let permissions = format!("{one}/permissions");
    let me_guid = me["guid"].as_str().context("guid")?;
    let granted = api.expect(
        200,
        admin,
        "POST",
        &permissions,
        Some(&json!({"user_guid": me_guid})),
    )?;
    let permission = granted["guid"]
        .as_str()
        .context("permission guid")?
        .to_owned();
    api.expect(200, admin, "GET", &permissions, None)?;
    api.expect(
        200,
        admin,
        "GET",
        &format!("{permissions}/{permission}"),
        None,
    )?;
    api.expect(
        204,
        admin,
        "DELETE",
        &format!("{permissions}/{permission}"),
        None,
    )?;
    is_error(
        &api.expect(
            404,
            admin,
            "GET",
            &format!("{permissions}/{permission}"),
            None,
        )?,
        4,
    )?;

    // The audit trail.
    let changes = api.expect(200, admin, "GET", "/__api__/execenv/v1/changes", None)?;
    ensure!(
        changes["changes"].as_array().is_some_and(|c| !c.is_empty()),
        "{changes}"
    );
    api.expect(
        400,
        admin,
        "GET",
        "/__api__/execenv/v1/changes?since=yesterday",
        None,
    )?;

    // Security events: the keys made above were recorded.
    let events = api.expect(
        200,
        admin,
        "GET",
        "/__api__/execenv/v1/security-events",
        None,
    )?;
    ensure!(
        events["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "api_key_created")),
        "{events}"
    );

    // Selection: fields, a manifest.json as the body, explain, nothing fits, a misspelt key.
    let select = "/__api__/execenv/v1/select";
    let chosen = api.expect(
        200,
        publisher,
        "POST",
        select,
        Some(&json!({"requirements": {"python_version": stack.version}})),
    )?;
    ensure!(
        chosen["environment"]["guid"] == stack.host_env.as_str(),
        "{chosen}"
    );
    ensure!(
        chosen["installations"][0]["language"] == "python",
        "{chosen}"
    );
    let by_manifest = api.expect(
        200,
        publisher,
        "POST",
        select,
        Some(&python_manifest(&stack.version)),
    )?;
    ensure!(
        by_manifest["environment"]["guid"] == chosen["environment"]["guid"],
        "{by_manifest}"
    );
    let explained = api.expect(
        200,
        admin,
        "POST",
        "/__api__/execenv/v1/explain",
        Some(&json!({"requirements": {"python_version": stack.version}})),
    )?;
    ensure!(
        explained["verdicts"]
            .as_array()
            .is_some_and(|v| v.len() == 3),
        "{explained}"
    );
    let nothing = api.expect(
        409,
        publisher,
        "POST",
        select,
        Some(&json!({"requirements": {"r_version": "4.4.1"}})),
    )?;
    is_error(&nothing, 2)?;
    ensure!(
        nothing["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Cannot find compatible environment"),
        "{nothing}"
    );
    ensure!(
        nothing["payload"]["violations"].is_array(),
        "each environment's reason: {nothing}"
    );
    is_error(
        &api.expect(
            400,
            publisher,
            "POST",
            select,
            Some(&json!({"requirements": {"pyhton_version": "3"}})),
        )?,
        25,
    )?;
    is_error(
        &api.expect(403, viewer, "POST", select, Some(&json!({})))?,
        22,
    )?;

    // Launches: build, read its log, run one to cancel, list and filter.
    let launches = "/__api__/execenv/v1/launches";
    let build = api.expect(
        200,
        publisher,
        "POST",
        launches,
        Some(&json!({"kind": "build", "content": {"guid": CONTENT, "bundle": BUNDLE, "manifest": python_manifest(&stack.version)}, "command": []})),
    )?;
    let build_id = build["id"].as_str().context("id")?.to_owned();
    ensure!(
        build["kind"] == "build" && build["backend"] == "local",
        "{build}"
    );
    let built = finished(&stack, publisher.unwrap(), &build_id)?;
    ensure!(built["state"] == "succeeded", "{built}");
    api.expect(
        200,
        publisher,
        "GET",
        &format!("{launches}/{build_id}"),
        None,
    )?;
    let log = api.call(
        publisher,
        "GET",
        &format!("{launches}/{build_id}/logs"),
        None,
    )?;
    ensure!(log.status == 200, "{log:?}");
    ensure!(
        log.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{log:?}"
    );

    let run = api.expect(
        200,
        publisher,
        "POST",
        launches,
        Some(&json!({
            "request_id": "run-to-cancel", "kind": "run",
            "content": {"guid": CONTENT, "bundle": BUNDLE, "manifest": python_manifest(&stack.version)},
            "command": ["python", "-c", "import time; time.sleep(120)"]
        })),
    )?;
    ensure!(run["id"] == "run-to-cancel", "{run}");
    let cancelled = api.expect(
        200,
        publisher,
        "POST",
        &format!("{launches}/run-to-cancel/cancel"),
        None,
    )?;
    ensure!(
        matches!(
            cancelled["state"].as_str(),
            Some("cancelled" | "pending" | "running")
        ),
        "{cancelled}"
    );
    let ended = finished(&stack, publisher.unwrap(), "run-to-cancel")?;
    ensure!(ended["state"] == "cancelled", "{ended}");
    let listed = api.expect(
        200,
        publisher,
        "GET",
        &format!("{launches}?content_guid={CONTENT}&state=succeeded,cancelled"),
        None,
    )?;
    ensure!(listed.as_array().is_some_and(|l| l.len() == 2), "{listed}");
    let builds = api.expect(
        200,
        publisher,
        "GET",
        &format!("{launches}?kind=build"),
        None,
    )?;
    ensure!(builds.as_array().is_some_and(|l| l.len() == 1), "{builds}");
    is_error(
        &api.expect(
            400,
            publisher,
            "GET",
            &format!("{launches}?state=done"),
            None,
        )?,
        25,
    )?;
    is_error(
        &api.expect(
            404,
            publisher,
            "GET",
            &format!("{launches}/no-such-launch"),
            None,
        )?,
        4,
    )?;
    is_error(
        &api.expect(
            400,
            publisher,
            "POST",
            launches,
            Some(&json!({"kind": "deploy"})),
        )?,
        25,
    )?;
    is_error(
        &api.expect(403, viewer, "POST", launches, Some(&json!({"kind": "run", "content": {"guid": CONTENT, "bundle": BUNDLE}, "command": ["true"]})))?,
        22,
    )?;

    // Bundles: the example uploaded, listed and deleted; a hostile archive, a viewer, a body
    // announced too large, a guid that is not one, a bundle that is gone.
    let bundles = format!("/__api__/execenv/v1/content/{UPLOADED}/bundles");
    let stored = api.upload(201, publisher, &bundles, &example_targz()?)?;
    ensure!(
        stored["bundle_id"] == "1" && stored["manifest"]["appmode"] == "python-script",
        "{stored}"
    );
    let hostile = RawTar::default().manifest(MANIFEST).file("../x", "x").gz();
    is_error(&api.upload(400, publisher, &bundles, &hostile)?, 2)?;
    is_error(&api.upload(403, viewer, &bundles, &example_targz()?)?, 22)?;
    is_error(&api.upload_declaring(413, publisher, &bundles, 3 << 30)?, 2)?;
    let listed = api.expect(200, publisher, "GET", &bundles, None)?;
    ensure!(listed.as_array().is_some_and(|l| l.len() == 1), "{listed}");
    content_routes(&api, registry, (admin, publisher, viewer))?;
    is_error(
        &api.expect(
            400,
            publisher,
            "GET",
            "/__api__/execenv/v1/content/not-a-guid/bundles",
            None,
        )?,
        3,
    )?;
    api.expect(204, publisher, "DELETE", &format!("{bundles}/1"), None)?;
    is_error(
        &api.expect(404, publisher, "DELETE", &format!("{bundles}/1"), None)?,
        4,
    )?;

    api.expect(204, admin, "DELETE", &one, None)?;
    image_routes(&stack, &api, (admin, publisher, viewer))?;

    // The document and every response, checked.
    let exchanges = api.exchanges();
    let report = openapi::check(&spec, &exchanges)?;
    ensure!(
        report.failures.is_empty() && report.uncovered.is_empty(),
        "the gateway does not answer as its OpenAPI document says:\nfailures: {:#?}\nnever called: {:#?}",
        report.failures,
        report.uncovered
    );
    ensure!(report.checked == exchanges.len(), "{report:?}");

    // The check is live: an environment without its guid does not validate.
    let mut broken = exchanges.clone();
    let get_one = broken
        .iter_mut()
        .find(|x| x.method == "GET" && x.path == one && x.status == 200)
        .context("the GET of the environment was recorded")?;
    let mut body: Value = serde_json::from_str(&get_one.body)?;
    body.as_object_mut().context("an object")?.remove("guid");
    get_one.body = body.to_string();
    let report = openapi::check(&spec, &broken)?;
    ensure!(
        report.failures.len() == 1 && report.failures[0].contains(&one),
        "a response without guid must fail the check: {report:?}"
    );
    Ok(())
}
