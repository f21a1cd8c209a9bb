//! OCI images for the image examination tests, made here and pushed into a real registry
//! ([`crate::oci_registry`]) with `skopeo copy`:
//!
//! - [`Layer`]s of folders, files, symlinks, hard links and whiteouts, written as tar and
//!   compressed with gzip, zstd or not at all; [`Image`]s of layers for one platform;
//!   [`write_layout`] writes an OCI image layout of one image, or of an index of several
//!   platforms, streaming every layer to disk (never held in memory);
//! - [`push`] copies a layout into a registry unchanged (`--preserve-digests`: the digests in
//!   the registry are the layout's), and [`push_cached`] does so with the testbed's content
//!   images as `e2e/infra/images` cached them, so that their digests are what the node runs;
//! - [`large_image`] makes the benchmark's image: incompressible layers of a given total size
//!   with a Python installation in the last.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::oci_registry::OciRegistry;

/// Every time in the layers and configurations: Debian 12.0's release day, as `e2e/infra/images`.
const EPOCH: u64 = 1_686_355_200;
const CREATED: &str = "2023-06-10T00:00:00Z";

/// The media types written.
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// How a layer's tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// gzip at this level, 1 (fastest) to 9 (`…tar+gzip`).
    Gzip(u32),
    /// zstd at level 3 (`…tar+zstd`).
    Zstd,
}

impl Compression {
    /// gzip at its default level, 6.
    pub const GZIP: Compression = Compression::Gzip(6);

    /// The layer media type of this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip(_) => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// One entry of a layer; paths are absolute in the image (`/opt/python`).
#[derive(Debug, Clone)]
enum Entry {
    Dir(String),
    File {
        path: String,
        mode: u32,
        content: Vec<u8>,
    },
    Random {
        path: String,
        size: u64,
        seed: u64,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    Whiteout(String),
    Opaque(String),
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::Dir(p) | Entry::Whiteout(p) | Entry::Opaque(p) => p,
            Entry::File { path, .. }
            | Entry::Random { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::Hardlink { path, .. } => path,
        }
    }
}

/// A layer: its entries in order (each one's missing parent folders are added before it) and
/// its compression.
#[derive(Debug, Clone)]
pub struct Layer {
    compression: Compression,
    entries: Vec<Entry>,
}

impl Layer {
    /// An empty layer compressed with `compression`.
    pub fn new(compression: Compression) -> Layer {
        Layer {
            compression,
            entries: Vec::new(),
        }
    }

    /// A folder (mode 0755).
    pub fn dir(mut self, path: &str) -> Layer {
        self.entries.push(Entry::Dir(path.to_string()));
        self
    }

    /// A regular file (mode 0644).
    pub fn file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Layer {
        self.entries.push(Entry::File {
            path: path.to_string(),
            mode: 0o644,
            content: content.into(),
        });
        self
    }

    /// An executable file (mode 0755).
    pub fn executable(mut self, path: &str, content: impl Into<Vec<u8>>) -> Layer {
        self.entries.push(Entry::File {
            path: path.to_string(),
            mode: 0o755,
            content: content.into(),
        });
        self
    }

    /// A file of `size` bytes that no compressor can shrink (a PRNG seeded with `seed`).
    pub fn random_file(mut self, path: &str, size: u64, seed: u64) -> Layer {
        self.entries.push(Entry::Random {
            path: path.to_string(),
            size,
            seed,
        });
        self
    }

    /// A symbolic link at `path` to `target`, written as given (absolute or relative).
    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.push(Entry::Symlink {
            path: path.to_string(),
            target: target.to_string(),
        });
        self
    }

