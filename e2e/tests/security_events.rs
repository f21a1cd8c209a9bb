//! End to end: security audit events and the rule that a permission names an existing user or
//! group, through the real registry (on SQLite and on PostgreSQL), the real gateway and
//! execenvctl. Keys are created and refused, permissions added (unknown principals refused with
//! Connect's codes 261 and 262) and removed; the events come back over REST (administrators
//! only) and from `execenvctl audit security`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result, ensure};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{Backend, RegistryProcess, ServiceProcess, call_with_key};
use serde_json::{Value, json};

/// Calls the gateway with `key`; returns the status and the JSON body (null when empty).
fn call(
    gateway: &ServiceProcess,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    call_with_key(gateway.address(), key, method, path, body)
}

/// Kind, actor and the fields that name what each event is about.
fn summary(events: &Value) -> Vec<Value> {
    events
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| {
                    json!([
                        e["kind"],
                        e["actor"],
                        e["user_guid"],
                        e["group_guid"],
                        e["revocation"],
                        e["client_address"],
                        e["failures"]
                    ])
                })
                .collect()
        })
        .unwrap_or_default()
}

fn security_events_are_recorded_and_served(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let database = backend.fresh_database(dir.path())?;
    let registry = RegistryProcess::start(
        &database,
        dir.path(),
        &[("EXECENV_IDENTITY__FAILED_SIGN_IN_THRESHOLD", "3".to_owned())],
    )?;
    let gateway = ServiceProcess::gateway(&registry, dir.path(), &[])?;
    let ada = user_key(&registry, "ada", "administrator")?;
    let pat = user_key(&registry, "pat", "publisher")?;
    let ada_guid = registry.ctl_json(&["users", "get", "ada"])?["guid"]
        .as_str()
        .context("ada's guid")?
        .to_owned();
    let pat_guid = registry.ctl_json(&["users", "get", "pat"])?["guid"]
        .as_str()
        .context("pat's guid")?
        .to_owned();
    let staff = registry.ctl_json(&["groups", "create", "staff"])?["guid"]
        .as_str()
        .context("the group's guid")?
        .to_owned();

    let (status, env) = call(
        &gateway,
        &ada,
        "POST",
        "/__api__/v1/environments",
        Some(&json!({"name": "ghcr.io/acme/py:3.11", "cluster_name": "Kubernetes"})),
    )?;
    ensure!(status == 200, "{env}");
    let guid = env["guid"].as_str().context("no guid")?;
    let permissions = format!("/__api__/v1/environments/{guid}/permissions");

    // A permission must name an existing user or group: what is no guid is Connect's 400 with
    // 261 or 262; a guid that names nobody is 404 (4), as an unknown environment is.
    let nobody = "6f1c2b7a-3d4e-4f50-8a9b-0c1d2e3f4a5b";
    for (body, code) in [
        (json!({"user_guid": "AAA"}), 261),
        (json!({"user_guid": "nobody-at-all"}), 261),
        (json!({"user_guid": "pat"}), 261),
    ] {
        let (status, refused) = call(&gateway, &ada, "POST", &permissions, Some(&body))?;
        ensure!(status == 400, "{body}: {status} {refused}");
        ensure!(
            refused["code"] == code && refused["payload"]["violations"].is_array(),
            "{body}: {refused}"
        );
    }
    for body in [json!({"user_guid": nobody}), json!({"group_guid": nobody})] {
        let (status, refused) = call(&gateway, &ada, "POST", &permissions, Some(&body))?;
        ensure!(
            status == 404 && refused["code"] == 4,
            "{body}: {status} {refused}"
        );
    }
    let (_, listed) = call(&gateway, &ada, "GET", &permissions, None)?;
    ensure!(listed == json!([]), "a refused entry was stored: {listed}");
    let (status, user_entry) = call(
        &gateway,
        &ada,
        "POST",
        &permissions,
        Some(&json!({"user_guid": pat_guid})),
    )?;
    ensure!(status == 200, "{user_entry}");
    let (status, _) = call(
        &gateway,
        &ada,
        "POST",
        &permissions,
        Some(&json!({"group_guid": staff})),
    )?;
    ensure!(status == 200);
    let entry = format!(
        "{permissions}/{}",
        user_entry["guid"].as_str().context("entry guid")?
    );
    ensure!(call(&gateway, &ada, "DELETE", &entry, None)?.0 == 204);

    // execenvctl: the same rule, the flag named.
    let refused = registry.ctl(&["env", "permissions", "add", guid, "--user", nobody])?;
    ensure!(refused.code != 0, "{refused:?}");
    ensure!(
        refused.stderr.contains("no user has guid"),
        "{}",
        refused.stderr
    );

    // Three refused keys from one client make one event.
    for _ in 0..3 {
        let (status, _) = call(
            &gateway,
            "ee_not_a_key_at_all",
            "GET",
            "/__api__/v1/user",
            None,
        )?;
        ensure!(status == 401);
    }

    let (status, page) = call(
        &gateway,
        &ada,
        "GET",
        "/__api__/execenv/v1/security-events",
        None,
    )?;
    ensure!(status == 200, "{page}");
    ensure!(page["next_page_token"] == "", "{page}");
    let service = json!("service");
    ensure!(
        summary(&page["events"])
            == vec![
                json!(["api_key_created", service, ada_guid, null, null, null, null]),
                json!(["api_key_created", service, pat_guid, null, null, null, null]),
                json!([
                    "permission_added",
                    ada_guid,
                    pat_guid,
                    null,
                    null,
                    null,
                    null
                ]),
                json!(["permission_added", ada_guid, null, staff, null, null, null]),
                json!([
                    "permission_removed",
                    ada_guid,
                    pat_guid,
                    null,
                    null,
                    null,
                    null
                ]),
                json!(["sign_in_failures", "", null, null, null, "127.0.0.1", 3]),
            ],
        "{page}"
    );
    ensure!(
        page["events"][2]["environment_guid"] == guid
            && page["events"][2]["permission_guid"] == user_entry["guid"],
        "{page}"
    );

    // Filtered by kind, paged, and refused with Connect's body.
    let (_, failures) = call(
        &gateway,
        &ada,
        "GET",
        "/__api__/execenv/v1/security-events?kind=sign_in_failures",
        None,
    )?;
    ensure!(
        failures["events"].as_array().map(Vec::len) == Some(1),
        "{failures}"
    );
    let (_, first) = call(
        &gateway,
        &ada,
        "GET",
        "/__api__/execenv/v1/security-events?page_size=4",
        None,
    )?;
    let token = first["next_page_token"].as_str().context("a token")?;
    ensure!(!token.is_empty(), "{first}");
    let (_, rest) = call(
        &gateway,
        &ada,
        "GET",
        &format!("/__api__/execenv/v1/security-events?page_size=4&page_token={token}"),
        None,
    )?;
    ensure!(rest["events"].as_array().map(Vec::len) == Some(2), "{rest}");
    let (status, bad) = call(
        &gateway,
        &ada,
        "GET",
        "/__api__/execenv/v1/security-events?kind=key_stolen",
        None,
    )?;
    ensure!(status == 400 && bad["code"] == 25, "{status} {bad}");
    let (status, denied) = call(
        &gateway,
        &pat,
        "GET",
        "/__api__/execenv/v1/security-events",
        None,
    )?;
    ensure!(status == 403 && denied["code"] == 22, "{status} {denied}");

    // execenvctl shows the same events (and they include its own revocation).
    let key_id = registry.ctl_json(&["keys", "list", "--user", "pat"])?[0]["id"]
        .as_str()
        .context("pat's key")?
        .to_owned();
    registry.ctl(&["keys", "disable", &key_id])?.ok()?;
    let revoked = registry.ctl_json(&["audit", "security", "--kind", "api-key-revoked"])?;
    ensure!(
        summary(&revoked)
            == vec![json!([
                "api_key_revoked",
                "service",
                pat_guid,
                null,
                "disabled",
                null,
                null
            ])],
        "{revoked}"
    );
    let everything = registry.ctl_json(&["audit", "security", "--all", "--page-size", "2"])?;
    ensure!(
        everything.as_array().map(Vec::len) == Some(7),
        "{everything}"
    );
    let table = registry.ctl(&["audit", "security"])?.ok()?;
    ensure!(
        table.stdout.contains("3 failed sign-ins from 127.0.0.1"),
        "{}",
        table.stdout
    );
    Ok(())
}

#[test]
fn security_events_are_recorded_and_served_on_sqlite() -> Result<()> {
    security_events_are_recorded_and_served(Backend::Sqlite)
}

#[test]
fn security_events_are_recorded_and_served_on_postgres() -> Result<()> {
    security_events_are_recorded_and_served(Backend::Postgres)
}
