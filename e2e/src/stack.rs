//! The `make run` set of services on free loopback ports — the registry on SQLite, config-sync
//! on a declarative file, the selector, the launcher on local processes and the gateway — and a
//! scenario that exercises every series their dashboards show.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::content::{self, TestApp};
use crate::drift_images::DriftImages;
use crate::gateway::user_key;
use crate::launcher::{local_launcher_and_gateway, place_bundle, python_manifest};
use crate::python::{host_python, host_python_version};
use crate::{HttpResponse, RegistryProcess, ServiceProcess, eventually, http_get, http_request};

/// The example content's guid and bundle, placed in the launcher's data folder.
pub const CONTENT: &str = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
/// Its bundle's id.
pub const BUNDLE: &str = "1";
/// The interactive test app's content guid (uploaded through the gateway).
pub const APP: &str = "2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d";
/// Long enough for a cold virtual environment on a busy machine.
const FINISH: Duration = Duration::from_secs(180);
/// Long enough for config-sync (polling every 200 ms) and the selector to follow a change.
const FOLLOW: Duration = Duration::from_secs(30);

/// The five services, stopped (killed by pid) in reverse order of their start when dropped.
pub struct LocalStack {
    // Fields drop in declaration order: the callers first, the registry last.
    /// The gateway (REST API).
    pub gateway: ServiceProcess,
    /// The image examiner, when the stack was started with images to examine.
    pub examiner: Option<ServiceProcess>,
    /// The launcher, on local processes.
    pub launcher: ServiceProcess,
    /// The selector.
    pub selector: ServiceProcess,
    /// config-sync, on [`LocalStack::file`].
    pub config_sync: ServiceProcess,
    /// The registry, on SQLite.
    pub registry: RegistryProcess,
    /// The declarative file config-sync keeps the registry in sync with.
    pub file: PathBuf,
    python: String,
    version: String,
    // Holds the database, the file, the launcher's data and the logs; removed last.
    dir: tempfile::TempDir,
}

impl LocalStack {
    /// Starts the five services, the file defining one environment for this machine's Python
    /// and the launcher's data folder holding a bundle for it; returns once all are ready.
    pub fn start() -> Result<LocalStack> {
        LocalStack::start_with(None)
    }

    /// [`LocalStack::start`], and the image examiner reading `images`' registry, which the
    /// gateway asks (`examiner.url`).
    pub fn start_examining(images: &DriftImages) -> Result<LocalStack> {
        LocalStack::start_with(Some((images, &[])))
    }

    /// [`LocalStack::start_examining`], the image examiner with `settings` added.
    pub fn start_examining_with(
        images: &DriftImages,
        settings: &[(&str, String)],
    ) -> Result<LocalStack> {
        LocalStack::start_with(Some((images, settings)))
    }

    fn start_with(images: Option<(&DriftImages, &[(&str, String)])>) -> Result<LocalStack> {
        let dir = tempfile::tempdir()?;
        let python = host_python()?;
        let version = host_python_version()?;
        let file = dir.path().join("environments.yaml");
        std::fs::write(&file, environments(&version, &python, false))?;
        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let config_sync = ServiceProcess::config_sync(
            &registry,
            dir.path(),
            &[("EXECENV_SYNC__FILE", file.display().to_string())],
        )?;
        let examiner = images
            .map(|(i, settings)| i.examiner(&registry, dir.path(), settings))
            .transpose()?;
        // The selector and the gateway ask the examiner, as `make run` sets them up.
        let examiner_url: Vec<(&str, String)> = examiner
            .iter()
            .map(|e| ("EXECENV_EXAMINER__URL", e.url.clone()))
            .collect();
        // Generated requests (schemathesis) ask for revisions far ahead of the registry's: each
        // is refused after this wait rather than the default 2 s.
        let mut selector_env = examiner_url.clone();
        selector_env.push(("EXECENV_SELECTION__MIN_REVISION_WAIT_MS", "200".to_owned()));
        let selector = ServiceProcess::selector(&registry, dir.path(), &selector_env)?;
        // Generated attacks (schemathesis) send hundreds of refused keys from this one address:
        // the throttle of failed sign-ins is off here and has its own test (gateway_limits).
        let mut gateway_env = vec![
            ("EXECENV_CONFIG_SYNC__URL", config_sync.url.clone()),
            ("EXECENV_LIMITS__AUTH_FAILURE_BURST", "0".to_owned()),
        ];
        gateway_env.extend(examiner_url);
        let data = dir.path().join("data");
        place_bundle(&data, CONTENT, BUNDLE, &version)?;
        // Builds of the interactive test app install from the wheelhouse.
        let wheelhouse = content::wheelhouse()?;
        // The gateway reports config-sync's last sync (as `make run` sets it up).
        let (launcher, gateway) = local_launcher_and_gateway(
            &registry,
            &selector,
            dir.path(),
            &data,
            (
                &[("PIP_FIND_LINKS", wheelhouse.display().to_string())],
                &gateway_env,
            ),
        )?;
        Ok(LocalStack {
            gateway,
            examiner,
            launcher,
            selector,
            config_sync,
            registry,
            file,
            python,
            version,
            dir,
        })
    }

