//! The merged tree over layers built in memory with the `tar` crate: whiteouts, symlinks,
//! hard links, captured contents, and a 200 MB layer applied in bounded memory.

use std::io::{self, Read};

use execenv_core::Language;
use execenv_core::examine::{Content, FileKind, ImageFiles, find_installations};

use super::*;

/// One layer's tar, entry by entry, in the order written.
pub(crate) struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub(crate) fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h
    }

    pub(crate) fn dir(mut self, path: &str) -> Layer {
        let mut h = Layer::header(tar::EntryType::Directory, 0o755, 0);
        self.0
            .append_data(&mut h, path, io::empty())
            .expect("a folder entry");
        self
    }

    pub(crate) fn file(self, path: &str, text: &str) -> Layer {
        self.file_with_mode(path, 0o644, text.as_bytes())
    }

    pub(crate) fn exe(self, path: &str) -> Layer {
        self.file_with_mode(path, 0o755, b"\x7fELF")
    }

    pub(crate) fn file_with_mode(mut self, path: &str, mode: u32, bytes: &[u8]) -> Layer {
        let mut h = Layer::header(tar::EntryType::Regular, mode, bytes.len() as u64);
        self.0
            .append_data(&mut h, path, bytes)
            .expect("a file entry");
        self
    }

    /// A file entry whose path is written as is, even absolute or with `..` (which the tar
    /// crate's builder refuses to write).
    fn raw_file(mut self, path: &str, text: &str) -> Layer {
        let mut h = Layer::header(tar::EntryType::Regular, 0o644, text.len() as u64);
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        self.0
            .append(&h, text.as_bytes())
            .expect("a raw file entry");
        self
    }

    pub(crate) fn symlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Layer::header(tar::EntryType::Symlink, 0o777, 0);
        self.0
            .append_link(&mut h, path, target)
            .expect("a symlink entry");
        self
    }

    fn hard_link(mut self, path: &str, target: &str) -> Layer {
        let mut h = Layer::header(tar::EntryType::Link, 0o644, 0);
        self.0
            .append_link(&mut h, path, target)
            .expect("a hard link entry");
        self
    }

    fn fifo(mut self, path: &str) -> Layer {
        let mut h = Layer::header(tar::EntryType::Fifo, 0o600, 0);
        self.0
            .append_data(&mut h, path, io::empty())
            .expect("a fifo entry");
        self
    }

    pub(crate) fn whiteout(self, path: &str) -> Layer {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, "")
    }

    pub(crate) fn opaque(self, dir: &str) -> Layer {
        self.file(&format!("{dir}/.wh..wh..opq"), "")
    }

    pub(crate) fn tar(self) -> Vec<u8> {
        self.0.into_inner().expect("a finished tar")
    }
}

fn tree(layers: Vec<Layer>) -> ImageTree {
    let mut tree = ImageTree::new();
    for layer in layers {
        tree.apply_layer(layer.tar().as_slice())
            .expect("a valid layer");
    }
    tree
}