    /// A hard link at `path` to `target`, an absolute path written earlier (in this layer or
    /// a lower one).
    pub fn hardlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.push(Entry::Hardlink {
            path: path.to_string(),
            target: target.to_string(),
        });
        self
    }

    /// Deletes `path` (and everything under it) of the lower layers: `.wh.NAME` beside it.
    pub fn whiteout(mut self, path: &str) -> Layer {
        self.entries.push(Entry::Whiteout(path.to_string()));
        self
    }

    /// Makes the folder `dir` opaque: what the lower layers had under it is gone, what this
    /// layer adds stays (`DIR/.wh..wh..opq`).
    pub fn opaque(mut self, dir: &str) -> Layer {
        self.entries.push(Entry::Opaque(dir.to_string()));
        self
    }

    /// A Python installation in Posit's layout under `prefix` (`/opt/python/3.11.9`):
    /// `bin/python3` and the `include/python3.X/patchlevel.h` that says `version`.
    pub fn python(self, prefix: &str, version: &str) -> Layer {
        let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let mut parts = version.split('.');
        let (major, minor_number, micro) = (
            parts.next().unwrap_or("3"),
            parts.next().unwrap_or("0"),
            parts.next().unwrap_or("0"),
        );
        let header = format!(
            "/* The version of this test image's Python. */\n\
             #define PY_MAJOR_VERSION {major}\n#define PY_MINOR_VERSION {minor_number}\n\
             #define PY_MICRO_VERSION {micro}\n\n#define PY_VERSION \"{version}\"\n"
        );
        self.executable(
            &format!("{prefix}/bin/python3"),
            format!("#!/bin/sh\necho Python {version}\n"),
        )
        .file(
            &format!("{prefix}/include/python{minor}/patchlevel.h"),
            header,
        )
    }

    /// An R installation under `prefix` (`/opt/R/4.3.1`): `bin/R` and the
    /// `lib/R/include/Rversion.h` that says `version`.
    pub fn r(self, prefix: &str, version: &str) -> Layer {
        let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
        let header = format!(
            "/* The version of this test image's R. */\n\
             #define R_MAJOR  \"{major}\"\n#define R_MINOR  \"{minor}\"\n"
        );
        self.executable(
            &format!("{prefix}/bin/R"),
            format!("#!/bin/sh\necho R {version}\n"),
        )
        .file(&format!("{prefix}/lib/R/include/Rversion.h"), header)
    }

    /// A Quarto installation under `prefix` (`/opt/quarto/1.4.550`): `bin/quarto` and the
    /// `share/version` that says `version`.
    pub fn quarto(self, prefix: &str, version: &str) -> Layer {
        self.executable(
            &format!("{prefix}/bin/quarto"),
            format!("#!/bin/sh\necho {version}\n"),
        )
        .file(&format!("{prefix}/share/version"), format!("{version}\n"))
    }
}

/// An image for one platform: its layers, bottom first.
#[derive(Debug, Clone)]
pub struct Image {
    platform: String,
    layers: Vec<Layer>,
}

impl Image {
    /// An image for `platform` (`linux/amd64`, `linux/arm64/v8`) without layers.
    pub fn new(platform: &str) -> Image {
        Image {
            platform: platform.to_string(),
            layers: Vec::new(),
        }
    }

    /// The image with `layer` on top.
    pub fn layer(mut self, layer: Layer) -> Image {
        self.layers.push(layer);
        self
    }
}

/// An OCI image layout on disk, one tag in it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Its folder.
    pub dir: PathBuf,
    /// The tag `index.json` names it by.
    pub tag: String,
    /// The digest the tag points at: the image manifest's, or the image index's.
    pub digest: String,
    /// Each image's manifest digest, in the order the images were given (one when there is no
    /// index).
    pub manifests: Vec<String>,
}

/// Writes `images` as an OCI image layout into `dir` (created), tagged `tag`: the manifest of
/// the one image, or an image index of them all with their platforms.
pub fn write_layout(dir: &Path, tag: &str, images: &[Image]) -> Result<Layout> {
    ensure!(!images.is_empty(), "a layout needs at least one image");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut manifests = Vec::new();
    for image in images {
        manifests.push(write_image(&blobs, image)?);
    }
    let top = if let [only] = manifests.as_slice() {
        only.clone()
    } else {
        let entries: Vec<Value> = manifests
            .iter()
            .zip(images)
            .map(|(m, image)| {
                let mut entry = m.json();
                entry["platform"] = platform_json(&image.platform)?;
                Ok(entry)
            })
            .collect::<Result<_>>()?;
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
        write_blob(&blobs, INDEX, &serde_json::to_vec(&index)?)?
    };
    let mut entry = top.json();
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [entry]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(Layout {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        digest: top.digest,
        manifests: manifests.into_iter().map(|m| m.digest).collect(),
    })
}

