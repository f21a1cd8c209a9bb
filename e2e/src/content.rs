//! Interactive content in tests and the benchmark: the test apps of `e2e/tests/fixtures/apps` as
//! Connect bundles, the wheelhouse their builds install from, publishing one through the gateway
//! (upload, then build), and sessions with it through `/content/{guid}/`: HTTP and WebSockets.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::bundles::RawTar;
use crate::{HttpResponse, eventually, http_request_within, http_send};

/// Long enough for a build that installs FastAPI or Shiny from the wheelhouse on a busy machine.
pub const BUILD_WITHIN: Duration = Duration::from_secs(300);
/// Long enough for a cold start: the launch, the process or pod, the app's own start.
pub const COLD_WITHIN: Duration = Duration::from_secs(180);
/// How long one message of a WebSocket session may take.
const MESSAGE_WITHIN: Duration = Duration::from_secs(30);

/// The wheelhouse `e2e/infra/wheelhouse` made (`make test` sets `EXECENV_TEST_WHEELHOUSE`).
pub fn wheelhouse() -> Result<PathBuf> {
    let Some(folder) = std::env::var_os("EXECENV_TEST_WHEELHOUSE") else {
        bail!(
            "EXECENV_TEST_WHEELHOUSE is not set: run `export EXECENV_TEST_WHEELHOUSE=$(e2e/infra/wheelhouse)` \
             (make test does this) so content builds find FastAPI and Shiny offline"
        );
    };
    let folder = PathBuf::from(folder);
    ensure!(
        folder.join(".complete").is_file(),
        "EXECENV_TEST_WHEELHOUSE={} is not a complete wheelhouse (no .complete marker); run e2e/infra/wheelhouse",
        folder.display()
    );
    Ok(folder)
}

/// The variables a build needs to install from the wheelhouse `folder` and nothing else.
pub fn offline_pip(folder: &Path) -> Value {
    json!({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": folder.display().to_string()})
}

/// One of the test apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestApp {
    /// `fastapi/`: app mode python-fastapi.
    FastApi,
    /// `shiny/`: app mode python-shiny.
    Shiny,
    /// `shiny-r/`: app mode shiny (R), its package from the image.
    ShinyR,
}

impl TestApp {
    fn folder(self) -> PathBuf {
        let name = match self {
            TestApp::FastApi => "fastapi",
            TestApp::Shiny => "shiny",
            TestApp::ShinyR => "shiny-r",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/apps")
            .join(name)
    }

    /// Connect's app mode.
    pub fn appmode(self) -> &'static str {
        match self {
            TestApp::FastApi => "python-fastapi",
            TestApp::Shiny => "python-shiny",
            TestApp::ShinyR => "shiny",
        }
    }

    /// Its files besides the manifest.
    fn files(self) -> &'static [&'static str] {
        match self {
            TestApp::FastApi | TestApp::Shiny => &["app.py", "requirements.txt"],
            TestApp::ShinyR => &["app.R"],
        }
    }

    /// Its manifest.json: the Python (or R) version `version`, and the environment named
    /// `image` when given.
    pub fn manifest(self, version: &str, image: Option<&str>) -> Value {
        let files: serde_json::Map<String, Value> = self
            .files()
            .iter()
            .map(|f| ((*f).to_owned(), json!({"checksum": "x"})))
            .collect();
        let mut manifest = if self == TestApp::ShinyR {
            json!({
                "version": 1,
                "metadata": {"appmode": self.appmode(), "entrypoint": "app.R"},
                "platform": version,
                "files": files
            })
        } else {
            json!({
                "version": 1,
                "metadata": {"appmode": self.appmode(), "entrypoint": "app:app"},
                "python": {"version": version, "package_manager": {"name": "pip", "package_file": "requirements.txt"}},
                "files": files
            })
        };
        if let Some(image) = image {
            manifest["environment"] = json!({"image": image});
        }
        manifest
    }

    /// Its bundle (`.tar.gz`) with that manifest.
    pub fn bundle(self, version: &str, image: Option<&str>) -> Result<Vec<u8>> {
        let folder = self.folder();
        let mut tar = RawTar::default().manifest(&self.manifest(version, image).to_string());
        for name in self.files() {
            let text = std::fs::read_to_string(folder.join(name))
                .with_context(|| format!("reading {}", folder.join(name).display()))?;
            tar = tar.file(name, &text);
        }
        Ok(tar.gz())
    }
}

