//! The web console in a real browser: the five services and the image examiner with the gateway
//! serving the built console, seeded with people and environments whose access differs (two of
//! them on images of a real OCI registry: one in drift, one ok), and the Playwright specs of
//! `ui/e2e` run against them in Debian's Chromium (`e2e/infra/chromium`).
//!
//! The specs receive everything through variables (`EXECENV_CONSOLE_URL`, the three keys, the
//! gateway's log, an `execenvctl` command line, the declarative file, a built bundle); see
//! [`Console::variables`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::binaries::InfraBuild;
use crate::content::{self, TestApp};
use crate::drift_images::{DECLARED_PYTHON, DECLARED_R, DriftImages};
use crate::gateway::user_key;
use crate::stack::{APP, BUNDLE, CONTENT, LocalStack};
use crate::{RegistryProcess, binary, eventually, http_request};

/// The browser: `e2e/infra/run-tests` sets `EXECENV_CHROMIUM` to the path the script printed, or
/// `EXECENV_CHROMIUM_UNAVAILABLE` to why it could not install one.
pub const CHROMIUM: InfraBuild = InfraBuild {
    variable: "EXECENV_CHROMIUM",
    what: "Chromium",
    made: "installed",
    command: "e2e/infra/chromium",
};

/// The `ui/` folder.
pub fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui")
}

/// Where the specs write their screenshots: `target/console-screenshots`.
pub fn screenshots_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("console-screenshots")
}