/// Copies `layout` into `registry` as `repository_and_tag` (`python:3.11`) with skopeo,
/// unchanged: every platform of an index, and the very bytes (so the same digests). Returns
/// the image's reference in the registry.
pub fn push(layout: &Layout, registry: &OciRegistry, repository_and_tag: &str) -> Result<String> {
    let reference = registry.reference(repository_and_tag);
    let source = format!("oci:{}:{}", layout.dir.display(), layout.tag);
    let destination = format!("docker://{reference}");
    let mut args = vec![
        "--insecure-policy".to_string(),
        "copy".to_string(),
        "--all".to_string(),
        "--preserve-digests".to_string(),
        "--quiet".to_string(),
    ];
    args.extend(registry.skopeo_destination_options()?);
    args.push(source);
    args.push(destination);
    let out = Command::new("skopeo")
        .args(&args)
        .output()
        .context("cannot run skopeo, which pushes the test images: install it (`e2e/infra/oci-registry` does)")?;
    ensure!(
        out.status.success(),
        "skopeo copy of {} to {reference} failed ({}): {}\nthe registry's log:\n{}",
        layout.dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        registry.log()
    );
    Ok(reference)
}

/// The layout `e2e/infra/images` cached for the content image `name` (`python`, `r`), as the
/// testbed loads it; fails saying how to build it when it is not built.
pub fn cached_layout(name: &str) -> Result<Layout> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/images");
    let out = Command::new(&script)
        .args(["list", name])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    ensure!(
        out.status.success(),
        "`e2e/infra/images list {name}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    let Some(dir) = listed.trim_end().split('\t').nth(2) else {
        bail!("`e2e/infra/images list {name}` printed no cache path: {listed:?}");
    };
    let dir = PathBuf::from(dir);
    ensure!(
        dir.join(".complete").is_file(),
        "the {name} image is not built ({} is not complete): run `e2e/infra/images build {name}` as root (`make test` does)",
        dir.display()
    );
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json"))?)
        .with_context(|| format!("{}/index.json is no JSON", dir.display()))?;
    let entry = &index["manifests"][0];
    let (Some(digest), Some(tag)) = (
        entry["digest"].as_str(),
        entry["annotations"]["org.opencontainers.image.ref.name"].as_str(),
    ) else {
        bail!(
            "{}/index.json names no tagged manifest: {index}",
            dir.display()
        );
    };
    Ok(Layout {
        tag: tag.to_string(),
        digest: digest.to_string(),
        manifests: vec![digest.to_string()],
        dir,
    })
}

/// Pushes the testbed's cached content image `name` (`python`, `r`) unchanged into `registry`
/// as `NAME:TAG` (`python:3.11`, `r:4.2`, the tags of their testbed references); returns its
/// reference there and its layout (whose digest is the image's there too).
pub fn push_cached(name: &str, registry: &OciRegistry) -> Result<(String, Layout)> {
    let layout = cached_layout(name)?;
    let reference = push(&layout, registry, &format!("{name}:{}", layout.tag))?;
    Ok((reference, layout))
}

/// The benchmark's image in `dir`, tagged `large`: `layers` gzip (level 1) layers of
/// incompressible files, `total_bytes` of them in all (split evenly, in files of at most 16
/// MiB), and in the last layer a Python 3.12.4 at `/opt/python/3.12.4`.
pub fn large_image(dir: &Path, total_bytes: u64, layers: usize) -> Result<Layout> {
    ensure!(layers > 0, "the large image needs at least one layer");
    const FILE: u64 = 16 << 20;
    let per_layer = total_bytes / layers as u64;
    let mut image = Image::new("linux/amd64");
    for l in 0..layers {
        let mut layer = Layer::new(Compression::Gzip(1));
        let mut left = if l + 1 == layers {
            total_bytes - per_layer * (layers as u64 - 1)
        } else {
            per_layer
        };
        let mut f = 0;
        while left > 0 {
            let size = left.min(FILE);
            let seed = ((l as u64) << 32) | f;
            layer = layer.random_file(&format!("/data/layer-{l}/file-{f}.bin"), size, seed);
            left -= size;
            f += 1;
        }
        if l + 1 == layers {
            layer = layer.python("/opt/python/3.12.4", "3.12.4");
        }
        image = image.layer(layer);
    }
    write_layout(dir, "large", &[image])
}

/// A blob's descriptor.
#[derive(Debug, Clone)]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

