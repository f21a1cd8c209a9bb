//! A real OCI registry for the image examination tests: the CNCF distribution registry as Debian
//! packages it (`/usr/bin/docker-registry` of the `docker-registry` package, which
//! `e2e/infra/oci-registry` installs), started on a free loopback port with its own storage
//! folder and configuration file, optionally behind htpasswd basic authentication and TLS with a
//! certificate of a CA generated for it, and stopped by pid when dropped. Its access log tells a
//! test how many requests a client made ([`OciRegistry::requests`]).
//!
//! distribution accepts htpasswd authentication over plain HTTP too (its documentation only
//! warns that basic authentication must be used under TLS); [`OciRegistry::start_with_auth`]
//! serves it over TLS anyway, as any registry holding credentials would, so that readers are
//! tested with the CA they are told to trust.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use base64::Engine as _;

use crate::Process;
use crate::binaries::InfraBuild;
use crate::process::{StartFailure, with_free_ports};

/// The registry binary: `e2e/infra/run-tests` sets `EXECENV_OCI_REGISTRY` to the path the
/// script printed, or `EXECENV_OCI_REGISTRY_UNAVAILABLE` to why it could not install it.
pub const BUILD: InfraBuild = InfraBuild {
    variable: "EXECENV_OCI_REGISTRY",
    what: "the OCI registry (Debian's docker-registry)",
    made: "installed",
    command: "e2e/infra/oci-registry",
};

/// Where Debian's `docker-registry` package puts the registry.
pub const DEBIAN_BINARY: &str = "/usr/bin/docker-registry";

/// The registry binary: `EXECENV_OCI_REGISTRY`, else Debian's; fails naming the script that
/// installs it, or saying why it could not.
pub fn binary() -> Result<PathBuf> {
    if let Some(path) = BUILD.path()? {
        ensure!(
            path.is_file(),
            "EXECENV_OCI_REGISTRY={} is not a file: run `e2e/infra/oci-registry`, which installs Debian's docker-registry and prints its path",
            path.display()
        );
        return Ok(path);
    }
    let debian = PathBuf::from(DEBIAN_BINARY);
    ensure!(
        debian.is_file(),
        "EXECENV_OCI_REGISTRY is not set and {DEBIAN_BINARY} is missing: run `e2e/infra/oci-registry` (it installs Debian's docker-registry and skopeo), or use `make test`"
    );
    Ok(debian)
}

/// How a registry is started.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// The users let in, with their passwords (htpasswd, bcrypt); none: every request is let in.
    pub users: Vec<(String, String)>,
    /// Serve HTTPS with a certificate for 127.0.0.1 of a CA generated for this registry.
    pub tls: bool,
}

/// One request of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `HEAD`, `PUT`…
    pub method: String,
    /// The path and query asked for (`/v2/python/manifests/3.11`).
    pub path: String,
    /// The status it answered.
    pub status: u16,
}

impl std::fmt::Display for LoggedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} → {}", self.method, self.path, self.status)
    }
}