    /// Each service's job name (as its Kubernetes Service would be called) and admin address;
    /// the image examiner's too when the stack has one.
    pub fn admin_targets(&self) -> Vec<(&'static str, &str)> {
        let mut targets = vec![
            ("environment-registry", self.registry.admin.as_str()),
            ("config-sync", &self.config_sync.admin),
            ("selector", &self.selector.admin),
            ("launcher", &self.launcher.admin),
            ("gateway", &self.gateway.admin),
        ];
        if let Some(examiner) = &self.examiner {
            targets.push(("image-examiner", &examiner.admin));
        }
        targets
    }

    /// Each service's job name and its `/metrics` scrape.
    pub fn scrape_all(&self) -> Result<Vec<(&'static str, String)>> {
        self.admin_targets()
            .into_iter()
            .map(|(job, admin)| {
                let (status, body) = http_get(admin, "/metrics")?;
                ensure!(status == 200, "{job} /metrics answered {status}: {body}");
                Ok((job, body))
            })
            .collect()
    }

    /// The folder holding the logs (and everything else of the stack).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Drives every kind of traffic the dashboards show: an environment created through the
    /// API, a change to the file and then a bad edit (a failed sync), selections that choose
    /// and one that finds nothing, a build and a run that finish, REST requests answered
    /// with errors (401, 404, 409), and the FastAPI test app published and served through
    /// `/content/{guid}/` (a cold start, then warm requests).
    pub fn run_scenario(&self) -> Result<()> {
        let api = self.gateway.address();
        let admin = user_key(&self.registry, "ada", "administrator")?;
        let publisher = user_key(&self.registry, "pat", "publisher")?;

        // The catalogue: one environment through the API, one more through the file.
        call(
            api,
            &admin,
            "POST",
            "/__api__/v1/environments",
            Some(&json!({"name": "ghcr.io/acme/by-api:1", "title": "Made through the API"})),
            200,
        )?;
        std::fs::write(&self.file, environments(&self.version, &self.python, true))?;
        self.wait_for_syncs("ok", 2.0)?;
        eventually(
            FOLLOW,
            "the selector holding all three environments",
            || {
                http_get(&self.selector.admin, "/metrics").is_ok_and(|(_, text)| {
                    sample(&text, "execenv_selector_catalogue_environments") == Some(3.0)
                })
            },
        )?;

        // REST errors: no key, an unknown environment.
        call(api, "", "GET", "/__api__/v1/environments", None, 401)?;
        call(
            api,
            &admin,
            "GET",
            "/__api__/v1/environments/7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
            None,
            404,
        )?;

        // Selections: one chooses the host's Python, one finds nothing (a 409 and a gRPC error).
        let select = "/__api__/execenv/v1/select";
        let chosen = call(
            api,
            &publisher,
            "POST",
            select,
            Some(&json!({"requirements": {"python_version": self.version}})),
            200,
        )?;
        ensure!(
            chosen["environment"]["name"] == "local/host-python",
            "{chosen}"
        );
        call(
            api,
            &publisher,
            "POST",
            select,
            Some(&json!({"requirements": {"r_version": "4.4.1"}})),
            409,
        )?;

        // Launches: a build, then a run, each to its end.
        self.launch_to_end(&publisher, "build", &json!([]))?;
        self.launch_to_end(
            &publisher,
            "run",
            &json!(["python", "-c", "print('ran', flush=True)"]),
        )?;

        // Interactive content: the FastAPI test app, a cold start and warm requests.
        let client = content::Client {
            api,
            key: &publisher,
        };
        let pip = content::offline_pip(&content::wheelhouse()?);
        client.publish(APP, TestApp::FastApi, &self.version, None, &pip)?;
        for path in ["/", "/items/tea?q=1", "/stream"] {
            let answer = client.content(APP, path, content::COLD_WITHIN)?;
            ensure!(
                answer.status == 200,
                "GET /content/{APP}{path}: {}",
                answer.body
            );
        }

        // A bad edit: a relative supervisor path fails the sync; the registry keeps the rest.
        std::fs::write(
            &self.file,
            environments(&self.version, &self.python, true)
                + "- name: ghcr.io/acme/bad:1\n  supervisor: relative.sh\n",
        )?;
        self.wait_for_syncs("failed", 1.0)
    }

