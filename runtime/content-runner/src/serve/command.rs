//! The command that serves each app mode: which server, with which flags, so that it listens
//! where the launcher said and works behind the gateway's prefix-stripping proxy.

use std::ffi::OsString;
use std::path::Path;

use super::mode::{AppMode, Listen};

/// A command to start: the program, its arguments and the variables added to its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentCommand {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables added to the environment it inherits.
    pub env: Vec<(&'static str, String)>,
}

impl ContentCommand {
    /// `program args…` with nothing added to its environment.
    pub fn new(program: impl Into<OsString>, args: Vec<OsString>) -> ContentCommand {
        ContentCommand {
            program: program.into(),
            args,
            env: Vec::new(),
        }
    }

    /// The command as a shell would take it, added variables first, for the log.
    pub fn display(&self) -> String {
        let assignments = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={}", shell_quote(value)));
        let words = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|word| shell_quote(&word.to_string_lossy()));
        assignments.chain(words).collect::<Vec<_>>().join(" ")
    }
}

/// What a mode's server command is made of.
#[derive(Debug, Clone)]
pub struct ServerSetup<'a> {
    /// The app mode.
    pub mode: AppMode,
    /// `metadata.entrypoint`, when the manifest names one.
    pub entrypoint: Option<&'a str>,
    /// Where to listen.
    pub listen: &'a Listen,
    /// The virtual environment's Python, R, or Quarto, as the mode needs.
    pub program: &'a Path,
    /// Whether the virtual environment has uvicorn (Dash is served with it when it does).
    pub has_uvicorn: bool,
}

/// Dash's own server (Flask's), for a bundle without uvicorn: `-c DASH_RUN module:object host port`.
const DASH_RUN: &str = "import importlib, sys; module, _, name = sys.argv[1].partition(':'); \
    app = getattr(importlib.import_module(module), name); app.run(host=sys.argv[2], port=int(sys.argv[3]))";

/// A Bokeh server with the app at `/` (`bokeh serve` puts it at `/<name>` and redirects `/` there
/// with an absolute path, which the stripping proxy cannot follow): `-c BOKEH_SERVE file host port`.
const BOKEH_SERVE: &str = "import sys; from bokeh.command.util import build_single_handler_application; \
    from bokeh.server.server import Server; Server({'/': build_single_handler_application(sys.argv[1])}, \
    address=sys.argv[2], port=int(sys.argv[3]), allow_websocket_origin=['*'], use_xheaders=True).run_until_shutdown()";

/// The command that serves `setup.mode`.
pub fn server_command(setup: &ServerSetup) -> ContentCommand {
    let listen = setup.listen;
    let port = listen.port.to_string();
    let host = listen.host.as_str();
    let entrypoint = setup.entrypoint;
    let file = entrypoint.unwrap_or("app.py");
    match setup.mode {
        AppMode::PythonFastapi => uvicorn(setup, &module_target(entrypoint), None),
        AppMode::PythonApi => uvicorn(setup, &module_target(entrypoint), Some("wsgi")),
        AppMode::PythonDash => {
            let target = module_target(entrypoint);
            let mut command = if setup.has_uvicorn {
                uvicorn(setup, &format!("{target}.server"), Some("wsgi"))
            } else {
                python(setup, &["-c", DASH_RUN, &target, host, &port])
            };
            // Dash writes absolute URLs for the browser: they need the public prefix, while its
            // routes stay at `/` where the stripped requests arrive.
            command.env = vec![
                (
                    "DASH_REQUESTS_PATHNAME_PREFIX",
                    format!("{}/", listen.base_path),
                ),
                ("DASH_ROUTES_PATHNAME_PREFIX", "/".to_owned()),
            ];
            command
        }
        AppMode::PythonShiny => python(
            setup,
            &[
                "-m",
                "shiny",
                "run",
                "--host",
                host,
                "--port",
                &port,
                "--no-dev-mode",
                entrypoint.unwrap_or("app:app"),
            ],
        ),
        AppMode::PythonStreamlit => python(
            setup,
            &[
                "-m",
                "streamlit",
                "run",
                file,
                "--server.port",
                &port,
                "--server.address",
                host,
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
        ),
        AppMode::PythonBokeh => {
            let mut command = python(setup, &["-c", BOKEH_SERVE, file, host, &port]);
            // Inline BokehJS: the server's own `/static/…` URLs are absolute and would miss the prefix.
            command.env = vec![("BOKEH_RESOURCES", "inline".to_owned())];
            command
        }
        AppMode::RShiny => r_expression(
            setup,
            &format!(
                "shiny::runApp('.', port = {port}, host = {}, launch.browser = FALSE)",
                r_string(host)
            ),
        ),
        AppMode::RApi => r_expression(
            setup,
            &format!(
                "pr <- plumber::plumb({}); pr$run(host = {}, port = {port})",
                r_string(entrypoint.unwrap_or("plumber.R")),
                r_string(host)
            ),
        ),
        AppMode::QuartoShiny => {
            let mut args = vec![OsString::from("serve")];
            args.extend(entrypoint.map(OsString::from));
            args.extend(
                ["--port", &port, "--host", host, "--no-browser"]
                    .into_iter()
                    .map(OsString::from),
            );
            ContentCommand::new(setup.program, args)
        }
    }
}

/// `python -m uvicorn TARGET …`: behind the proxy with the base path as the ASGI root path (and,
/// for a WSGI app, as its SCRIPT_NAME).
fn uvicorn(setup: &ServerSetup, target: &str, interface: Option<&str>) -> ContentCommand {
    let listen = setup.listen;
    let port = listen.port.to_string();
    let mut args = vec!["-m", "uvicorn", target];
    if let Some(interface) = interface {
        args.extend(["--interface", interface]);
    }
    args.extend([
        "--host",
        &listen.host,
        "--port",
        &port,
        "--root-path",
        &listen.base_path,
        "--proxy-headers",
        "--forwarded-allow-ips=*",
    ]);
    python(setup, &args)
}

fn python(setup: &ServerSetup, args: &[&str]) -> ContentCommand {
    ContentCommand::new(setup.program, args.iter().map(OsString::from).collect())
}

/// `R … -e EXPRESSION`. Like the build, it leaves the bundle's `.Rprofile` (often renv's
/// autoloader, which would switch libraries) and any saved workspace out.
fn r_expression(setup: &ServerSetup, expression: &str) -> ContentCommand {
    let args = [
        "--no-save",
        "--no-restore",
        "--no-init-file",
        "-e",
        expression,
    ];
    ContentCommand::new(setup.program, args.iter().map(OsString::from).collect())
}

/// `module:object` from a manifest entrypoint, as Connect reads it: `app:app` as it is, `app`
/// and `app.py` as `app:app`; none at all is `app:app`.
fn module_target(entrypoint: Option<&str>) -> String {
    let entrypoint = entrypoint.unwrap_or("app:app");
    let (module, object) = entrypoint.split_once(':').unwrap_or((entrypoint, "app"));
    let module = module
        .strip_suffix(".py")
        .unwrap_or(module)
        .replace('/', ".");
    format!("{module}:{object}")
}

/// `text` as an R string literal.
fn r_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `word` as one shell word: bare when it is plain, else in single quotes.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
