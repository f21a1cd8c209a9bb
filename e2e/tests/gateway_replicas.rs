//! End to end, what stateless gateway and selector replicas promise their clients: the real
//! registry (SQLite), selector and gateways over plain HTTP.
//!
//! - Read-your-writes: every catalogue write answers `X-Execenv-Revision`; a selection asked
//!   with that `min_revision` is made from a catalogue that includes the write, and one asked
//!   with a revision the registry never committed is refused (409) after the selector's wait.
//! - Revoked keys: two gateways on one registry with `server.key_cache_ms` 1000; a key disabled
//!   with execenvctl is refused by both within that bound, and a refusal is never cached (a user
//!   enabled again is let in at once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{HttpResponse, RegistryProcess, ServiceProcess, eventually, request_with_key};
use serde_json::{Value, json};

const ENVIRONMENTS: &str = "/__api__/v1/environments";

/// The revision a catalogue write answered with.
fn revision_of(response: &HttpResponse) -> Result<i64> {
    response
        .header("x-execenv-revision")
        .with_context(|| format!("no X-Execenv-Revision: {response:?}"))?
        .parse()
        .context("X-Execenv-Revision is not a number")
}

/// A request that must answer `status`.
fn expect(
    gateway: &ServiceProcess,
    key: &str,
    status: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<HttpResponse> {
    let response = request_with_key(gateway.address(), key, method, path, body)?;
    ensure!(
        response.status == status,
        "{method} {path}: expected {status}, got {response:?}"
    );
    Ok(response)
}

/// A Python environment as Connect's JSON.
fn python_environment(image: &str, version: &str) -> Value {
    json!({
        "title": image,
        "name": image,
        "cluster_name": "Kubernetes",
        "matching": "any",
        "python": {"installations": [
            {"version": version, "path": format!("/opt/python/{version}/bin/python3")}
        ]},
    })
}

fn select_python(version: &str) -> Value {
    json!({"requirements": {"python_version": version}})
}

#[test]
fn a_selection_with_the_revision_of_a_write_sees_that_write() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    // A short wait, so that the refusal below comes quickly.
    let selector = ServiceProcess::selector(
        &registry,
        dir.path(),
        &[("EXECENV_SELECTION__MIN_REVISION_WAIT_MS", "300".to_owned())],
    )?;
    let gateway = ServiceProcess::gateway(
        &registry,
        dir.path(),
        &[("EXECENV_SELECTOR__URL", selector.url.clone())],
    )?;
    let ada = user_key(&registry, "ada", "administrator")?;

    // Create: the header carries the commit's revision (Connect's body has no revision).
    let created = expect(
        &gateway,
        &ada,
        200,
        "POST",
        ENVIRONMENTS,
        Some(&python_environment("ghcr.io/acme/py312:1", "3.12.4")),
    )?;
    let created_at = revision_of(&created)?;
    ensure!(
        created_at == 1,
        "the first write of a new registry: {created:?}"
    );
    let environment = created.json()?;
    let guid = environment["guid"].as_str().context("no guid")?.to_owned();

    // Selected with that revision: from a catalogue that has the new environment.
    let selected = expect(
        &gateway,
        &ada,
        200,
        "POST",
        &format!("/__api__/execenv/v1/select?min_revision={created_at}"),
        Some(&select_python("3.12.4")),
    )?
    .json()?;
    ensure!(selected["revision"] == 1, "{selected}");
    ensure!(
        selected["environment"]["guid"] == guid.as_str(),
        "{selected}"
    );
    let explained = expect(
        &gateway,
        &ada,
        200,
        "POST",
        &format!("/__api__/execenv/v1/explain?min_revision={created_at}"),
        Some(&select_python("3.12.4")),
    )?
    .json()?;
    ensure!(explained["revision"] == 1, "{explained}");

    // Permissions and updates answer their revisions too.
    let permissions = format!("{ENVIRONMENTS}/{guid}/permissions");
    let ada_guid = registry.ctl_json(&["users", "get", "ada"])?["guid"]
        .as_str()
        .context("no user guid")?
        .to_owned();
    let added = expect(
        &gateway,
        &ada,
        200,
        "POST",
        &permissions,
        Some(&json!({"user_guid": ada_guid})),
    )?;
    ensure!(revision_of(&added)? == 2, "{added:?}");
    let permission = added.json()?["guid"]
        .as_str()
        .context("no permission guid")?
        .to_owned();
    let removed = expect(
        &gateway,
        &ada,
        204,
        "DELETE",
        &format!("{permissions}/{permission}"),
        None,
    )?;
    ensure!(revision_of(&removed)? == 3, "{removed:?}");
    let updated = expect(
        &gateway,
        &ada,
        200,
        "PUT",
        &format!("{ENVIRONMENTS}/{guid}"),
        Some(&json!({"title": "Python 3.12"})),
    )?;
    ensure!(revision_of(&updated)? == 4, "{updated:?}");

    let at_update = expect(
        &gateway,
        &ada,
        200,
        "POST",
        "/__api__/execenv/v1/select?min_revision=4",
        Some(&select_python("3.12.4")),
    )?
    .json()?;
    ensure!(at_update["revision"] == 4, "{at_update}");
    ensure!(
        at_update["environment"]["title"] == "Python 3.12",
        "{at_update}"
    );

    // A revision the registry has not committed: after the selector's wait, the registry says
    // so, and retrying cannot help (409). (A committed revision the selector has not reached in
    // time is 503 with Retry-After: the selector's own tests.)
    let never = expect(
        &gateway,
        &ada,
        409,
        "POST",
        "/__api__/execenv/v1/select?min_revision=5",
        Some(&select_python("3.12.4")),
    )?;
    ensure!(never.header("retry-after").is_none(), "{never:?}");
    let body = never.json()?;
    ensure!(
        body["error"]
            == "the registry has committed no revision 5 yet (the catalogue here is at revision 4); give min_revision as a catalogue write answered it (X-Execenv-Revision)",
        "{body}"
    );

    // Delete: 204 with the revision; selected at it, the environment is gone.
    let deleted = expect(
        &gateway,
        &ada,
        204,
        "DELETE",
        &format!("{ENVIRONMENTS}/{guid}"),
        None,
    )?;
    let deleted_at = revision_of(&deleted)?;
    ensure!(deleted_at == 5, "{deleted:?}");
    let none = expect(
        &gateway,
        &ada,
        409,
        "POST",
        &format!("/__api__/execenv/v1/select?min_revision={deleted_at}"),
        Some(&select_python("3.12.4")),
    )?
    .json()?;
    ensure!(
        none["error"]
            .as_str()
            .is_some_and(|e| e.contains("Cannot find compatible environment")),
        "{none}"
    );

    // A negative revision is bad input, named.
    let negative = expect(
        &gateway,
        &ada,
        400,
        "POST",
        "/__api__/execenv/v1/select?min_revision=-1",
        Some(&select_python("3.12.4")),
    )?
    .json()?;
    ensure!(
        negative["payload"]["violations"][0]["field"] == "min_revision",
        "{negative}"
    );
    Ok(())
}

