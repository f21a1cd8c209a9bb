//! Interactive app modes served for real: bundles built offline from a wheelhouse of the
//! frameworks' packages (`EXECENV_TEST_WHEELHOUSE`), served by the runner on a free port behind
//! the base path the gateway strips, and stopped with SIGTERM as the launcher cancels them.

mod support;

use support::{Fixture, stderr};

/// A manifest of `appmode` with `entrypoint`, its packages in requirements.txt.
fn manifest(appmode: &str, entrypoint: &str) -> String {
    format!(
        r#"{{"metadata": {{"appmode": "{appmode}", "entrypoint": "{entrypoint}"}},
  "python": {{"package_manager": {{"name": "pip", "package_file": "requirements.txt"}}}}, "files": {{}}}}"#
    )
}

/// A bundle of `appmode` with `app.py` and `requirements.txt`, built offline.
fn built(appmode: &str, entrypoint: &str, requirements: &str, app: &str) -> Fixture {
    let fixture = Fixture::new(&manifest(appmode, entrypoint));
    fixture.write("requirements.txt", requirements);
    fixture.write("app.py", app);
    let build = fixture.build_offline();
    assert!(build.status.success(), "{}", stderr(&build));
    fixture
}

const FASTAPI_APP: &str = r#"import os
from fastapi import FastAPI, Request

app = FastAPI()

@app.get("/whoami")
def whoami(request: Request):
    return {"root_path": request.scope["root_path"], "url": str(request.url_for("whoami")),
            "port": os.environ["PORT"]}
"#;

#[test]
fn fastapi_answers_behind_the_stripped_base_path_and_stops_cleanly_on_sigterm() {
    let fixture = built(
        "python-fastapi",
        "app:app",
        "fastapi\nuvicorn\n",
        FASTAPI_APP,
    );
    let mut served = fixture.serve(&["--base-path", "/content/abc"]);
    let port = served.port;
    // What the gateway forwards for https://example.org/content/abc/whoami.
    let (status, body) = served.get(
        "/whoami",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Prefix", "/content/abc"),
        ],
    );
    assert_eq!(status, 200, "{body}\n{}", served.log());
    assert_eq!(
        body,
        format!(
            r#"{{"root_path":"/content/abc","url":"https://127.0.0.1:{port}/content/abc/whoami","port":"{port}"}}"#
        )
    );
    let serving = format!(
        "execenv-content-runner: serving python-fastapi on 127.0.0.1:{port} (base path /content/abc): "
    );
    assert!(served.log().contains(&serving), "{}", served.log());

    let status = served.stop();
    // uvicorn shuts down gracefully, then ends itself with the signal it was sent.
    assert_eq!(status.code(), Some(143), "{}", served.log());
    assert!(
        served.log().contains("Finished server process"),
        "{}",
        served.log()
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_flask_app_is_served_as_wsgi_with_the_base_path_as_script_name() {
    let app = r#"from flask import Flask, request, url_for

app = Flask(__name__)

@app.get("/whoami")
def whoami():
    return {"script_name": request.environ["SCRIPT_NAME"],
            "path_info": request.environ["PATH_INFO"], "url": url_for("whoami")}
"#;
    let fixture = built("python-api", "app:app", "flask\nuvicorn\n", app);
    let served = fixture.serve(&["--base-path", "/content/abc"]);
    let (status, body) = served.get("/whoami", &[]);
    assert_eq!(status, 200, "{body}\n{}", served.log());
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"script_name": "/content/abc", "path_info": "/whoami", "url": "/content/abc/whoami"})
    );
}