/// A running registry; killed on drop, its folder removed after.
pub struct OciRegistry {
    process: Process,
    host: String,
    tls: Option<PathBuf>,
    users: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl OciRegistry {
    /// A registry over plain HTTP that lets every request in.
    pub fn start() -> Result<OciRegistry> {
        Self::start_with(&RegistryOptions::default())
    }

    /// A registry over TLS (see [`OciRegistry::ca_file`]) that lets in `user` with `password`
    /// only.
    pub fn start_with_auth(user: &str, password: &str) -> Result<OciRegistry> {
        Self::start_with(&RegistryOptions {
            users: vec![(user.to_string(), password.to_string())],
            tls: true,
        })
    }

    /// Writes the configuration (and the htpasswd file and certificates `options` ask for),
    /// starts the registry on a free loopback port and waits until it listens.
    pub fn start_with(options: &RegistryOptions) -> Result<OciRegistry> {
        let binary = binary()?;
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("storage"))?;
        let htpasswd = if options.users.is_empty() {
            None
        } else {
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, htpasswd_lines(&options.users)?)?;
            Some(path)
        };
        let tls = if options.tls {
            Some(generate_certificates(&dir.path().join("tls"))?)
        } else {
            None
        };
        let config = dir.path().join("config.yml");
        let (process, port) = with_free_ports(|port, _, attempt| {
            std::fs::write(
                &config,
                configuration(dir.path(), port, htpasswd.as_deref(), tls.as_ref()),
            )?;
            let mut process = Process::spawn(
                &binary,
                &["serve", &config.display().to_string()],
                &[],
                dir.path().join(format!("registry-{attempt}.log")),
            )?;
            wait_listening(&mut process, port)?;
            Ok((process, port))
        })?;
        Ok(OciRegistry {
            process,
            host: format!("127.0.0.1:{port}"),
            tls: tls.map(|t| t.ca),
            users: options.users.clone(),
            dir,
        })
    }

    /// Its `host:port`, as image references name it (`127.0.0.1:41234`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The reference of `repository_and_tag` (`python:3.11`) in this registry.
    pub fn reference(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.host)
    }

    /// The PEM file of the CA that signed its certificate, when it serves TLS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_deref()
    }

    /// A Docker `config.json` (what `docker login` writes; also a Kubernetes dockerconfigjson
    /// Secret's `.dockerconfigjson`) holding `user` and `password` for this registry.
    pub fn docker_config(&self, user: &str, password: &str) -> String {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        serde_json::json!({"auths": {self.host.clone(): {"auth": auth}}}).to_string()
    }

    /// Every request its access log holds so far, in order. The registry writes a request's
    /// line before the answer's last bytes leave (the logging handler returns before the HTTP
    /// server flushes the response), so a request a client has had its answer to is there.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.process
            .output()
            .lines()
            .filter_map(access_log_request)
            .collect()
    }

    /// Its log so far (the access log and its own messages).
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// The `skopeo copy` options that reach it as a destination: its CA or no TLS, and the
    /// first user's credentials.
    pub fn skopeo_destination_options(&self) -> Result<Vec<String>> {
        let mut options = Vec::new();
        match &self.tls {
            Some(ca) => {
                // skopeo trusts the *.crt files of a certificate folder as CAs.
                let certs = self.dir.path().join("skopeo-certs");
                if !certs.is_dir() {
                    std::fs::create_dir(&certs)?;
                    std::fs::copy(ca, certs.join("ca.crt"))?;
                }
                options.push(format!("--dest-cert-dir={}", certs.display()));
                options.push("--dest-tls-verify=true".to_string());
            }
            None => options.push("--dest-tls-verify=false".to_string()),
        }
        if let Some((user, password)) = self.users.first() {
            options.push(format!("--dest-creds={user}:{password}"));
        } else {
            options.push("--dest-no-creds".to_string());
        }
        Ok(options)
    }
}

/// The registry's configuration: loopback, the storage folder under `dir`, the access log on,
/// no upload purging (the tests are short), htpasswd and TLS when given.
fn configuration(
    dir: &Path,
    port: u16,
    htpasswd: Option<&Path>,
    tls: Option<&Certificates>,
) -> String {
    let quoted = |p: &Path| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
    let mut yaml = format!(
        r#"version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: execenv-test-registry
"#,
        storage = quoted(&dir.join("storage")),
    );
    if let Some(tls) = tls {
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            quoted(&tls.certificate),
            quoted(&tls.key)
        ));
    }
    if let Some(path) = htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: execenv-test-registry\n    path: {}\n",
            quoted(path)
        ));
    }
    yaml
}

/// The htpasswd file of `users`: bcrypt (the only format distribution reads; it ignores other
/// lines), at the lowest cost, which is as good as any for a test and fast.
fn htpasswd_lines(users: &[(String, String)]) -> Result<String> {
    let mut text = String::new();
    for (user, password) in users {
        ensure!(
            !user.contains(':') && !user.contains('\n'),
            "an htpasswd user name cannot hold ':' or a newline: {user:?}"
        );
        let hash = bcrypt::hash(password, 4)
            .with_context(|| format!("cannot hash the password of {user} with bcrypt"))?;
        text.push_str(&format!("{user}:{hash}\n"));
    }
    Ok(text)
}

