//! End to end with Posit's own clients, unchanged: pinned `posit-sdk` and `rsconnect-python`
//! (installed under target/ on first use) against the real gateway and registry, checked
//! through the registry as well.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};
use execenv_e2e::declarative::file_managed;
use execenv_e2e::gateway::{self, user_key};
use execenv_e2e::{ServiceProcess, connect_clients};
use serde_json::Value;

/// Runs a program of the clients' venv with CONNECT_SERVER and CONNECT_API_KEY set.
fn client(program: &str, gateway: &ServiceProcess, key: &str, args: &[&str]) -> Result<Output> {
    let venv = connect_clients::venv()?;
    Ok(Command::new(venv.join("bin").join(program))
        .args(args)
        .env("CONNECT_SERVER", &gateway.url)
        .env("CONNECT_API_KEY", key)
        .output()?)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// posit-sdk's own integration test for environments, as a script.
const SDK_LIFECYCLE: &str = r#"
from posit import connect
client = connect.Client()
assert client.me["user_role"] == "administrator", client.me
env = client.environments.create(title="title", name="name", cluster_name="Kubernetes")
assert client.environments.find(env["guid"]) == env
assert client.environments.find_by(name="name") == env
env.update(title="new-title")
assert env["title"] == "new-title", env
env.destroy()
assert len(client.environments) == 0
print("sdk ok")
"#;

/// A viewer's key: posit-sdk raises ClientError with Connect's code and message.
const SDK_VIEWER: &str = r#"
from posit import connect
from posit.connect.errors import ClientError
client = connect.Client()
try:
    len(client.environments)
except ClientError as e:
    assert e.error_code == 22 and e.http_status == 403, (e.error_code, e.http_status)
    print("refused:", e.error_message)
else:
    raise SystemExit("a viewer listed environments")
"#;

#[test]
fn posit_sdk_runs_its_environment_lifecycle_against_the_gateway() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (registry, gateway) = gateway::start(dir.path())?;
    let admin = user_key(&registry, "ada", "administrator")?;
    let out = client("python", &gateway, &admin, &["-c", SDK_LIFECYCLE])?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sdk ok"),
        "{}",
        text(&out)
    );
    let listed = registry.ctl_json(&["env", "list"])?;
    ensure!(
        listed.as_array().is_some_and(Vec::is_empty)
            || listed["environments"] == Value::Array(vec![]),
        "the registry still lists: {listed}"
    );

    let viewer = user_key(&registry, "val", "viewer")?;
    let out = client("python", &gateway, &viewer, &["-c", SDK_VIEWER])?;
    ensure!(out.status.success(), "{}", text(&out));
    Ok(())
}