impl Descriptor {
    fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// `os/arch[/variant]` as an OCI platform object.
fn platform_json(platform: &str) -> Result<Value> {
    let parts: Vec<&str> = platform.split('/').collect();
    match parts.as_slice() {
        [os, architecture] => Ok(json!({"os": os, "architecture": architecture})),
        [os, architecture, variant] => {
            Ok(json!({"os": os, "architecture": architecture, "variant": variant}))
        }
        _ => {
            bail!("{platform:?} is no platform: write os/architecture[/variant], like linux/amd64")
        }
    }
}

/// Writes the layers, configuration and manifest of `image`; the manifest's descriptor.
fn write_image(blobs: &Path, image: &Image) -> Result<Descriptor> {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let (descriptor, diff_id) = write_layer(blobs, layer)?;
        layers.push(descriptor.json());
        diff_ids.push(diff_id);
        history.push(
            json!({"created": CREATED, "created_by": format!("execenv-e2e oci_images: layer {i}")}),
        );
    }
    let mut config = platform_json(&image.platform)?;
    config["created"] = json!(CREATED);
    config["config"] =
        json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]});
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    config["history"] = json!(history);
    let config = write_blob(blobs, CONFIG, &serde_json::to_vec(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config.json(),
        "layers": layers,
    });
    write_blob(blobs, MANIFEST, &serde_json::to_vec(&manifest)?)
}

/// Writes `bytes` as a blob; its descriptor.
fn write_blob(blobs: &Path, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
    let hex = format!("{:x}", Sha256::digest(bytes));
    std::fs::write(blobs.join(&hex), bytes)?;
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
    })
}

/// Streams `layer` as a tar through its compressor into a blob; its descriptor and diff id
/// (the digest of the uncompressed tar).
fn write_layer(blobs: &Path, layer: &Layer) -> Result<(Descriptor, String)> {
    let file = tempfile::NamedTempFile::new_in(blobs)?;
    let stored = Digesting::new(io::BufWriter::new(file.reopen()?));
    let tar = Digesting::new(Compressor::new(stored, layer.compression)?);
    let mut builder = tar::Builder::new(tar);
    builder.mode(tar::HeaderMode::Deterministic);
    append_entries(&mut builder, &layer.entries)?;
    let tar = builder.into_inner()?;
    let (compressor, diff_id, _) = tar.finish();
    let stored = compressor.finish()?;
    let (mut writer, digest, size) = stored.finish();
    writer.flush()?;
    drop(writer);
    let hex = digest.trim_start_matches("sha256:").to_string();
    file.persist(blobs.join(&hex))
        .map_err(|e| e.error)
        .context("cannot store a layer blob")?;
    Ok((
        Descriptor {
            media_type: layer.compression.media_type().to_string(),
            digest,
            size,
        },
        diff_id,
    ))
}

fn append_entries<W: Write>(builder: &mut tar::Builder<W>, entries: &[Entry]) -> Result<()> {
    let mut dirs = BTreeSet::new();
    let links: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Symlink { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    for entry in entries {
        let path = relative(entry.path())?;
        // The parent folders this layer has not written yet (not those it makes symlinks).
        let parts: Vec<&str> = path.split('/').collect();
        for end in 1..parts.len() {
            let parent = parts[..end].join("/");
            if !links.contains(format!("/{parent}").as_str()) && dirs.insert(parent.clone()) {
                append_dir(builder, &parent)?;
            }
        }
        match entry {
            Entry::Dir(_) => {
                if dirs.insert(path.to_string()) {
                    append_dir(builder, path)?;
                }
            }
            Entry::File { mode, content, .. } => {
                let mut header = header(tar::EntryType::Regular, *mode, content.len() as u64);
                builder.append_data(&mut header, path, content.as_slice())?;
            }
            Entry::Random { size, seed, .. } => {
                let mut header = header(tar::EntryType::Regular, 0o644, *size);
                builder.append_data(&mut header, path, RandomBytes::new(*seed, *size))?;
            }
            Entry::Symlink { target, .. } => {
                let mut header = header(tar::EntryType::Symlink, 0o777, 0);
                builder.append_link(&mut header, path, target)?;
            }
            Entry::Hardlink { target, .. } => {
                let mut header = header(tar::EntryType::Link, 0o644, 0);
                builder.append_link(&mut header, path, relative(target)?)?;
            }
            Entry::Whiteout(_) => {
                let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
                let marker = if parent.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{parent}/.wh.{name}")
                };
                let mut header = header(tar::EntryType::Regular, 0o644, 0);
                builder.append_data(&mut header, marker, io::empty())?;
            }
            Entry::Opaque(_) => {
                if dirs.insert(path.to_string()) {
                    append_dir(builder, path)?;
                }
                let mut header = header(tar::EntryType::Regular, 0o644, 0);
                builder.append_data(&mut header, format!("{path}/.wh..wh..opq"), io::empty())?;
            }
        }
    }
    Ok(())
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut header, format!("{path}/"), io::empty())?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(EPOCH);
    header
}

