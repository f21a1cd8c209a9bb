//! Fuzz harness of bundle archives as the gateway unpacks them (`bundle_archive::unpack`). The
//! first byte chooses what the rest is: even, the `.tar.gz` itself; odd, a tar archive that the
//! harness gzips (so mutations reach the tar reader rather than break the gzip checksum). Every
//! unpack, accepted or refused, must leave nothing outside its folder, no link that leads out of
//! it, only the modes the module promises, and (accepted) the counts it reports. Shared by the
//! fuzz target and the gateway's regression test.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use execenv_gateway::bundle_archive::{Limits, unpack};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Small limits, so that the fuzzer reaches them.
const LIMITS: Limits = Limits {
    max_unpacked_bytes: 1 << 20,
    max_files: 64,
};

/// Unpacks `data` into a temporary folder and checks what is there.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        gzip(rest)
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let into = dir.path().join("bundle");
    fs::create_dir(&into).expect("the bundle folder");
    let result = unpack(&body[..], &into, &LIMITS);
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("the temporary folder")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(names, ["bundle"], "the unpack wrote beside its folder");
    let mut found = Found::default();
    walk(&into, &into, &mut found);
    if let Ok(unpacked) = result {
        assert_eq!(unpacked.files, found.files);
        assert_eq!(unpacked.size, found.bytes);
        assert!(found.bytes <= LIMITS.max_unpacked_bytes);
        assert!(found.entries <= LIMITS.max_files);
    }
}

#[derive(Default)]
struct Found {
    files: u64,
    bytes: u64,
    entries: u64,
}

fn walk(root: &Path, dir: &Path, found: &mut Found) {
    for entry in fs::read_dir(dir).expect("a folder") {
        let path = entry.expect("an entry").path();
        let meta = fs::symlink_metadata(&path).expect("its metadata");
        let mode = meta.permissions().mode() & 0o7777;
        found.entries += 1;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).expect("its target");
            let above = path
                .parent()
                .expect("a parent")
                .strip_prefix(root)
                .expect("inside");
            assert!(
                stays_inside(above, &target),
                "{path:?} links out to {target:?}"
            );
        } else if meta.is_dir() {
            assert_eq!(mode, 0o755, "{path:?}");
            walk(root, &path, found);
        } else {
            assert!(meta.is_file(), "{path:?} is neither file, folder nor link");
            assert!(mode == 0o644 || mode == 0o755, "{path:?} has mode {mode:o}");
            found.files += 1;
            found.bytes += meta.len();
        }
    }
}

/// Whether `target`, followed from the folder `above` (relative to the bundle), stays inside.
fn stays_inside(above: &Path, target: &Path) -> bool {
    let mut depth = above.components().count();
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            _ => return false,
        }
    }
    true
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}
