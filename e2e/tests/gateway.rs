//! End to end: the real `execenv-gateway` in front of the real registry (SQLite), driven over
//! plain HTTP the way posit-sdk's integration test drives Posit Connect: keys made with
//! `execenvctl`, then create → get → find by name → update title → delete → empty list, with
//! Connect's status codes and error bodies, and a viewer refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result, ensure};
use execenv_e2e::declarative::file_managed;
use execenv_e2e::gateway::{self, user_key};
use execenv_e2e::{HttpResponse, RegistryProcess, ServiceProcess, http_request};
use serde_json::{Value, json};

/// A client of the gateway with one key.
struct Client<'a> {
    gateway: &'a ServiceProcess,
    key: Option<String>,
}

impl<'a> Client<'a> {
    /// A client with the key of a new user `username` with `role`.
    fn of(
        registry: &RegistryProcess,
        gateway: &'a ServiceProcess,
        username: &str,
        role: &str,
    ) -> Result<Self> {
        Ok(Client {
            gateway,
            key: Some(user_key(registry, username, role)?),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<HttpResponse> {
        let auth = self.key.as_ref().map(|k| format!("Key {k}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let response = http_request(self.gateway.address(), method, path, &headers, body)?;
        if response.status != 204 {
            ensure!(
                response
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("application/json")),
                "{method} {path}: not JSON: {response:?}"
            );
        }
        Ok(response)
    }

    /// Calls and expects `status`; returns the JSON body (null for 204).
    fn expect(&self, status: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let response = self.call(method, path, body)?;
        ensure!(
            response.status == status,
            "{method} {path}: expected {status}, got {response:?}"
        );
        if status == 204 {
            ensure!(response.body.is_empty(), "204 with a body: {response:?}");
            return Ok(Value::Null);
        }
        response.json()
    }
}

fn assert_error(body: &Value, code: u64) -> Result<()> {
    ensure!(body["code"] == code, "expected code {code}: {body}");
    ensure!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no message: {body}"
    );
    ensure!(
        body.as_object().is_some_and(|o| o.contains_key("payload")),
        "no payload key: {body}"
    );
    Ok(())
}

#[test]
fn gateway_serves_the_connect_environment_lifecycle_with_connect_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (registry, gateway) = gateway::start(dir.path())?;
    let admin = Client::of(&registry, &gateway, "ada", "administrator")?;
    let anonymous = Client {
        gateway: &gateway,
        key: None,
    };
    let forged = Client {
        gateway: &gateway,
        key: Some("ee_not_a_key_at_all".to_owned()),
    };
    let viewer = Client::of(&registry, &gateway, "val", "viewer")?;
    let environments = "/__api__/v1/environments";

    // No key, or a key nobody issued: 401 with code 30.
    assert_error(&anonymous.expect(401, "GET", environments, None)?, 30)?;
    assert_error(&forged.expect(401, "GET", "/__api__/v1/user", None)?, 30)?;

    // What clients read before anything else.
    let settings = anonymous.expect(200, "GET", "/__api__/server_settings", None)?;
    ensure!(settings["version"] == "2025.01.0", "{settings}");
    ensure!(settings["execenv_version"].is_string(), "{settings}");
    let me = admin.expect(200, "GET", "/__api__/v1/user", None)?;
    ensure!(
        me["username"] == "ada" && me["user_role"] == "administrator",
        "{me}"
    );

    // The SDK integration test's lifecycle.
    let created = admin.expect(
        200,
        "POST",
        environments,
        Some(&json!({"title": "title", "name": "name", "cluster_name": "Kubernetes"})),
    )?;
    let guid = created["guid"].as_str().context("no guid")?.to_owned();
    ensure!(created["id"].is_string(), "{created}");
    for key in [
        "title",
        "description",
        "matching",
        "supervisor",
        "python",
        "quarto",
        "r",
        "tensorflow",
        "volume_mounts",
    ] {
        ensure!(created.get(key).is_some(), "{key} missing: {created}");
    }
    let one = format!("{environments}/{guid}");
    ensure!(
        admin.expect(200, "GET", &one, None)? == created,
        "GET differs from the POST answer"
    );
    let found = admin.expect(200, "GET", &format!("{environments}?name=name"), None)?;
    ensure!(found == json!([created]), "find_by(name): {found}");
    let none = admin.expect(200, "GET", &format!("{environments}?name=other"), None)?;
    ensure!(none == json!([]), "{none}");

    let updated = admin.expect(200, "PUT", &one, Some(&json!({"title": "new-title"})))?;
    ensure!(updated["title"] == "new-title", "{updated}");
    ensure!(
        updated["cluster_name"] == created["cluster_name"] && updated["name"] == "name",
        "a partial PUT changed other fields: {updated}"
    );

    // Invalid input gets the environment's own code; a viewer is refused.
    let bad = admin.expect(
        400,
        "PUT",
        &one,
        Some(&json!({"python": {"installations": [{"version": "3.11", "path": "/opt/python/bin/python3"}]}})),
    )?;
    assert_error(&bad, 174)?;
    assert_error(&viewer.expect(403, "GET", environments, None)?, 22)?;
    assert_error(&viewer.expect(403, "DELETE", &one, None)?, 22)?;

    admin.expect(204, "DELETE", &one, None)?;
    assert_error(&admin.expect(404, "GET", &one, None)?, 4)?;
    let left = admin.expect(200, "GET", environments, None)?;
    ensure!(left == json!([]), "after delete: {left}");

    // The audit trail of that environment, and a time that is not one.
    let trail = admin.expect(
        200,
        "GET",
        &format!("/__api__/execenv/v1/changes?environment_guid={guid}"),
        None,
    )?;
    let actions: Vec<&str> = trail["changes"]
        .as_array()
        .context("no changes")?
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    ensure!(actions == ["create", "update", "delete"], "{trail}");
    ensure!(
        trail["changes"][1]["after"]["title"] == "new-title",
        "{trail}"
    );
    assert_error(
        &admin.expect(
            400,
            "GET",
            "/__api__/execenv/v1/changes?since=yesterday",
            None,
        )?,
        25,
    )?;
    assert_error(
        &viewer.expect(403, "GET", "/__api__/execenv/v1/changes", None)?,
        22,
    )?;
    Ok(())
}

#[test]
fn gateway_manages_permissions_and_refuses_file_managed_changes_with_409() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (registry, gateway) = gateway::start(dir.path())?;
    let admin = Client::of(&registry, &gateway, "ada", "administrator")?;
    let publisher = Client::of(&registry, &gateway, "pat", "publisher")?;
    let pat = registry.ctl_json(&["users", "get", "pat"])?;
    let pat_guid = pat["guid"].as_str().context("no guid")?.to_owned();
    let environments = "/__api__/v1/environments";

    // Permissions as rsconnect syncs them: list, add a user, get it, remove it.
    let env = admin.expect(
        200,
        "POST",
        environments,
        Some(&json!({"name": "ghcr.io/acme/py:3.11", "cluster_name": "Kubernetes",
                     "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
                     "volume_mounts": [{"source": {"volume_type": "pvc", "pvc_name": "cache"},
                                        "target": {"path": "/data", "read_only": true}}]})),
    )?;
    ensure!(
        env["volume_mounts"][0]["source"] == json!({"volume_type": "pvc", "pvc_name": "cache"}),
        "{env}"
    );
    let guid = env["guid"].as_str().context("no guid")?;
    let offered = publisher.expect(200, "GET", "/__api__/v1/server_settings/python", None)?;
    ensure!(
        offered["installations"]
            == json!([{"version": "3.11.9", "cluster_name": "Kubernetes", "image_name": "ghcr.io/acme/py:3.11"}]),
        "{offered}"
    );
    let users = admin.expect(200, "GET", "/__api__/v1/users", None)?;
    ensure!(
        users["total"] == 2 && users["results"][1]["username"] == "pat",
        "{users}"
    );
    assert_error(
        &publisher.expect(403, "GET", "/__api__/v1/users", None)?,
        22,
    )?;
    ensure!(admin.expect(200, "GET", "/__api__/v1/groups", None)?["results"] == json!([]));
    let permissions = format!("{environments}/{guid}/permissions");
    ensure!(admin.expect(200, "GET", &permissions, None)? == json!([]));
    let added = admin.expect(
        200,
        "POST",
        &permissions,
        Some(&json!({"user_guid": pat_guid})),
    )?;
    ensure!(
        added["user_guid"] == pat_guid.as_str() && added["group_guid"].is_null(),
        "{added}"
    );
    let entry = format!(
        "{permissions}/{}",
        added["guid"].as_str().context("no guid")?
    );
    ensure!(admin.expect(200, "GET", &entry, None)? == added);
    ensure!(admin.expect(200, "GET", &permissions, None)? == json!([added]));
    // The publisher now sees it, and may not change it.
    let seen = publisher.expect(200, "GET", environments, None)?;
    ensure!(seen.as_array().is_some_and(|a| a.len() == 1), "{seen}");
    assert_error(
        &publisher.expect(
            403,
            "PUT",
            &format!("{environments}/{guid}"),
            Some(&json!({"title": "x"})),
        )?,
        22,
    )?;
    admin.expect(204, "DELETE", &entry, None)?;
    assert_error(&admin.expect(404, "GET", &entry, None)?, 4)?;

    // An environment owned by the declarative file: 409 with code 265 to PUT and DELETE.
    let (_sync, _) = file_managed(&registry, dir.path(), &["ghcr.io/acme/managed:1"])?;
    let managed = admin.expect(
        200,
        "GET",
        &format!("{environments}?name=ghcr.io/acme/managed:1"),
        None,
    )?;
    ensure!(managed[0]["managed_by"] == "config-file", "{managed}");
    let one = format!(
        "{environments}/{}",
        managed[0]["guid"].as_str().context("no guid")?
    );
    let refused = admin.expect(409, "PUT", &one, Some(&json!({"title": "x"})))?;
    assert_error(&refused, 265)?;
    ensure!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("configuration file")),
        "{refused}"
    );
    assert_error(&admin.expect(409, "DELETE", &one, None)?, 265)?;
    Ok(())
}

#[test]
fn gateway_accepts_a_recently_authenticated_key_while_the_registry_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // No cache: every request asks the registry while it is up.
    let mut registry = RegistryProcess::on_sqlite(dir.path())?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_SERVER__KEY_CACHE_MS", "0".to_owned())],
    )?;
    let alice = Client::of(&registry, &gateway, "alice", "publisher")?;
    let bob = Client::of(&registry, &gateway, "bob", "publisher")?;
    let me = alice.expect(200, "GET", "/__api__/v1/user", None)?;
    ensure!(me["username"] == "alice", "{me}");

    // The registry goes away (a rolling restart of a SQLite registry stops it first).
    registry.process.terminate()?;
    let me = alice.expect(200, "GET", "/__api__/v1/user", None)?;
    ensure!(me["username"] == "alice", "{me}");
    // A key the gateway has not seen cannot be checked: 503, saying why.
    let refused = bob.expect(503, "GET", "/__api__/v1/user", None)?;
    ensure!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("cannot reach the registry at ")),
        "{refused}"
    );

    registry.restart()?;
    let me = bob.expect(200, "GET", "/__api__/v1/user", None)?;
    ensure!(me["username"] == "bob", "{me}");
    Ok(())
}