#[test]
fn a_shiny_app_is_served_with_page_relative_urls() {
    let app = r#"from shiny import App, ui

app = App(ui.page_fluid(ui.h1("hello from shiny")), None)
"#;
    let fixture = built("python-shiny", "app:app", "shiny\n", app);
    let served = fixture.serve(&["--base-path", "/content/abc"]);
    let (status, page) = served.get("/", &[]);
    assert_eq!(status, 200, "{page}\n{}", served.log());
    assert!(page.contains("<h1>hello from shiny</h1>"), "{page}");
    // Relative to the page, so the browser asks for them under the base path.
    assert!(page.contains(r#"src="lib/shiny-"#), "{page}");
    assert!(!page.contains(r#"src="/lib/"#), "{page}");
}

#[test]
fn a_dash_app_writes_urls_under_the_base_path_and_answers_at_the_root() {
    let app = r#"from dash import Dash, html

app = Dash(__name__)
app.layout = html.Div("hello from dash")
"#;
    // Without uvicorn in the bundle, Dash's own server serves it.
    let fixture = built("python-dash", "app:app", "dash\n", app);
    let served = fixture.serve(&["--base-path", "/content/abc"]);
    let (status, page) = served.get("/", &[]);
    assert_eq!(status, 200, "{page}\n{}", served.log());
    assert!(
        page.contains(r#""requests_pathname_prefix":"\u002fcontent\u002fabc\u002f""#),
        "{page}"
    );
    assert!(
        page.contains(r#"src="/content/abc/_dash-component-suites/"#),
        "{page}"
    );
    let (status, layout) = served.get("/_dash-layout", &[]);
    assert_eq!(status, 200, "{layout}");
    assert!(layout.contains("hello from dash"), "{layout}");
}

#[test]
fn a_bundle_without_uvicorn_is_refused_at_build_and_at_run() {
    let fixture = Fixture::new(&manifest("python-fastapi", "app:app"));
    fixture.write("requirements.txt", "# no server\n");
    fixture.write("app.py", FASTAPI_APP);
    let venv = std::path::absolute(fixture.path("work/python/venv")).expect("absolute");
    let message = format!(
        "app mode python-fastapi needs the Python package uvicorn in the bundle's requirements (requirements.txt); it is not installed in the build's virtual environment at {}",
        venv.display()
    );
    let refused = |output: &std::process::Output| {
        assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
        assert!(stderr(output).contains(&message), "{}", stderr(output));
        let status = fixture.status();
        assert_eq!(
            (status["outcome"].as_str(), status["reason"].as_str()),
            (Some("failed"), Some(message.as_str()))
        );
    };

    refused(&fixture.build_offline());
    assert!(!fixture.path("work/build-record.json").exists());

    // An environment built for another app mode: run checks before it starts anything, and a
    // build that finds the environment up to date checks again.
    fixture.write("manifest.json", &manifest("python-script", "app.py"));
    let build = fixture.build_offline();
    assert!(build.status.success(), "{}", stderr(&build));
    fixture.write("manifest.json", &manifest("python-fastapi", "app:app"));
    let run = support::output(
        fixture
            .command("run")
            .args(["--python", "python3", "--port", "8080"]),
    );
    refused(&run);
    assert!(!stderr(&run).contains("serving"), "{}", stderr(&run));
    refused(&fixture.build_offline());
}

#[test]
fn a_bokeh_app_is_served_at_the_root_with_bokehjs_inline() {
    let app = r#"from bokeh.plotting import curdoc, figure

plot = figure(title="hello from bokeh")
plot.line([1, 2, 3], [1, 4, 9])
curdoc().add_root(plot)
"#;
    let fixture = built("python-bokeh", "app.py", "bokeh\n", app);
    let mut served = fixture.serve(&["--base-path", "/content/abc"]);
    let (status, page) = served.get("/", &[]);
    assert_eq!(status, 200, "{}", served.log());
    // No root-relative URL the stripping proxy would send past the app: BokehJS is in the page,
    // and the page opens its WebSocket relative to its own location.
    assert!(
        !page.contains(r#"src="/"#),
        "{}",
        page.chars().take(2000).collect::<String>()
    );
    assert!(
        page.contains("root.Bokeh.embed.embed_items(docs_json, render_items);"),
        "no app path or absolute URL for the WebSocket"
    );
    // The session's WebSocket is at `ws` under the page (400: a plain GET, not an upgrade).
    let (status, _) = served.get("/ws", &[]);
    assert_eq!(status, 400, "{}", served.log());
    let status = served.stop();
    assert_eq!(status.code(), Some(0), "{}", served.log());
}
