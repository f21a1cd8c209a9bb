//! Unpacking an uploaded bundle, treating the archive as hostile. The `.tar.gz` is read as a
//! stream — gzip, then tar, one entry at a time, file data copied in 64 KiB pieces — so memory
//! stays bounded whatever the input, and it is refused at the first entry that breaks a rule:
//!
//! - an entry name must stay inside the bundle ([`execenv_core::bundle::entry_names`]): no
//!   absolute path, no `..`; and no entry may pass through a symbolic link of the archive;
//! - a symbolic link must point inside the bundle ([`execenv_core::bundle::check_link_target`]);
//!   hard links are refused whatever they point at (a bundle has no need of them, and a hard link
//!   names an existing file, which could be anyone's);
//! - only files, folders and symbolic links: device files, FIFOs, sparse files and anything else
//!   are refused;
//! - at most [`Limits::max_files`] entries (files, folders — also the ones created implicitly —
//!   and links) and at most [`Limits::max_unpacked_bytes`] bytes: file contents plus the
//!   archive's own metadata entries (long names, pax headers). A file's size is checked against
//!   what is left BEFORE it is read, so a gigabyte of zeros costs one header, not a gigabyte;
//! - metadata entries are at most [`MAX_METADATA_BYTES`] each (the tar crate would read them into
//!   memory whole, so they are read here, raw, with that bound);
//! - entry names must be UTF-8; a file or link may not appear twice.
//!
//! Files are written 0644 (0755 when the archive marks them executable), folders 0755, whatever
//! the umask, so content processes of another user can read them. The caller unpacks into a
//! staging folder and removes it on any error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use execenv_core::bundle::{check_link_target, entry_names};
use execenv_core::{Error, ErrorKind};
use flate2::read::GzDecoder;
use tar::{Archive, EntryType, PaxExtensions};

/// Largest metadata entry (GNU long name or link, pax header) read.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// What an archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file contents and metadata entries, unpacked.
    pub max_unpacked_bytes: u64,
    /// Files, folders and links.
    pub max_files: u64,
}

/// What an archive held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Bytes of file contents.
    pub size: u64,
    /// Regular files.
    pub files: u64,
}

/// Unpacks the `.tar.gz` read from `body` into the existing, empty folder `into`. An error
/// (InvalidArgument, or TooLarge for a limit) names the entry at fault; an error the reader
/// carries ([`carry`]) is returned as it is. `into` may hold part of the archive afterwards.
/// The manifest is checked apart, once the archive is unpacked ([`crate::bundles`]).
pub fn unpack(body: impl Read, into: &Path, limits: &Limits) -> Result<Unpacked, Error> {
    let mut archive = Archive::new(GzDecoder::new(body));
    let mut run = Run {
        root: into,
        limits: *limits,
        budget: limits.max_unpacked_bytes,
        entries: 0,
        unpacked: Unpacked::default(),
    };
    let mut pending = Pending::default();
    let entries = archive.entries().map_err(|e| not_an_archive(&e))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|e| not_an_archive(&e))?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions() {
            let data = run.metadata(&mut entry)?;
            pending.add(kind, data)?;
            continue;
        }
        if kind.is_pax_global_extensions() {
            run.metadata(&mut entry)?;
            run.count_entry("a pax global header")?;
            continue;
        }
        let name = pending.name(entry.header().path_bytes().into_owned())?;
        let link = pending.link(entry.header().link_name_bytes().map(|l| l.into_owned()))?;
        pending = Pending::default();
        run.entry(&mut entry, kind, &name, link.as_deref())?;
    }
    if pending != Pending::default() {
        return Err(invalid(
            "the archive ends with a long name or pax header but no entry after it",
        ));
    }
    Ok(run.unpacked)
}

/// An io::Error carrying `error`, for a reader to fail the unpack with (the upload was too
/// large, or broke off): [`unpack`] returns `error` itself.
pub fn carry(error: Error) -> io::Error {
    io::Error::other(Carried(error))
}

#[derive(Debug)]
struct Carried(Error);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.message.fmt(f)
    }
}

impl std::error::Error for Carried {}

/// The error a reader carried, found anywhere in `e`'s chain of sources.
fn carried(e: &io::Error) -> Option<Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|inner| inner as _);
    while let Some(s) = source {
        if let Some(Carried(error)) = s.downcast_ref::<Carried>() {
            return Some(error.clone());
        }
        if let Some(io) = s.downcast_ref::<io::Error>()
            && let Some(error) = carried(io)
        {
            return Some(error);
        }
        source = s.source();
    }
    None
}

