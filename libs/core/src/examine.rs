//! What an image holds and whether an environment still matches it: the rules of image
//! examination, over a read-only view of an image's merged file tree ([`ImageFiles`]).
//!
//! - [`find_installations`] looks for Python, R and Quarto in Posit's layout and its usual
//!   variants, the way Posit's `examine-image.sh` does — but reads versions from files instead of
//!   running anything: Python's `include/python3.X/patchlevel.h` (`PY_VERSION`), R's
//!   `lib/R/include/Rversion.h` (`R_MAJOR`, `R_MINOR`; Debian's R keeps it in
//!   `share/R/include`, its `R_INCLUDE_DIR`), Quarto's `share/version`. A missing
//!   version file is said, never guessed.
//! - [`compare`] checks an environment's declared installations against the image: drift
//!   (missing, another version) and notices (version not verifiable, installations not declared).
//! - [`suggest_spec`] turns an examination into a definition for the declarative file.
//!
//! Reading the image (registries, layers, whiteouts, symlinks) is `execenv-oci`'s; it captures
//! the contents of the files [`wants_content`] names while it streams the layers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{EnvironmentSpec, Installation, Language, Matching};

#[cfg(test)]
mod tests;

/// The largest file whose contents are kept while reading layers (version files are tiny).
pub const MAX_CAPTURED_FILE_BYTES: u64 = 64 * 1024;

/// What a path is, symlinks followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File {
        /// Any execute bit is set.
        executable: bool,
        /// Its size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
}

/// The contents of a file, as far as the reader kept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'a> {
    /// The file's bytes.
    Bytes(&'a [u8]),
    /// The file exists but its contents were not kept ([`wants_content`] said no, or it is
    /// larger than [`MAX_CAPTURED_FILE_BYTES`]).
    NotCaptured,
    /// Nothing is at that path (or a symlink on the way dangles or loops).
    Missing,
}

/// A read-only view of an image's merged file tree: every layer applied in order, whiteouts
/// applied. Paths are absolute (`/opt/python`); every method follows symlinks, resolved inside
/// the tree (an absolute link target is relative to the image's root, `..` stops at the root).
pub trait ImageFiles {
    /// What is at `path`; None when nothing is (or a link dangles or loops).
    fn kind(&self, path: &str) -> Option<FileKind>;
    /// The names in the directory at `path`, sorted; None when it is not a directory.
    fn list(&self, path: &str) -> Option<Vec<String>>;
    /// `path` with every symlink on it resolved; None when it does not resolve.
    fn resolve(&self, path: &str) -> Option<String>;
    /// The contents of the file at `path`.
    fn content(&self, path: &str) -> Content<'_>;
}

/// Whether the reader should keep the contents of the file at `path` (before symlinks are
/// known): version files only, by name.
pub fn wants_content(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    name == "patchlevel.h" || name == "Rversion.h" || (name == "version" && parent == "share")
}

/// Where each language is looked for, and the executables that mark an installation, in the
/// order they are tried.
pub fn search_roots(language: Language) -> (&'static [&'static str], &'static [&'static str]) {
    match language {
        Language::Python => (
            &["/opt/python", "/opt/local/python"],
            &["bin/python3", "bin/python"],
        ),
        Language::R => (&["/opt/R", "/opt/local/R"], &["bin/R"]),
        Language::Quarto => (&["/opt/quarto", "/opt/local/quarto"], &["bin/quarto"]),
        Language::Tensorflow => (&[], &[]),
    }
}

/// The languages an image is examined for.
pub const EXAMINED_LANGUAGES: [Language; 3] = [Language::Python, Language::R, Language::Quarto];

/// One installation found in an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundInstallation {
    /// Its language.
    pub language: Language,
    /// The executable's path as a definition writes it (symlinks not resolved).
    pub path: String,
    /// The version read from its version file.
    pub version: Option<String>,
    /// The version file read, symlinks resolved.
    pub version_file: Option<String>,
    /// Why there is no version, when there is none.
    pub problem: Option<String>,
    /// Another path of this list reaching the same installation through a symlinked folder
    /// (`/opt/python/3.11` → `3.11.9`): the path it is an alias of. Suggestions leave aliases out.
    pub alias_of: Option<String>,
}

/// What an image holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    /// Every installation found, by language (python, r, quarto) then path.
    pub installations: Vec<FoundInstallation>,
    /// Sentences about what was not found or could not be read.
    pub notes: Vec<String>,
}

