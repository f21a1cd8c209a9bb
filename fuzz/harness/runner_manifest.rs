//! Fuzz harness of manifest.json as the content runner reads it: the manifest, its package file
//! and its entrypoint, which must stay inside the bundle. Shared by the fuzz target and the
//! runner's regression test.

use std::path::{Component, Path};

use execenv_content_runner::manifest::Manifest;

/// Reads `data` as the runner does; every path it accepts is relative and climbs nowhere.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    let _ = manifest.appmode();
    if let Ok(path) = manifest.package_file() {
        assert_inside(&path);
    }
    if let Ok(Some(path)) = manifest.entrypoint() {
        assert_inside(&path);
    }
}

fn assert_inside(path: &Path) {
    assert!(
        path.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "{path:?} leaves the bundle"
    );
}
