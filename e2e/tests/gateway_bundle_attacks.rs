//! Hostile uploads against the real gateway (and registry): each refused with its reason and
//! status, leaving nothing in the data folder — paths with `..` or absolute, links and hard
//! links out, devices and FIFOs, no or an invalid manifest, too many files, bodies over the
//! upload limit (announced or counted), and a gigabyte of zeros streamed from a generator,
//! refused at its header while the gateway's memory stays flat. Run with `--nocapture` to see
//! the measured time and memory.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, ensure};
use execenv_e2e::bundles::{
    MANIFEST, RawTar, bundles_path, example_targz, gateway_alone, kind, memory_kib, tree, upload,
    zeros_archive,
};
use execenv_e2e::gateway::user_key;
use execenv_e2e::{http_send, http_stream};
use flate2::Compression;

/// What the data folder holds for `content`: nothing after a refused upload.
fn left_for(data: &Path, content: &str) -> Vec<String> {
    tree(&data.join("content").join(content))
}

#[test]
fn hostile_uploads_are_refused_with_their_reason_and_leave_nothing_behind() -> Result<()> {
    const CONTENT: &str = "9c8b7a6f-5e4d-4c3b-8a29-1f0e9d8c7b6a";
    let dir = tempfile::tempdir()?;
    let (registry, gateway, data) = gateway_alone(
        dir.path(),
        &[
            ("EXECENV_BUNDLES__MAX_UNPACKED_BYTES", (8 << 20).to_string()),
            ("EXECENV_BUNDLES__MAX_UPLOAD_BYTES", (4 << 20).to_string()),
            ("EXECENV_BUNDLES__MAX_FILES", "50".to_owned()),
        ],
    )?;
    let key = user_key(&registry, "pat", "publisher")?;
    let viewer = user_key(&registry, "val", "viewer")?;
    let outside = format!("/tmp/execenv-e2e-{}", uuid::Uuid::new_v4());
    let mut many = RawTar::default().manifest(MANIFEST);
    for i in 0..50 {
        many = many.file(&format!("f{i}"), "");
    }
    let refused = |why: &str| format!("bundle entry {why}");
    let cases: Vec<(&str, Vec<u8>, u16, String)> = vec![
        (
            "dot-dot",
            RawTar::default().manifest(MANIFEST).file("../x", "owned").gz(),
            400,
            refused("\"../x\" is refused: its path holds `..`, which would leave the bundle folder"),
        ),
        (
            "absolute",
            RawTar::default().manifest(MANIFEST).file(&outside, "owned").gz(),
            400,
            refused(&format!("{outside:?} is refused: it is an absolute path; entries must be relative to the bundle folder")),
        ),
        (
            "symlink out",
            RawTar::default().manifest(MANIFEST).entry("passwd", kind::SYMLINK, b"", "/etc/passwd").gz(),
            400,
            refused("\"passwd\" is refused: it is a symbolic link to \"/etc/passwd\", outside the bundle folder"),
        ),
        (
            "hard link out",
            RawTar::default().manifest(MANIFEST).entry("passwd", kind::HARD_LINK, b"", "/etc/passwd").gz(),
            400,
            refused("\"passwd\" is refused: it is a hard link; bundles may not hold hard links (pack the file itself, e.g. GNU tar --hard-dereference)"),
        ),
        (
            "fifo",
            RawTar::default().manifest(MANIFEST).entry("pipe", kind::FIFO, b"", "").gz(),
            400,
            refused("\"pipe\" is refused: it is a FIFO (named pipe)"),
        ),
        (
            "device",
            RawTar::default().manifest(MANIFEST).entry("tty", kind::CHAR_DEVICE, b"", "").gz(),
            400,
            refused("\"tty\" is refused: it is a device file"),
        ),
        (
            "no manifest",
            RawTar::default().file("app.py", "print(1)").gz(),
            400,
            "the bundle has no manifest.json at its root; a Connect bundle is a .tar.gz with manifest.json at its root (write one with `rsconnect write-manifest`, pack the folder's content, not the folder)".to_owned(),
        ),
        (
            "invalid manifest",
            RawTar::default().manifest("{\"metadata\": {").gz(),
            400,
            "the bundle's manifest.json is not valid JSON: EOF while parsing an object at line 1 column 14; write it with `rsconnect write-manifest`".to_owned(),
        ),
        (
            "not gzip",
            b"PK\x03\x04 a zip file".to_vec(),
            400,
            "the body is not a valid .tar.gz (invalid gzip header); a Connect bundle is a gzip-compressed tar archive with manifest.json at its root".to_owned(),
        ),
        (
            "too many files",
            many.gz(),
            413,
            "the bundle has more than 50 files, folders and links (at f49); this gateway accepts at most that many (EXECENV_BUNDLES__MAX_FILES)".to_owned(),
        ),
    ];
    for (what, bytes, status, message) in cases {
        let answer = upload(&gateway, &key, CONTENT, &bytes)?;
        ensure!(answer.status == status, "{what}: {answer:?}");
        let body = answer.json()?;
        ensure!(
            body["error"] == message.as_str(),
            "{what}: {body}\nexpected: {message}"
        );
        ensure!(body["code"] == 2, "{what}: {body}");
        let left = left_for(&data, CONTENT);
        ensure!(left.is_empty(), "{what} left {left:?}");
    }
    ensure!(!Path::new(&outside).exists(), "{outside} was written");

    // Who may: a viewer is refused, no key is unauthenticated, a guid must be one.
    let answer = upload(&gateway, &viewer, CONTENT, &example_targz()?)?;
    ensure!(
        answer.status == 403 && answer.json()?["code"] == 22,
        "{answer:?}"
    );
    let answer = http_send(
        gateway.address(),
        "POST",
        &bundles_path(CONTENT),
        &[],
        Some(("application/gzip", b"")),
    )?;
    ensure!(
        answer.status == 401 && answer.json()?["code"] == 30,
        "{answer:?}"
    );
    let answer = upload(&gateway, &key, "../../etc", &example_targz()?)?;
    ensure!(
        answer.status == 404,
        "a path that leaves the route is no route: {answer:?}"
    );
    let answer = upload(&gateway, &key, "not-a-guid", &example_targz()?)?;
    ensure!(
        answer.status == 400 && answer.json()?["code"] == 3,
        "{answer:?}"
    );

    // A body announcing more than max_upload_bytes is refused before it is read.
    let auth = format!("Key {key}");
    let declared = http_stream(
        gateway.address(),
        &bundles_path(CONTENT),
        &[("Authorization", &auth)],
        std::io::empty(),
        Some(3 << 30),
    )?;
    ensure!(declared.response.status == 413, "{declared:?}");
    ensure!(
        declared.response.json()?["error"]
            == "the upload is larger than 4194304 bytes, the most this gateway accepts (EXECENV_BUNDLES__MAX_UPLOAD_BYTES)",
        "{declared:?}"
    );

    // A chunked body (no length announced) is counted as it comes and cut past the limit: six
    // files of 1 MiB, stored without compression.
    let mut big = RawTar::default().manifest(MANIFEST);
    let mebibyte = vec![b'x'; 1 << 20];
    for i in 0..6 {
        big = big.entry(&format!("part{i}"), kind::FILE, &mebibyte, "");
    }
    let chunked = http_stream(
        gateway.address(),
        &bundles_path(CONTENT),
        &[("Authorization", &auth)],
        std::io::Cursor::new(big.gz_with(Compression::none())),
        None,
    )?;
    ensure!(chunked.response.status == 413, "{chunked:?}");
    ensure!(
        chunked.response.json()?["error"]
            == "the upload is larger than 4194304 bytes, the most this gateway accepts (EXECENV_BUNDLES__MAX_UPLOAD_BYTES)",
        "{:?}",
        chunked.response
    );
    ensure!(
        left_for(&data, CONTENT).is_empty(),
        "{:?}",
        left_for(&data, CONTENT)
    );

    // A gigabyte of zeros in one entry, streamed from a generator: refused at its header.
    let (rss_before, _) = memory_kib(gateway.process.id())?;
    let started = Instant::now();
    let zeros = http_stream(
        gateway.address(),
        &bundles_path(CONTENT),
        &[("Authorization", &auth)],
        zeros_archive(1 << 30),
        None,
    )?;
    let took = started.elapsed();
    let (rss_after, peak) = memory_kib(gateway.process.id())?;
    println!(
        "1 GiB of zeros refused in {took:?} after {} body bytes sent; gateway RSS {rss_before} KiB before, {rss_after} KiB after, peak {peak} KiB",
        zeros.sent
    );
    ensure!(zeros.response.status == 413, "{zeros:?}");
    ensure!(
        zeros.response.json()?["error"]
            == "the bundle unpacks to more than 8388608 bytes (at zeros.bin); this gateway accepts at most that much (EXECENV_BUNDLES__MAX_UNPACKED_BYTES)",
        "{:?}",
        zeros.response
    );
    // Not read to its end: what was sent is what the sockets' buffers took, far from 1 GiB.
    ensure!(zeros.sent < 64 << 20, "{} bytes were sent", zeros.sent);
    ensure!(peak < 128 * 1024, "the gateway's peak RSS was {peak} KiB");
    ensure!(
        left_for(&data, CONTENT).is_empty(),
        "{:?}",
        left_for(&data, CONTENT)
    );

    // After all that, a good upload gets the first id: refusals claimed none.
    let answer = upload(&gateway, &key, CONTENT, &example_targz()?)?;
    ensure!(
        answer.status == 201 && answer.json()?["bundle_id"] == "1",
        "{answer:?}"
    );
    let left = tree(&data);
    ensure!(
        !left.iter().any(|p| p.contains(".upload-")),
        "staging left: {left:?}"
    );
    Ok(())
}