/// The files of a registry's TLS: the CA's certificate (what clients trust) and the server's
/// certificate and key.
struct Certificates {
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

/// Generates, with `openssl`, a CA and a certificate it signs for 127.0.0.1 and localhost
/// (P-256 keys, valid two days), into `dir`.
fn generate_certificates(dir: &Path) -> Result<Certificates> {
    std::fs::create_dir_all(dir)?;
    let path = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .context("cannot run openssl, which makes the test registry's certificates: install the openssl package")?;
        ensure!(
            out.status.success(),
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let (ca_key, ca, key, request, certificate, extensions) = (
        path("ca.key"),
        path("ca.pem"),
        path("server.key"),
        path("server.csr"),
        path("server.pem"),
        path("server.ext"),
    );
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
    args.extend(ec);
    args.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-subj",
        "/CN=execenv test registry CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&args)?;
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &request, "-subj", "/CN=127.0.0.1"]);
    openssl(&args)?;
    std::fs::write(
        &extensions,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &request,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &extensions,
        "-out",
        &certificate,
    ])?;
    Ok(Certificates {
        ca: ca.into(),
        certificate: certificate.into(),
        key: key.into(),
    })
}

/// The request of one line of the access log (Apache's combined format:
/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 401 87 "" "agent"`); None for other lines.
fn access_log_request(line: &str) -> Option<LoggedRequest> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut words = request.split(' ');
    let method = words.next()?;
    let path = words.next()?;
    let protocol = words.next()?;
    if !protocol.starts_with("HTTP/") {
        return None;
    }
    let status = rest.split(' ').next()?.parse().ok()?;
    Some(LoggedRequest {
        method: method.to_string(),
        path: path.to_string(),
        status,
    })
}

/// Waits until the registry accepts connections on its port (30 s at most), or exits (the port
/// was taken meanwhile, or another failure).
fn wait_listening(process: &mut Process, port: u16) -> Result<(), StartFailure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if !process.is_running() {
            let log = process.output();
            if log.contains("address already in use") {
                return Err(StartFailure::PortTaken);
            }
            return Err(StartFailure::Other(anyhow::anyhow!(
                "the OCI registry exited before it listened; its log:\n{log}"
            )));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartFailure::Other(anyhow::anyhow!(
                "the OCI registry did not listen on 127.0.0.1:{port} within 30 s; its log:\n{}",
                process.output()
            )));
        }
        // Polling interval of a bounded wait, not a synchronisation point.
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines_are_read_as_requests_and_other_lines_are_not() {
        let line = r#"127.0.0.1 - - [06/Dec/2026:17:09:05 +0000] "GET /v2/x/manifests/1 HTTP/1.1" 401 144 "" "curl/7.88.1""#;
        assert_eq!(
            access_log_request(line),
            Some(LoggedRequest {
                method: "GET".into(),
                path: "/v2/x/manifests/1".into(),
                status: 401,
            })
        );
        let message = r#"time="2026-12-06T17:09:05Z" level=info msg="listening on 127.0.0.1:45123" go.version=go1.19.8"#;
        assert_eq!(access_log_request(message), None);
    }

    #[test]
    fn htpasswd_lines_hold_bcrypt_hashes_of_the_passwords() {
        let text = htpasswd_lines(&[("alice".into(), "s3cret".into())]).unwrap();
        let (user, hash) = text.trim_end().split_once(':').unwrap();
        assert_eq!(user, "alice");
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert!(htpasswd_lines(&[("a:b".into(), "x".into())]).is_err());
    }

    #[test]
    fn the_configuration_names_htpasswd_and_tls_only_when_asked() {
        let dir = Path::new("/tmp/r");
        let plain = configuration(dir, 5000, None, None);
        assert!(plain.contains("  addr: 127.0.0.1:5000\n"), "{plain}");
        assert!(
            plain.contains("rootdirectory: \"/tmp/r/storage\""),
            "{plain}"
        );
        assert!(
            !plain.contains("auth:") && !plain.contains("tls:"),
            "{plain}"
        );
        let tls = Certificates {
            ca: "/tmp/r/ca.pem".into(),
            certificate: "/tmp/r/server.pem".into(),
            key: "/tmp/r/server.key".into(),
        };
        let full = configuration(dir, 5000, Some(Path::new("/tmp/r/htpasswd")), Some(&tls));
        assert!(
            full.contains(
                "  tls:\n    certificate: \"/tmp/r/server.pem\"\n    key: \"/tmp/r/server.key\"\n"
            ),
            "{full}"
        );
        assert!(
            full.ends_with(
                "auth:\n  htpasswd:\n    realm: execenv-test-registry\n    path: \"/tmp/r/htpasswd\"\n"
            ),
            "{full}"
        );
    }
}