/// A read of the body failed: what the reader carried, else the body is no `.tar.gz`.
fn not_an_archive(e: &io::Error) -> Error {
    carried(e).unwrap_or_else(|| {
        invalid(format!(
            "the body is not a valid .tar.gz ({e}); a Connect bundle is a gzip-compressed tar \
             archive with manifest.json at its root"
        ))
    })
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn refused(name: &str, why: impl std::fmt::Display) -> Error {
    invalid(format!("bundle entry {name:?} is refused: {why}"))
}

/// The names and link targets that metadata entries give the next entry.
#[derive(Debug, Default, PartialEq, Eq)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
}

impl Pending {
    fn add(&mut self, kind: EntryType, data: Vec<u8>) -> Result<(), Error> {
        let twice = || invalid("the archive gives one entry two long names or pax headers");
        if kind.is_gnu_longname() {
            if self.long_name.replace(trim_nul(data)).is_some() {
                return Err(twice());
            }
        } else if kind.is_gnu_longlink() {
            if self.long_link.replace(trim_nul(data)).is_some() {
                return Err(twice());
            }
        } else {
            if self.pax_path.is_some() || self.pax_link.is_some() {
                return Err(twice());
            }
            for extension in PaxExtensions::new(&data) {
                let extension =
                    extension.map_err(|e| invalid(format!("a pax header is malformed: {e}")))?;
                match extension.key() {
                    Ok("path") => self.pax_path = Some(extension.value_bytes().to_vec()),
                    Ok("linkpath") => self.pax_link = Some(extension.value_bytes().to_vec()),
                    Ok("size") => {
                        return Err(invalid(
                            "a pax header gives an entry's size; files over 8 GiB are not accepted",
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The entry's name: pax path, else GNU long name, else the header's.
    fn name(&self, header: Vec<u8>) -> Result<String, Error> {
        utf8(
            self.pax_path
                .clone()
                .or_else(|| self.long_name.clone())
                .unwrap_or(header),
        )
    }

    /// The entry's link target, likewise.
    fn link(&self, header: Option<Vec<u8>>) -> Result<Option<String>, Error> {
        self.pax_link
            .clone()
            .or_else(|| self.long_link.clone())
            .or(header)
            .map(utf8)
            .transpose()
    }
}

fn trim_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

fn utf8(bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "bundle entry {:?} is refused: entry names must be UTF-8",
            String::from_utf8_lossy(e.as_bytes())
        ))
    })
}

/// One unpack under way.
struct Run<'a> {
    root: &'a Path,
    limits: Limits,
    /// Bytes still allowed.
    budget: u64,
    /// Entries (files, folders, links) made so far.
    entries: u64,
    unpacked: Unpacked,
}

impl Run<'_> {
    /// Reads a metadata entry, counting it in the budget.
    fn metadata(&mut self, entry: &mut impl Read) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        entry
            .take(MAX_METADATA_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| not_an_archive(&e))?;
        if data.len() as u64 > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "the archive has a long name or pax header over {MAX_METADATA_BYTES} bytes"
            )));
        }
        self.spend(data.len() as u64, "a long name or pax header")?;
        Ok(data)
    }

    /// Takes `bytes` from the budget; TooLarge when they are not there.
    fn spend(&mut self, bytes: u64, what: &str) -> Result<(), Error> {
        if bytes > self.budget {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "the bundle unpacks to more than {} bytes (at {what}); this gateway accepts at \
                     most that much (EXECENV_BUNDLES__MAX_UNPACKED_BYTES)",
                    self.limits.max_unpacked_bytes
                ),
            ));
        }
        self.budget -= bytes;
        Ok(())
    }

    /// Counts one entry made; TooLarge past the limit.
    fn count_entry(&mut self, what: &str) -> Result<(), Error> {
        self.entries += 1;
        if self.entries > self.limits.max_files {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "the bundle has more than {} files, folders and links (at {what}); this \
                     gateway accepts at most that many (EXECENV_BUNDLES__MAX_FILES)",
                    self.limits.max_files
                ),
            ));
        }
        Ok(())
    }

    /// Checks and writes one entry.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryType,
        name: &str,
        link: Option<&str>,
    ) -> Result<(), Error> {
        let names = entry_names(name).map_err(|why| refused(name, why))?;
        let refusal = match kind {
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink => None,
            EntryType::Link => Some(
                "it is a hard link; bundles may not hold hard links (pack the file itself, e.g. \
                 GNU tar --hard-dereference)"
                    .to_owned(),
            ),
            EntryType::Char | EntryType::Block => Some("it is a device file".to_owned()),
            EntryType::Fifo => Some("it is a FIFO (named pipe)".to_owned()),
            EntryType::GNUSparse => Some("it is a sparse file".to_owned()),
            other => Some(format!(
                "it is an entry of type {:?}, which a bundle cannot hold",
                other.as_byte() as char
            )),
        };
        if let Some(why) = refusal {
            return Err(refused(name, why));
        }
        if names.is_empty() {
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(refused(name, "it names the bundle folder itself")),
            };
        }
        let path = self.folders_for(name, &names)?;
        match kind {
            EntryType::Directory => self.folder(name, &path),
            EntryType::Symlink => {
                let target = link.unwrap_or_default();
                check_link_target(&names, target).map_err(|why| refused(name, why))?;
                self.count_entry(name)?;
                std::os::unix::fs::symlink(target, &path).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        refused(name, "it appears twice in the archive")
                    }
                    _ => self.write_failed(name, &e),
                })
            }
            _ => {
                let header = entry.header();
                let size = header.entry_size().map_err(|e| not_an_archive(&e))?;
                let executable = header.mode().is_ok_and(|m| m & 0o111 != 0);
                self.file(entry, name, &path, size, executable)
            }
        }
    }

    /// Makes the folders above an entry (counting them), refusing a path through a link or a
    /// file; the entry's path.
    fn folders_for(&mut self, name: &str, names: &[&str]) -> Result<PathBuf, Error> {
        let mut path = self.root.to_path_buf();
        for (i, part) in names.iter().enumerate() {
            path.push(part);
            if i + 1 == names.len() {
                break;
            }
            let above = || names[..=i].join("/");
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    let why = format!("its path passes through the symbolic link {:?}", above());
                    return Err(refused(name, why));
                }
                Ok(_) => {
                    return Err(refused(
                        name,
                        format!("{:?} is a file, not a folder", above()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.folder(name, &path)?,
                Err(e) => return Err(self.write_failed(name, &e)),
            }
        }
        Ok(path)
    }

    /// Makes the folder `path` (0755) unless it is one already.
    fn folder(&mut self, name: &str, path: &Path) -> Result<(), Error> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => return Err(refused(name, "it appears twice in the archive")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.write_failed(name, &e)),
        }
        self.count_entry(name)?;
        fs::create_dir(path)
            .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
            .map_err(|e| self.write_failed(name, &e))
    }

    /// Writes a regular file of `size` bytes, checked against the budget before a byte is read.
    fn file(
        &mut self,
        entry: &mut impl Read,
        name: &str,
        path: &Path,
        size: u64,
        executable: bool,
    ) -> Result<(), Error> {
        self.count_entry(name)?;
        self.spend(size, name)?;
        let mode = if executable { 0o755 } else { 0o644 };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|f| {
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map(|()| f)
            })
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => refused(name, "it appears twice in the archive"),
                _ => self.write_failed(name, &e),
            })?;
        let copied = copy(&mut entry.take(size), &mut file).map_err(|e| match e {
            Copy::Read(e) => not_an_archive(&e),
            Copy::Write(e) => self.write_failed(name, &e),
        })?;
        if copied != size {
            return Err(invalid(format!(
                "the archive ends inside bundle entry {name:?} ({copied} of its {size} bytes)"
            )));
        }
        self.unpacked.size += size;
        self.unpacked.files += 1;
        Ok(())
    }

    fn write_failed(&self, name: &str, e: &io::Error) -> Error {
        Error::internal(format!(
            "cannot write bundle entry {name:?} under {}: {e}",
            self.root.display()
        ))
    }
}

/// Which side of a copy failed.
enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` to `to` in 64 KiB pieces; the bytes copied.
fn copy(from: &mut impl Read, to: &mut File) -> Result<u64, Copy> {
    let mut buffer = vec![0; 64 * 1024];
    let mut copied = 0;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        to.write_all(&buffer[..n]).map_err(Copy::Write)?;
        copied += n as u64;
    }
}

#[cfg(test)]
#[path = "bundle_archive_tests.rs"]
mod tests;