/// The Chromium to drive: `EXECENV_CHROMIUM`, else `chromium` on the PATH.
pub fn chromium() -> Result<PathBuf> {
    if let Some(path) = CHROMIUM.path()? {
        return Ok(path);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join("chromium");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    CHROMIUM.required()
}

/// The services, seeded, with the keys and paths the specs need.
pub struct Console {
    /// The `make run` set of services and the image examiner; the declarative file defines
    /// `Host Python`.
    pub stack: LocalStack,
    /// Keys of `admin` (administrator), `pat` (publisher, in group `analysts`), `vic` (viewer).
    pub keys: Keys,
    /// The OCI registry the examiner reads (stopped after the services) and its images.
    pub images: DriftImages,
}

/// How long the image examiner may take for its first checks of the seeded environments.
const FIRST_CHECKS_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// The three people's API keys.
pub struct Keys {
    pub admin: String,
    pub publisher: String,
    pub viewer: String,
}

impl Console {
    /// Starts the services, seeds them (people, a group, three more environments), checks
    /// that the gateway serves the built console and builds the example bundle, so that the
    /// specs can run it at once.
    pub fn start() -> Result<Console> {
        let layouts = tempfile::tempdir()?;
        let images = DriftImages::push(layouts.path())?;
        let stack = LocalStack::start_examining(&images)?;
        let keys = seed(&stack.registry, &images)?;
        let console = Console {
            stack,
            keys,
            images,
        };
        console.check_console_built()?;
        console.wait_for_first_checks()?;
        console
            .stack
            .launch_to_end(&console.keys.admin, "build", &json!([]))?;
        console.serve_app()?;
        Ok(console)
    }

    /// Publishes the FastAPI test app as `pat` and opens it once, so an interactive launch is
    /// READY when the specs start.
    fn serve_app(&self) -> Result<()> {
        let client = content::Client {
            api: self.stack.gateway.address(),
            key: &self.keys.publisher,
        };
        let pip = content::offline_pip(&content::wheelhouse()?);
        let version = self.stack.python_version();
        client.publish(APP, TestApp::FastApi, version, None, &pip)?;
        client.content_json(APP, "/", content::COLD_WITHIN)?;
        Ok(())
    }

    /// Waits until the examiner has checked `Drifting Python` (drift) and `Checked R` (ok), as
    /// the gateway reports them, so that the specs find their badges at once.
    fn wait_for_first_checks(&self) -> Result<()> {
        let auth = format!("Key {}", self.keys.admin);
        let mut last = String::new();
        let checked = eventually(FIRST_CHECKS_WITHIN, "the first image checks", || {
            let Ok(answer) = http_request(
                self.stack.gateway.address(),
                "GET",
                "/__api__/execenv/v1/checks",
                &[("Authorization", &auth)],
                None,
            ) else {
                return false;
            };
            last = answer.body.clone();
            let Ok(body) = answer.json() else {
                return false;
            };
            let state = |title: &str| {
                body["checks"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["title"] == title))
                    .and_then(|c| c["state"].as_str().map(str::to_owned))
            };
            state("Drifting Python").as_deref() == Some("drift")
                && state("Checked R").as_deref() == Some("ok")
        });
        checked.with_context(|| format!("the checks the gateway answered last: {last}"))
    }

    /// Fails unless the gateway was compiled with the built console (`ui/dist`).
    fn check_console_built(&self) -> Result<()> {
        let page = http_request(
            self.stack.gateway.address(),
            "GET",
            "/environments",
            &[],
            None,
        )?;
        ensure!(
            page.status == 200,
            "GET /environments answered {}: {}",
            page.status,
            page.body
        );
        if page.header("x-execenv-console") != Some("built") {
            bail!(
                "the gateway was compiled without the console (ui/dist was missing): run `make build` (it builds ui/ first), then the tests again; it answered:\n{}",
                page.body.chars().take(400).collect::<String>()
            );
        }
        Ok(())
    }

    /// The variables the specs read (`ui/e2e`).
    pub fn variables(&self) -> Result<Vec<(&'static str, String)>> {
        let ctl = format!(
            "{} --registry {}",
            binary("execenvctl")?.display(),
            self.stack.registry.url
        );
        Ok(vec![
            ("EXECENV_CONSOLE_URL", self.stack.gateway.url.clone()),
            ("EXECENV_CHROMIUM", chromium()?.display().to_string()),
            (
                "EXECENV_SCREENSHOTS",
                screenshots_dir().display().to_string(),
            ),
            // Playwright's own output (a failed spec's screenshot) beside them, not in ui/.
            (
                "EXECENV_PLAYWRIGHT_OUTPUT",
                screenshots_dir()
                    .with_file_name("console-playwright")
                    .display()
                    .to_string(),
            ),
            ("EXECENV_ADMIN_KEY", self.keys.admin.clone()),
            ("EXECENV_PUBLISHER_KEY", self.keys.publisher.clone()),
            ("EXECENV_VIEWER_KEY", self.keys.viewer.clone()),
            (
                "EXECENV_GATEWAY_LOG",
                self.stack.gateway.process.log.display().to_string(),
            ),
            ("EXECENV_CTL", ctl),
            ("EXECENV_SYNC_FILE", self.stack.file.display().to_string()),
            ("EXECENV_CONTENT_GUID", CONTENT.to_owned()),
            ("EXECENV_BUNDLE_ID", BUNDLE.to_owned()),
            ("EXECENV_APP_GUID", APP.to_owned()),
            (
                "EXECENV_PYTHON_VERSION",
                self.stack.python_version().to_owned(),
            ),
            ("EXECENV_DRIFT_IMAGE", self.images.drift.clone()),
            ("EXECENV_OK_IMAGE", self.images.ok.clone()),
            ("EXECENV_FILL_IMAGE", self.images.fill.clone()),
            ("EXECENV_FIXED_IMAGE", self.images.fixed.clone()),
            ("EXECENV_DRIFT_DIGEST", self.images.digests[0].clone()),
        ])
    }

    /// Runs `playwright test ARGS…` in `ui/` with [`Console::variables`]; returns its output,
    /// or fails with it when a spec failed.
    pub fn playwright(&self, args: &[&str]) -> Result<String> {
        let ui = ui_dir();
        let cli = ui.join("node_modules/.bin/playwright");
        ensure!(
            cli.exists(),
            "{} is missing: install the console's packages with `e2e/infra/ui deps` (`make test` does)",
            cli.display()
        );
        // Screenshots of an earlier run must not pass for this one's.
        let shots = screenshots_dir();
        if shots.exists() {
            std::fs::remove_dir_all(&shots)?;
        }
        std::fs::create_dir_all(&shots)?;
        let output = Command::new(&cli)
            .arg("test")
            .args(args)
            .current_dir(&ui)
            .envs(self.variables()?)
            .env("CI", "1")
            .output()
            .with_context(|| format!("running {}", cli.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            bail!(
                "playwright test {} failed ({}):\n{text}\n--- the gateway's log: {}",
                args.join(" "),
                output.status,
                self.stack.gateway.process.log.display()
            );
        }
        Ok(text)
    }
}

/// The people, the group and the API-managed environments of the contract: `pat` may use
/// `Team Python 3.11` (through `analysts`) and `Open Quarto` (no entries), not `Admins only R`;
/// and, on `images`, `Drifting Python` (declaring Python 3.12.4 on an image with 3.11.2) and
/// `Checked R` (as its image is), which everyone may use.
fn seed(registry: &RegistryProcess, images: &DriftImages) -> Result<Keys> {
    let keys = Keys {
        admin: user_key(registry, "admin", "administrator")?,
        publisher: user_key(registry, "pat", "publisher")?,
        viewer: user_key(registry, "vic", "viewer")?,
    };
    registry.ctl(&["groups", "create", "analysts"])?.ok()?;
    registry
        .ctl(&["groups", "add-member", "analysts", "pat"])?
        .ok()?;
    let team = registry.create_environment(
        "ghcr.io/acme/team-python:3.11",
        &[
            "--title",
            "Team Python 3.11",
            "--python",
            "3.11.9=/opt/python/3.11.9/bin/python3",
        ],
    )?;
    let admins = registry.create_environment(
        "ghcr.io/acme/admin-r:4.4",
        &[
            "--title",
            "Admins only R",
            "--r",
            "4.4.1=/opt/R/4.4.1/bin/R",
        ],
    )?;
    let (python, python_at) = DECLARED_PYTHON;
    registry.create_environment(
        &images.drift,
        &[
            "--title",
            "Drifting Python",
            "--python",
            &format!("{python}={python_at}"),
        ],
    )?;
    let (r, r_at) = DECLARED_R;
    registry.create_environment(
        &images.ok,
        &["--title", "Checked R", "--r", &format!("{r}={r_at}")],
    )?;
    registry.create_environment(
        "ghcr.io/acme/quarto:1.5",
        &[
            "--title",
            "Open Quarto",
            "--quarto",
            "1.5.57=/opt/quarto/1.5.57/bin/quarto",
        ],
    )?;
    for (environment, who) in [
        (&team, ["--group", "analysts"]),
        (&admins, ["--user", "admin"]),
    ] {
        let guid = environment["guid"].as_str().context("a created guid")?;
        let mut args = vec!["env", "permissions", "add", guid];
        args.extend(who);
        registry.ctl(&args)?.ok()?;
    }
    Ok(keys)
}
