//! Bundles uploaded through the gateway, end to end with the real binaries: the example bundle
//! uploaded, listed, built by the launcher from where the gateway put it, and deleted; the same
//! through execenvctl, with its refusals. Hostile uploads are in `gateway_bundle_attacks.rs`.
//! Run with `--nocapture` to see the measured times.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use execenv_e2e::bundles::{
    MANIFEST, RawTar, bundles_path, example_dir, example_targz, gateway_alone, tree, upload,
};
use execenv_e2e::gateway::user_key;
use execenv_e2e::launcher::{HostPython, local_launcher_and_gateway};
use execenv_e2e::{
    CtlOutput, HttpResponse, RegistryProcess, ServiceProcess, ctl, eventually, http_request,
};
use serde_json::{Value, json};

/// Long enough for a cold virtual environment on a busy machine.
const FINISH: Duration = Duration::from_secs(180);

fn auth(key: &str) -> String {
    format!("Key {key}")
}

fn call(
    gateway: &ServiceProcess,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<HttpResponse> {
    let auth = auth(key);
    http_request(
        gateway.address(),
        method,
        path,
        &[("Authorization", &auth)],
        body,
    )
}

/// The example's manifest summary, as the gateway must answer it.
fn example_manifest() -> Value {
    json!({"appmode": "python-script", "entrypoint": "app.py", "python": "3.11.9", "r": null, "quarto": null})
}

#[test]
fn the_example_bundle_is_uploaded_listed_built_from_the_data_folder_and_deleted() -> Result<()> {
    const CONTENT: &str = "1d9b6a4e-7c2f-4e3a-9b8d-0f1e2a3b4c5d";
    let dir = tempfile::tempdir()?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let host = HostPython::create(&registry)?;
    let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
    let data = dir.path().join("data");
    let (_launcher, gateway) =
        local_launcher_and_gateway(&registry, &selector, dir.path(), &data, (&[], &[]))?;
    let key = user_key(&registry, "pat", "publisher")?;

    let bytes = example_targz()?;
    let started = Instant::now();
    let answer = upload(&gateway, &key, CONTENT, &bytes)?;
    let took = started.elapsed();
    println!(
        "upload of the example bundle ({} bytes): {took:?}",
        bytes.len()
    );
    ensure!(answer.status == 201, "{answer:?}");
    let stored = answer.json()?;
    // app.py 298 bytes, manifest.json 299, requirements.txt 83.
    ensure!(stored["bundle_id"] == "1", "{stored}");
    ensure!(stored["content_guid"] == CONTENT, "{stored}");
    ensure!(stored["size"] == 680 && stored["files"] == 3, "{stored}");
    ensure!(stored["manifest"] == example_manifest(), "{stored}");
    let bundle = data.join(format!("content/{CONTENT}/1/bundle"));
    ensure!(
        tree(&bundle) == ["app.py", "manifest.json", "requirements.txt"],
        "{:?}",
        tree(&bundle)
    );

    let listed = call(&gateway, &key, "GET", &bundles_path(CONTENT), None)?;
    ensure!(listed.status == 200, "{listed:?}");
    ensure!(listed.json()? == json!([stored]), "{listed:?}");

    // The launcher builds it from where the gateway put it.
    let launch = call(
        &gateway,
        &key,
        "POST",
        "/__api__/execenv/v1/launches",
        Some(
            &json!({"kind": "build", "command": [], "content": {"guid": CONTENT, "bundle": "1",
            "requirements": {"python_version": host.version}}}),
        ),
    )?;
    ensure!(launch.status == 200, "{launch:?}");
    let id = launch.json()?["id"]
        .as_str()
        .context("a launch id")?
        .to_owned();
    let mut last = Value::Null;
    eventually(FINISH, "the build finishing", || {
        last = call(
            &gateway,
            &key,
            "GET",
            &format!("/__api__/execenv/v1/launches/{id}"),
            None,
        )
        .and_then(|r| r.json())
        .unwrap_or(Value::Null);
        matches!(
            last["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })?;
    ensure!(last["state"] == "succeeded", "{last}");
    ensure!(
        data.join(format!("content/{CONTENT}/1/work")).is_dir(),
        "no work folder"
    );

    let one = format!("{}/1", bundles_path(CONTENT));
    let delete = || call(&gateway, &key, "DELETE", &one, None);
    let deleted = delete()?;
    ensure!(deleted.status == 204, "{deleted:?}");
    let listed = call(&gateway, &key, "GET", &bundles_path(CONTENT), None)?;
    ensure!(listed.json()? == json!([]), "{listed:?}");
    let again = delete()?;
    ensure!(
        again.status == 404 && again.json()?["code"] == 4,
        "{again:?}"
    );
    // The id's folder stays, empty, so that the id is not given again; the content keeps its
    // owner (who uploaded its first bundle).
    let left = tree(&data.join(format!("content/{CONTENT}")));
    ensure!(left == ["1", "owner.json"], "{left:?}");
    Ok(())
}

/// `execenvctl --gateway URL ARGS…` with `EXECENV_API_KEY` unset.
fn bundle_ctl(gateway: &str, args: &[&str]) -> Result<CtlOutput> {
    ctl(&["--gateway", gateway], args)
}

#[test]
fn execenvctl_uploads_a_folder_or_a_file_lists_and_deletes() -> Result<()> {
    const CONTENT: &str = "4e2a7c9b-1f3d-4a5e-8b6c-9d0e1f2a3b4c";
    let dir = tempfile::tempdir()?;
    let limit = [("EXECENV_BUNDLES__MAX_UPLOAD_BYTES", (1 << 20).to_string())];
    let (registry, gateway, data) = gateway_alone(dir.path(), &limit)?;
    let key = user_key(&registry, "pat", "publisher")?;
    let viewer = user_key(&registry, "val", "viewer")?;
    let url = gateway.url.as_str();
    let example = example_dir().display().to_string();

    let started = Instant::now();
    let folder = bundle_ctl(
        url,
        &[
            "--api-key",
            &key,
            "-o",
            "json",
            "bundle",
            "upload",
            &example,
            "--content",
            CONTENT,
        ],
    )?
    .ok()?;
    println!(
        "execenvctl bundle upload of the example folder: {:?}",
        started.elapsed()
    );
    let stored = folder.json()?;
    ensure!(
        stored["bundle_id"] == "1" && stored["size"] == 680 && stored["files"] == 3,
        "{stored}"
    );
    ensure!(stored["manifest"] == example_manifest(), "{stored}");

    let upload_file = |name: &str, bytes: Vec<u8>| -> Result<CtlOutput> {
        let path = dir.path().join(name).display().to_string();
        std::fs::write(&path, bytes)?;
        bundle_ctl(
            url,
            &[
                "--api-key",
                &key,
                "bundle",
                "upload",
                &path,
                "--content",
                CONTENT,
            ],
        )
    };
    let second = upload_file("hello.tar.gz", example_targz()?)?.ok()?;
    ensure!(
        second.stdout.starts_with("bundle:      2\n"),
        "{}",
        second.stdout
    );
    ensure!(
        second.stdout.contains("\nappmode:     python-script\n"),
        "{}",
        second.stdout
    );

    let listed = bundle_ctl(
        url,
        &["--api-key", &key, "bundle", "list", "--content", CONTENT],
    )?
    .ok()?;
    let lines: Vec<&str> = listed.stdout.lines().collect();
    ensure!(lines.len() == 3, "{}", listed.stdout);
    ensure!(lines[0].starts_with("ID  CREATED"), "{}", listed.stdout);
    ensure!(
        lines[1].starts_with("1   ")
            && lines[1].ends_with("python-script  app.py      python 3.11.9"),
        "{}",
        listed.stdout
    );
    ensure!(listed.stderr.trim() == "2 bundles", "{}", listed.stderr);

    let deleted = bundle_ctl(
        url,
        &[
            "--api-key",
            &key,
            "bundle",
            "delete",
            "1",
            "--content",
            CONTENT,
        ],
    )?
    .ok()?;
    ensure!(
        deleted.stdout == format!("deleted bundle 1 of content {CONTENT}\n"),
        "{}",
        deleted.stdout
    );
    let left = tree(&data.join(format!("content/{CONTENT}")));
    ensure!(
        left.contains(&"2/bundle/app.py".to_owned()) && !left.iter().any(|p| p.starts_with("1/")),
        "{left:?}"
    );

    // Refusals, with the gateway's own message.
    let failures = [
        (
            bundle_ctl(url, &["--api-key", &viewer, "bundle", "upload", &example, "--content", CONTENT])?,
            1,
            "error: the gateway answered 403: viewers may not upload bundles; ask an administrator for the publisher role\n".to_owned(),
        ),
        (
            bundle_ctl(url, &["bundle", "list", "--content", CONTENT])?,
            2,
            "error: no API key for the gateway: pass --api-key KEY or set EXECENV_API_KEY (create one with `execenvctl keys create USER --name NAME`)\n".to_owned(),
        ),
        (
            bundle_ctl(url, &["--api-key", &key, "bundle", "delete", "7", "--content", CONTENT])?,
            1,
            format!("error: the gateway answered 404: content {CONTENT} has no bundle \"7\"; list its bundles to find their ids\n"),
        ),
        (
            bundle_ctl(url, &["--api-key", &key, "bundle", "upload", &dir.path().display().to_string(), "--content", CONTENT])?,
            2,
            format!("error: {} has no manifest.json; a bundle's folder needs one (write it with `rsconnect write-manifest`, or see examples/bundles/hello-python)\n", dir.path().display()),
        ),
    ];
    for (out, code, stderr) in failures {
        ensure!(
            out.code == code && out.stderr == stderr,
            "{out:?}\nexpected {code}: {stderr}"
        );
        ensure!(
            !out.stdout.contains(&key) && !out.stderr.contains(&key),
            "the key was printed"
        );
    }
    // A file sent as it is: over the upload limit, refused as soon as its length is seen (the
    // message still shown); hostile, refused naming the entry.
    let two_mib = vec![b'x'; 2 << 20];
    let large = RawTar::default()
        .manifest(MANIFEST)
        .entry("data.bin", execenv_e2e::bundles::kind::FILE, &two_mib, "")
        .gz_with(flate2::Compression::none());
    let out = upload_file("large.tar.gz", large)?;
    ensure!(
        out.code == 1
            && out.stderr
                == "error: the gateway answered 413: the upload is larger than 1048576 bytes, the \
                    most this gateway accepts (EXECENV_BUNDLES__MAX_UPLOAD_BYTES)\n",
        "{out:?}"
    );
    let hostile = RawTar::default().manifest(MANIFEST).file("../x", "x").gz();
    let out = upload_file("hostile.tar.gz", hostile)?;
    ensure!(out.code == 2, "{out:?}");
    ensure!(
        out.stderr
            == "error: the gateway answered 400: bundle entry \"../x\" is refused: its path holds `..`, which would leave the bundle folder\n",
        "{}",
        out.stderr
    );
    let out = bundle_ctl(
        "http://127.0.0.1:9",
        &["--api-key", &key, "bundle", "list", "--content", CONTENT],
    )?;
    ensure!(out.code == 1, "{out:?}");
    ensure!(
        out.stderr
            .starts_with("error: cannot reach the gateway at http://127.0.0.1:9: ")
            && out
                .stderr
                .ends_with("; is execenv-gateway running? set --gateway (or EXECENV_GATEWAY)\n"),
        "{}",
        out.stderr
    );
    Ok(())
}
