//! TLS everywhere, through the real binaries: a CA and certificates made for the test with the
//! `openssl` command; every service on TLS with mutual TLS between them, execenvctl calling with
//! a client certificate and no token, a selection and a launch through the gateway over HTTPS;
//! what is refused (plain text, no client certificate, a certificate of another CA); both
//! service tokens accepted during a rotation and the old one refused after it; a certificate
//! file replaced and the next connection getting the new certificate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use execenv_e2e::launcher::place_bundle;
use execenv_e2e::python::{host_python, host_python_version};
use execenv_e2e::{
    CtlOutput, RegistryProcess, ServiceProcess, binary, ctl, eventually, field, https_request,
    sqlite_url,
};
use serde_json::json;

/// Runs `openssl ARGS…` in `dir`; fails with what it printed.
fn openssl(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A CA (`NAME-ca.pem`, `NAME-ca.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    )?;
    Ok(())
}

/// A certificate `NAME.pem` (key `NAME.key`) for 127.0.0.1 and localhost, for servers and
/// clients alike, signed by CA `ca` with serial `serial`.
fn make_cert(dir: &Path, ca: &str, name: &str, serial: &str) -> Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    )?;
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca.key"),
            "-set_serial",
            serial,
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    )?;
    Ok(())
}

/// The certificates of one test: CA `good` signs `service` (serial 0x1001) and `renewed`
/// (0x1002); CA `other` signs `stranger`.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Result<Pki> {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir)?;
        make_ca(&dir, "good")?;
        make_ca(&dir, "other")?;
        make_cert(&dir, "good", "service", "0x1001")?;
        make_cert(&dir, "good", "renewed", "0x1002")?;
        make_cert(&dir, "other", "stranger", "0x2001")?;
        Ok(Pki { dir })
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// Settings of a service on TLS with mutual TLS, presenting `service.pem`.
    fn mutual(&self) -> Vec<(&'static str, String)> {
        vec![
            ("EXECENV_TLS__CERT_FILE", self.path("service.pem")),
            ("EXECENV_TLS__KEY_FILE", self.path("service.key")),
            ("EXECENV_TLS__CLIENT_CA_FILE", self.path("good-ca.pem")),
            ("EXECENV_TLS__CA_FILE", self.path("good-ca.pem")),
        ]
    }

    /// execenvctl's flags for mutual TLS with certificate `cert` verified against CA `ca`.
    fn ctl_flags(&self, ca: &str, cert: Option<&str>) -> Vec<String> {
        let mut flags = vec!["--ca-file".to_owned(), self.path(&format!("{ca}-ca.pem"))];
        if let Some(cert) = cert {
            flags.extend([
                "--client-cert".to_owned(),
                self.path(&format!("{cert}.pem")),
                "--client-key".to_owned(),
                self.path(&format!("{cert}.key")),
            ]);
        }
        flags
    }
}

/// `execenvctl --registry URL FLAGS… -o json ARGS…`.
fn ctl_with(registry: &str, flags: &[String], args: &[&str]) -> Result<CtlOutput> {
    let mut connection: Vec<&str> = vec!["--registry", registry, "-o", "json"];
    connection.extend(flags.iter().map(String::as_str));
    ctl(&connection, args)
}

/// The serial number of the certificate a new TLS connection to `address` gets, as openssl
/// prints it (`serial=1002`).
fn served_serial(pki: &Pki, address: &str) -> Result<String> {
    let pem = openssl(
        &pki.dir,
        &[
            "s_client",
            "-connect",
            address,
            "-CAfile",
            "good-ca.pem",
            "-verify_return_error",
        ],
    );
    let pem = match pem {
        Ok(pem) => pem,
        Err(e) => bail!("no TLS connection to {address}: {e}"),
    };
    let served = pki.dir.join("served.pem");
    std::fs::write(&served, pem)?;
    Ok(openssl(
        &pki.dir,
        &["x509", "-noout", "-serial", "-in", "served.pem"],
    )?
    .trim()
    .to_owned())
}

#[test]
fn every_service_speaks_mutual_tls_and_the_gateway_https() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = Pki::new(dir.path())?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    // A service token too: under mutual TLS the certificate is the identity, the token unneeded.
    let mut mutual = pki.mutual();
    mutual.push((
        "EXECENV_AUTH__SERVICE_TOKEN",
        "not-sent-by-execenvctl".to_owned(),
    ));

    let registry = RegistryProcess::start(&sqlite_url(dir.path()), dir.path(), &mutual)?;
    ensure!(registry.url.starts_with("https://"), "{}", registry.url);
    let client = pki.ctl_flags("good", Some("service"));

    // execenvctl with a client certificate and no token acts as the service.
    let python = host_python()?;
    let version = host_python_version()?;
    let env = ctl_with(
        &registry.url,
        &client,
        &[
            "env",
            "create",
            "local/host-python",
            "--title",
            "Host Python",
            "--python",
            &format!("{version}={python}"),
        ],
    )?
    .ok()?
    .json()?;
    let env_guid = field(&env, "guid")?;
    ctl_with(
        &registry.url,
        &client,
        &["users", "create", "pat", "--role", "publisher"],
    )?
    .ok()?;
    let key = field(
        &ctl_with(
            &registry.url,
            &client,
            &["keys", "create", "pat", "--name", "tls"],
        )?
        .ok()?
        .json()?,
        "key",
    )?;

    // Refused: no client certificate, a certificate of another CA, a CA that did not sign the
    // registry's certificate, plain text.
    for (flags, what) in [
        (pki.ctl_flags("good", None), "no client certificate"),
        (
            pki.ctl_flags("good", Some("stranger")),
            "a client certificate of another CA",
        ),
        (pki.ctl_flags("other", Some("stranger")), "the wrong CA"),
    ] {
        let out = ctl_with(&registry.url, &flags, &["env", "list"])?;
        ensure!(out.code != 0, "{what} was accepted: {}", out.stdout);
        ensure!(
            out.stderr.contains("cannot reach the registry"),
            "{what}: {}",
            out.stderr
        );
    }
    // config-sync plan reads the live registry over mutual TLS with the same flags, and is
    // refused without a client certificate.
    let declared = dir.path().join("environments.yaml");
    std::fs::write(
        &declared,
        "- name: ghcr.io/acme/planned:1\n  python:\n    installations:\n      - {version: 3.12.4, path: /opt/python/3.12.4/bin/python3}\n",
    )?;
    let plan = |flags: &[String]| -> Result<CtlOutput> {
        Ok(Command::new(binary("execenv-config-sync")?)
            .arg("plan")
            .arg(&declared)
            .args(["--registry", &registry.url])
            .args(flags)
            .env_remove("EXECENV_AUTH__SERVICE_TOKEN")
            .output()?
            .into())
    };
    let planned = plan(&client)?.ok()?;
    ensure!(
        planned.stdout.contains("+ create ghcr.io/acme/planned:1")
            && planned.stdout.contains("Plan: 1 to create"),
        "{}",
        planned.stdout
    );
    let refused = plan(&pki.ctl_flags("good", None))?;
    ensure!(
        refused.code != 0 && refused.stderr.contains("cannot reach the registry"),
        "config-sync plan without a client certificate: {refused:?}"
    );

    let plain = registry.url.replace("https://", "http://");
    let out = ctl(&["--registry", &plain], &["env", "list"])?;
    ensure!(out.code != 0, "plain text was accepted: {}", out.stdout);
    // An http:// URL with a CA given is a configuration error naming both.
    let out = ctl_with(&plain, &client, &["env", "list"])?;
    ensure!(
        out.code != 0 && out.stderr.contains("--ca-file") && out.stderr.contains("https://"),
        "{}",
        out.stderr
    );

    // The selector, the launcher and the gateway, each calling the next over mutual TLS.
    let selector = ServiceProcess::selector(&registry, dir.path(), &mutual)?;
    let mut launcher_env = mutual.clone();
    launcher_env.extend([
        ("EXECENV_LAUNCHER__BACKEND", "local".to_owned()),
        ("EXECENV_LOCAL__DATA_DIR", data.display().to_string()),
        ("PIP_NO_INDEX", "1".to_owned()),
    ]);
    let launcher = ServiceProcess::launcher(&selector, dir.path(), &launcher_env)?;
    // The gateway serves HTTPS (no client certificate asked of API clients) and calls the
    // services with its certificate.
    let mut gateway_env: Vec<(&str, String)> = mutual
        .iter()
        .filter(|(k, _)| *k != "EXECENV_TLS__CLIENT_CA_FILE")
        .cloned()
        .collect();
    gateway_env.extend([
        ("EXECENV_SELECTOR__URL", selector.url.clone()),
        ("EXECENV_LAUNCHER__URL", launcher.url.clone()),
        ("EXECENV_BUNDLES__DIR", data.display().to_string()),
    ]);
    let gateway = ServiceProcess::gateway(&registry, dir.path(), &gateway_env)?;
    ensure!(gateway.url.starts_with("https://"), "{}", gateway.url);
    let ca = pki.path("good-ca.pem");

    let (status, chosen) = https_request(
        &ca,
        &key,
        "POST",
        &format!("{}/__api__/execenv/v1/select", gateway.url),
        Some(&json!({"requirements": {"python_version": version}})),
    )?;
    ensure!(status == 200, "{status} {chosen}");
    ensure!(
        chosen["environment"]["guid"] == env_guid.as_str(),
        "{chosen}"
    );

    place_bundle(&data, "c0ffee00-0000-4000-8000-000000000001", "1", &version)?;
    let (status, build) = https_request(
        &ca,
        &key,
        "POST",
        &format!("{}/__api__/execenv/v1/launches", gateway.url),
        Some(
            &json!({"kind": "build", "content": {"guid": "c0ffee00-0000-4000-8000-000000000001", "bundle": "1"}, "command": []}),
        ),
    )?;
    ensure!(status == 200, "{status} {build}");
    let id = field(&build, "id")?;
    let launch = format!("{}/__api__/execenv/v1/launches/{id}", gateway.url);
    eventually(
        Duration::from_secs(120),
        "the build succeeding over TLS",
        || {
            https_request(&ca, &key, "GET", &launch, None)
                .is_ok_and(|(_, l)| l["state"] == "succeeded")
        },
    )?;

    // Plain HTTP to the gateway's port is refused; so is HTTPS verified against another CA.
    let plain = Command::new("curl")
        .args([
            "-sS",
            &format!("http://{}/__api__/v1/user", gateway.address()),
        ])
        .output()?;
    ensure!(!plain.status.success(), "plain HTTP was answered");
    ensure!(
        https_request(
            pki.path("other-ca.pem"),
            &key,
            "GET",
            &format!("{}/__api__/v1/user", gateway.url),
            None
        )
        .is_err(),
        "the gateway's certificate passed for another CA's"
    );

    // The certificate files replaced (as Kubernetes does, by a rename): the next connection
    // gets the new certificate, without a restart.
    ensure!(served_serial(&pki, gateway.address())? == "serial=1001");
    for (from, to) in [
        ("renewed.key", "service.key"),
        ("renewed.pem", "service.pem"),
    ] {
        let staged = pki.dir.join(format!("{to}.new"));
        std::fs::copy(pki.dir.join(from), &staged)?;
        std::fs::rename(&staged, pki.dir.join(to))?;
    }
    ensure!(served_serial(&pki, gateway.address())? == "serial=1002");
    // Services keep calling each other with the renewed certificate.
    let (status, again) = https_request(
        &ca,
        &key,
        "POST",
        &format!("{}/__api__/execenv/v1/select", gateway.url),
        Some(&json!({"requirements": {"python_version": version}})),
    )?;
    ensure!(status == 200, "{status} {again}");
    drop((gateway, launcher, selector));
    Ok(())
}

#[test]
fn during_a_rotation_both_tokens_are_accepted_and_after_it_only_the_new_one() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = sqlite_url(dir.path());
    let list = |registry: &RegistryProcess, token: &str| -> Result<CtlOutput> {
        ctl(
            &["--registry", &registry.url, "--token", token],
            &["env", "list"],
        )
    };

    // During the rotation (docs/security.md): the new token set, the old one still accepted.
    let during = RegistryProcess::start(
        &url,
        dir.path(),
        &[
            ("EXECENV_AUTH__SERVICE_TOKEN", "new-token".to_owned()),
            (
                "EXECENV_AUTH__PREVIOUS_SERVICE_TOKEN",
                "old-token".to_owned(),
            ),
        ],
    )?;
    list(&during, "new-token")?.ok()?;
    list(&during, "old-token")?.ok()?;
    let wrong = list(&during, "other-token")?;
    ensure!(
        wrong.code != 0 && wrong.stderr.contains("missing or wrong service token"),
        "{}",
        wrong.stderr
    );
    drop(during);

    // After it: the previous token unset, the old one refused.
    let after = RegistryProcess::start(
        &url,
        dir.path(),
        &[("EXECENV_AUTH__SERVICE_TOKEN", "new-token".to_owned())],
    )?;
    list(&after, "new-token")?.ok()?;
    let old = list(&after, "old-token")?;
    ensure!(
        old.code != 0 && old.stderr.contains("missing or wrong service token"),
        "{}",
        old.stderr
    );
    Ok(())
}
