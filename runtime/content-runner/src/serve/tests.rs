use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::packages::{missing_python_package, missing_r_package};
use super::*;

const PYTHON: &str = "/work/python/venv/bin/python";

/// The flags every uvicorn command ends with, for `listen()`.
const UVICORN_BEHIND_THE_PROXY: &str =
    "--host 0.0.0.0 --port 8080 --root-path /content/abc --proxy-headers --forwarded-allow-ips=*";

fn listen() -> Listen {
    Listen {
        host: "0.0.0.0".into(),
        port: 8080,
        base_path: "/content/abc".into(),
    }
}

/// The server command of `mode` for `entrypoint`, as (env, argv with the program first).
fn command(
    mode: &str,
    entrypoint: Option<&str>,
    program: &str,
    has_uvicorn: bool,
) -> (Vec<(&'static str, String)>, Vec<String>) {
    let listen = listen();
    let command = server_command(&ServerSetup {
        mode: AppMode::parse(mode).expect("a known mode"),
        entrypoint,
        listen: &listen,
        program: Path::new(program),
        has_uvicorn,
    });
    let argv = std::iter::once(&command.program)
        .chain(&command.args)
        .map(|word| word.to_string_lossy().into_owned())
        .collect();
    (command.env, argv)
}

fn words(text: &[&str]) -> Vec<String> {
    text.iter().map(|word| (*word).to_owned()).collect()
}

/// The words of `text`, split at spaces (for commands whose arguments hold none).
fn spaced(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_owned).collect()
}

#[test]
fn fastapi_runs_uvicorn_with_the_base_path_as_root_path() {
    let (env, argv) = command("python-fastapi", Some("main:api"), PYTHON, true);
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        spaced(&format!(
            "{PYTHON} -m uvicorn main:api {UVICORN_BEHIND_THE_PROXY}"
        ))
    );
}

#[test]
fn module_entrypoints_default_to_app_app_like_connect() {
    for (entrypoint, target) in [
        (None, "app:app"),
        (Some("app"), "app:app"),
        (Some("app.py"), "app:app"),
        (Some("api/main.py"), "api.main:app"),
        (Some("main:server"), "main:server"),
    ] {
        let (_, argv) = command("python-fastapi", entrypoint, PYTHON, true);
        assert_eq!(argv[3], target, "{entrypoint:?}");
    }
}

#[test]
fn python_api_runs_uvicorn_as_a_wsgi_server() {
    let (env, argv) = command("python-api", Some("app:app"), PYTHON, true);
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        spaced(&format!(
            "{PYTHON} -m uvicorn app:app --interface wsgi {UVICORN_BEHIND_THE_PROXY}"
        ))
    );
}

#[test]
fn dash_serves_its_flask_server_with_uvicorn_when_the_bundle_has_it() {
    let (env, argv) = command("python-dash", Some("app:app"), PYTHON, true);
    assert_eq!(
        env,
        vec![
            ("DASH_REQUESTS_PATHNAME_PREFIX", "/content/abc/".to_owned()),
            ("DASH_ROUTES_PATHNAME_PREFIX", "/".to_owned()),
        ]
    );
    assert_eq!(
        argv,
        spaced(&format!(
            "{PYTHON} -m uvicorn app:app.server --interface wsgi {UVICORN_BEHIND_THE_PROXY}"
        ))
    );
}

#[test]
fn dash_without_uvicorn_runs_its_own_server() {
    let (env, argv) = command("python-dash", None, PYTHON, false);
    assert_eq!(
        env[0],
        ("DASH_REQUESTS_PATHNAME_PREFIX", "/content/abc/".to_owned())
    );
    assert_eq!(
        argv,
        words(&[
            PYTHON,
            "-c",
            "import importlib, sys; module, _, name = sys.argv[1].partition(':'); app = getattr(importlib.import_module(module), name); app.run(host=sys.argv[2], port=int(sys.argv[3]))",
            "app:app",
            "0.0.0.0",
            "8080",
        ])
    );
}