/// What one executable path holds: whether it exists and which version its files say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInspection {
    /// An executable file is at the path.
    pub exists: bool,
    /// The version its version file says.
    pub version: Option<String>,
    /// The version file read, symlinks resolved.
    pub version_file: Option<String>,
    /// Why there is no version.
    pub problem: Option<String>,
}

/// Looks for every Python, R and Quarto installation in the image.
pub fn find_installations(files: &dyn ImageFiles) -> Findings {
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for language in EXAMINED_LANGUAGES {
        let (roots, _) = search_roots(language);
        for root in roots {
            if !matches!(files.kind(root), Some(FileKind::Dir)) {
                continue;
            }
            if let Some(exe) = executable_in(files, language, root) {
                found.push(inspected(files, language, exe));
                continue;
            }
            for child in files.list(root).unwrap_or_default() {
                let prefix = format!("{root}/{child}");
                if let Some(exe) = executable_in(files, language, &prefix) {
                    found.push(inspected(files, language, exe));
                }
            }
        }
    }
    mark_aliases(files, &mut found);
    for f in &found {
        if let Some(problem) = &f.problem {
            notes.push(format!("{} {}: {problem}", title_of(f.language), f.path));
        }
    }
    if found.is_empty() {
        let looked: Vec<&str> = EXAMINED_LANGUAGES
            .iter()
            .flat_map(|l| search_roots(*l).0.iter().copied())
            .collect();
        notes.push(format!(
            "no Python, R or Quarto installation in the image: looked for bin/python3 (or bin/python), bin/R and bin/quarto in {} and in each folder directly under them",
            looked.join(", ")
        ));
    }
    Findings {
        installations: found,
        notes,
    }
}

fn executable_in(files: &dyn ImageFiles, language: Language, prefix: &str) -> Option<String> {
    let (_, executables) = search_roots(language);
    executables.iter().find_map(|exe| {
        let path = format!("{prefix}/{exe}");
        matches!(
            files.kind(&path),
            Some(FileKind::File {
                executable: true,
                ..
            })
        )
        .then_some(path)
    })
}

fn inspected(files: &dyn ImageFiles, language: Language, path: String) -> FoundInstallation {
    let i = inspect_path(files, language, &path);
    FoundInstallation {
        language,
        path,
        version: i.version,
        version_file: i.version_file,
        problem: i.problem,
        alias_of: None,
    }
}

/// Two paths whose installation folders resolve to the same folder: the later one whose own
/// folder is a symlink is an alias of the other.
fn mark_aliases(files: &dyn ImageFiles, found: &mut [FoundInstallation]) {
    let folders: Vec<Option<String>> = found
        .iter()
        .map(|f| prefix_of(&f.path).and_then(|p| files.resolve(&p)))
        .collect();
    for i in 0..found.len() {
        let Some(folder) = &folders[i] else { continue };
        let own = prefix_of(&found[i].path);
        let is_link = own.as_deref() != Some(folder.as_str());
        if !is_link {
            continue;
        }
        let original = (0..found.len()).find(|&j| {
            j != i
                && found[j].language == found[i].language
                && folders[j].as_ref() == Some(folder)
                && prefix_of(&found[j].path).as_deref() == Some(folder.as_str())
        });
        if let Some(j) = original {
            found[i].alias_of = Some(found[j].path.clone());
        }
    }
}

/// The installation folder of an executable path: `/opt/python/3.11.2` for
/// `/opt/python/3.11.2/bin/python3` (None unless the executable is in a `bin` folder).
fn prefix_of(path: &str) -> Option<String> {
    let (bin, _) = path.rsplit_once('/')?;
    let (prefix, last) = bin.rsplit_once('/')?;
    (last == "bin" && !prefix.is_empty()).then(|| prefix.to_string())
}