    /// Launches the example bundle (`kind` build or run, with `command`) through the gateway as
    /// the owner of `key` and waits until the launch succeeded; fails with it if it ended otherwise.
    pub fn launch_to_end(&self, key: &str, kind: &str, command: &Value) -> Result<Value> {
        let api = self.gateway.address();
        let launch = call(
            api,
            key,
            "POST",
            "/__api__/execenv/v1/launches",
            Some(
                &json!({"kind": kind, "content": {"guid": CONTENT, "bundle": BUNDLE, "manifest": python_manifest(&self.version)}, "command": command}),
            ),
            200,
        )?;
        let id = launch["id"].as_str().context("a launch id")?.to_owned();
        let path = format!("/__api__/execenv/v1/launches/{id}");
        let mut last = Value::Null;
        eventually(FINISH, &format!("the {kind} launch {id} finishing"), || {
            last = call(api, key, "GET", &path, None, 200).unwrap_or(Value::Null);
            matches!(
                last["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })?;
        ensure!(last["state"] == "succeeded", "the {kind} launch: {last}");
        Ok(last)
    }

    /// The Python version of the host's environment (`Host Python`, from the file).
    pub fn python_version(&self) -> &str {
        &self.version
    }

    /// Waits until config-sync counted at least `count` syncs with `outcome`.
    fn wait_for_syncs(&self, outcome: &str, count: f64) -> Result<()> {
        let series = format!("execenv_config_sync_syncs_total{{outcome=\"{outcome}\"}}");
        eventually(FOLLOW, &format!("{count} syncs {outcome}"), || {
            http_get(&self.config_sync.admin, "/metrics")
                .is_ok_and(|(_, text)| sample(&text, &series).is_some_and(|v| v >= count))
        })
    }
}

/// The value of the sample `series` (name and labels exactly as exposed) in a scrape.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The declarative file: this machine's Python, and with `more` a second image.
fn environments(version: &str, python: &str, more: bool) -> String {
    let mut yaml = format!(
        "- name: local/host-python\n  title: Host Python\n  python:\n    installations:\n      - {{version: {version}, path: {python}}}\n"
    );
    if more {
        yaml.push_str("- name: ghcr.io/acme/from-file:1\n  title: From the file\n");
    }
    yaml
}

/// One REST call with the API key `key` (none when empty) that must answer `status`; its JSON.
fn call(
    api: &str,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
) -> Result<Value> {
    let authorization = format!("Key {key}");
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        Vec::new()
    } else {
        vec![("Authorization", authorization.as_str())]
    };
    let response: HttpResponse = http_request(api, method, path, &headers, body)?;
    ensure!(
        response.status == status,
        "{method} {path} answered {} instead of {status}: {}",
        response.status,
        response.body
    );
    response.json_or_null()
}