#[test]
fn dash_at_the_root_gets_slash_as_its_requests_prefix() {
    let root = Listen {
        base_path: String::new(),
        ..listen()
    };
    let command = server_command(&ServerSetup {
        mode: AppMode::PythonDash,
        entrypoint: None,
        listen: &root,
        program: Path::new(PYTHON),
        has_uvicorn: false,
    });
    assert_eq!(
        command.env[0],
        ("DASH_REQUESTS_PATHNAME_PREFIX", "/".to_owned())
    );
}

#[test]
fn shiny_for_python_runs_shiny_run_without_dev_mode() {
    let (env, argv) = command("python-shiny", Some("app.py"), PYTHON, false);
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        spaced(&format!(
            "{PYTHON} -m shiny run --host 0.0.0.0 --port 8080 --no-dev-mode app.py"
        ))
    );
    assert_eq!(command("python-shiny", None, PYTHON, false).1[9], "app:app");
}

#[test]
fn streamlit_runs_headless_without_usage_statistics() {
    let (env, argv) = command("python-streamlit", Some("dashboard.py"), PYTHON, false);
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        spaced(&format!(
            "{PYTHON} -m streamlit run dashboard.py --server.port 8080 --server.address 0.0.0.0 --server.headless true --browser.gatherUsageStats false"
        ))
    );
}

#[test]
fn bokeh_serves_the_app_at_the_root_with_inline_resources() {
    let (env, argv) = command("python-bokeh", Some("plot.py"), PYTHON, false);
    assert_eq!(env, vec![("BOKEH_RESOURCES", "inline".to_owned())]);
    assert_eq!(
        argv,
        words(&[
            PYTHON,
            "-c",
            "import sys; from bokeh.command.util import build_single_handler_application; from bokeh.server.server import Server; Server({'/': build_single_handler_application(sys.argv[1])}, address=sys.argv[2], port=int(sys.argv[3]), allow_websocket_origin=['*'], use_xheaders=True).run_until_shutdown()",
            "plot.py",
            "0.0.0.0",
            "8080",
        ])
    );
}

#[test]
fn shiny_for_r_runs_run_app_on_the_bundle() {
    let (env, argv) = command("shiny", Some("app.R"), "/opt/R/4.4.1/bin/R", false);
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        words(&[
            "/opt/R/4.4.1/bin/R",
            "--no-save",
            "--no-restore",
            "--no-init-file",
            "-e",
            "shiny::runApp('.', port = 8080, host = '0.0.0.0', launch.browser = FALSE)",
        ])
    );
}

#[test]
fn plumber_plumbs_the_entrypoint_or_plumber_r() {
    let (_, argv) = command("api", Some("it's.R"), "R", false);
    assert_eq!(
        argv,
        words(&[
            "R",
            "--no-save",
            "--no-restore",
            "--no-init-file",
            "-e",
            r"pr <- plumber::plumb('it\'s.R'); pr$run(host = '0.0.0.0', port = 8080)",
        ])
    );
    assert_eq!(
        command("api", None, "R", false).1[5],
        "pr <- plumber::plumb('plumber.R'); pr$run(host = '0.0.0.0', port = 8080)"
    );
}

#[test]
fn quarto_shiny_runs_quarto_serve() {
    let (env, argv) = command(
        "quarto-shiny",
        Some("report.qmd"),
        "/opt/quarto/bin/quarto",
        false,
    );
    assert_eq!(env, vec![]);
    assert_eq!(
        argv,
        spaced("/opt/quarto/bin/quarto serve report.qmd --port 8080 --host 0.0.0.0 --no-browser")
    );
}

