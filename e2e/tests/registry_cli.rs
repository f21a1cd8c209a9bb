//! End to end: the real `execenv-environment-registry` binary (on SQLite, then on PostgreSQL)
//! driven by the real `execenvctl` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Result, ensure};
use execenv_core::validate::{EnvironmentDraft, validate_new};
use execenv_core::{Actor, ChangeSource, ManagedBy};
use execenv_e2e::{RegistryProcess, fresh_postgres_database, http_get};
use serde_json::Value;

#[test]
fn registry_and_execenvctl_on_sqlite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    scenario(&url, dir.path())
}

#[test]
fn registry_and_execenvctl_on_postgres() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = fresh_postgres_database()?;
    scenario(&url, dir.path())
}

fn guid(v: &Value) -> String {
    v["guid"].as_str().expect("guid").to_owned()
}

fn titles(list: &Value) -> Vec<String> {
    list["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn scenario(database_url: &str, dir: &std::path::Path) -> Result<()> {
    let registry = RegistryProcess::start(database_url, dir, &[])?;
    let ctl = |args: &[&str]| registry.ctl(args);

    // Create three environments.
    let py39 = ctl(&[
        "env",
        "create",
        "ghcr.io/acme/py:3.9",
        "--title",
        "Legacy Python",
        "-o",
        "json",
        "--python",
        "3.9.18=/opt/python/3.9.18/bin/python3",
    ])?
    .ok()?
    .json()?;
    let py311 = ctl(&[
        "env",
        "create",
        "ghcr.io/acme/py:3.11",
        "--title",
        "Python and R",
        "-o",
        "json",
        "--python",
        "3.11.9=/opt/python/3.11.9/bin/python3",
        "--r",
        "4.4.1=/opt/R/4.4.1/bin/R",
        "--mount",
        "type=nfs,host=nfs.example.com,export=/exports/data,target=/data,readonly",
    ])?
    .ok()?
    .json()?;
    let quarto = ctl(&[
        "env",
        "create",
        "ghcr.io/acme/quarto:1.4",
        "--title",
        "Quarto only",
        "--matching",
        "exact",
        "-o",
        "json",
        "--quarto",
        "1.4.557=/opt/quarto/1.4.557/bin/quarto",
        "--supervisor",
        "/opt/supervisor/run.sh",
    ])?
    .ok()?
    .json()?;
    ensure!(
        py311["volume_mounts"][0]["read_only"] == true,
        "mount recorded: {py311}"
    );
    ensure!(quarto["matching"] == "exact");

    // The table lists all three, aligned.
    let table = ctl(&["env", "list"])?.ok()?;
    let lines: Vec<&str> = table.stdout.lines().collect();
    ensure!(lines.len() == 4, "header + 3 rows: {}", table.stdout);
    let col = lines[0].find("IMAGE").expect("IMAGE column");
    ensure!(
        lines[1..]
            .iter()
            .all(|l| l[col..].starts_with("ghcr.io/acme/")),
        "aligned: {}",
        table.stdout
    );

    // Search (a version, a title word, a supervisor path), filters and sorts.
    let found = ctl(&["env", "list", "--search", "3.11.9", "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(
        titles(&found) == ["Python and R"],
        "search by version: {found}"
    );
    let found = ctl(&["env", "list", "--search", "legacy", "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(titles(&found) == ["Legacy Python"]);
    let found = ctl(&["env", "list", "--search", "supervisor/run", "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(titles(&found) == ["Quarto only"]);
    let found = ctl(&[
        "env",
        "list",
        "--language",
        "python",
        "--sort",
        "python",
        "--desc",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(
        titles(&found) == ["Python and R", "Legacy Python"],
        "python versions sort numerically: {found}"
    );
    let found = ctl(&["env", "list", "--sort", "title", "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(titles(&found) == ["Legacy Python", "Python and R", "Quarto only"]);
    let found = ctl(&["env", "list", "--matching", "exact", "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(titles(&found) == ["Quarto only"]);
    let page = ctl(&[
        "env",
        "list",
        "--sort",
        "name",
        "--page-size",
        "2",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(page["total_count"] == 3 && titles(&page).len() == 2);
    let token = page["next_page_token"].as_str().expect("token").to_owned();
    let rest = ctl(&[
        "env",
        "list",
        "--sort",
        "name",
        "--page-size",
        "2",
        "--page-token",
        &token,
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(titles(&rest) == ["Quarto only"], "second page: {rest}");

    // Update: only the given field changes.
    let id = guid(&py39);
    let updated = ctl(&[
        "env",
        "update",
        &id,
        "--title",
        "Python 3.9 (legacy)",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(updated["title"] == "Python 3.9 (legacy)");
    ensure!(updated["python"] == py39["python"], "python untouched");
    ensure!(updated["revision"].as_i64() > py39["revision"].as_i64());

    // Permissions.
    let added = ctl(&[
        "env",
        "permissions",
        "add",
        &id,
        "--group",
        "data-science",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    let listed = ctl(&["env", "permissions", "list", &id, "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(listed.as_array().map(Vec::len) == Some(1), "{listed}");
    let alice = ctl(&[
        "--as-user",
        "alice",
        "--as-groups",
        "data-science",
        "--as-role",
        "publisher",
        "env",
        "list",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(
        alice["total_count"] == 3,
        "alice's group is granted: {alice}"
    );
    let bob = ctl(&[
        "--as-user",
        "bob",
        "--as-role",
        "publisher",
        "env",
        "list",
        "-o",
        "json",
    ])?
    .ok()?
    .json()?;
    ensure!(
        bob["total_count"] == 2,
        "bob does not see the restricted environment: {bob}"
    );
    let denied = ctl(&[
        "--as-user",
        "bob",
        "--as-role",
        "publisher",
        "env",
        "delete",
        &id,
    ])?;
    ensure!(
        denied.code == 1 && denied.stderr.contains("administrator"),
        "{denied:?}"
    );
    let perm = added["guid"].as_str().expect("permission guid").to_owned();
    ctl(&["env", "permissions", "remove", &id, &perm])?.ok()?;
    let dup = ctl(&["env", "permissions", "add", &id, "--user", "carol"])?.ok()?;
    ensure!(dup.code == 0);
    let again = ctl(&["env", "permissions", "add", &id, "--user", "carol"])?;
    ensure!(
        again.code != 0 && again.stderr.contains("carol"),
        "duplicate refused: {again:?}"
    );

    // Invalid input: every violation, exit code 2, nothing stored.
    let before = ctl(&["changes", "--all", "-o", "json"])?.ok()?.json()?;
    let bad = ctl(&[
        "env",
        "create",
        "Bad Image",
        "--python",
        "3.11=python3",
        "--supervisor",
        "sup.sh",
    ])?;
    ensure!(bad.code == 2, "invalid input exits 2: {bad:?}");
    for field in [
        "name",
        "supervisor",
        "python.installations[0].version",
        "python.installations[0].path",
    ] {
        ensure!(
            bad.stderr.contains(&format!("  - {field}: ")),
            "violation {field} listed: {}",
            bad.stderr
        );
    }
    let after = ctl(&["changes", "--all", "-o", "json"])?.ok()?.json()?;
    ensure!(before == after, "invalid input changed nothing");
    let listed = ctl(&["env", "list", "-o", "json"])?.ok()?.json()?;
    ensure!(listed["total_count"] == 3);

    // A file-managed environment (written by config-sync through the store) refuses update and
    // delete through the API, but its permissions can change.
    let managed = tokio::runtime::Runtime::new()?.block_on(async {
        let store = execenv_store::open(database_url).await?;
        let (_, spec) = validate_new(&EnvironmentDraft {
            name: Some("ghcr.io/acme/managed:1".into()),
            ..Default::default()
        })?;
        let env = store
            .create_environment(
                uuid::Uuid::new_v4(),
                &spec,
                Some(ManagedBy::ConfigFile),
                &Actor {
                    name: "config-sync".into(),
                    source: ChangeSource::ConfigFile,
                },
            )
            .await?;
        anyhow::Ok(env.guid.to_string())
    })?;
    let refused = ctl(&["env", "update", &managed, "--title", "x"])?;
    ensure!(
        refused.code == 1 && refused.stderr.contains("managed by the configuration file"),
        "{refused:?}"
    );
    let refused = ctl(&["env", "delete", &managed])?;
    ensure!(
        refused.code == 1 && refused.stderr.contains("managed by the configuration file"),
        "{refused:?}"
    );
    ctl(&["env", "permissions", "add", &managed, "--user", "alice"])?.ok()?;

    // Delete, then the audit trail tells the story.
    let gone = guid(&quarto);
    ctl(&["env", "delete", &gone])?.ok()?;
    let missing = ctl(&["env", "get", &gone])?;
    ensure!(
        missing.code == 1 && missing.stderr.contains("does not exist"),
        "{missing:?}"
    );
    let trail = ctl(&["changes", "--environment", &id, "-o", "json"])?
        .ok()?
        .json()?;
    let actions: Vec<&str> = trail
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["action"].as_str().unwrap_or(""))
        .collect();
    ensure!(
        actions
            == [
                "create",
                "update",
                "permission-add",
                "permission-remove",
                "permission-add"
            ],
        "audit trail of {id}: {actions:?}"
    );
    ensure!(
        trail[1]["before"]["title"] == "Legacy Python"
            && trail[1]["after"]["title"] == "Python 3.9 (legacy)"
    );
    ensure!(trail[0]["actor"] == "service" && trail[0]["source"] == "api");
    let deleted = ctl(&["changes", "--environment", &gone, "-o", "json"])?
        .ok()?
        .json()?;
    ensure!(deleted[1]["action"] == "delete" && deleted[1]["after"].is_null());

    // The admin port exposes the gRPC request metrics of the calls above.
    let (status, metrics) = http_get(&registry.admin, "/metrics")?;
    ensure!(status == 200);
    ensure!(
        metrics.contains(r#"grpc_server_handled_total{grpc_service="execenv.registry.v1.Registry",grpc_method="CreateEnvironment",grpc_code="OK"}"#),
        "metrics: {metrics}"
    );
    ensure!(metrics.contains(r#"grpc_code="InvalidArgument""#));
    ensure!(metrics.contains("grpc_server_handling_seconds_bucket"));

    // SIGTERM stops it cleanly.
    let mut registry = registry;
    let code = registry.process.terminate()?;
    ensure!(
        code == Some(0),
        "graceful exit, got {code:?}; log:\n{}",
        registry.process.output()
    );
    Ok(())
}