/// A FastAPI bundle whose app fails as it starts, saying why (`the test app needs DATABASE_URL`).
pub fn failing_bundle(python: &str, image: Option<&str>) -> Result<Vec<u8>> {
    let app = "raise RuntimeError('the test app needs DATABASE_URL, which is not set')\n";
    let requirements = std::fs::read_to_string(TestApp::FastApi.folder().join("requirements.txt"))?;
    Ok(RawTar::default()
        .manifest(&TestApp::FastApi.manifest(python, image).to_string())
        .file("app.py", app)
        .file("requirements.txt", &requirements)
        .gz())
}

/// A user of the gateway at `api` with API key `key`.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The gateway's `host:port`.
    pub api: &'a str,
    /// The API key.
    pub key: &'a str,
}

impl Client<'_> {
    fn auth(&self) -> String {
        format!("Key {}", self.key)
    }

    /// A JSON request to the API that must answer `want`; its body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>, want: u16) -> Result<Value> {
        let auth = self.auth();
        let answer = http_request_within(
            Duration::from_secs(30),
            self.api,
            method,
            path,
            &[("Authorization", &auth)],
            body,
        )?;
        ensure!(
            answer.status == want,
            "{method} {path} answered {} (wanted {want}): {}",
            answer.status,
            answer.body
        );
        answer.json_or_null()
    }

    /// Uploads `bytes` as content `guid`'s next bundle; its id.
    pub fn upload(&self, guid: &str, bytes: &[u8]) -> Result<String> {
        let auth = self.auth();
        let answer = http_send(
            self.api,
            "POST",
            &format!("/__api__/execenv/v1/content/{guid}/bundles"),
            &[("Authorization", &auth)],
            Some(("application/gzip", bytes)),
        )?;
        ensure!(
            answer.status == 201,
            "upload answered {}: {}",
            answer.status,
            answer.body
        );
        Ok(answer.json()?["bundle_id"]
            .as_str()
            .context("an uploaded bundle without bundle_id")?
            .to_owned())
    }

    /// Starts a launch of `kind` of content `guid`'s `bundle` with `manifest` and `env`; the launch.
    pub fn launch(
        &self,
        kind: &str,
        guid: &str,
        bundle: &str,
        manifest: &Value,
        env: &Value,
    ) -> Result<Value> {
        self.call(
            "POST",
            "/__api__/execenv/v1/launches",
            Some(&json!({"kind": kind, "content": {"guid": guid, "bundle": bundle, "manifest": manifest}, "command": [], "env": env})),
            200,
        )
    }

    /// The launch `id` now.
    pub fn launch_now(&self, id: &str) -> Result<Value> {
        self.call(
            "GET",
            &format!("/__api__/execenv/v1/launches/{id}"),
            None,
            200,
        )
    }

    /// Waits up to `within` until launch `id` satisfies `want`; the launch then.
    pub fn launch_until(
        &self,
        id: &str,
        within: Duration,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let mut last = Value::Null;
        eventually(within, &format!("launch {id}: {what}"), || {
            last = self.launch_now(id).unwrap_or(Value::Null);
            want(&last)
        })
        .with_context(|| format!("last seen: {last}"))?;
        Ok(last)
    }

    /// Builds content `guid`'s `bundle` (packages from `env`'s index) and waits until it succeeded.
    pub fn build(&self, guid: &str, bundle: &str, manifest: &Value, env: &Value) -> Result<Value> {
        let launch = self.launch("build", guid, bundle, manifest, env)?;
        let id = launch["id"].as_str().context("a launch id")?.to_owned();
        let done = self.launch_until(&id, BUILD_WITHIN, "finished", |l| {
            matches!(
                l["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })?;
        if done["state"] != "succeeded" {
            let logs = self.logs(&id).unwrap_or_default();
            bail!(
                "the build of {guid}/{bundle} ended {}: {done}\nits logs:\n{logs}",
                done["state"]
            );
        }
        Ok(done)
    }

    /// Uploads `app` as content `guid` (Python `python`, environment `image`) and builds it with
    /// `env`; the bundle id.
    pub fn publish(
        &self,
        guid: &str,
        app: TestApp,
        python: &str,
        image: Option<&str>,
        env: &Value,
    ) -> Result<String> {
        let bundle = self.upload(guid, &app.bundle(python, image)?)?;
        self.build(guid, &bundle, &app.manifest(python, image), env)?;
        Ok(bundle)
    }

    /// What the gateway says of content `guid` (`GET /__api__/execenv/v1/content/{guid}`).
    pub fn content_info(&self, guid: &str) -> Result<Value> {
        self.call(
            "GET",
            &format!("/__api__/execenv/v1/content/{guid}"),
            None,
            200,
        )
    }

    /// The launch id of this gateway's instance of content `guid`; an error when none runs.
    pub fn instance_launch(&self, guid: &str) -> Result<String> {
        let info = self.content_info(guid)?;
        Ok(info["instance"]["launch_id"]
            .as_str()
            .with_context(|| format!("content {guid} has no instance: {info}"))?
            .to_owned())
    }

    /// The launch's output so far.
    pub fn logs(&self, id: &str) -> Result<String> {
        let auth = self.auth();
        let answer = http_request_within(
            Duration::from_secs(30),
            self.api,
            "GET",
            &format!("/__api__/execenv/v1/launches/{id}/logs"),
            &[("Authorization", &auth)],
            None,
        )?;
        Ok(answer.body)
    }

    /// A GET of `path` under content `guid` (`/content/{guid}{path}`), waiting up to `within`.
    pub fn content(&self, guid: &str, path: &str, within: Duration) -> Result<HttpResponse> {
        let auth = self.auth();
        http_request_within(
            within,
            self.api,
            "GET",
            &format!("/content/{guid}{path}"),
            &[("Authorization", &auth)],
            None,
        )
    }

    /// A GET of `path` under content `guid` that must answer 200 with JSON; the JSON and the time
    /// to the answer.
    pub fn content_json(
        &self,
        guid: &str,
        path: &str,
        within: Duration,
    ) -> Result<(Value, Duration)> {
        let started = Instant::now();
        let answer = self.content(guid, path, within)?;
        let took = started.elapsed();
        ensure!(
            answer.status == 200,
            "GET /content/{guid}{path} answered {}: {}",
            answer.status,
            answer.body
        );
        Ok((answer.json()?, took))
    }

    /// Opens a WebSocket to `/content/{guid}{path}` with this key.
    pub async fn websocket(
        &self,
        guid: &str,
        path: &str,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
        let url = format!("ws://{}/content/{guid}{path}", self.api);
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("Authorization", HeaderValue::from_str(&self.auth())?);
        let (socket, response) =
            tokio::time::timeout(COLD_WITHIN, tokio_tungstenite::connect_async(request))
                .await
                .with_context(|| format!("no WebSocket to {url} within {COLD_WITHIN:?}"))?
                .with_context(|| format!("opening a WebSocket to {url}"))?;
        ensure!(
            response.status() == 101,
            "{url} answered {}",
            response.status()
        );
        Ok(socket)
    }
}

/// Sends `text` on `socket` and returns the next text message.
pub async fn round_trip(
    socket: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
    text: &str,
) -> Result<String> {
    socket.send(Message::text(text)).await?;
    next_text(socket).await
}

async fn next_text(socket: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Result<String> {
    loop {
        let message = tokio::time::timeout(MESSAGE_WITHIN, socket.next())
            .await
            .with_context(|| format!("no message within {MESSAGE_WITHIN:?}"))?
            .context("the WebSocket closed")??;
        match message {
            Message::Text(text) => return Ok(text.to_string()),
            Message::Close(frame) => bail!("the WebSocket was closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads messages until one contains `needle`; fails on a close or after `MESSAGE_WITHIN`.
async fn until_contains(
    socket: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
    needle: &str,
) -> Result<String> {
    let mut seen = Vec::new();
    loop {
        let text = next_text(socket)
            .await
            .with_context(|| format!("waiting for {needle:?}; seen {seen:?}"))?;
        if text.contains(needle) {
            return Ok(text);
        }
        seen.push(text);
    }
}

/// A session with the Shiny test app through the gateway, as a browser holds one: its WebSocket
/// (`/content/{guid}/websocket/`), `init` with n = 21 answered `doubled: 42`, then an update to
/// n = 50 answered `doubled: 100`.
pub async fn shiny_session(client: Client<'_>, guid: &str) -> Result<()> {
    let mut socket = client.websocket(guid, "/websocket/").await?;
    let init =
        json!({"method": "init", "data": {"n": 21, ".clientdata_output_doubled_hidden": false}});
    socket.send(Message::text(init.to_string())).await?;
    until_contains(&mut socket, "\"config\"").await?;
    until_contains(&mut socket, "doubled: 42").await?;
    let update = json!({"method": "update", "data": {"n": 50}});
    socket.send(Message::text(update.to_string())).await?;
    until_contains(&mut socket, "doubled: 100").await?;
    socket.close(None).await?;
    Ok(())
}

/// The environment of the first test environment (`local/python-a`, the host's Python).
pub const PYTHON_A: &str = "local/python-a";
/// The second (`local/python-b`: the same interpreter under another path, another environment).
pub const PYTHON_B: &str = "local/python-b";

/// The services on local processes for interactive content: the registry (SQLite) with two
/// environments for this machine's Python ([`PYTHON_A`], [`PYTHON_B`]) and three users (`ada`
/// administrator, `pat` publisher, `vic` viewer), the selector, the launcher building from the
/// wheelhouse, and the gateway. Stopped (killed by pid) when dropped, the gateway first.
pub struct LocalSite {
    /// The gateway.
    pub gateway: crate::ServiceProcess,
    /// The launcher, on local processes.
    pub launcher: crate::ServiceProcess,
    /// The selector.
    pub selector: crate::ServiceProcess,
    /// The registry.
    pub registry: crate::RegistryProcess,
    /// `ada`'s key.
    pub admin: String,
    /// `pat`'s key: the publisher who uploads, so the owner of the content.
    pub publisher: String,
    /// `vic`'s key.
    pub viewer: String,
    /// The host's Python version.
    pub python: String,
    /// The wheelhouse builds install from.
    pub wheelhouse: PathBuf,
    dir: tempfile::TempDir,
}

impl LocalSite {
    /// Starts it; `launcher_env` and `gateway_env` are extra settings of those two.
    pub fn start(
        launcher_env: crate::launcher::Settings,
        gateway_env: crate::launcher::Settings,
    ) -> Result<LocalSite> {
        let wheelhouse = wheelhouse()?;
        let dir = tempfile::tempdir()?;
        let interpreter = crate::python::host_python()?;
        let python = crate::python::host_python_version()?;
        let registry = crate::RegistryProcess::on_sqlite(dir.path())?;
        // The second environment's interpreter: the same program under a path of its own.
        let other = dir.path().join("python-b/bin");
        std::fs::create_dir_all(&other)?;
        std::os::unix::fs::symlink(&interpreter, other.join("python3"))?;
        for (image, title, path) in [
            (PYTHON_A, "Python A", PathBuf::from(&interpreter)),
            (PYTHON_B, "Python B", other.join("python3")),
        ] {
            let installation = format!("{python}={}", path.display());
            registry.create_environment(image, &["--title", title, "--python", &installation])?;
        }
        let admin = crate::gateway::user_key(&registry, "ada", "administrator")?;
        let publisher = crate::gateway::user_key(&registry, "pat", "publisher")?;
        let viewer = crate::gateway::user_key(&registry, "vic", "viewer")?;
        let selector = crate::ServiceProcess::selector(&registry, dir.path(), &[])?;
        let data = dir.path().join("data");
        let mut launcher_all = vec![("PIP_FIND_LINKS", wheelhouse.display().to_string())];
        launcher_all.extend(launcher_env.iter().cloned());
        let (launcher, gateway) = crate::launcher::local_launcher_and_gateway(
            &registry,
            &selector,
            dir.path(),
            &data,
            (&launcher_all, gateway_env),
        )?;
        Ok(LocalSite {
            gateway,
            launcher,
            selector,
            registry,
            admin,
            publisher,
            viewer,
            python,
            wheelhouse,
            dir,
        })
    }

    /// The gateway as the user of `key`.
    pub fn client<'a>(&'a self, key: &'a str) -> Client<'a> {
        Client {
            api: self.gateway.address(),
            key,
        }
    }

    /// What builds need to install from the wheelhouse (the launcher has it already; given again
    /// so the launch says it).
    pub fn pip(&self) -> Value {
        offline_pip(&self.wheelhouse)
    }

    /// The folder of the services' logs and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
