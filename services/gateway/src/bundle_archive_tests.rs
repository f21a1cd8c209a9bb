#![allow(clippy::unwrap_used)]
//! The unpacker against well-made bundles and against the attacks it exists for. Hostile
//! entries are written header byte by header byte, since the tar crate's builder refuses them.

use std::io::Cursor;
use std::os::unix::fs::MetadataExt;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

const LIMITS: Limits = Limits {
    max_unpacked_bytes: 8 * 1024 * 1024,
    max_files: 100,
};

/// A tar stream written entry by entry.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn entry(mut self, name: &[u8], kind: EntryType, data: &[u8], link: &[u8], mode: u32) -> Self {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn file(self, name: &str, data: &str) -> Self {
        self.entry(
            name.as_bytes(),
            EntryType::Regular,
            data.as_bytes(),
            b"",
            0o644,
        )
    }

    fn folder(self, name: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
    }

    fn link(self, name: &str, kind: EntryType, target: &str) -> Self {
        self.entry(name.as_bytes(), kind, b"", target.as_bytes(), 0o777)
    }

    fn manifest(self) -> Self {
        self.file("./manifest.json", MANIFEST_JSON)
    }

    fn gz(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        gzip(&self.0)
    }
}

const MANIFEST_JSON: &str = r#"{"version": 1, "metadata": {"appmode": "python-script", "entrypoint": "app.py"}, "python": {"version": "3.11.9"}}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A parent folder and the empty `bundle` folder inside it to unpack into.
fn folder() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let bundle = parent.path().join("bundle");
    fs::create_dir(&bundle).unwrap();
    (parent, bundle)
}

/// Everything under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(&path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Unpacks `gz`; the error and what the parent folder holds afterwards.
fn refused_with(gz: &[u8]) -> (Error, Vec<String>) {
    let (parent, bundle) = folder();
    let error = unpack(Cursor::new(gz), &bundle, &LIMITS).unwrap_err();
    (error, tree(parent.path()))
}

#[test]
fn a_bundle_is_unpacked_with_readable_modes_and_its_manifest_summarized() {
    let gz = Tar::default()
        .folder("./")
        .manifest()
        .file("./app.py", "print('hi')\n")
        .entry(
            b"./bin/run.sh",
            EntryType::Regular,
            b"#!/bin/sh\n",
            b"",
            0o700,
        )
        .link("./current", EntryType::Symlink, "bin")
        .link("./bin/app", EntryType::Symlink, "../app.py")
        .gz();
    let (_parent, bundle) = folder();
    let unpacked = unpack(Cursor::new(gz), &bundle, &LIMITS).unwrap();
    // 113 bytes of manifest, 12 of app.py, 10 of run.sh.
    assert_eq!(
        unpacked,
        Unpacked {
            size: 135,
            files: 3
        }
    );
    assert_eq!(
        tree(&bundle),
        [
            "app.py",
            "bin",
            "bin/app",
            "bin/run.sh",
            "current",
            "manifest.json"
        ]
    );
    let mode = |p: &str| fs::symlink_metadata(bundle.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("app.py"), 0o644);
    assert_eq!(mode("bin/run.sh"), 0o755);
    assert_eq!(mode("bin"), 0o755);
    assert_eq!(
        fs::read_link(bundle.join("bin/app")).unwrap(),
        Path::new("../app.py")
    );
    let summary = crate::bundles::check_manifest(&bundle).unwrap();
    assert_eq!(summary.appmode, "python-script");
    assert_eq!(summary.python.as_deref(), Some("3.11.9"));
}

