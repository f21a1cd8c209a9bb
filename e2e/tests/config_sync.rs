//! The declarative file's rules (the file is the truth for what it manages; an invalid file changes
//! nothing), each through the real binaries —
//! `execenv-environment-registry`, `execenv-config-sync` and `execenvctl` — on SQLite and on
//! PostgreSQL. Test names read `sqlite::rule_06_…` and `postgres::rule_06_…`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, ensure};
use execenv_e2e::{Backend, CtlOutput, RegistryProcess, ServiceProcess, eventually, http_get};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// One registry on a fresh database, and a folder for the file and the logs.
struct Bed {
    dir: tempfile::TempDir,
    registry: RegistryProcess,
}

impl Bed {
    fn new(backend: Backend) -> Result<Bed> {
        let dir = tempfile::tempdir()?;
        let db_url = backend.fresh_database(dir.path())?;
        let registry = RegistryProcess::start(&db_url, dir.path(), &[])?;
        Ok(Bed { dir, registry })
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("environments.yaml")
    }

    fn write(&self, yaml: &str) -> Result<()> {
        write_in_place(&self.file(), yaml)
    }

    /// config-sync's settings for the bed's file.
    fn on_file(&self) -> [(&'static str, String); 1] {
        [("EXECENV_SYNC__FILE", self.file().display().to_string())]
    }

    /// config-sync on the file, once its startup sync is done.
    fn sync(&self) -> Result<ServiceProcess> {
        ServiceProcess::config_sync(&self.registry, self.dir.path(), &self.on_file())
    }

    /// config-sync on the file, not waited for (its start is meant to fail).
    fn spawn_sync(&self) -> Result<ServiceProcess> {
        ServiceProcess::spawn_config_sync(&self.registry, self.dir.path(), &self.on_file())
    }

    /// config-sync on a file defining `image` titled `title`; returns it and that environment's
    /// guid.
    fn sync_one(&self, image: &str, title: &str) -> Result<(ServiceProcess, String)> {
        self.write(&def(image, title))?;
        let sync = self.sync()?;
        let guid = self.managed()?[0]["guid"].as_str().unwrap().to_owned();
        Ok((sync, guid))
    }

    fn ctl(&self, args: &[&str]) -> Result<CtlOutput> {
        self.registry.ctl(args)
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        self.registry.ctl_json(args)
    }

    /// Every environment, oldest first.
    fn environments(&self) -> Result<Vec<Value>> {
        let list = self.json(&["env", "list", "--all"])?;
        Ok(list["environments"].as_array().cloned().unwrap_or_default())
    }

    fn managed(&self) -> Result<Vec<Value>> {
        Ok(self
            .environments()?
            .into_iter()
            .filter(|e| e["managed_by"] == "config-file")
            .collect())
    }

    fn changes(&self) -> Result<Value> {
        self.json(&["changes", "--all"])
    }

    /// Creates an environment through the API (unmanaged); returns it.
    fn create(&self, image: &str, title: &str) -> Result<Value> {
        self.registry.create_environment(image, &["--title", title])
    }

    fn wait_for(&self, what: &str, mut check: impl FnMut(&Bed) -> Result<bool>) -> Result<()> {
        eventually(WAIT, what, || check(self).unwrap_or(false))
    }

    fn status(&self, sync: &ServiceProcess) -> Result<Value> {
        self.json(&["--config-sync", &sync.url, "sync", "status"])
    }
}

fn write_in_place(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

fn titles(envs: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = envs
        .iter()
        .map(|e| e["title"].as_str().unwrap_or("").to_owned())
        .collect();
    t.sort();
    t
}

fn def(image: &str, title: &str) -> String {
    format!(
        "- name: {image}\n  title: {title}\n  python:\n    installations:\n      - {{version: 3.11.9, path: /opt/python/3.11.9/bin/python3}}\n"
    )
}

fn def_guid(guid: &str, image: &str, title: &str) -> String {
    format!("- guid: {guid}\n  name: {image}\n  title: {title}\n")
}

fn rule_01_startup_fails_when_the_file_is_missing_or_invalid(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let mut missing = bed.spawn_sync()?;
    let code = missing.wait_exit(WAIT)?;
    ensure!(
        code.is_some_and(|c| c != 0),
        "missing file exits non-zero: {code:?}"
    );
    ensure!(
        missing.process.output().contains("environments.yaml"),
        "names the file: {}",
        missing.process.output()
    );

    bed.write("- name: ghcr.io/acme/a:1\n  python:\n    installations:\n      - {version: '3.11', path: python3}\n")?;
    let mut invalid = bed.spawn_sync()?;
    let code = invalid.wait_exit(WAIT)?;
    ensure!(
        code.is_some_and(|c| c != 0),
        "invalid file exits non-zero: {code:?}"
    );
    let out = invalid.process.output();
    for field in [
        "executionEnvironments[0].python.installations[0].version",
        "executionEnvironments[0].python.installations[0].path",
    ] {
        ensure!(out.contains(field), "every problem listed ({field}): {out}");
    }
    ensure!(bed.environments()?.is_empty(), "nothing stored");
    Ok(())
}

fn rule_02_edits_renames_and_configmap_swaps_are_applied_without_restart(
    backend: Backend,
) -> Result<()> {
    let bed = Bed::new(backend)?;
    bed.write(&def("ghcr.io/acme/a:1", "one"))?;
    let _sync = bed.sync()?;
    ensure!(titles(&bed.managed()?) == ["one"]);
    // Edited in place.
    bed.write(&def("ghcr.io/acme/a:1", "two"))?;
    bed.wait_for(
        "the in-place edit",
        |b| Ok(titles(&b.managed()?) == ["two"]),
    )?;
    // Replaced by rename.
    let tmp = bed.dir.path().join(".environments.yaml.tmp");
    write_in_place(&tmp, &def("ghcr.io/acme/a:1", "three"))?;
    std::fs::rename(&tmp, bed.file())?;
    bed.wait_for("the renamed file", |b| {
        Ok(titles(&b.managed()?) == ["three"])
    })?;

    // A Kubernetes ConfigMap mount: environments.yaml -> ..data/environments.yaml, ..data -> ..<ts>.
    let mount = bed.dir.path().join("configmap");
    std::fs::create_dir_all(mount.join("..2026_11_28_01"))?;
    write_in_place(
        &mount.join("..2026_11_28_01/environments.yaml"),
        &def("ghcr.io/acme/a:1", "four"),
    )?;
    std::os::unix::fs::symlink("..2026_11_28_01", mount.join("..data"))?;
    std::os::unix::fs::symlink("..data/environments.yaml", mount.join("environments.yaml"))?;
    let _mounted = ServiceProcess::config_sync(
        &bed.registry,
        bed.dir.path(),
        &[(
            "EXECENV_SYNC__FILE",
            mount.join("environments.yaml").display().to_string(),
        )],
    )?;
    bed.wait_for("the ConfigMap's first content", |b| {
        Ok(titles(&b.managed()?) == ["four"])
    })?;
    std::fs::create_dir_all(mount.join("..2026_11_28_02"))?;
    write_in_place(
        &mount.join("..2026_11_28_02/environments.yaml"),
        &def("ghcr.io/acme/a:1", "five"),
    )?;
    std::os::unix::fs::symlink("..2026_11_28_02", mount.join("..data_tmp"))?;
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data"))?;
    std::fs::remove_dir_all(mount.join("..2026_11_28_01"))?;
    bed.wait_for("the ConfigMap's ..data swap", |b| {
        Ok(titles(&b.managed()?) == ["five"])
    })?;
    Ok(())
}

fn rule_03_a_failed_runtime_sync_changes_nothing_and_is_retried(backend: Backend) -> Result<()> {
    let mut bed = Bed::new(backend)?;
    bed.write(&def("ghcr.io/acme/a:1", "good"))?;
    let sync = bed.sync()?;
    let before = bed.changes()?;
    // An invalid definition.
    bed.write(
        &(def("ghcr.io/acme/a:1", "bad") + "- name: ghcr.io/acme/b:1\n  supervisor: relative.sh\n"),
    )?;
    bed.wait_for("the failed sync in status", |b| {
        Ok(b.status(&sync)?["outcome"] == "failed")
    })?;
    let status = bed.status(&sync)?;
    ensure!(
        status
            .to_string()
            .contains("executionEnvironments[1].supervisor"),
        "status names the problem: {status}"
    );
    ensure!(bed.changes()? == before, "nothing changed");
    let (_, metrics) = http_get(&sync.admin, "/metrics")?;
    ensure!(
        metrics.contains(r#"execenv_config_sync_syncs_total{outcome="failed"}"#),
        "counted: {metrics}"
    );
    // The registry unavailable: the sync fails and is retried once it is back.
    bed.registry.process.terminate()?;
    bed.write(&def("ghcr.io/acme/a:1", "after outage"))?;
    bed.wait_for("a failed sync while the registry is down", |b| {
        Ok(b.status(&sync)?["error"]
            .as_str()
            .is_some_and(|e| e.contains("registry") || e.contains("connect")))
    })?;
    bed.registry.restart()?;
    bed.wait_for("the retried sync", |b| {
        Ok(titles(&b.managed()?) == ["after outage"])
    })?;
    Ok(())
}

fn rule_04_one_failing_definition_fails_the_whole_sync(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    bed.create("ghcr.io/acme/twin:1", "twin one")?;
    bed.create("ghcr.io/acme/twin:1", "twin two")?;
    bed.write(&def("ghcr.io/acme/a:1", "a"))?;
    let sync = bed.sync()?;
    let before = bed.changes()?;
    // Valid changes plus one definition that cannot be matched (two unmanaged twins).
    bed.write(
        &(def("ghcr.io/acme/a:1", "a changed")
            + &def("ghcr.io/acme/new:1", "new")
            + &def("ghcr.io/acme/twin:1", "which twin?")),
    )?;
    bed.wait_for("the failed sync", |b| {
        Ok(b.status(&sync)?["outcome"] == "failed")
    })?;
    ensure!(bed.changes()? == before, "no part of the sync was applied");
    ensure!(titles(&bed.managed()?) == ["a"]);
    Ok(())
}

fn rule_05_a_removed_file_removes_every_managed_environment(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    bed.create("ghcr.io/acme/mine:1", "made by hand")?;
    bed.write(&(def("ghcr.io/acme/a:1", "a") + &def("ghcr.io/acme/b:1", "b")))?;
    let _sync = bed.sync()?;
    ensure!(bed.managed()?.len() == 2);
    std::fs::remove_file(bed.file())?;
    bed.wait_for("the managed environments to go", |b| {
        Ok(b.managed()?.is_empty())
    })?;
    ensure!(
        titles(&bed.environments()?) == ["made by hand"],
        "unmanaged ones stay"
    );
    Ok(())
}

fn rule_06_a_guid_definition_matches_only_that_guid(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let by_hand = bed.create("ghcr.io/acme/x:1", "by hand")?;
    let fresh = uuid::Uuid::new_v4().to_string();
    bed.write(&def_guid(&fresh, "ghcr.io/acme/x:1", "from file"))?;
    let _sync = bed.sync()?;
    let envs = bed.environments()?;
    ensure!(
        envs.len() == 2,
        "no fallback to the name: a new environment was created"
    );
    ensure!(
        envs.iter()
            .any(|e| e["guid"] == fresh.as_str() && e["managed_by"] == "config-file")
    );
    ensure!(
        envs.iter()
            .any(|e| e["guid"] == by_hand["guid"] && e["managed_by"].is_null())
    );
    // Naming the hand-made one's guid adopts it.
    let guid = by_hand["guid"].as_str().unwrap();
    bed.write(
        &(def_guid(&fresh, "ghcr.io/acme/x:1", "from file")
            + &def_guid(guid, "ghcr.io/acme/x:1", "adopted")),
    )?;
    bed.wait_for("adoption by guid", |b| Ok(b.managed()?.len() == 2))?;
    Ok(())
}

fn rule_07_a_guidless_definition_matches_managed_then_unmanaged_then_creates(
    backend: Backend,
) -> Result<()> {
    let bed = Bed::new(backend)?;
    let unmanaged = bed.create("ghcr.io/acme/y:1", "by hand")?;
    bed.write(&(def("ghcr.io/acme/y:1", "adopted by name") + &def("ghcr.io/acme/z:1", "created")))?;
    let _sync = bed.sync()?;
    let managed = bed.managed()?;
    ensure!(
        managed
            .iter()
            .any(|e| e["guid"] == unmanaged["guid"] && e["title"] == "adopted by name"),
        "{managed:?}"
    );
    let created = managed
        .iter()
        .find(|e| e["title"] == "created")
        .expect("created")
        .clone();
    // Later syncs match the managed ones by name.
    bed.write(
        &(def("ghcr.io/acme/y:1", "adopted, renamed")
            + &def("ghcr.io/acme/z:1", "created, renamed")),
    )?;
    bed.wait_for("updates by name", |b| {
        Ok(titles(&b.managed()?) == ["adopted, renamed", "created, renamed"])
    })?;
    ensure!(
        bed.managed()?.iter().any(|e| e["guid"] == created["guid"]),
        "same environment, updated"
    );
    ensure!(bed.environments()?.len() == 2);
    Ok(())
}

fn rule_08_adoption_keeps_guid_permissions_and_creation_time(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let env = bed.create("ghcr.io/acme/p:1", "by hand")?;
    let guid = env["guid"].as_str().unwrap();
    bed.ctl(&["groups", "create", "data-science"])?.ok()?;
    bed.ctl(&["env", "permissions", "add", guid, "--group", "data-science"])?
        .ok()?;
    bed.write(&def("ghcr.io/acme/p:1", "adopted"))?;
    let _sync = bed.sync()?;
    let after = bed.json(&["env", "get", guid])?;
    ensure!(after["managed_by"] == "config-file" && after["title"] == "adopted");
    ensure!(
        after["created_time"] == env["created_time"],
        "creation time kept"
    );
    ensure!(
        after["permissions"].as_array().map(Vec::len) == Some(1),
        "permissions kept: {after}"
    );
    Ok(())
}

fn rule_09_duplicate_names_need_guids_and_duplicate_guids_are_rejected(
    backend: Backend,
) -> Result<()> {
    let bed = Bed::new(backend)?;
    let validate = |bed: &Bed| -> Result<std::process::Output> {
        Ok(
            std::process::Command::new(execenv_e2e::binary("execenv-config-sync")?)
                .arg("validate")
                .arg(bed.file())
                .output()?,
        )
    };
    bed.write(&(def("ghcr.io/acme/d:1", "one") + &def("ghcr.io/acme/d:1", "two")))?;
    let out = validate(&bed)?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        !out.status.success() && said.contains("guid"),
        "duplicate names without guids rejected: {said}"
    );
    let (g1, g2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    bed.write(
        &(def_guid(&g1, "ghcr.io/acme/d:1", "one") + &def_guid(&g2, "ghcr.io/acme/d:1", "two")),
    )?;
    ensure!(
        validate(&bed)?.status.success(),
        "same name with a guid each is fine"
    );
    let _sync = bed.sync()?;
    ensure!(bed.managed()?.len() == 2);
    bed.write(
        &(def_guid(&g1, "ghcr.io/acme/d:1", "one") + &def_guid(&g1, "ghcr.io/acme/e:1", "two")),
    )?;
    let out = validate(&bed)?;
    ensure!(!out.status.success(), "duplicate guids rejected");
    Ok(())
}

fn rule_10_ambiguous_names_fail_with_the_matching_guids(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let a = bed.create("ghcr.io/acme/t:1", "one")?;
    let b = bed.create("ghcr.io/acme/t:1", "two")?;
    bed.write(&def("ghcr.io/acme/t:1", "which?"))?;
    let mut sync = bed.spawn_sync()?;
    ensure!(sync.wait_exit(WAIT)?.is_some_and(|c| c != 0));
    let out = sync.process.output();
    for g in [&a["guid"], &b["guid"]] {
        ensure!(out.contains(g.as_str().unwrap()), "lists {g}: {out}");
    }
    ensure!(out.contains("guid"), "says to add the guid: {out}");
    ensure!(bed.managed()?.is_empty());
    Ok(())
}

fn rule_11_guids_must_be_version_4(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    bed.write(&def_guid(
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "ghcr.io/acme/v:1",
        "v1 guid",
    ))?;
    let mut sync = bed.spawn_sync()?;
    ensure!(sync.wait_exit(WAIT)?.is_some_and(|c| c != 0));
    ensure!(
        sync.process
            .output()
            .contains("executionEnvironments[0].guid"),
        "{}",
        sync.process.output()
    );
    ensure!(bed.environments()?.is_empty());
    Ok(())
}

fn rule_12_the_name_of_a_guid_definition_cannot_change(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let g = uuid::Uuid::new_v4().to_string();
    bed.write(&def_guid(&g, "ghcr.io/acme/n:1", "n"))?;
    let sync = bed.sync()?;
    bed.write(&def_guid(&g, "ghcr.io/acme/n:2", "n"))?;
    bed.wait_for("the refused rename", |b| {
        Ok(b.status(&sync)?["outcome"] == "failed")
    })?;
    let status = bed.status(&sync)?.to_string();
    ensure!(
        status.contains("executionEnvironments[0].name") && status.contains("new"),
        "says to add a new entry: {status}"
    );
    ensure!(bed.managed()?[0]["name"] == "ghcr.io/acme/n:1");
    Ok(())
}

fn rule_13_updates_and_deletes_only_touch_managed_environments(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let by_hand = bed.create("ghcr.io/acme/hand:1", "by hand")?;
    bed.write(&(def("ghcr.io/acme/a:1", "a") + &def("ghcr.io/acme/b:1", "b")))?;
    let _sync = bed.sync()?;
    bed.write(&def("ghcr.io/acme/a:1", "a updated"))?;
    bed.wait_for("update and delete", |b| {
        Ok(titles(&b.managed()?) == ["a updated"])
    })?;
    let hand = bed.json(&["env", "get", by_hand["guid"].as_str().unwrap()])?;
    ensure!(
        hand["revision"] == by_hand["revision"],
        "the hand-made environment was never written"
    );
    let trail = bed.changes()?;
    let sources: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["environment_guid"] != by_hand["guid"])
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    ensure!(
        sources.iter().all(|s| *s == "config-file"),
        "file changes carry source config-file: {sources:?}"
    );
    Ok(())
}

fn rule_14_api_permissions_survive_every_sync(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let (_sync, guid) = bed.sync_one("ghcr.io/acme/a:1", "a")?;
    bed.ctl(&["users", "create", "alice", "--role", "publisher"])?
        .ok()?;
    bed.ctl(&["env", "permissions", "add", &guid, "--user", "alice"])?
        .ok()?;
    bed.write(&def("ghcr.io/acme/a:1", "a, edited"))?;
    bed.wait_for("the edit", |b| Ok(titles(&b.managed()?) == ["a, edited"]))?;
    let perms = bed.json(&["env", "permissions", "list", &guid])?;
    ensure!(
        perms.as_array().map(Vec::len) == Some(1),
        "permission kept: {perms}"
    );
    Ok(())
}

fn rule_15_the_api_refuses_to_change_file_managed_environments(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let (_sync, guid) = bed.sync_one("ghcr.io/acme/a:1", "a")?;
    for args in [
        vec!["env", "update", &guid, "--title", "x"],
        vec!["env", "delete", &guid],
    ] {
        let out = bed.ctl(&args)?;
        ensure!(
            out.code == 1 && out.stderr.contains("managed by the configuration file"),
            "{out:?}"
        );
    }
    ensure!(titles(&bed.managed()?) == ["a"]);
    Ok(())
}

fn rule_16_legacy_runtime_file_bootstraps_only_an_empty_catalogue(backend: Backend) -> Result<()> {
    let bed = Bed::new(backend)?;
    let legacy = bed.dir.path().join("runtime.yaml");
    write_in_place(
        &legacy,
        "name: Kubernetes\nimages:\n  - name: ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy\n    python:\n      installations:\n        - path: /opt/python/3.11.9/bin/python3\n          version: 3.11.9\n",
    )?;
    let legacy_env = [("EXECENV_SYNC__LEGACY_FILE", legacy.display().to_string())];
    let first = ServiceProcess::config_sync(&bed.registry, bed.dir.path(), &legacy_env)?;
    let envs = bed.environments()?;
    ensure!(
        envs.len() == 1 && envs[0]["managed_by"].is_null(),
        "bootstrapped unmanaged: {envs:?}"
    );
    ensure!(
        first.process.output().to_lowercase().contains("deprecat"),
        "deprecation warning: {}",
        first.process.output()
    );
    drop(first);
    // A later start leaves the (non-empty) catalogue alone.
    let _second = ServiceProcess::config_sync(&bed.registry, bed.dir.path(), &legacy_env)?;
    ensure!(bed.environments()?.len() == 1);
    // With both files, only the declarative one is used.
    bed.write(&def("ghcr.io/acme/a:1", "declared"))?;
    let both = ServiceProcess::config_sync(
        &bed.registry,
        bed.dir.path(),
        &[
            ("EXECENV_SYNC__LEGACY_FILE", legacy.display().to_string()),
            ("EXECENV_SYNC__FILE", bed.file().display().to_string()),
        ],
    )?;
    ensure!(
        both.process.output().contains("skipped") || both.process.output().contains("skip"),
        "warning: {}",
        both.process.output()
    );
    ensure!(titles(&bed.managed()?) == ["declared"]);
    Ok(())
}

macro_rules! rules {
    ($($rule:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $rule() -> anyhow::Result<()> { super::$rule(execenv_e2e::Backend::Sqlite) } )* }
        mod postgres { $( #[test] fn $rule() -> anyhow::Result<()> { super::$rule(execenv_e2e::Backend::Postgres) } )* }
    };
}

rules!(
    rule_01_startup_fails_when_the_file_is_missing_or_invalid,
    rule_02_edits_renames_and_configmap_swaps_are_applied_without_restart,
    rule_03_a_failed_runtime_sync_changes_nothing_and_is_retried,
    rule_04_one_failing_definition_fails_the_whole_sync,
    rule_05_a_removed_file_removes_every_managed_environment,
    rule_06_a_guid_definition_matches_only_that_guid,
    rule_07_a_guidless_definition_matches_managed_then_unmanaged_then_creates,
    rule_08_adoption_keeps_guid_permissions_and_creation_time,
    rule_09_duplicate_names_need_guids_and_duplicate_guids_are_rejected,
    rule_10_ambiguous_names_fail_with_the_matching_guids,
    rule_11_guids_must_be_version_4,
    rule_12_the_name_of_a_guid_definition_cannot_change,
    rule_13_updates_and_deletes_only_touch_managed_environments,
    rule_14_api_permissions_survive_every_sync,
    rule_15_the_api_refuses_to_change_file_managed_environments,
    rule_16_legacy_runtime_file_bootstraps_only_an_empty_catalogue,
);