fn names(list: Option<Vec<String>>) -> Vec<String> {
    list.expect("a folder")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_whiteout_removes_a_lower_file_and_never_appears_itself() {
    let t = tree(vec![
        Layer::new()
            .dir("etc/")
            .file("etc/a.conf", "a")
            .file("etc/b.conf", "b"),
        Layer::new().whiteout("etc/a.conf"),
    ]);
    assert_eq!(names(t.list("/etc")), strings(&["b.conf"]));
    assert_eq!(t.kind("/etc/a.conf"), None);
    assert_eq!(t.content("/etc/a.conf"), Content::Missing);
    assert_eq!(
        t.kind("/etc/b.conf"),
        Some(FileKind::File {
            executable: false,
            size: 1
        })
    );
}

#[test]
fn a_whiteout_of_a_folder_removes_everything_under_it() {
    let t = tree(vec![
        Layer::new()
            .dir("opt/")
            .dir("opt/python/")
            .exe("opt/python/3.11.2/bin/python3")
            .file("opt/python/3.11.2/include/python3.11/patchlevel.h", "x")
            .exe("opt/R/4.2.2/bin/R"),
        Layer::new().whiteout("opt/python"),
    ]);
    assert_eq!(names(t.list("/opt")), strings(&["R"]));
    assert_eq!(t.kind("/opt/python"), None);
    assert_eq!(t.kind("/opt/python/3.11.2/bin/python3"), None);
    assert_eq!(t.entries(), 5);
}

#[test]
fn aufs_bookkeeping_entries_are_not_files_of_the_image() {
    let t = tree(vec![
        Layer::new()
            .file("etc/hosts", "h")
            .dir(".wh..wh.plnk/")
            .file(".wh..wh.plnk/12.34", "hard link store")
            .file(".wh..wh.aufs", ""),
    ]);
    assert_eq!(names(t.list("/")), strings(&["etc"]));
}

#[test]
fn an_opaque_folder_drops_what_lower_layers_had_and_keeps_what_its_layer_adds() {
    let t = tree(vec![
        Layer::new()
            .dir("srv/")
            .file("srv/old.txt", "old")
            .file("srv/sub/deep.txt", "deep")
            .file("keep/me.txt", "kept"),
        // The marker after some of the layer's own entries and before others: order is free.
        Layer::new()
            .dir("srv/")
            .file("srv/sub/new.txt", "new")
            .opaque("srv")
            .file("srv/after.txt", "after"),
    ]);
    assert_eq!(names(t.list("/srv")), strings(&["after.txt", "sub"]));
    assert_eq!(names(t.list("/srv/sub")), strings(&["new.txt"]));
    assert_eq!(names(t.list("/keep")), strings(&["me.txt"]));
    assert_eq!(t.kind("/srv/.wh..wh..opq"), None);
}

#[test]
fn a_path_removed_by_a_whiteout_comes_back_when_a_higher_layer_adds_it() {
    let t = tree(vec![
        Layer::new().file("usr/share/version", "1.3.450"),
        Layer::new().whiteout("usr/share/version"),
        Layer::new().file("usr/share/version", "1.4.550"),
    ]);
    assert_eq!(t.content("/usr/share/version"), Content::Bytes(b"1.4.550"));
}

#[test]
fn a_layer_replacing_a_folder_drops_the_lower_contents_whatever_the_entry_order() {
    // Docker writes a replaced folder as a whiteout plus the new folder, in either order.
    let lower = || {
        Layer::new()
            .exe("opt/python/3.11.2/bin/python3")
            .file("opt/python/3.11.2/include/python3.11/patchlevel.h", "old")
    };
    for whiteout_first in [true, false] {
        let upper = if whiteout_first {
            Layer::new()
                .whiteout("opt/python")
                .dir("opt/python/")
                .exe("opt/python/3.12.4/bin/python3")
        } else {
            Layer::new()
                .dir("opt/python/")
                .exe("opt/python/3.12.4/bin/python3")
                .whiteout("opt/python")
        };
        let t = tree(vec![lower(), upper]);
        assert_eq!(
            names(t.list("/opt/python")),
            strings(&["3.12.4"]),
            "whiteout first: {whiteout_first}"
        );
    }
}

#[test]
fn files_and_folders_replace_each_other_across_layers() {
    let t = tree(vec![
        Layer::new()
            .file("a", "file")
            .file("b/inner.txt", "x")
            .symlink("c", "/b"),
        Layer::new()
            .file("a/now-a-folder.txt", "y")
            .file("b", "now a file")
            .dir("c/"),
    ]);
    assert_eq!(t.kind("/a"), Some(FileKind::Dir));
    assert_eq!(names(t.list("/a")), strings(&["now-a-folder.txt"]));
    assert_eq!(
        t.kind("/b"),
        Some(FileKind::File {
            executable: false,
            size: 10
        })
    );
    assert_eq!(t.kind("/b/inner.txt"), None);
    assert_eq!(t.resolve("/c"), Some("/c".to_string()));
    assert_eq!(names(t.list("/c")), Vec::<String>::new());
}

#[test]
fn entry_paths_are_normalised_and_never_leave_the_root() {
    let t = tree(vec![
        Layer::new()
            .dir("./")
            .dir("./opt/")
            .file("./opt/a.txt", "a")
            .raw_file("/abs/b.txt", "b")
            .raw_file("opt/../../../escaped.txt", "c"),
    ]);
    assert_eq!(names(t.list("/")), strings(&["abs", "escaped.txt", "opt"]));
    assert_eq!(names(t.list("/opt")), strings(&["a.txt"]));
    assert_eq!(names(t.list("//opt/./")), strings(&["a.txt"]));
}

#[test]
fn absolute_and_relative_symlinks_resolve_inside_the_tree() {
    let t = tree(vec![
        Layer::new()
            .exe("opt/python/3.11.9/bin/python3")
            .symlink("usr/bin/python3", "/opt/python/3.11.9/bin/python3")
            .symlink("opt/python/3.11", "3.11.9")
            .symlink("opt/python/latest", "./3.11/../3.11.9"),
    ]);
    let exe = Some(FileKind::File {
        executable: true,
        size: 4,
    });
    assert_eq!(t.kind("/usr/bin/python3"), exe);
    assert_eq!(
        t.resolve("/usr/bin/python3"),
        Some("/opt/python/3.11.9/bin/python3".to_string())
    );
    assert_eq!(t.kind("/opt/python/3.11/bin/python3"), exe);
    assert_eq!(
        t.resolve("/opt/python/3.11/bin/python3"),
        Some("/opt/python/3.11.9/bin/python3".to_string())
    );
    assert_eq!(
        t.resolve("/opt/python/latest"),
        Some("/opt/python/3.11.9".to_string())
    );
    assert_eq!(names(t.list("/opt/python/3.11")), strings(&["bin"]));
    // The folder lists the link by its own name.
    assert_eq!(
        names(t.list("/opt/python")),
        strings(&["3.11", "3.11.9", "latest"])
    );
}

#[test]
fn dot_dot_stops_at_the_root() {
    let t = tree(vec![
        Layer::new()
            .file("etc/os-release", "debian")
            .symlink("usr/lib/os-release", "../../../../../etc/os-release")
            .symlink("deep/link", "/../../etc"),
    ]);
    assert_eq!(t.content("/usr/lib/os-release"), Content::NotCaptured);
    assert_eq!(
        t.resolve("/usr/lib/os-release"),
        Some("/etc/os-release".to_string())
    );
    assert_eq!(t.resolve("/deep/link"), Some("/etc".to_string()));
    assert_eq!(
        t.resolve("/../../etc/os-release"),
        Some("/etc/os-release".to_string())
    );
    assert_eq!(t.resolve("/"), Some("/".to_string()));
}

#[test]
fn chains_are_followed_up_to_forty_links() {
    let mut layer = Layer::new().exe("target/bin/R");
    // link0 → link1 → … → link40 → /target: 41 links from link0, 40 from link1.
    for i in 0..41 {
        let next = if i == 40 {
            "/target".to_string()
        } else {
            format!("link{}", i + 1)
        };
        layer = layer.symlink(&format!("chain/link{i}"), &next);
    }
    let t = tree(vec![layer]);
    assert_eq!(t.resolve("/chain/link1"), Some("/target".to_string()));
    assert!(t.kind("/chain/link1/bin/R").is_some());
    assert_eq!(t.resolve("/chain/link0"), None);
    assert_eq!(t.kind("/chain/link0/bin/R"), None);
}

#[test]
fn loops_and_dangling_links_resolve_to_nothing() {
    let t = tree(vec![
        Layer::new()
            .symlink("loop/a", "b")
            .symlink("loop/b", "/loop/a")
            .symlink("loop/self", ".")
            .symlink("dangling", "/nowhere/at/all")
            .file("file.txt", "f")
            .symlink("through-file", "/file.txt/x"),
    ]);
    for path in ["/loop/a", "/loop/b/c", "/dangling", "/through-file"] {
        assert_eq!(t.kind(path), None, "{path}");
        assert_eq!(t.resolve(path), None, "{path}");
        assert_eq!(t.list(path), None, "{path}");
        assert_eq!(t.content(path), Content::Missing, "{path}");
    }
    // `.` is the folder itself, not a loop.
    assert_eq!(t.resolve("/loop/self/self/a"), None);
    assert_eq!(t.resolve("/loop/self/self"), Some("/loop".to_string()));
    // The dangling link is still listed.
    assert_eq!(
        names(t.list("/")),
        strings(&["dangling", "file.txt", "loop", "through-file"])
    );
}

#[test]
fn a_symlinked_folder_in_the_middle_of_a_path_is_followed() {
    // R's layout on Debian: /opt/R/4.2.2/lib/R → /usr/lib/R, whose include → ../../share/R/include.
    let rversion = "#define R_MAJOR  \"4\"\n#define R_MINOR  \"2.2\"\n";
    let t = tree(vec![
        Layer::new()
            .file("usr/share/R/include/Rversion.h", rversion)
            .symlink("usr/lib/R/include", "../../share/R/include")
            .exe("usr/lib/R/bin/R"),
        Layer::new()
            .symlink("opt/R/4.2.2/lib/R", "/usr/lib/R")
            .exe("opt/R/4.2.2/bin/R"),
    ]);
    let path = "/opt/R/4.2.2/lib/R/include/Rversion.h";
    assert_eq!(t.content(path), Content::Bytes(rversion.as_bytes()));
    assert_eq!(
        t.resolve(path),
        Some("/usr/share/R/include/Rversion.h".to_string())
    );
    let found = find_installations(&t);
    assert_eq!(found.installations.len(), 1);
    assert_eq!(found.installations[0].language, Language::R);
    assert_eq!(found.installations[0].path, "/opt/R/4.2.2/bin/R");
    assert_eq!(found.installations[0].version.as_deref(), Some("4.2.2"));
    assert_eq!(
        found.installations[0].version_file.as_deref(),
        Some("/usr/share/R/include/Rversion.h")
    );
}

#[test]
fn hard_links_copy_the_metadata_and_captured_contents_of_their_target() {
    let patchlevel = "#define PY_VERSION \"3.11.2\"\n";
    let t = tree(vec![
        Layer::new()
            .file_with_mode("usr/bin/python3.11", 0o755, &[0; 100])
            .file("usr/include/python3.11/patchlevel.h", patchlevel),
        Layer::new()
            .hard_link("opt/python/3.11.2/bin/python3", "usr/bin/python3.11")
            .hard_link(
                "opt/python/3.11.2/include/python3.11/patchlevel.h",
                "./usr/include/python3.11/patchlevel.h",
            ),
    ]);
    assert_eq!(
        t.kind("/opt/python/3.11.2/bin/python3"),
        Some(FileKind::File {
            executable: true,
            size: 100
        })
    );
    assert_eq!(
        t.content("/opt/python/3.11.2/include/python3.11/patchlevel.h"),
        Content::Bytes(patchlevel.as_bytes())
    );
    // A hard link is its own path, not a symlink.
    assert_eq!(
        t.resolve("/opt/python/3.11.2/bin/python3"),
        Some("/opt/python/3.11.2/bin/python3".to_string())
    );
    let found = find_installations(&t);
    assert_eq!(found.installations[0].version.as_deref(), Some("3.11.2"));
}

#[test]
fn a_hard_link_to_nothing_or_to_a_folder_is_a_broken_layer() {
    let mut t = ImageTree::new();
    let err = t
        .apply_layer(Layer::new().hard_link("a", "missing").tar().as_slice())
        .expect_err("no target");
    assert_eq!(
        err,
        "the layer's hard link /a refers to /missing, which no layer up to it has"
    );
    let err = t
        .apply_layer(Layer::new().dir("d/").hard_link("b", "d").tar().as_slice())
        .expect_err("a folder");
    assert_eq!(
        err,
        "the layer's hard link /b refers to the folder /d; hard links to folders are not allowed"
    );
}

#[test]
fn contents_are_kept_only_for_wanted_files_up_to_the_limit() {
    let big = "#define PY_VERSION \"3.9.1\"\n".repeat(4000);
    assert!(big.len() as u64 > MAX_CAPTURED_FILE_BYTES);
    let t = tree(vec![
        Layer::new()
            .file("opt/quarto/share/version", "1.4.550\n")
            .file("opt/quarto/other/version", "not wanted")
            .file(
                "opt/python/3.11/include/python3.11/patchlevel.h",
                "#define PY_VERSION \"3.11.2\"",
            )
            .file("opt/python/3.9/include/python3.9/patchlevel.h", &big)
            .file("etc/passwd", "root:x:0:0")
            .fifo("run/fifo"),
    ]);
    assert_eq!(
        t.content("/opt/quarto/share/version"),
        Content::Bytes(b"1.4.550\n")
    );
    assert_eq!(
        t.content("/opt/python/3.11/include/python3.11/patchlevel.h"),
        Content::Bytes(b"#define PY_VERSION \"3.11.2\"")
    );
    assert_eq!(t.content("/opt/quarto/other/version"), Content::NotCaptured);
    assert_eq!(
        t.content("/opt/python/3.9/include/python3.9/patchlevel.h"),
        Content::NotCaptured
    );
    assert_eq!(t.content("/etc/passwd"), Content::NotCaptured);
    assert_eq!(t.content("/etc"), Content::NotCaptured);
    assert_eq!(t.content("/etc/shadow"), Content::Missing);
    assert_eq!(
        t.kind("/run/fifo"),
        Some(FileKind::File {
            executable: false,
            size: 0
        })
    );
    // Only the two captured files' bytes count, not the 100 KB one.
    assert!(t.approximate_bytes() < 4096, "{}", t.approximate_bytes());
}

#[test]
fn a_file_that_is_not_a_tar_is_refused_with_a_message() {
    let mut t = ImageTree::new();
    let mut garbage = vec![0x41u8; 1024];
    garbage[600] = 0;
    let err = t.apply_layer(garbage.as_slice()).expect_err("not a tar");
    assert!(
        err.starts_with("the layer is not a valid tar archive: "),
        "{err}"
    );
    // An empty stream is an empty layer, as an empty tar is.
    assert_eq!(t.apply_layer(io::empty()), Ok(()));
    assert_eq!(t.entries(), 0);
}

/// A tar of `files` files of `file_size` zero bytes each plus one patchlevel.h, produced as it
/// is read: the test never holds the layer.
pub(crate) struct GeneratedLayer {
    files: usize,
    file_size: u64,
    next_file: usize,
    pending: Vec<u8>,
    zeros_left: u64,
    done: bool,
    /// Bytes produced so far.
    pub(crate) produced: u64,
}

impl GeneratedLayer {
    pub(crate) fn new(files: usize, file_size: u64) -> Self {
        GeneratedLayer {
            files,
            file_size,
            next_file: 0,
            pending: Vec::new(),
            zeros_left: 0,
            done: false,
            produced: 0,
        }
    }

    fn header(path: &str, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_path(path).expect("a short path");
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn refill(&mut self) {
        if self.next_file < self.files {
            let path = format!("data/blob-{:04}.bin", self.next_file);
            self.pending = GeneratedLayer::header(&path, self.file_size);
            // Sizes that are multiples of 512 need no padding.
            self.zeros_left = self.file_size.div_ceil(512) * 512;
            self.next_file += 1;
        } else if self.next_file == self.files {
            let text = b"#define PY_VERSION \"3.11.2\"\n";
            let mut bytes = GeneratedLayer::header(
                "opt/python/3.11.2/include/python3.11/patchlevel.h",
                text.len() as u64,
            );
            let mut block = [0u8; 512];
            block[..text.len()].copy_from_slice(text);
            bytes.extend_from_slice(&block);
            // The end of the archive: two zero blocks.
            bytes.extend_from_slice(&[0; 1024]);
            self.pending = bytes;
            self.next_file += 1;
        } else {
            self.done = true;
        }
    }
}

impl Read for GeneratedLayer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                self.produced += n as u64;
                return Ok(n);
            }
            if self.zeros_left > 0 {
                let n = buf
                    .len()
                    .min(usize::try_from(self.zeros_left).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                self.zeros_left -= n as u64;
                self.produced += n as u64;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.refill();
        }
    }
}

#[test]
fn a_200_mb_layer_is_applied_with_a_tree_of_a_few_kilobytes() {
    let mut layer = GeneratedLayer::new(200, 1024 * 1024);
    let mut t = ImageTree::new();
    t.apply_layer(&mut layer).expect("a valid layer");
    // 200 × (512 header + 1 MiB) + patchlevel.h's header and block + the first end block
    // (tar stops there; the layer reader drains the rest for the digest check).
    assert_eq!(layer.produced, 209_819_136);
    // /data, its 200 files, /opt/python/3.11.2/include/python3.11/patchlevel.h and its 5 folders.
    assert_eq!(t.entries(), 207);
    assert!(
        t.approximate_bytes() < 64 * 1024,
        "the tree takes {} bytes",
        t.approximate_bytes()
    );
    assert_eq!(
        t.content("/opt/python/3.11.2/include/python3.11/patchlevel.h"),
        Content::Bytes(b"#define PY_VERSION \"3.11.2\"\n")
    );
    assert_eq!(
        t.kind("/data/blob-0199.bin"),
        Some(FileKind::File {
            executable: false,
            size: 1024 * 1024
        })
    );
}