#[test]
fn long_names_from_gnu_and_pax_headers_are_followed() {
    let long = format!("{}/app.py", "deep".repeat(40));
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(MANIFEST_JSON.len() as u64);
    h.set_mode(0o644);
    builder
        .append_data(&mut h, "manifest.json", MANIFEST_JSON.as_bytes())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    builder.append_data(&mut h, &long, &b"hi"[..]).unwrap();
    let pax_name = format!("{}/pax.txt", "p".repeat(120));
    builder
        .append_pax_extensions([("path", pax_name.as_bytes())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("short.txt").unwrap();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    builder.append(&h, &b"x"[..]).unwrap();
    let gz = gzip(&builder.into_inner().unwrap());
    let (_parent, bundle) = folder();
    let unpacked = unpack(Cursor::new(gz), &bundle, &LIMITS).unwrap();
    assert_eq!(unpacked.files, 3);
    assert_eq!(fs::read(bundle.join(&long)).unwrap(), b"hi");
    assert_eq!(fs::read(bundle.join(&pax_name)).unwrap(), b"x");
    assert!(!bundle.join("short.txt").exists());
}

#[test]
fn an_entry_climbing_out_with_dot_dot_is_refused_and_nothing_is_written_outside() {
    let (error, left) = refused_with(&Tar::default().manifest().file("../x", "owned").gz());
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        error.message,
        "bundle entry \"../x\" is refused: its path holds `..`, which would leave the bundle folder"
    );
    assert_eq!(left, ["bundle", "bundle/manifest.json"]);
}

#[test]
fn an_absolute_entry_is_refused() {
    let (error, left) = refused_with(&Tar::default().file("/tmp/x", "owned").gz());
    assert_eq!(
        error.message,
        "bundle entry \"/tmp/x\" is refused: it is an absolute path; entries must be relative to the bundle folder"
    );
    assert_eq!(left, ["bundle"]);
}

#[test]
fn links_out_of_the_bundle_and_hard_links_are_refused() {
    let cases = [
        (
            Tar::default().link("passwd", EntryType::Symlink, "/etc/passwd"),
            "bundle entry \"passwd\" is refused: it is a symbolic link to \"/etc/passwd\", outside the bundle folder",
        ),
        (
            Tar::default().link("a/up", EntryType::Symlink, "../../x"),
            "bundle entry \"a/up\" is refused: it is a symbolic link to \"../../x\", outside the bundle folder",
        ),
        (
            Tar::default().link("passwd", EntryType::Link, "/etc/passwd"),
            "bundle entry \"passwd\" is refused: it is a hard link; bundles may not hold hard links (pack the file itself, e.g. GNU tar --hard-dereference)",
        ),
        (
            Tar::default()
                .file("a", "x")
                .link("b", EntryType::Link, "a"),
            "bundle entry \"b\" is refused: it is a hard link; bundles may not hold hard links (pack the file itself, e.g. GNU tar --hard-dereference)",
        ),
    ];
    for (tar, message) in cases {
        let (error, _) = refused_with(&tar.gz());
        assert_eq!(error.kind, ErrorKind::InvalidArgument);
        assert_eq!(error.message, message);
    }
}

#[test]
fn an_entry_through_a_link_is_refused_even_when_the_link_points_inside() {
    let gz = Tar::default()
        .folder("sub")
        .link("l", EntryType::Symlink, "sub")
        .file("l/f", "x")
        .gz();
    let (error, left) = refused_with(&gz);
    assert_eq!(
        error.message,
        "bundle entry \"l/f\" is refused: its path passes through the symbolic link \"l\""
    );
    assert_eq!(left, ["bundle", "bundle/l", "bundle/sub"]);
}

#[test]
fn devices_fifos_and_sparse_files_are_refused() {
    for (kind, why) in [
        (EntryType::Char, "it is a device file"),
        (EntryType::Block, "it is a device file"),
        (EntryType::Fifo, "it is a FIFO (named pipe)"),
    ] {
        let (error, left) = refused_with(&Tar::default().entry(b"dev", kind, b"", b"", 0o644).gz());
        assert_eq!(
            error.message,
            format!("bundle entry \"dev\" is refused: {why}")
        );
        assert_eq!(left, ["bundle"]);
    }
}

#[test]
fn an_entry_given_twice_is_refused() {
    let (error, _) = refused_with(&Tar::default().file("a", "1").file("a", "2").gz());
    assert_eq!(
        error.message,
        "bundle entry \"a\" is refused: it appears twice in the archive"
    );
    let (error, _) = refused_with(&Tar::default().file("a", "1").folder("a").gz());
    assert_eq!(
        error.message,
        "bundle entry \"a\" is refused: it appears twice in the archive"
    );
}

#[test]
fn a_name_that_is_not_utf8_is_refused() {
    let gz = Tar::default()
        .entry(b"caf\xe9", EntryType::Regular, b"", b"", 0o644)
        .gz();
    let (error, _) = refused_with(&gz);
    assert_eq!(
        error.message,
        "bundle entry \"caf\u{fffd}\" is refused: entry names must be UTF-8"
    );
}

#[test]
fn more_entries_than_allowed_is_too_large() {
    let mut tar = Tar::default();
    for i in 0..=100 {
        tar = tar.file(&format!("f{i}"), "");
    }
    let (error, left) = refused_with(&tar.gz());
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert_eq!(
        error.message,
        "the bundle has more than 100 files, folders and links (at f100); this gateway accepts at most that many (EXECENV_BUNDLES__MAX_FILES)"
    );
    assert_eq!(
        left.len(),
        101,
        "the 100 files written before, and the folder"
    );
}

#[test]
fn folders_made_for_a_deep_path_count_as_entries() {
    let deep = format!("{}f", "d/".repeat(20));
    let gz = Tar::default().file(&deep, "").gz();
    let (_parent, bundle) = folder();
    let ten = Limits {
        max_files: 10,
        ..LIMITS
    };
    let error = unpack(Cursor::new(gz), &bundle, &ten).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error
            .message
            .contains("more than 10 files, folders and links"),
        "{error}"
    );
}