/// Whether `path` holds an executable of `language`, and its version from the version file
/// under its installation folder — as written first, then with the executable's symlinks
/// resolved (`/opt/python/3.11.2/bin/python3` → `/usr/bin/python3.11` → `/usr/include/…`).
pub fn inspect_path(files: &dyn ImageFiles, language: Language, path: &str) -> PathInspection {
    let exists = matches!(files.kind(path), Some(FileKind::File { .. }));
    if !exists {
        return PathInspection {
            exists,
            version: None,
            version_file: None,
            problem: Some("not in the image".to_string()),
        };
    }
    let mut prefixes = Vec::new();
    if let Some(p) = prefix_of(path) {
        prefixes.push(p);
    }
    if let Some(p) = files.resolve(path).and_then(|r| prefix_of(&r))
        && !prefixes.contains(&p)
    {
        prefixes.push(p);
    }
    let mut unreadable = None;
    for prefix in &prefixes {
        match version_from(files, language, prefix, path) {
            VersionLookup::Found(version, file) => {
                return PathInspection {
                    exists,
                    version: Some(version),
                    version_file: Some(file),
                    problem: None,
                };
            }
            VersionLookup::Unreadable(why) => unreadable = unreadable.or(Some(why)),
            VersionLookup::Absent => {}
        }
    }
    let problem = unreadable.unwrap_or_else(|| {
        let wanted = match language {
            Language::Python => "include/python3.X/patchlevel.h",
            Language::R => "lib/R/include/Rversion.h (nor share/R/include/Rversion.h)",
            _ => "share/version",
        };
        format!(
            "no {wanted} under {}: the version cannot be read from the image's files",
            prefixes.join(" or ")
        )
    });
    PathInspection {
        exists,
        version: None,
        version_file: None,
        problem: Some(problem),
    }
}

enum VersionLookup {
    Found(String, String),
    Unreadable(String),
    Absent,
}

fn version_from(
    files: &dyn ImageFiles,
    language: Language,
    prefix: &str,
    exe: &str,
) -> VersionLookup {
    let candidates: Vec<String> = match language {
        Language::Python => python_include_dirs(files, prefix, exe)
            .into_iter()
            .map(|d| format!("{prefix}/include/{d}/patchlevel.h"))
            .collect(),
        // Debian's R (r-base-core) has no lib/R/include: its R_INCLUDE_DIR is /usr/share/R/include.
        Language::R => vec![
            format!("{prefix}/lib/R/include/Rversion.h"),
            format!("{prefix}/share/R/include/Rversion.h"),
        ],
        Language::Quarto => vec![format!("{prefix}/share/version")],
        Language::Tensorflow => vec![],
    };
    let mut unreadable = None;
    for file in candidates {
        let resolved = files.resolve(&file).unwrap_or_else(|| file.clone());
        match files.content(&file) {
            Content::Missing => continue,
            Content::NotCaptured => {
                unreadable = unreadable.or(Some(format!("{resolved} was not read")));
            }
            Content::Bytes(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let parsed = match language {
                    Language::Python => python_version(&text),
                    Language::R => r_version(&text),
                    _ => quarto_version(&text),
                };
                match parsed {
                    Some(v) => return VersionLookup::Found(v, resolved),
                    None => {
                        unreadable = unreadable.or(Some(format!(
                            "{resolved} holds no version this examiner can read"
                        )))
                    }
                }
            }
        }
    }
    unreadable.map_or(VersionLookup::Absent, VersionLookup::Unreadable)
}

/// The `include/python3.X` folders to try: the one named like the executable
/// (`python3.11` for `…/python3.11`) first, then every other `python3.*`.
fn python_include_dirs(files: &dyn ImageFiles, prefix: &str, exe: &str) -> Vec<String> {
    let mut dirs: Vec<String> = files
        .list(&format!("{prefix}/include"))
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.starts_with("python3"))
        .collect();
    let named = files
        .resolve(exe)
        .and_then(|r| r.rsplit('/').next().map(str::to_string))
        .filter(|n| n.starts_with("python3."));
    if let Some(n) = named
        && let Some(i) = dirs.iter().position(|d| *d == n)
    {
        let d = dirs.remove(i);
        dirs.insert(0, d);
    }
    dirs
}

/// `#define PY_VERSION "3.11.2"` → `3.11.2` (a trailing `+` of a development build dropped).
pub fn python_version(patchlevel_h: &str) -> Option<String> {
    let value = define_value(patchlevel_h, "PY_VERSION")?;
    let v = value.trim_end_matches('+');
    plausible(v).then(|| v.to_string())
}

/// `#define R_MAJOR "4"` and `#define R_MINOR "2.2"` → `4.2.2`.
pub fn r_version(rversion_h: &str) -> Option<String> {
    let major = define_value(rversion_h, "R_MAJOR")?;
    let minor = define_value(rversion_h, "R_MINOR")?;
    let v = format!("{major}.{minor}");
    plausible(&v).then_some(v)
}

/// The first line of Quarto's `share/version` (`1.4.550`).
pub fn quarto_version(share_version: &str) -> Option<String> {
    let v = share_version.lines().next()?.trim();
    plausible(v).then(|| v.to_string())
}

