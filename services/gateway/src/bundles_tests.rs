#![allow(clippy::unwrap_used)]
//! The store on a real folder: ids, listing, deleting, leftovers and modes.

use std::io::{Cursor, Write};
use std::os::unix::fs::MetadataExt;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

const GUID: &str = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
const MANIFEST: &str = r#"{"version": 1, "metadata": {"appmode": "python-script", "entrypoint": "app.py"}, "python": {"version": "3.11.9"}}"#;

fn store(dir: &Path) -> BundleStore {
    BundleStore::new(&BundlesConfig {
        dir: dir.to_path_buf(),
        max_upload_bytes: 1 << 20,
        max_unpacked_bytes: 1 << 20,
        max_files: 100,
    })
}

/// A `.tar.gz` of `files` (name, contents).
fn targz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn good() -> Vec<u8> {
    targz(&[("manifest.json", MANIFEST), ("app.py", "print(1)\n")])
}

/// Everything under `dir/content/GUID`, sorted.
fn content_tree(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("content").join(GUID))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn uploads_get_ids_one_two_and_are_listed_with_their_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let first = store.create(GUID, Cursor::new(good())).unwrap();
    let second = store.create(GUID, Cursor::new(good())).unwrap();
    assert_eq!(
        (first.bundle_id.as_str(), second.bundle_id.as_str()),
        ("1", "2")
    );
    assert_eq!((first.size, first.files), (122, 2));
    assert_eq!(first.manifest.appmode, "python-script");
    let listed = store.list(GUID).unwrap();
    assert_eq!(listed, vec![first, second]);
    assert_eq!(
        fs::read(dir.path().join(format!("content/{GUID}/1/bundle/app.py"))).unwrap(),
        b"print(1)\n"
    );
    assert_eq!(content_tree(dir.path()), ["1", "2"]);
}

#[test]
fn folders_have_the_documented_modes() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path()).create(GUID, Cursor::new(good())).unwrap();
    let mode = |p: &str| fs::metadata(dir.path().join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode(&format!("content/{GUID}")), 0o755);
    assert_eq!(mode(&format!("content/{GUID}/1")), 0o2775);
    assert_eq!(mode(&format!("content/{GUID}/1/bundle")), 0o755);
    assert_eq!(mode(&format!("content/{GUID}/1/bundle/app.py")), 0o644);
    assert_eq!(mode(&format!("content/{GUID}/1/bundle.json")), 0o644);
}

#[test]
fn a_refused_upload_leaves_nothing_and_claims_no_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let error = store
        .create(GUID, Cursor::new(targz(&[("app.py", "x")])))
        .unwrap_err();
    assert!(error.message.contains("no manifest.json"), "{error}");
    assert!(content_tree(dir.path()).is_empty());
    let error = store
        .create(GUID, Cursor::new(targz(&[("manifest.json", "{")])))
        .unwrap_err();
    assert!(
        error.message.contains("manifest.json is not valid JSON"),
        "{error}"
    );
    assert!(content_tree(dir.path()).is_empty());
    assert_eq!(
        store.create(GUID, Cursor::new(good())).unwrap().bundle_id,
        "1"
    );
}

#[test]
fn concurrent_uploads_each_claim_their_own_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut ids: Vec<String> = std::thread::scope(|s| {
        let uploads: Vec<_> = (0..8)
            .map(|_| s.spawn(|| store.create(GUID, Cursor::new(good())).unwrap().bundle_id))
            .collect();
        uploads.into_iter().map(|u| u.join().unwrap()).collect()
    });
    ids.sort_by_key(|id| id.parse::<u64>().unwrap());
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7", "8"]);
}