#[test]
fn app_modes_are_named_as_connect_names_them() {
    for name in [
        "python-fastapi",
        "python-api",
        "python-shiny",
        "python-dash",
        "python-streamlit",
        "python-bokeh",
        "shiny",
        "api",
        "quarto-shiny",
    ] {
        assert_eq!(AppMode::parse(name).map(AppMode::name), Some(name));
    }
    for other in ["python-script", "quarto-static", "static", "rmd-shiny", ""] {
        assert_eq!(AppMode::parse(other), None, "{other}");
    }
    assert_eq!(
        AppMode::PythonApi.server_package(),
        Some(ServerPackage::Python("uvicorn"))
    );
    assert_eq!(
        AppMode::RApi.server_package(),
        Some(ServerPackage::R("plumber"))
    );
    assert_eq!(AppMode::QuartoShiny.server_package(), None);
}

#[test]
fn listen_flags_are_checked() {
    assert_eq!(
        Listen::from_flags(Some(8080), "0.0.0.0", "/content/abc").expect("valid"),
        Some(listen())
    );
    assert_eq!(Listen::from_flags(None, "", "").expect("valid"), None);
    assert!(Listen::from_flags(Some(1), "127.0.0.1", "").is_ok());
    for bad in ["content/abc", "/content/abc/", "/"] {
        let err = Listen::from_flags(Some(8080), "127.0.0.1", bad).expect_err(bad);
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            format!(
                "--base-path {bad:?} must be empty or a path that starts with `/` and does not end with `/`, e.g. /content/<guid> (--base-path or EXECENV_CONTENT_BASE_PATH)"
            )
        );
    }
    // Checked without a port too: a wrong flag is wrong whatever else is given.
    assert!(Listen::from_flags(None, "127.0.0.1", "x").is_err());
    let err = Listen::from_flags(Some(8080), "", "").expect_err("no host");
    assert_eq!(
        err.to_string(),
        "--host \"\" is not an address to bind; give one such as 127.0.0.1 or 0.0.0.0 (--host or EXECENV_CONTENT_HOST)"
    );
}

#[test]
fn the_logged_command_is_one_shell_line() {
    let listen = listen();
    let command = server_command(&ServerSetup {
        mode: AppMode::PythonDash,
        entrypoint: Some("app:app"),
        listen: &listen,
        program: Path::new("/w/bin/python"),
        has_uvicorn: true,
    });
    assert_eq!(
        command.display(),
        "DASH_REQUESTS_PATHNAME_PREFIX=/content/abc/ DASH_ROUTES_PATHNAME_PREFIX=/ /w/bin/python -m uvicorn app:app.server --interface wsgi --host 0.0.0.0 --port 8080 --root-path /content/abc --proxy-headers '--forwarded-allow-ips=*'"
    );
    let quoted = ContentCommand::new(
        "sh",
        vec![
            OsString::from("-c"),
            OsString::from("echo 'hi'"),
            OsString::new(),
        ],
    );
    assert_eq!(quoted.display(), r"sh -c 'echo '\''hi'\''' ''");
}

#[test]
fn a_missing_python_package_names_it_the_requirements_and_the_environment() {
    let err = missing_python_package(
        AppMode::PythonFastapi,
        "uvicorn",
        Path::new("requirements.txt"),
        Path::new("/work/python/venv"),
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "app mode python-fastapi needs the Python package uvicorn in the bundle's requirements (requirements.txt); it is not installed in the build's virtual environment at /work/python/venv"
    );
}

#[test]
fn a_missing_r_package_names_it_and_where_r_looked() {
    let library = PathBuf::from("/work/r/library");
    let err = missing_r_package(
        AppMode::RShiny,
        "shiny",
        Path::new("/usr/bin/R"),
        Some(&library),
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "app mode shiny needs the R package shiny in the bundle's renv.lock; it is not installed in the build's R library at /work/r/library (record it with renv::snapshot() and publish again)"
    );
    assert_eq!(
        missing_r_package(AppMode::RApi, "plumber", Path::new("/usr/bin/R"), None).to_string(),
        "app mode api needs the R package plumber; R at /usr/bin/R does not have it and the bundle has no renv.lock to restore it from (record it with renv::snapshot() and publish again)"
    );
}
