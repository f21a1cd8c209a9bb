//! Drift reaching selection through the real binaries: an OCI registry (Debian's
//! docker-registry) holding the images, the environment registry, the image examiner checking
//! every environment against its image every 2 s, and two selectors following the examiner's
//! checks — one with `selection.skip_drift`, one without; execenvctl asks them to select and
//! explain. The examiner is then killed and started again: selection goes on with its last
//! checks meanwhile, and the selector reconnects, logging once each way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use execenv_e2e::oci_images::{Compression, Image, Layer, push, write_layout};
use execenv_e2e::oci_registry::OciRegistry;
use execenv_e2e::{RegistryProcess, ServiceProcess, ctl, eventually, http_get};
use serde_json::{Value, json};

const MISMATCH: &str =
    "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9";
/// Long enough for the examiner's first round (reads of small images) and a 2 s interval.
const WITHIN: Duration = Duration::from_secs(60);

/// Pushes to `reference` (`python:3.12`) an image with a Python under `prefix` whose version
/// file says `version`.
fn push_python(
    oci: &OciRegistry,
    dir: &Path,
    reference: &str,
    prefix: &str,
    version: &str,
) -> Result<()> {
    let layout = write_layout(
        &dir.join(format!("{}-{version}", reference.replace([':', '/'], "-"))),
        "latest",
        &[Image::new("linux/amd64").layer(Layer::new(Compression::GZIP).python(prefix, version))],
    )?;
    push(&layout, oci, reference)?;
    Ok(())
}

fn guid(v: &Value) -> String {
    v["guid"].as_str().expect("guid").to_owned()
}

/// The guid of the environment `selector` chooses for Python 3.12.4.
fn chosen(selector: &ServiceProcess) -> Result<String> {
    let out = ctl(
        &["--selector", &selector.url],
        &["select", "--python", "3.12.4", "-o", "json"],
    )?
    .ok()?;
    Ok(out.json()?["environment"]["guid"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// `selector`'s explanation for Python 3.12.4: every verdict by environment guid.
fn verdicts(selector: &ServiceProcess) -> Result<Vec<Value>> {
    let x = ctl(
        &["--selector", &selector.url],
        &["explain", "--python", "3.12.4", "-o", "json"],
    )?
    .ok()?
    .json()?;
    Ok(x["verdicts"].as_array().cloned().unwrap_or_default())
}

fn verdict<'a>(verdicts: &'a [Value], guid: &str) -> &'a Value {
    verdicts
        .iter()
        .find(|v| v["environment_guid"] == guid)
        .expect("a verdict per environment")
}

fn skipped_total(selector: &ServiceProcess) -> Result<f64> {
    let (_, metrics) = http_get(&selector.admin, "/metrics")?;
    Ok(metrics
        .lines()
        .find_map(|l| l.strip_prefix("execenv_selector_skipped_drift_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN))
}

#[test]
fn environments_in_drift_are_explained_skipped_with_skip_drift_and_chosen_again_once_fixed()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let oci = OciRegistry::start()?;
    // python:3.12 says 3.12.4 in its path but holds 3.11.9; python:3.12.1 holds what it says;
    // python:missing is not in the registry at all.
    push_python(&oci, dir, "python:3.12", "/opt/python/3.12.4", "3.11.9")?;
    push_python(&oci, dir, "python:3.12.1", "/opt/python/3.12.1", "3.12.1")?;

    let registry = RegistryProcess::on_sqlite(dir)?;
    let drifting = guid(&registry.create_environment(
        &oci.reference("python:3.12"),
        &["--python", "3.12.4=/opt/python/3.12.4/bin/python3"],
    )?);
    let other = guid(&registry.create_environment(
        &oci.reference("python:3.12.1"),
        &["--python", "3.12.1=/opt/python/3.12.1/bin/python3"],
    )?);
    let unreadable = guid(&registry.create_environment(
        &oci.reference("python:missing"),
        &["--python", "3.10.14=/opt/python/3.10.14/bin/python3"],
    )?);
    let mut examiner = ServiceProcess::image_examiner(
        &registry,
        dir,
        &[
            (
                "EXECENV_EXAMINER__INSECURE_REGISTRIES",
                oci.host().to_owned(),
            ),
            ("EXECENV_EXAMINER__CHECK_INTERVAL_S", "2".to_owned()),
        ],
    )?;
    let follow = [("EXECENV_EXAMINER__URL", examiner.url.clone())];
    let mut skip = follow.to_vec();
    skip.push(("EXECENV_SELECTION__SKIP_DRIFT", "true".to_owned()));
    let skipping = ServiceProcess::selector(&registry, dir, &skip)?;
    let reporting = ServiceProcess::selector(&registry, dir, &follow)?;

    // With skip_drift the environment in drift is left out, and its verdict says why.
    eventually(WITHIN, "the environment in drift is skipped", || {
        chosen(&skipping).is_ok_and(|g| g == other)
    })?;
    let v = verdicts(&skipping)?;
    ensure!(
        verdict(&v, &drifting)["outcome"] == "rejected"
            && verdict(&v, &drifting)["reasons"]
                == json!([format!(
                    "in drift and selection.skip_drift is on: {MISMATCH}"
                )])
            && verdict(&v, &drifting)["drift"] == format!("in drift: {MISMATCH}"),
        "{v:?}"
    );
    ensure!(
        verdict(&v, &other)["outcome"] == "chosen" && verdict(&v, &other)["drift"].is_null(),
        "{v:?}"
    );
    let table = ctl(
        &["--selector", &skipping.url],
        &["explain", "--python", "3.12.4"],
    )?
    .ok()?;
    ensure!(
        table
            .stdout
            .lines()
            .next()
            .is_some_and(|h| h.contains("DRIFT")),
        "{}",
        table.stdout
    );
    ensure!(skipped_total(&skipping)? >= 1.0);

    // Without it the environment in drift is still chosen; Explain says it drifted, and that the
    // other image could not be read (which never excludes).
    eventually(WITHIN, "the reporting selector knows both images", || {
        verdicts(&reporting).is_ok_and(|v| {
            verdict(&v, &drifting)["drift"].is_string()
                && verdict(&v, &unreadable)["drift"].is_string()
        })
    })?;
    let v = verdicts(&reporting)?;
    ensure!(
        verdict(&v, &drifting)["outcome"] == "chosen"
            && verdict(&v, &drifting)["drift"] == format!("in drift: {MISMATCH}"),
        "{v:?}"
    );
    let note = verdict(&v, &unreadable)["drift"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        note.starts_with("image unreadable: ") && note.contains("python:missing"),
        "{note}"
    );
    ensure!(chosen(&reporting)? == drifting);
    ensure!(skipped_total(&reporting)? == 0.0);

    // The examiner goes away and the image is fixed meanwhile: the last checks stay in force.
    examiner.process.kill();
    push_python(&oci, dir, "python:3.12", "/opt/python/3.12.4", "3.12.4")?;
    ensure!(chosen(&skipping)? == other);
    // Back, it checks every environment at start; the selector reconnects and catches up.
    examiner.restart()?;
    eventually(WITHIN, "the fixed environment is chosen again", || {
        chosen(&skipping).is_ok_and(|g| g == drifting)
    })?;
    let log = skipping.process.output();
    let lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    ensure!(
        lines("following the image examiner's checks") == 2
            && lines("lost the image examiner") == 1
            && lines("cannot follow the image examiner") == 0,
        "one line per connect and per disconnect:\n{log}"
    );
    Ok(())
}
