//! Interactive content under test: an offline build from a wheelhouse of real packages, the
//! runner serving the bundle on a free port, and plain HTTP requests to it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Fixture, output, terminate, wait_with_deadline};

/// How long a server may take to answer on its port: an app's imports on a busy machine.
const READY_DEADLINE: Duration = Duration::from_secs(90);

/// The folder of wheels the builds install from, named by `EXECENV_TEST_WHEELHOUSE`.
pub fn wheelhouse() -> PathBuf {
    let Some(folder) = std::env::var_os("EXECENV_TEST_WHEELHOUSE") else {
        panic!(
            "EXECENV_TEST_WHEELHOUSE is not set: these tests install real packages offline from a folder of wheels \
             (fastapi, uvicorn, flask, shiny, dash and their dependencies, for the host's python3). `make test` sets it \
             with e2e/infra/wheelhouse; by hand: `python3 -m pip download -d /tmp/wheelhouse fastapi uvicorn flask shiny dash` \
             and EXECENV_TEST_WHEELHOUSE=/tmp/wheelhouse"
        );
    };
    let folder = PathBuf::from(folder);
    assert!(
        folder.is_dir(),
        "EXECENV_TEST_WHEELHOUSE={} is not a folder",
        folder.display()
    );
    folder
}

impl Fixture {
    /// `build` with the host's python3, installing only from the wheelhouse.
    pub fn build_offline(&self) -> Output {
        output(
            self.command("build")
                .args(["--python", "python3"])
                .env("PIP_NO_INDEX", "1")
                .env("PIP_FIND_LINKS", wheelhouse())
                // Byte-compiling every installed module is most of an install's time; the one
                // server each test starts compiles what it imports.
                .env("PIP_NO_COMPILE", "1"),
        )
    }

    /// `run --port PORT ARGS…` in the background, its stderr in `run.log`, once the port answers.
    pub fn serve(&self, args: &[&str]) -> Served {
        let port = free_port();
        let log = self.path("run.log");
        let child = self
            .command("run")
            .args(["--python", "python3", "--port", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log"))
            .spawn()
            .expect("runner starts");
        let mut served = Served { child, port, log };
        served.wait_until_answering();
        served
    }
}

/// The runner serving a bundle; stopped with SIGTERM when dropped.
pub struct Served {
    child: Child,
    /// The port it serves on.
    pub port: u16,
    log: PathBuf,
}

impl Served {
    /// What the runner and the app printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` over HTTP/1.0 with `headers`: the status code and the body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("receive");
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {head}"));
        (status, body.to_owned())
    }

    /// Sends SIGTERM (the launcher's cancel) and waits for the runner to exit.
    pub fn stop(&mut self) -> ExitStatus {
        terminate(&self.child);
        wait_with_deadline(&mut self.child)
    }

    /// Polls the port until it accepts a connection: the readiness probe the launcher makes.
    fn wait_until_answering(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "the runner exited ({status}) before port {} answered:\n{}",
                    self.port,
                    self.log()
                );
            }
            if started.elapsed() > READY_DEADLINE {
                panic!(
                    "port {} did not answer within {READY_DEADLINE:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            // The interval of a readiness probe polling with a deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            terminate(&self.child);
            let _ = wait_with_deadline(&mut self.child);
        }
    }
}

/// A loopback port nothing listens on now (the OS picks it; released for the runner to bind).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
