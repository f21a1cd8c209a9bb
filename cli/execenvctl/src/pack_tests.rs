#![allow(clippy::unwrap_used)]

use std::io::Read;

use flate2::read::GzDecoder;

use super::*;

/// A folder with a manifest, code, and everything rsconnect leaves out.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in [
        ("manifest.json", "{}"),
        ("app.py", "print(1)"),
        ("lib/b.py", "b"),
        ("lib/a.py", "a"),
        ("lib/__pycache__/a.cpython-311.pyc", "x"),
        ("lib/c.pyc", "x"),
        (".git/HEAD", "x"),
        ("sub/.git/HEAD", "x"),
        (".venv/bin/python", "x"),
        ("venv/lib/x", "x"),
        ("packrat/packrat.lock", "x"),
        ("renv/library/R-4.4/x", "x"),
        ("renv/activate.R", "r"),
        ("rsconnect/documents/x.dcf", "x"),
        ("myenv/pyvenv.cfg", "home = /usr"),
        (".Rproj.user/x", "x"),
        ("data/env/keep.txt", "k"),
    ] {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    std::os::unix::fs::symlink("app.py", root.join("main.py")).unwrap();
    dir
}

/// The entries of a packed bundle: name, type and contents.
fn entries(gz: &[u8]) -> Vec<(String, char, String)> {
    let mut archive = tar::Archive::new(GzDecoder::new(gz));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type().as_byte() as char;
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            (name, kind, text)
        })
        .collect()
}

#[test]
fn a_folder_is_packed_manifest_first_sorted_without_what_rsconnect_leaves_out() {
    let dir = project();
    let mut gz = Vec::new();
    let packed = pack(dir.path(), &mut gz).unwrap();
    let names: Vec<String> = entries(&gz).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "app.py",
            "data",
            "lib",
            "main.py",
            "renv",
            "sub",
            "data/env",
            "data/env/keep.txt",
            "lib/a.py",
            "lib/b.py",
            "renv/activate.R",
        ]
    );
    assert_eq!(packed, Packed { files: 7 });
}

#[test]
fn links_are_packed_as_links() {
    let dir = project();
    let mut gz = Vec::new();
    pack(dir.path(), &mut gz).unwrap();
    let main = entries(&gz)
        .into_iter()
        .find(|(n, _, _)| n == "main.py")
        .unwrap();
    assert_eq!(main.1, '2', "a symbolic link entry");
}

#[test]
fn the_same_folder_packs_to_the_same_bytes() {
    let dir = project();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    pack(dir.path(), &mut first).unwrap();
    // A later modification time changes nothing.
    fs::write(dir.path().join("app.py"), "print(1)").unwrap();
    pack(dir.path(), &mut second).unwrap();
    assert_eq!(first, second);
}

#[test]
fn a_folder_without_a_manifest_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = pack(dir.path(), Vec::new()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        error.message,
        format!(
            "{} has no manifest.json; a bundle's folder needs one (write it with `rsconnect write-manifest`, or see examples/bundles/hello-python)",
            dir.path().display()
        )
    );
}