/// An absolute image path as a tar path (`/opt/x` → `opt/x`).
fn relative(path: &str) -> Result<&str> {
    let Some(rest) = path.strip_prefix('/') else {
        bail!("layer paths are absolute in the image: {path:?}");
    };
    ensure!(
        !rest.is_empty() && !rest.ends_with('/'),
        "{path:?} names no entry"
    );
    Ok(rest)
}

/// A writer passing everything on while hashing it (sha256) and counting it.
struct Digesting<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> Digesting<W> {
    fn new(inner: W) -> Digesting<W> {
        Digesting {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the digest (`sha256:…`) and the count of what went through.
    fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{:x}", self.hasher.finalize());
        (self.inner, digest, self.bytes)
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A layer's compressor.
enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Compressor<W>> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip(level) => Compressor::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(level),
            )),
            Compression::Zstd => Compressor::Zstd(zstd::Encoder::new(inner, 3)?),
        })
    }

    /// Ends the compressed stream; the inner writer.
    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
        }
    }
}

/// `size` bytes of splitmix64 output: the same for the same seed, incompressible.
struct RandomBytes {
    state: u64,
    left: u64,
}

impl RandomBytes {
    fn new(seed: u64, size: u64) -> RandomBytes {
        RandomBytes {
            state: seed,
            left: size,
        }
    }

