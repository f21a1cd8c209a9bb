//! The Helm chart charts/execenv as the tests see it: the real `helm` (built with the Kubernetes
//! testbed), the chart's ci scenarios, and the rendered manifests as JSON documents.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The chart, relative to the repository.
pub const CHART: &str = "charts/execenv";

/// The release name and namespace the snapshots are rendered with.
pub const RELEASE: &str = "execenv";

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder holding the testbed's binaries (helm among them): `EXECENV_TESTBED_BIN` when set
/// (`make test` sets it), else the folder `e2e/infra/testbed build` prints (a cached build).
pub fn testbed_bin() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EXECENV_TESTBED_BIN") {
        return Ok(PathBuf::from(dir));
    }
    infra_path("testbed", "build").context("so there is no helm")
}

/// Runs `e2e/infra/<script> <command>`, which prints a path (of something it built or fetched,
/// cached), and returns that path; fails with the script's stderr when it fails.
pub fn infra_path(script: &str, command: &str) -> Result<PathBuf> {
    let out = Command::new(repo().join("e2e/infra").join(script))
        .arg(command)
        .output()
        .with_context(|| format!("cannot run e2e/infra/{script} {command}"))?;
    if !out.status.success() {
        bail!(
            "e2e/infra/{script} {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// What a helm (or chart script) run printed.
#[derive(Debug)]
pub struct Run {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, without the loader's note about the service charts' symbolic links
    /// to the library chart (expected: charts/<service>/charts/common -> ../../common).
    pub stderr: String,
}

impl Run {
    /// Fails with both outputs unless the run succeeded.
    pub fn ok(self, what: &str) -> Result<Run> {
        if !self.ok {
            bail!("{what} failed:\n{}\n{}", self.stdout, self.stderr);
        }
        Ok(self)
    }
}

/// Runs `program` with `args` in the repository, with `EXECENV_TESTBED_BIN` pointing at `bin`.
pub fn run_in_repo(program: &Path, args: &[&str], bin: &Path) -> Result<Run> {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        .env("EXECENV_TESTBED_BIN", bin)
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("found symbolic link in path"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    })
}

/// The real helm.
pub struct Helm {
    bin: PathBuf,
}

impl Helm {
    /// Finds helm (see [`testbed_bin`]).
    pub fn find() -> Result<Helm> {
        let bin = testbed_bin()?;
        if !bin.join("helm").is_file() {
            bail!(
                "{}/helm is missing: run e2e/infra/testbed build",
                bin.display()
            );
        }
        Ok(Helm { bin })
    }

    /// The helm binary.
    pub fn path(&self) -> PathBuf {
        self.bin.join("helm")
    }

    /// Runs `helm ARGS` in the repository.
    pub fn run(&self, args: &[&str]) -> Result<Run> {
        run_in_repo(&self.path(), args, &self.bin)
    }

    /// Runs a repository script (e.g. `e2e/infra/chart`) with this helm.
    pub fn script(&self, script: &str, args: &[&str]) -> Result<Run> {
        run_in_repo(&repo().join(script), args, &self.bin)
    }

    /// `helm template execenv charts/execenv -n execenv` with `values` files, as documents.
    pub fn template(&self, values: &[&Path]) -> Result<Vec<Value>> {
        let run = self.template_run(values)?.ok("helm template")?;
        documents(&run.stdout)
    }

    /// `helm template execenv charts/execenv -n execenv` with `values` files, as it ran.
    pub fn template_run(&self, values: &[&Path]) -> Result<Run> {
        let mut args = vec!["template", RELEASE, CHART, "-n", RELEASE];
        for v in values {
            args.push("-f");
            args.push(v.to_str().context("a values path is not UTF-8")?);
        }
        self.run(&args)
    }
}

/// The ci scenario `name` (charts/execenv/ci/<name>-values.yaml).
pub fn scenario(name: &str) -> PathBuf {
    repo()
        .join(CHART)
        .join("ci")
        .join(format!("{name}-values.yaml"))
}

/// The values files a ci scenario is rendered with: the chart's profile of the same name when
/// there is one (`values-ha.yaml` for the scenario `ha`), then the scenario's file, as
/// `e2e/infra/chart` renders the snapshots.
pub fn scenario_values(name: &str) -> Vec<PathBuf> {
    let profile = repo().join(CHART).join(format!("values-{name}.yaml"));
    let mut files = Vec::new();
    if profile.is_file() {
        files.push(profile);
    }
    files.push(scenario(name));
    files
}

/// Every ci scenario's name.
pub fn scenarios() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join(CHART).join("ci"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix("-values.yaml"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The documents of a multi-document YAML text (empty documents left out), as JSON.
pub fn documents(yaml: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).context("rendered manifests are not YAML")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The document of `kind` named `name`.
pub fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> Result<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .with_context(|| format!("no {kind} {name} in the rendered manifests"))
}

/// Every document of `kind`.
pub fn objects<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The string `data[key]` of the rendered ConfigMap `name`, if both exist.
pub fn config_map_entry<'a>(docs: &'a [Value], name: &str, key: &str) -> Option<&'a str> {
    docs.iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
        .and_then(|cm| cm["data"][key].as_str())
}

/// The content of the file at `path` in a Deployment's container, when a ConfigMap volume
/// mounted as a directory holds it (as the kubelet would show it).
pub fn mounted_file<'a>(docs: &'a [Value], deployment: &Value, path: &str) -> Option<&'a str> {
    let spec = &deployment["spec"]["template"]["spec"];
    let mounts = spec["containers"][0]["volumeMounts"].as_array()?;
    mounts.iter().find_map(|m| {
        let dir = m["mountPath"].as_str()?;
        let file = path.strip_prefix(dir)?.strip_prefix('/')?;
        let volume = spec["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == m["name"])?;
        config_map_entry(docs, volume["configMap"]["name"].as_str()?, file)
    })
}