#[test]
fn a_deleted_bundle_is_gone_its_work_too_and_its_id_is_not_given_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.create(GUID, Cursor::new(good())).unwrap();
    store.create(GUID, Cursor::new(good())).unwrap();
    let work = dir.path().join(format!("content/{GUID}/2/work/venv"));
    fs::create_dir_all(&work).unwrap();
    store.delete(GUID, "2").unwrap();
    assert_eq!(
        store
            .list(GUID)
            .unwrap()
            .iter()
            .map(|b| b.bundle_id.as_str())
            .collect::<Vec<_>>(),
        ["1"]
    );
    assert!(
        fs::read_dir(dir.path().join(format!("content/{GUID}/2")))
            .unwrap()
            .next()
            .is_none()
    );
    let again = store.delete(GUID, "2").unwrap_err();
    assert_eq!(again.kind, ErrorKind::NotFound);
    assert_eq!(
        again.message,
        format!("content {GUID} has no bundle \"2\"; list its bundles to find their ids")
    );
    assert_eq!(
        store.create(GUID, Cursor::new(good())).unwrap().bundle_id,
        "3"
    );
}

#[test]
fn ids_that_are_not_bundle_numbers_name_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store.create(GUID, Cursor::new(good())).unwrap();
    for id in ["01", "0", "..", "bundle.json", ".upload-x"] {
        assert_eq!(
            store.delete(GUID, id).unwrap_err().kind,
            ErrorKind::NotFound,
            "{id}"
        );
    }
    assert_eq!(store.list(GUID).unwrap().len(), 1);
}

#[test]
fn a_content_without_bundles_lists_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(store(dir.path()).list(GUID).unwrap(), vec![]);
}

#[test]
fn a_bundle_placed_by_hand_is_listed_from_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join(format!("content/{GUID}/1/bundle"));
    fs::create_dir_all(bundle.join("lib")).unwrap();
    fs::write(bundle.join("manifest.json"), MANIFEST).unwrap();
    fs::write(bundle.join("lib/x.py"), "1234").unwrap();
    let store = store(dir.path());
    let listed = store.list(GUID).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].size, listed[0].files), (117, 2));
    assert_eq!(listed[0].manifest.python.as_deref(), Some("3.11.9"));
    assert_eq!(
        store.create(GUID, Cursor::new(good())).unwrap().bundle_id,
        "2"
    );
}

#[test]
fn stale_staging_folders_are_swept_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let staging = dir.path().join(format!("content/{GUID}/.upload-left"));
    fs::create_dir_all(staging.join("bundle")).unwrap();
    fs::File::create(staging.join("bundle/x"))
        .unwrap()
        .write_all(b"x")
        .unwrap();
    assert_eq!(store.sweep(STALE_AFTER), 0);
    assert!(staging.exists());
    assert_eq!(store.sweep(Duration::ZERO), 1);
    assert!(!staging.exists());
}

#[test]
fn a_data_folder_that_cannot_be_written_is_an_internal_error_naming_the_setting() {
    let error = store(Path::new("/proc/execenv-data"))
        .create(GUID, Cursor::new(good()))
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Internal);
    assert!(
        error
            .message
            .contains("EXECENV_BUNDLES__DIR=/proc/execenv-data"),
        "{error}"
    );
}

#[test]
fn a_missing_or_linked_manifest_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path();
    let error = check_manifest(bundle).unwrap_err();
    assert!(
        error
            .message
            .starts_with("the bundle has no manifest.json at its root"),
        "{error}"
    );
    fs::write(bundle.join("real.json"), MANIFEST).unwrap();
    std::os::unix::fs::symlink("real.json", bundle.join("manifest.json")).unwrap();
    let error = check_manifest(bundle).unwrap_err();
    assert_eq!(
        error.message,
        "the bundle's manifest.json is not a regular file"
    );
}

#[test]
fn an_invalid_manifest_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path();
    fs::write(bundle.join("manifest.json"), "{not json").unwrap();
    let error = check_manifest(bundle).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        error.message,
        "the bundle's manifest.json is not valid JSON: key must be a string at line 1 column 2; \
         write it with `rsconnect write-manifest`"
    );
}
