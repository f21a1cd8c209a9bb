//! What the local backend's tests run: a launch plan for content [`CONTENT`] bundle 7 in an
//! environment of the host's Python, with Python and Quarto chosen; and the runner's test double,
//! [`STUB_RUNNER`], with the app it serves for interactive launches.

use execenv_core::{Environment, Language};
use serde_json::json;

use crate::job_spec::{ChosenInstallation, LaunchKind, LaunchRequest, Resources};
use crate::launch::{BackendKind, Launch, Plan};

/// The content's guid.
pub(crate) const CONTENT: &str = "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c";

/// A plan for launch `id` of `kind`, running `command`.
pub(crate) fn plan_with_id(id: &str, kind: LaunchKind, command: &[&str]) -> Plan {
    let environment: Environment = serde_json::from_value(json!({
        "id": 1, "guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50", "revision": 1,
        "name": "local/host-python", "title": "Host Python", "description": null,
        "cluster_name": "Kubernetes", "environment_type": "Kubernetes", "matching": "any",
        "supervisor": null, "managed_by": null, "permissions": [], "volume_mounts": [],
        "python": [{"version": "3.11.7", "path": "/usr/bin/python3.11"}],
        "r": [], "quarto": [{"version": "1.5.57", "path": "/opt/quarto/bin/quarto"}], "tensorflow": [],
        "created_time": "2026-01-01T00:00:00Z", "updated_time": "2026-01-01T00:00:00Z",
    }))
    .expect("an environment");
    let installations: Vec<ChosenInstallation> = [Language::Python, Language::Quarto]
        .into_iter()
        .flat_map(|language| {
            environment
                .spec
                .installations(language)
                .iter()
                .map(move |i| ChosenInstallation {
                    language,
                    version: i.version.clone(),
                    path: i.path.clone(),
                })
        })
        .collect();
    let request = LaunchRequest {
        request_id: id.into(),
        kind,
        content_guid: CONTENT.into(),
        bundle_id: "7".into(),
        command: command.iter().map(|c| (*c).to_owned()).collect(),
        env: vec![],
        resources: Resources::default(),
        service_account: None,
    };
    let launch = Launch::new(
        &request,
        &environment,
        &installations,
        "manifest",
        BackendKind::Local,
    );
    Plan {
        request,
        environment,
        installations,
        launch,
    }
}

/// [`plan_with_id`] with the id `req-1`.
pub(crate) fn plan(kind: LaunchKind, command: &[&str]) -> Plan {
    plan_with_id("req-1", kind, command)
}

/// A test double of `execenv-content-runner`: it prints its arguments, runs the command after
/// `--` and writes a status file when that fails. Given a port (an interactive launch), it prints
/// the variables it was given, counts its runs in the file `runs` of its working folder (the
/// launch's folder) and, as the request's `STUB_APP` says, serves [`STUB_APP_SOURCE`] (`serve`),
/// crashes (`crash`: exit 1), crashes twice then serves (`crash-twice`) or refuses as the runner
/// does when the build is missing (`refuse`: exit 3, outcome `refused`).
pub(crate) const STUB_RUNNER: &str = r#"#!/bin/sh
echo "stub $*"
status=""
while [ $# -gt 0 ]; do
  case "$1" in
    --status-file) status="$2"; shift 2 ;;
    --) shift; break ;;
    *) shift ;;
  esac
done
if [ -n "$EXECENV_CONTENT_PORT" ]; then
  echo "EXECENV_CONTENT_PORT=$EXECENV_CONTENT_PORT"
  echo "EXECENV_CONTENT_HOST=$EXECENV_CONTENT_HOST"
  echo "EXECENV_CONTENT_BASE_PATH=$EXECENV_CONTENT_BASE_PATH"
  echo "STUB_APP=$STUB_APP"
  runs=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
  echo "$runs" > runs
  case "$STUB_APP" in
    refuse)
      printf '{"outcome":"refused","exit_code":3,"reason":"the build for this bundle is missing or out of date (no build record); run `execenv-content-runner build` first"}' > "$status"
      exit 3 ;;
    crash) ;;
    crash-twice) [ "$runs" -gt 2 ] && exec python3 -c "$STUB_APP_SOURCE" ;;
    *) exec python3 -c "$STUB_APP_SOURCE" ;;
  esac
  echo "the app crashes"
  printf '{"outcome":"failed","exit_code":1,"reason":"the content exited with code 1"}' > "$status"
  exit 1
fi
code=0
if [ $# -gt 0 ]; then "$@"; code=$?; fi
if [ "$code" -ne 0 ]; then
  printf '{"outcome":"failed","exit_code":%d,"reason":"content exited %d"}' "$code" "$code" > "$status"
fi
exit "$code"
"#;

/// The app the stub runner serves: it answers `hello` on `EXECENV_CONTENT_HOST:PORT`; told
/// `close`, it stops listening (its process lives on) until the file `reopen` appears in its
/// working folder.
pub(crate) const STUB_APP_SOURCE: &str = r#"
import os, socket, time
address = (os.environ["EXECENV_CONTENT_HOST"], int(os.environ["EXECENV_CONTENT_PORT"]))
def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(address)
    s.listen(16)
    return s
print("serving on %s:%d" % address, flush=True)
server = listen()
while True:
    conn, _ = server.accept()
    with conn:
        try:
            said = conn.recv(64)
            conn.sendall(b"hello\n")
        except OSError:
            said = b""
    if said.startswith(b"close"):
        server.close()
        while not os.path.exists("reopen"):
            time.sleep(0.05)
        server = listen()
"#;
