//! Bundles for the upload tests: a gateway storing them and an upload to it, the example bundle
//! packed the way the README packs it
//! (`tar -czf - -C DIR .`), hostile archives written header by header (the tar crate's builder
//! refuses them), a gigabyte-sized archive made as it is read, and what a data folder and a
//! process hold afterwards.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::docs::repo_root;
use crate::{HttpResponse, RegistryProcess, ServiceProcess, http_send};

/// The path of content `content`'s bundles.
pub fn bundles_path(content: &str) -> String {
    format!("/__api__/execenv/v1/content/{content}/bundles")
}

/// POSTs `bytes` as a bundle of `content` with the API key `key`.
pub fn upload(
    gateway: &ServiceProcess,
    key: &str,
    content: &str,
    bytes: &[u8],
) -> Result<HttpResponse> {
    let auth = format!("Key {key}");
    http_send(
        gateway.address(),
        "POST",
        &bundles_path(content),
        &[("Authorization", &auth)],
        Some(("application/gzip", bytes)),
    )
}

/// The registry (SQLite in `dir`) and a gateway storing bundles in `dir/data`, with `env`; and
/// that data folder.
pub fn gateway_alone(
    dir: &Path,
    env: &[(&str, String)],
) -> Result<(RegistryProcess, ServiceProcess, PathBuf)> {
    let registry = RegistryProcess::on_sqlite(dir)?;
    let data = dir.join("data");
    let mut all = vec![("EXECENV_BUNDLES__DIR", data.display().to_string())];
    all.extend(env.iter().cloned());
    let gateway = ServiceProcess::gateway(&registry, dir, &all)?;
    Ok((registry, gateway, data))
}

/// The example bundle of `make run`.
pub fn example_dir() -> PathBuf {
    repo_root().join("examples/bundles/hello-python")
}

/// The example bundle as a `.tar.gz`, made with the system's `tar` as the README shows.
pub fn example_targz() -> Result<Vec<u8>> {
    let out = Command::new("tar")
        .arg("-czf")
        .arg("-")
        .arg("-C")
        .arg(example_dir())
        .arg(".")
        .output()
        .context("cannot run tar")?;
    ensure!(
        out.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

/// A tar stream written entry by entry, any name, type and link target allowed.
#[derive(Default)]
pub struct RawTar(Vec<u8>);

/// Tar entry types, by their flag.
pub mod kind {
    /// A regular file.
    pub const FILE: u8 = b'0';
    /// A hard link.
    pub const HARD_LINK: u8 = b'1';
    /// A symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// A character device.
    pub const CHAR_DEVICE: u8 = b'3';
    /// A FIFO.
    pub const FIFO: u8 = b'6';
}

impl RawTar {
    /// Adds an entry: `name` (at most 100 bytes), its type flag, data and link target.
    pub fn entry(mut self, name: &str, kind: u8, data: &[u8], link: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        if let Some(gnu) = h.as_gnu_mut() {
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    /// Adds a regular file.
    pub fn file(self, name: &str, data: &str) -> Self {
        self.entry(name, kind::FILE, data.as_bytes(), "")
    }

    /// Adds a manifest.json holding `text`.
    pub fn manifest(self, text: &str) -> Self {
        self.file("manifest.json", text)
    }

    /// The archive, ended and gzip-compressed.
    pub fn gz(self) -> Vec<u8> {
        self.gz_with(Compression::fast())
    }

    /// The archive, ended and gzip-compressed at `level` (`Compression::none()`: as large as
    /// the archive).
    pub fn gz_with(mut self, level: Compression) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        let mut gz = GzEncoder::new(Vec::new(), level);
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&self.0);
        gz.finish().unwrap_or_default()
    }
}

/// A valid manifest.json of a Python script.
pub const MANIFEST: &str = r#"{"version": 1, "metadata": {"appmode": "python-script", "entrypoint": "app.py"}, "python": {"version": "3.11.9"}}"#;

/// A `.tar.gz` holding one file entry of `size` zero bytes, made as it is read and stored
/// without compression (gzip's stored blocks), so the body on the wire is as large as the entry:
/// nothing of it is in memory, here or in a gateway that refuses it in time.
pub fn zeros_archive(size: u64) -> impl Read + Send + 'static {
    let mut h = tar::Header::new_gnu();
    let _ = h.set_path("zeros.bin");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    let tar = Cursor::new(h.as_bytes().to_vec()).chain(std::io::repeat(0).take(size));
    flate2::read::GzEncoder::new(tar, Compression::none())
}

/// Every path under `dir`, relative and sorted; empty when `dir` does not exist.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.display().to_string());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A process's resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
