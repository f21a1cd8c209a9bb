//! Images and drift at the edges, end to end: execenvctl's `image examine` and `env drift`, and
//! what the gateway's image and check routes answer each role, against the real registry, the
//! real image examiner and a real OCI registry holding an image in drift and one that matches
//! its environment (`execenv_e2e::drift_images`). The routes' shapes are checked against the
//! OpenAPI document in gateway_api; here, what they mean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::drift_images::{DECLARED_PYTHON, DECLARED_R, DRIFT_MESSAGE, DriftImages};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{
    CtlOutput, RegistryProcess, ServiceProcess, binary, ctl, eventually, field, http_request,
};
use serde_json::{Value, json};

/// Long enough for the examiner to follow the catalogue and read two small images.
const CHECKED_WITHIN: Duration = Duration::from_secs(60);

struct Drift {
    dir: tempfile::TempDir,
    registry: RegistryProcess,
    examiner: ServiceProcess,
    images: DriftImages,
    /// `Drifting Python`: Python 3.12.4 declared, 3.11.2 in the image.
    drifting: String,
    /// `Checked R`: as its image is; administrators only.
    checked: String,
}

impl Drift {
    /// The registry, the OCI registry with the images, the examiner, and the two environments,
    /// once the examiner has checked both.
    fn start() -> Result<Drift> {
        let dir = tempfile::tempdir()?;
        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let images = DriftImages::push(&dir.path().join("layouts"))?;
        let examiner = images.examiner(&registry, dir.path(), &[])?;
        let (python, python_at) = DECLARED_PYTHON;
        let drifting = registry.create_environment(
            &images.drift,
            &[
                "--title",
                "Drifting Python",
                "--python",
                &format!("{python}={python_at}"),
            ],
        )?;
        let (r, r_at) = DECLARED_R;
        let checked = registry.create_environment(
            &images.ok,
            &["--title", "Checked R", "--r", &format!("{r}={r_at}")],
        )?;
        let drift = Drift {
            drifting: field(&drifting, "guid")?,
            checked: field(&checked, "guid")?,
            dir,
            registry,
            examiner,
            images,
        };
        drift.wait_checked()?;
        Ok(drift)
    }

    /// `execenvctl --examiner URL --registry URL ARGS…`.
    fn ctl(&self, args: &[&str]) -> Result<CtlOutput> {
        ctl(
            &[
                "--examiner",
                &self.examiner.url,
                "--registry",
                &self.registry.url,
            ],
            args,
        )
    }

    fn wait_checked(&self) -> Result<()> {
        let mut last = String::new();
        let done = eventually(
            CHECKED_WITHIN,
            "the first checks of both environments",
            || {
                let Ok(out) = self.ctl(&["-o", "json", "env", "drift"]) else {
                    return false;
                };
                last = out.stdout.clone();
                let Ok(body) = out.json() else { return false };
                let state = |guid: &str| {
                    body["checks"]
                        .as_array()
                        .and_then(|c| c.iter().find(|c| c["guid"] == guid))
                        .map(|c| c["state"].clone())
                };
                state(&self.drifting) == Some(json!("drift"))
                    && state(&self.checked) == Some(json!("ok"))
            },
        );
        done.with_context(|| format!("`env drift -o json` printed last: {last}"))
    }
}