    fn next_word(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Read for RandomBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            let word = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn blob(layout: &Layout, digest: &str) -> Vec<u8> {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(layout.dir.join("blobs/sha256").join(hex)).unwrap()
    }

    fn json_blob(layout: &Layout, digest: &str) -> Value {
        serde_json::from_slice(&blob(layout, digest)).unwrap()
    }

    /// The (type, path, link target) of each entry of an uncompressed tar.
    fn listing(tar_bytes: &[u8]) -> Vec<(char, String, String)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let kind = match e.header().entry_type() {
                    tar::EntryType::Directory => 'd',
                    tar::EntryType::Symlink => 'l',
                    tar::EntryType::Link => 'h',
                    _ => 'f',
                };
                let target = e
                    .link_name()
                    .unwrap()
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                (kind, e.path().unwrap().display().to_string(), target)
            })
            .collect()
    }

    #[test]
    fn a_layer_holds_its_entries_after_their_parent_folders_with_whiteouts_as_marker_files() {
        let dir = tempfile::tempdir().unwrap();
        let layer = Layer::new(Compression::None)
            .python("/opt/python/3.11.9", "3.11.9")
            .symlink("/opt/python/3.11", "3.11.9")
            .hardlink(
                "/opt/python/3.11.9/bin/python",
                "/opt/python/3.11.9/bin/python3",
            )
            .whiteout("/opt/R")
            .opaque("/usr/local");
        let layout =
            write_layout(dir.path(), "t", &[Image::new("linux/amd64").layer(layer)]).unwrap();
        let manifest = json_blob(&layout, &layout.digest);
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        let entries = listing(&blob(&layout, layer["digest"].as_str().unwrap()));
        let e = |k: char, p: &str, t: &str| (k, p.to_string(), t.to_string());
        assert_eq!(
            entries,
            vec![
                e('d', "opt/", ""),
                e('d', "opt/python/", ""),
                e('d', "opt/python/3.11.9/", ""),
                e('d', "opt/python/3.11.9/bin/", ""),
                e('f', "opt/python/3.11.9/bin/python3", ""),
                e('d', "opt/python/3.11.9/include/", ""),
                e('d', "opt/python/3.11.9/include/python3.11/", ""),
                e('f', "opt/python/3.11.9/include/python3.11/patchlevel.h", ""),
                e('l', "opt/python/3.11", "3.11.9"),
                e(
                    'h',
                    "opt/python/3.11.9/bin/python",
                    "opt/python/3.11.9/bin/python3"
                ),
                e('f', "opt/.wh.R", ""),
                e('d', "usr/", ""),
                e('d', "usr/local/", ""),
                e('f', "usr/local/.wh..wh..opq", ""),
            ]
        );
        let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], "amd64");
        let diff_id = format!(
            "sha256:{:x}",
            Sha256::digest(blob(&layout, layer["digest"].as_str().unwrap()))
        );
        assert_eq!(config["rootfs"]["diff_ids"][0], diff_id.as_str());
    }

    #[test]
    fn compressed_layers_decompress_to_their_diff_ids() {
        let dir = tempfile::tempdir().unwrap();
        let image = |c| Image::new("linux/amd64").layer(Layer::new(c).file("/etc/hello", "hi\n"));
        let gzip = write_layout(&dir.path().join("g"), "t", &[image(Compression::GZIP)]).unwrap();
        let zstd = write_layout(&dir.path().join("z"), "t", &[image(Compression::Zstd)]).unwrap();
        for (layout, media_type) in [
            (&gzip, "application/vnd.oci.image.layer.v1.tar+gzip"),
            (&zstd, "application/vnd.oci.image.layer.v1.tar+zstd"),
        ] {
            let manifest = json_blob(layout, &layout.digest);
            assert_eq!(manifest["layers"][0]["mediaType"], media_type);
            let stored = blob(layout, manifest["layers"][0]["digest"].as_str().unwrap());
            assert_eq!(manifest["layers"][0]["size"], stored.len() as u64);
            let mut tar = Vec::new();
            if media_type.ends_with("gzip") {
                flate2::read::GzDecoder::new(stored.as_slice())
                    .read_to_end(&mut tar)
                    .unwrap();
            } else {
                tar = zstd::decode_all(stored.as_slice()).unwrap();
            }
            let config = json_blob(layout, manifest["config"]["digest"].as_str().unwrap());
            assert_eq!(
                config["rootfs"]["diff_ids"][0],
                format!("sha256:{:x}", Sha256::digest(&tar)).as_str()
            );
            assert_eq!(
                listing(&tar),
                vec![
                    ('d', "etc/".into(), String::new()),
                    ('f', "etc/hello".into(), String::new())
                ]
            );
        }
    }

    #[test]
    fn several_images_make_an_index_of_their_platforms_under_the_tag() {
        let dir = tempfile::tempdir().unwrap();
        let layout = write_layout(
            dir.path(),
            "multi",
            &[
                Image::new("linux/amd64").layer(Layer::new(Compression::GZIP).file("/a", "amd")),
                Image::new("linux/arm64/v8").layer(Layer::new(Compression::GZIP).file("/a", "arm")),
            ],
        )
        .unwrap();
        let top: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(top["manifests"][0]["digest"], layout.digest.as_str());
        assert_eq!(top["manifests"][0]["mediaType"], INDEX);
        assert_eq!(
            top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "multi"
        );
        let index = json_blob(&layout, &layout.digest);
        assert_eq!(
            index["manifests"][0]["digest"],
            layout.manifests[0].as_str()
        );
        assert_eq!(
            index["manifests"][0]["platform"],
            json!({"os": "linux", "architecture": "amd64"})
        );
        assert_eq!(
            index["manifests"][1]["platform"],
            json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        );
        assert_ne!(layout.manifests[0], layout.manifests[1]);
    }

    #[test]
    fn random_bytes_are_the_same_for_a_seed_and_do_not_compress() {
        let read = |seed| {
            let mut v = Vec::new();
            RandomBytes::new(seed, 100_003).read_to_end(&mut v).unwrap();
            v
        };
        assert_eq!(read(7).len(), 100_003);
        assert_eq!(read(7), read(7));
        assert_ne!(read(7), read(8));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        gz.write_all(&read(7)).unwrap();
        assert!(gz.finish().unwrap().len() > 100_000);
    }

    #[test]
    fn the_large_image_splits_its_bytes_over_its_layers_and_ends_with_python() {
        let dir = tempfile::tempdir().unwrap();
        let layout = large_image(dir.path(), 3 * 1024 * 1024 + 5, 3).unwrap();
        let manifest = json_blob(&layout, &layout.digest);
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3);
        let total: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
        assert!(total > 3 * 1024 * 1024, "{total}");
        let last = blob(&layout, layers[2]["digest"].as_str().unwrap());
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(last.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        let paths: Vec<String> = listing(&tar).into_iter().map(|(_, p, _)| p).collect();
        assert!(
            paths.contains(&"data/layer-2/file-0.bin".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"opt/python/3.12.4/include/python3.12/patchlevel.h".to_string()),
            "{paths:?}"
        );
    }
}