/// `server.key_cache_ms` of both gateways in the revocation test.
const KEY_CACHE: Duration = Duration::from_millis(1000);
/// What the bound is given on top for the test's own polling and process scheduling.
const MARGIN: Duration = Duration::from_millis(1500);

/// The status `gateway` answers `key` on `GET /__api__/v1/user`.
fn status_of(gateway: &ServiceProcess, key: &str) -> Result<u16> {
    Ok(request_with_key(gateway.address(), key, "GET", "/__api__/v1/user", None)?.status)
}

#[test]
fn a_disabled_key_is_refused_by_every_gateway_within_key_cache_ms() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let cache = [(
        "EXECENV_SERVER__KEY_CACHE_MS",
        KEY_CACHE.as_millis().to_string(),
    )];
    let a = ServiceProcess::gateway(&registry, dir.path(), &cache)?;
    let b = ServiceProcess::gateway(&registry, dir.path(), &cache)?;
    let alice = user_key(&registry, "alice", "publisher")?;
    let bob = user_key(&registry, "bob", "publisher")?;
    // Both keys authenticated on both gateways: each holds them in its cache.
    for gateway in [&a, &b] {
        ensure!(status_of(gateway, &alice)? == 200);
        ensure!(status_of(gateway, &bob)? == 200);
    }

    // Alice's key is disabled through execenvctl (the registry); it has committed when the
    // command returns.
    let key_id = registry.ctl_json(&["keys", "list", "--user", "alice"])?[0]["id"]
        .as_str()
        .context("no key id")?
        .to_owned();
    registry.ctl(&["keys", "disable", &key_id])?.ok()?;
    let revoked = Instant::now();
    for (name, gateway) in [("A", &a), ("B", &b)] {
        eventually(
            KEY_CACHE + MARGIN,
            &format!("gateway {name} refuses the disabled key"),
            || status_of(gateway, &alice).is_ok_and(|s| s == 401),
        )?;
    }
    let took = revoked.elapsed();
    ensure!(took < KEY_CACHE + MARGIN, "refused by both after {took:?}");
    // Refused for good: the refusal does not depend on a cache entry expiring again.
    for gateway in [&a, &b] {
        ensure!(status_of(gateway, &alice)? == 401);
    }

    // A refusal is not cached: Bob disabled is refused everywhere within the bound, and let in
    // everywhere at once when enabled again.
    registry.ctl(&["users", "disable", "bob"])?.ok()?;
    for (name, gateway) in [("A", &a), ("B", &b)] {
        eventually(
            KEY_CACHE + MARGIN,
            &format!("gateway {name} refuses the disabled user's key"),
            || status_of(gateway, &bob).is_ok_and(|s| s == 401),
        )?;
    }
    registry.ctl(&["users", "enable", "bob"])?.ok()?;
    for gateway in [&a, &b] {
        ensure!(status_of(gateway, &bob)? == 200, "a refusal was remembered");
    }
    Ok(())
}