#[test]
fn execenvctl_examines_images_and_reports_drift_with_exit_code_3() -> Result<()> {
    let drift = Drift::start()?;
    let images = &drift.images;

    // Every environment: a table, a summary, exit code 3 (one is in drift).
    let all = drift.ctl(&["env", "drift"])?;
    ensure!(all.code == 3, "{all:?}");
    let row = |title: &str| {
        all.stdout
            .lines()
            .find(|l| l.starts_with(title))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let short = |i: usize| images.digests[i].trim_start_matches("sha256:")[..12].to_owned();
    let drifting = row("Drifting Python").context("no Drifting Python row")?;
    ensure!(
        drifting[2..6] == [images.drift.as_str(), "drift", &short(0), "1"],
        "{}",
        all.stdout
    );
    let checked = row("Checked R").context("no Checked R row")?;
    ensure!(
        checked[2..6] == [images.ok.as_str(), "ok", &short(1), "0"],
        "{}",
        all.stdout
    );
    ensure!(
        all.stderr
            .starts_with("2 environments: 1 ok, 1 drift; checked every 300 s\n"),
        "{}",
        all.stderr
    );

    // One environment, by image name and by guid.
    let one = drift.ctl(&["env", "drift", &images.drift])?;
    ensure!(one.code == 3, "{one:?}");
    ensure!(
        one.stdout
            .contains(&format!("findings:         drift   {DRIFT_MESSAGE}\n")),
        "{}",
        one.stdout
    );
    let ok = drift.ctl(&["-o", "json", "env", "drift", &drift.checked])?;
    ensure!(ok.code == 0, "{ok:?}");
    let ok = ok.json()?;
    ensure!(
        ok["state"] == "ok"
            && ok["findings"] == json!([])
            && ok["digest"] == images.digests[1].as_str(),
        "{ok}"
    );

    // What an image holds, as an entry of the declarative file: config-sync's own validation
    // takes it as it is.
    let entry = drift
        .ctl(&["-o", "yaml", "image", "examine", &images.fill])?
        .ok()?;
    ensure!(
        entry.stdout
            == format!(
                "# examined {} (linux/amd64)\n\
                 - name: {}\n  title: quarto:1.5 (Quarto 1.5.57)\n  python:\n    installations: []\n  \
                 r:\n    installations: []\n  quarto:\n    installations:\n    - version: \"1.5.57\"\n      \
                 path: /opt/quarto/1.5.57/bin/quarto\n",
                images.digests[2], images.fill
            ),
        "{}",
        entry.stdout
    );
    let file = drift.dir.path().join("examined.yaml");
    std::fs::write(&file, &entry.stdout)?;
    let validated = std::process::Command::new(binary("execenv-config-sync")?)
        .args(["validate", &file.display().to_string()])
        .output()?;
    ensure!(
        validated.status.success(),
        "execenv-config-sync validate refused the entry: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // As JSON: the examination and the definition; the drift image's Python is 3.11.2.
    let json = drift
        .ctl(&["-o", "json", "image", "examine", &images.drift])?
        .ok()?
        .json()?;
    ensure!(
        json["examination"]["installations"]
            == json!([{"language": "python", "path": "/opt/python/default/bin/python3", "version": "3.11.2",
                "version_file": "/opt/python/default/include/python3.11/patchlevel.h", "problem": null}])
            && json["definition"]["python"]["installations"][0]["version"] == "3.11.2",
        "{json}"
    );

    // A tag the registry does not have; a publisher may not examine.
    let missing = drift.ctl(&[
        "image",
        "examine",
        &format!("{}/nothing:1", images.oci.host()),
    ])?;
    ensure!(missing.code == 1, "{missing:?}");
    ensure!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let refused = drift.ctl(&["--as-role", "publisher", "image", "examine", &images.fill])?;
    ensure!(
        refused.code == 1 && refused.stderr.contains("administrator"),
        "{refused:?}"
    );
    Ok(())
}

/// `GET path` at the gateway with `key`: the status and the JSON body.
fn get(gateway: &ServiceProcess, key: &str, path: &str) -> Result<(u16, Value)> {
    let auth = format!("Key {key}");
    let answer = http_request(
        gateway.address(),
        "GET",
        path,
        &[("Authorization", &auth)],
        None,
    )?;
    Ok((answer.status, answer.json()?))
}

#[test]
fn the_gateway_shows_each_role_the_checks_it_may_see() -> Result<()> {
    let drift = Drift::start()?;
    let admin = user_key(&drift.registry, "ada", "administrator")?;
    drift
        .registry
        .ctl(&["env", "permissions", "add", &drift.checked, "--user", "ada"])?
        .ok()?;
    let publisher = user_key(&drift.registry, "pat", "publisher")?;
    let gateway = ServiceProcess::gateway(
        &drift.registry,
        drift.dir.path(),
        &[("EXECENV_EXAMINER__URL", drift.examiner.url.clone())],
    )?;

    // Administrators see every check; a publisher those of the environments they may use.
    let (status, all) = get(&gateway, &admin, "/__api__/execenv/v1/checks")?;
    ensure!(status == 200, "{all}");
    let guids = |body: &Value| -> Vec<String> {
        let mut g: Vec<String> = body["checks"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["guid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        g.sort();
        g
    };
    let mut both = vec![drift.drifting.clone(), drift.checked.clone()];
    both.sort();
    ensure!(guids(&all) == both, "{all}");
    let (status, mine) = get(&gateway, &publisher, "/__api__/execenv/v1/checks")?;
    ensure!(
        status == 200 && guids(&mine) == [drift.drifting.clone()],
        "{mine}"
    );
    let (status, hidden) = get(
        &gateway,
        &publisher,
        &format!("/__api__/execenv/v1/environments/{}/check", drift.checked),
    )?;
    ensure!(status == 404 && hidden["code"] == 4, "{hidden}");
    let (status, visible) = get(
        &gateway,
        &admin,
        &format!("/__api__/execenv/v1/environments/{}/check", drift.checked),
    )?;
    ensure!(status == 200 && visible["state"] == "ok", "{visible}");

    // A gateway without an examiner says which setting to give it.
    let without = ServiceProcess::gateway(&drift.registry, drift.dir.path(), &[])?;
    let (status, body) = get(&without, &admin, "/__api__/execenv/v1/checks")?;
    ensure!(
        status == 503
            && body["code"] == 1
            && body["error"]
                .as_str()
                .is_some_and(|e| e.contains("examiner.url (EXECENV_EXAMINER__URL)")),
        "{body}"
    );
    Ok(())
}