#[test]
fn rsconnect_manages_environments_and_permissions_through_the_gateway() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (registry, gateway) = gateway::start(dir.path())?;
    let admin = user_key(&registry, "ada", "administrator")?;
    user_key(&registry, "pat", "publisher")?;
    let pat = registry.ctl_json(&["users", "get", "pat"])?;
    let pat = pat["guid"].as_str().context("no guid")?.to_owned();
    let staff = registry.ctl_json(&["groups", "create", "staff"])?;
    let staff = staff["guid"].as_str().context("no guid")?.to_owned();
    let rsconnect = |args: &[&str]| -> Result<String> {
        let out = client("rsconnect", &gateway, &admin, args)?;
        ensure!(out.status.success(), "rsconnect {args:?}: {}", text(&out));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let from_registry = |guid: &str| -> Result<Value> { registry.ctl_json(&["env", "get", guid]) };

    let added = rsconnect(&[
        "environment",
        "add",
        "ghcr.io/acme/py:3.11",
        "--title",
        "Py 3.11",
        "--python",
        "3.11.9=/opt/python/3.11.9/bin/python3",
        "--mount",
        "type=pvc,pvc_name=cache,target=/data,readonly",
    ])?;
    let added: Value = serde_json::from_str(&added).with_context(|| added.clone())?;
    let guid = added["guid"].as_str().context("no guid")?.to_owned();
    let stored = from_registry(&guid)?;
    ensure!(stored["title"] == "Py 3.11", "{stored}");
    let stored_text = stored.to_string();
    ensure!(
        stored_text.contains("/opt/python/3.11.9/bin/python3") && stored_text.contains("cache"),
        "{stored}"
    );

    let listed = rsconnect(&["environment", "list"])?;
    ensure!(listed.contains(&format!("{guid}  Py 3.11")), "{listed}");
    let shown = rsconnect(&["environment", "show", &guid])?;
    ensure!(shown.contains("\"pvc_name\": \"cache\""), "{shown}");

    rsconnect(&[
        "environment",
        "edit",
        &guid,
        "--title",
        "Py exact",
        "--matching",
        "exact",
        "--allow-user",
        &pat,
        "--allow-group",
        &staff,
    ])?;
    let stored = from_registry(&guid)?;
    ensure!(
        stored["title"] == "Py exact" && stored["matching"] == "exact",
        "{stored}"
    );
    let stored_text = stored.to_string();
    ensure!(
        stored_text.contains(&pat) && stored_text.contains(&staff),
        "permissions not stored: {stored}"
    );
    ensure!(
        stored_text.contains("cache"),
        "edit lost the mount: {stored}"
    );

    rsconnect(&["environment", "edit", &guid, "--clear-permissions"])?;
    let stored = from_registry(&guid)?.to_string();
    ensure!(
        !stored.contains(&pat) && !stored.contains(&staff),
        "permissions left: {stored}"
    );

    rsconnect(&["environment", "remove", &guid])?;
    ensure!(
        registry.ctl(&["env", "get", &guid])?.code != 0,
        "still stored"
    );
    let listed = rsconnect(&["environment", "list"])?;
    ensure!(listed.contains("No environments found"), "{listed}");
    Ok(())
}

/// posit-sdk against a file-managed environment, whose guid is argv[1]: update and destroy
/// raise ClientError 409 with code 265 and the registry's message.
const SDK_MANAGED: &str = r#"
import sys
from posit import connect
from posit.connect.errors import ClientError
client = connect.Client()
env = client.environments.find(sys.argv[1])
for attempt in (lambda: env.update(title="x"), env.destroy):
    try:
        attempt()
    except ClientError as e:
        assert (e.http_status, e.error_code) == (409, 265), (e.http_status, e.error_code)
        assert "configuration file" in e.error_message, e.error_message
    else:
        raise SystemExit("a file-managed environment was changed")
print("managed ok")
"#;

/// posit-sdk with a publisher's key: sees the environment (no permissions yet = every
/// publisher), may not create one.
const SDK_PUBLISHER: &str = r#"
from posit import connect
from posit.connect.errors import ClientError
client = connect.Client()
assert len(client.environments) == 1
try:
    client.environments.create(title="t", name="img", cluster_name="Kubernetes")
except ClientError as e:
    assert (e.http_status, e.error_code) == (403, 22), (e.http_status, e.error_code)
else:
    raise SystemExit("a publisher created an environment")
print("publisher ok")
"#;

#[test]
fn a_file_managed_environment_is_refused_with_a_message_both_clients_show() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (registry, gateway) = gateway::start(dir.path())?;
    let admin = user_key(&registry, "ada", "administrator")?;
    let publisher = user_key(&registry, "pat", "publisher")?;
    let (_sync, managed) = file_managed(&registry, dir.path(), &["ghcr.io/acme/managed:1"])?;
    let guid = managed[0].clone();

    let out = client("python", &gateway, &admin, &["-c", SDK_MANAGED, &guid])?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("managed ok"),
        "{}",
        text(&out)
    );
    let out = client("python", &gateway, &publisher, &["-c", SDK_PUBLISHER])?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("publisher ok"),
        "{}",
        text(&out)
    );

    for args in [
        vec!["environment", "edit", &guid, "--title", "x"],
        vec!["environment", "remove", &guid],
    ] {
        let out = client("rsconnect", &gateway, &admin, &args)?;
        let all = text(&out);
        ensure!(!out.status.success(), "rsconnect {args:?} succeeded: {all}");
        ensure!(
            all.contains("managed by the configuration file"),
            "rsconnect {args:?} did not print the reason: {all}"
        );
    }
    let stored = registry.ctl_json(&["env", "get", &guid])?;
    ensure!(stored["title"].is_null(), "changed: {stored}");
    Ok(())
}