#[test]
fn files_adding_up_past_the_byte_limit_are_too_large() {
    let four_mib = "x".repeat(4 * 1024 * 1024);
    let gz = Tar::default()
        .file("a", &four_mib)
        .file("b", &four_mib)
        .file("c", "1")
        .gz();
    let (error, _) = refused_with(&gz);
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert_eq!(
        error.message,
        "the bundle unpacks to more than 8388608 bytes (at c); this gateway accepts at most that much (EXECENV_BUNDLES__MAX_UNPACKED_BYTES)"
    );
}

/// Reads from `inner`, counting the bytes handed out.
struct Counted<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn a_gigabyte_of_zeros_is_refused_at_its_header_without_being_read() {
    let gib = 1 << 30;
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(gib);
    h.set_mode(0o644);
    h.set_cksum();
    // The tar stream is made as it is read: one header, then a gigabyte of zeros, compressed on
    // the fly, so the test holds neither in memory.
    let tar = Cursor::new(h.as_bytes().to_vec()).chain(io::repeat(0).take(gib));
    let read = std::rc::Rc::default();
    let body = Counted {
        inner: flate2::read::GzEncoder::new(tar, Compression::fast()),
        read: std::rc::Rc::clone(&read),
    };
    let (parent, bundle) = folder();
    let error = unpack(body, &bundle, &LIMITS).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert_eq!(
        error.message,
        "the bundle unpacks to more than 8388608 bytes (at zeros); this gateway accepts at most that much (EXECENV_BUNDLES__MAX_UNPACKED_BYTES)"
    );
    assert!(
        read.get() < 64 * 1024,
        "read {} compressed bytes",
        read.get()
    );
    assert_eq!(tree(parent.path()), ["bundle"]);
}

#[test]
fn a_metadata_entry_over_its_bound_is_refused_without_being_held() {
    let huge = vec![b'a'; MAX_METADATA_BYTES as usize + 1];
    let gz = Tar::default()
        .entry(b"././@LongLink", EntryType::GNULongName, &huge, b"", 0o644)
        .file("x", "")
        .gz();
    let (error, _) = refused_with(&gz);
    assert_eq!(
        error.message,
        "the archive has a long name or pax header over 65536 bytes"
    );
}

#[test]
fn a_body_that_is_not_gzip_is_refused_naming_the_format() {
    let (error, _) = refused_with(b"PK\x03\x04 a zip file");
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert!(
        error
            .message
            .starts_with("the body is not a valid .tar.gz ("),
        "{}",
        error.message
    );
}

#[test]
fn an_error_the_reader_carries_is_returned_as_it_is() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(carry(Error::new(
                ErrorKind::TooLarge,
                "the upload is too large",
            )))
        }
    }
    let (_parent, bundle) = folder();
    let error = unpack(Failing, &bundle, &LIMITS).unwrap_err();
    assert_eq!(
        error,
        Error::new(ErrorKind::TooLarge, "the upload is too large")
    );
}