fn define_value(header: &str, name: &str) -> Option<String> {
    header.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next()? != "#define" || words.next()? != name {
            return None;
        }
        let rest = words.collect::<Vec<_>>().join(" ");
        let value = rest.split('/').next()?.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Starts with a digit, then digits, dots and the letters of pre-releases; at most 32 bytes.
fn plausible(v: &str) -> bool {
    v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

fn title_of(language: Language) -> &'static str {
    match language {
        Language::Python => "Python",
        Language::R => "R",
        Language::Quarto => "Quarto",
        Language::Tensorflow => "TensorFlow",
    }
}

/// How an environment stands against its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// Not checked yet.
    Pending,
    /// Every declared installation is in the image with the declared version.
    Ok,
    /// A declared installation is missing, or has another version.
    Drift,
    /// The image could not be read.
    Unreadable,
}

impl CheckState {
    /// Every state, in order.
    pub const ALL: [CheckState; 4] = [
        CheckState::Pending,
        CheckState::Ok,
        CheckState::Drift,
        CheckState::Unreadable,
    ];

    /// `pending`, `ok`, `drift`, `unreadable`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Pending => "pending",
            CheckState::Ok => "ok",
            CheckState::Drift => "drift",
            CheckState::Unreadable => "unreadable",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s spelling.
    pub fn parse(s: &str) -> Option<CheckState> {
        CheckState::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Why an image could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreadableKind {
    /// The repository, tag or digest does not exist.
    NotFound,
    /// The registry refused the credentials (or there were none).
    Unauthorized,
    /// The registry did not answer.
    Unreachable,
    /// The registry's answer is not a usable image.
    Invalid,
}

impl UnreadableKind {
    /// Every kind, in order.
    pub const ALL: [UnreadableKind; 4] = [
        UnreadableKind::NotFound,
        UnreadableKind::Unauthorized,
        UnreadableKind::Unreachable,
        UnreadableKind::Invalid,
    ];

    /// `not_found`, `unauthorized`, `unreachable`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnreadableKind::NotFound => "not_found",
            UnreadableKind::Unauthorized => "unauthorized",
            UnreadableKind::Unreachable => "unreachable",
            UnreadableKind::Invalid => "invalid",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s spelling.
    pub fn parse(s: &str) -> Option<UnreadableKind> {
        UnreadableKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Drift: a declared executable is not in the image.
    Missing,
    /// Drift: the image's version file says another version.
    VersionMismatch,
    /// Notice: the executable is there, its version file is not.
    VersionUnknown,
    /// Notice: the tag points at another digest than at the previous check.
    TagMoved,
    /// Notice: an installation in the image the definition does not declare.
    Undeclared,
}

impl FindingKind {
    /// Every kind, in order.
    pub const ALL: [FindingKind; 5] = [
        FindingKind::Missing,
        FindingKind::VersionMismatch,
        FindingKind::VersionUnknown,
        FindingKind::TagMoved,
        FindingKind::Undeclared,
    ];

    /// `missing`, `version_mismatch`, `version_unknown`, `tag_moved`, `undeclared`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::VersionMismatch => "version_mismatch",
            FindingKind::VersionUnknown => "version_unknown",
            FindingKind::TagMoved => "tag_moved",
            FindingKind::Undeclared => "undeclared",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s spelling.
    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a finding of this kind puts the environment in drift (the others are notices).
    pub fn is_drift(self) -> bool {
        matches!(self, FindingKind::Missing | FindingKind::VersionMismatch)
    }
}

/// One finding of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The installation's language (None for [`FindingKind::TagMoved`]).
    pub language: Option<Language>,
    /// The installation's executable path (empty for [`FindingKind::TagMoved`]).
    pub path: String,
    /// The version the definition declares.
    pub declared_version: Option<String>,
    /// The version the image's files say.
    pub found_version: Option<String>,
    /// The finding as one sentence.
    pub message: String,
}

/// Compares the installations `spec` declares with the image: each declared installation
/// missing, with another version, or not verifiable; then each installation of `found` that no
/// declared path reaches (aliases through symlinked folders count as reached).
pub fn compare(spec: &EnvironmentSpec, files: &dyn ImageFiles, found: &Findings) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut reached = BTreeSet::new();
    for language in EXAMINED_LANGUAGES {
        for declared in spec.installations(language) {
            let inspection = inspect_path(files, language, &declared.path);
            if let Some(folder) = prefix_of(&declared.path).and_then(|p| files.resolve(&p)) {
                reached.insert((language, folder));
            }
            if let Some(f) = finding_for(language, declared, &inspection) {
                findings.push(f);
            }
        }
    }
    for f in found.installations.iter().filter(|f| f.alias_of.is_none()) {
        let folder = prefix_of(&f.path).and_then(|p| files.resolve(&p));
        if folder.is_some_and(|d| reached.contains(&(f.language, d))) {
            continue;
        }
        let version = f.version.as_deref().unwrap_or("of unknown version");
        findings.push(Finding {
            kind: FindingKind::Undeclared,
            language: Some(f.language),
            path: f.path.clone(),
            declared_version: None,
            found_version: f.version.clone(),
            message: format!(
                "the image has {} {version} at {}, which the definition does not declare",
                title_of(f.language),
                f.path
            ),
        });
    }
    findings
}

fn finding_for(
    language: Language,
    declared: &Installation,
    inspection: &PathInspection,
) -> Option<Finding> {
    let title = title_of(language);
    let base = Finding {
        kind: FindingKind::Missing,
        language: Some(language),
        path: declared.path.clone(),
        declared_version: Some(declared.version.clone()),
        found_version: inspection.version.clone(),
        message: String::new(),
    };
    if !inspection.exists {
        return Some(Finding {
            message: format!(
                "{title} {} is declared at {}, which is not in the image",
                declared.version, declared.path
            ),
            ..base
        });
    }
    match &inspection.version {
        None => Some(Finding {
            kind: FindingKind::VersionUnknown,
            message: format!(
                "{title} at {} is in the image but its version is not verified: {}",
                declared.path,
                inspection.problem.as_deref().unwrap_or("no version file")
            ),
            ..base
        }),
        Some(found) if !same_version(&declared.version, found) => Some(Finding {
            kind: FindingKind::VersionMismatch,
            message: format!(
                "{title} at {} is declared as {} but the image has {found}",
                declared.path, declared.version
            ),
            ..base
        }),
        Some(_) => None,
    }
}

/// Whether a found version is the declared one: equal, or equal in every component the
/// declaration gives (`3.11` declared, `3.11.2` found).
pub fn same_version(declared: &str, found: &str) -> bool {
    let d: Vec<&str> = declared.trim().split('.').collect();
    let f: Vec<&str> = found.trim().split('.').collect();
    d.len() <= f.len() && d.iter().zip(&f).all(|(a, b)| a == b)
}

/// The notice that `image`'s tag moved from `previous` to `current` since the last check.
pub fn tag_moved(image: &str, previous: &str, current: &str) -> Option<Finding> {
    (!previous.is_empty() && previous != current).then(|| Finding {
        kind: FindingKind::TagMoved,
        language: None,
        path: String::new(),
        declared_version: None,
        found_version: None,
        message: format!(
            "{image} now points at {current}; at the previous check it was {previous}"
        ),
    })
}

/// The state a check's findings put an environment in.
pub fn state_of(findings: &[Finding]) -> CheckState {
    if findings.iter().any(|f| f.kind.is_drift()) {
        CheckState::Drift
    } else {
        CheckState::Ok
    }
}

/// A definition for the declarative file from an examination: the reference as the name, a
/// title naming what the image holds, and every installation whose version was read (aliases
/// and installations of unknown version are left out; [`Findings::notes`] says why).
pub fn suggest_spec(image: &str, found: &Findings) -> EnvironmentSpec {
    let mut spec = EnvironmentSpec {
        name: image.to_string(),
        title: None,
        description: None,
        cluster_name: crate::model::DEFAULT_CLUSTER_NAME.to_string(),
        matching: Matching::Any,
        supervisor: None,
        python: vec![],
        r: vec![],
        quarto: vec![],
        tensorflow: vec![],
        volume_mounts: vec![],
    };
    for f in &found.installations {
        let (Some(version), None) = (&f.version, &f.alias_of) else {
            continue;
        };
        spec.installations_mut(f.language).push(Installation {
            version: version.clone(),
            path: f.path.clone(),
        });
    }
    let held: Vec<String> = EXAMINED_LANGUAGES
        .iter()
        .flat_map(|l| {
            spec.installations(*l)
                .iter()
                .map(move |i| format!("{} {}", title_of(*l), i.version))
        })
        .collect();
    let short = image
        .rsplit('/')
        .next()
        .and_then(|last| last.split('@').next())
        .unwrap_or(image);
    spec.title = Some(if held.is_empty() {
        short.to_string()
    } else {
        format!("{short} ({})", held.join(", "))
    });
    spec
}
