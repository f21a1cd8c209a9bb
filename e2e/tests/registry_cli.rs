//! End to end: the real `execenv-environment-registry` binary (on SQLite, then on PostgreSQL)
//! driven by the real `execenvctl` binary, with the real `execenv-config-sync` owning one
//! environment through a declarative file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Result, ensure};
use execenv_e2e::declarative::file_managed;
use execenv_e2e::{Backend, RegistryProcess, http_get};
use serde_json::Value;

#[test]
fn registry_and_execenvctl_on_sqlite() -> Result<()> {
    scenario(Backend::Sqlite)
}

#[test]
fn registry_and_execenvctl_on_postgres() -> Result<()> {
    scenario(Backend::Postgres)
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

/// How many environments `env list` counts for publisher `user`, in `group` if one is given.
fn visible_to(registry: &RegistryProcess, user: &str, group: Option<&str>) -> Result<Value> {
    let mut args = vec!["--as-user", user, "--as-role", "publisher"];
    if let Some(group) = group {
        args.extend(["--as-groups", group]);
    }
    args.extend(["env", "list"]);
    Ok(registry.ctl_json(&args)?["total_count"].clone())
}

fn scenario(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let registry = RegistryProcess::start(&backend.fresh_database(dir)?, dir, &[])?;
    let ctl = |args: &[&str]| registry.ctl(args);
    let json = |args: &[&str]| registry.ctl_json(args);

    // Create three environments.
    let py39 = registry.create_environment(
        "ghcr.io/acme/py:3.9",
        &[
            "--title",
            "Legacy Python",
            "--python",
            "3.9.18=/opt/python/3.9.18/bin/python3",
        ],
    )?;
    let py311 = registry.create_environment(
        "ghcr.io/acme/py:3.11",
        &[
            "--title",
            "Python and R",
            "--python",
            "3.11.9=/opt/python/3.11.9/bin/python3",
            "--r",
            "4.4.1=/opt/R/4.4.1/bin/R",
            "--mount",
            "type=nfs,nfs_host=nfs.example.com,nfs_export_path=/exports/data,target=/data,readonly",
        ],
    )?;
    let quarto = registry.create_environment(
        "ghcr.io/acme/quarto:1.4",
        &[
            "--title",
            "Quarto only",
            "--matching",
            "exact",
            "--quarto",
            "1.4.557=/opt/quarto/1.4.557/bin/quarto",
            "--supervisor",
            "/opt/supervisor/run.sh",
        ],
    )?;
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
    let found = json(&["env", "list", "--search", "3.11.9"])?;
    ensure!(
        titles(&found) == ["Python and R"],
        "search by version: {found}"
    );
    let found = json(&["env", "list", "--search", "legacy"])?;
    ensure!(titles(&found) == ["Legacy Python"]);
    let found = json(&["env", "list", "--search", "supervisor/run"])?;
    ensure!(titles(&found) == ["Quarto only"]);
    let found = json(&[
        "env",
        "list",
        "--language",
        "python",
        "--sort",
        "python",
        "--desc",
    ])?;
    ensure!(
        titles(&found) == ["Python and R", "Legacy Python"],
        "python versions sort numerically: {found}"
    );
    let found = json(&["env", "list", "--sort", "title"])?;
    ensure!(titles(&found) == ["Legacy Python", "Python and R", "Quarto only"]);
    let found = json(&["env", "list", "--matching", "exact"])?;
    ensure!(titles(&found) == ["Quarto only"]);
    let page = json(&["env", "list", "--sort", "name", "--page-size", "2"])?;
    ensure!(page["total_count"] == 3 && titles(&page).len() == 2);
    let token = page["next_page_token"].as_str().expect("token").to_owned();
    let rest = json(&[
        "env",
        "list",
        "--sort",
        "name",
        "--page-size",
        "2",
        "--page-token",
        &token,
    ])?;
    ensure!(titles(&rest) == ["Quarto only"], "second page: {rest}");

    // Update: only the given field changes.
    let id = guid(&py39);
    let updated = json(&["env", "update", &id, "--title", "Python 3.9 (legacy)"])?;
    ensure!(updated["title"] == "Python 3.9 (legacy)");
    ensure!(updated["python"] == py39["python"], "python untouched");
    ensure!(updated["revision"].as_i64() > py39["revision"].as_i64());

    // Permissions, for people and groups the registry knows.
    let mut people = Vec::new();
    for user in ["alice", "bob", "carol"] {
        people.push(json(&["users", "create", user, "--role", "publisher"])?);
    }
    let carol = guid(&people[2]);
    ctl(&["groups", "create", "data-science"])?.ok()?;
    ctl(&["groups", "add-member", "data-science", "alice"])?.ok()?;
    let added = json(&["env", "permissions", "add", &id, "--group", "data-science"])?;
    let listed = json(&["env", "permissions", "list", &id])?;
    ensure!(listed.as_array().map(Vec::len) == Some(1), "{listed}");
    let alice = visible_to(&registry, "alice", Some("data-science"))?;
    ensure!(alice == 3, "alice's group is granted: {alice}");
    let bob = visible_to(&registry, "bob", None)?;
    ensure!(
        bob == 2,
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
        again.code != 0 && again.stderr.contains(&carol),
        "duplicate refused: {again:?}"
    );

    // Invalid input: every violation, exit code 2, nothing stored.
    let before = json(&["changes", "--all"])?;
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
    let after = json(&["changes", "--all"])?;
    ensure!(before == after, "invalid input changed nothing");
    let listed = json(&["env", "list"])?;
    ensure!(listed["total_count"] == 3);

    // An environment owned by the declarative file (config-sync applied it) refuses update and
    // delete through the API, but its permissions can change.
    let (sync, managed) = file_managed(&registry, dir, &["ghcr.io/acme/managed:1"])?;
    let managed = &managed[0];
    let refused = ctl(&["env", "update", managed, "--title", "x"])?;
    ensure!(
        refused.code == 1 && refused.stderr.contains("managed by the configuration file"),
        "{refused:?}"
    );
    let refused = ctl(&["env", "delete", managed])?;
    ensure!(
        refused.code == 1 && refused.stderr.contains("managed by the configuration file"),
        "{refused:?}"
    );
    ctl(&["env", "permissions", "add", managed, "--user", "alice"])?.ok()?;
    drop(sync);

    // Delete, then the audit trail tells the story.
    let gone = guid(&quarto);
    ctl(&["env", "delete", &gone])?.ok()?;
    let missing = ctl(&["env", "get", &gone])?;
    ensure!(
        missing.code == 1 && missing.stderr.contains("does not exist"),
        "{missing:?}"
    );
    let trail = json(&["changes", "--environment", &id])?;
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
    let deleted = json(&["changes", "--environment", &gone])?;
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
