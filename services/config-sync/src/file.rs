//! The declarative file: a YAML or JSON list of environments in Connect's shape, exactly as
//! `GET /__api__/v1/environments` answers them (the Helm value `executionEnvironments`). Pure:
//! text in, drafts or every problem out.
//!
//! An entry is read as `execenvctl env create --file` reads its document
//! ([`execenv_proto::convert::connect`]): the keys only the server sets are ignored, permissions
//! are not managed by the file, and any other unknown key is an error naming it. Problems name
//! fields as the file does (`….volume_mounts[0].source.pvc_name`).

use std::fmt;

use execenv_core::sync::{DefinitionsCheck, DefinitionsDigest, validate_definitions};
use execenv_core::validate::EnvironmentDraft;
use execenv_core::{Error, FieldViolation};
use execenv_proto::convert::connect::with_connect_paths;
use execenv_proto::environments::v1 as pb;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use execenv_proto::apply::EncodedDefinitions;

/// One entry of the file: its draft and the problems found in its keys.
pub(crate) use execenv_proto::convert::connect::EnvironmentEntry as Entry;

/// The field-path prefix of the declarative file's problems (`executionEnvironments[3].name`).
pub const FIELD_PREFIX: &str = "executionEnvironments";

/// Parses the declarative file `text` (named `origin` in messages) into drafts, unvalidated.
/// An empty file, one with only comments, or `[]` holds no definitions.
pub fn parse(text: &str, origin: &str) -> Result<Vec<EnvironmentDraft>, Error> {
    let (drafts, violations) = parse_entries(text, origin)?;
    if violations.is_empty() {
        Ok(drafts)
    } else {
        Err(Error::invalid(violations))
    }
}

/// A file that parsed and validated: what to send and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The definitions as written, in file order, encoded for the registry (which validates
    /// again).
    pub definitions: EncodedDefinitions,
    digest: String,
}

impl Loaded {
    /// The digest of the validated definitions: equal digests mean equal content.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// How many definitions the file declares.
    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    /// True when the file declares none.
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }
}

/// Parses and validates the declarative file: the definitions to sync, or every problem of the
/// file (unknown keys and invalid values of every entry) together, ordered by entry.
pub fn load(text: &str, origin: &str) -> Result<Loaded, Error> {
    if !is_json(origin, text)
        && let Some(pieces) = pieces(text)
        && let Some(loader) = load_pieces(&pieces)
    {
        return loader.finish();
    }
    let entries: Option<Entries<Loader>> = from_text(text, origin)?;
    entries.map(|e| e.0).unwrap_or_default().finish()
}

/// About how large a piece of a file cut by [`pieces`] is; smaller files are parsed whole.
const PIECE_BYTES: usize = 1 << 20;

/// A large YAML file whose top level is a block list (`- name: …` lines at column 0), cut into
/// pieces of about [`PIECE_BYTES`], each from the start of an entry, so that two threads parse
/// them ([`load_pieces`]): parsing is most of the time a sync of a large file takes (1.3 s of
/// 1.4 s for 100,000 entries). `None` when the file is smaller than two pieces or not that
/// simple: a directive or a document marker (`%`, `---`, `...`) at the start of a line, or a
/// first line that is not an entry.
///
/// A `- ` at column 0 starts an entry of the top-level list, except inside a quoted scalar or a
/// flow collection (`[…]`, `{…}`) left open on an earlier line; the piece before then ends
/// inside it and fails to parse. An alias of an anchor in an earlier piece fails too. A piece
/// that fails means the whole file is parsed again in one piece, which is what reports its
/// problems, with their lines as the file has them.
fn pieces(text: &str) -> Option<Vec<&str>> {
    if text.len() < 2 * PIECE_BYTES {
        return None;
    }
    let is_entry = |line: &str| line == "-" || line.starts_with("- ");
    let first = text
        .lines()
        .find(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))?;
    let marker =
        |line: &str| line.starts_with("---") || line.starts_with("...") || line.starts_with('%');
    if !is_entry(first) || text.lines().any(marker) {
        return None;
    }
    let mut pieces = Vec::with_capacity(text.len() / PIECE_BYTES + 1);
    let mut rest = text;
    while rest.len() >= 2 * PIECE_BYTES {
        // The first entry to start after PIECE_BYTES (never at 0, so every piece holds one).
        let Some(cut) = rest[PIECE_BYTES..]
            .match_indices('\n')
            .map(|(at, _)| PIECE_BYTES + at + 1)
            .find(|&at| is_entry(rest[at..].lines().next().unwrap_or_default()))
        else {
            break;
        };
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    pieces.push(rest);
    (pieces.len() > 1).then_some(pieces)
}

/// Parses the pieces of a file ([`pieces`]) on two threads, this one taking the even pieces
/// and a helper the odd ones, and gives their entries to one [`Loader`] in file order, so the
/// result is the file's. At most three pieces' entries are held at once (the one being
/// loaded, one handed over, one being parsed). `None` when a piece does not parse. Each piece
/// has the YAML budget of a file ([`yaml_options`]), so the budget of a file loaded in pieces
/// is that many times larger: still bounded by the file's size.
fn load_pieces(pieces: &[&str]) -> Option<Loader> {
    let parse = |piece: &str| yaml::<Option<Entries<Vec<Entry>>>>(piece).ok().flatten();
    std::thread::scope(|scope| {
        let (odd, parsed_odd) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for piece in pieces.iter().skip(1).step_by(2) {
                let parsed = parse(piece);
                let failed = parsed.is_none();
                // The receiver is gone once a piece failed on the other side.
                if odd.send(parsed).is_err() || failed {
                    return;
                }
            }
        });
        let mut loader = Loader::default();
        for (i, piece) in pieces.iter().enumerate() {
            let Entries(entries) = if i % 2 == 0 {
                parse(piece)?
            } else {
                parsed_odd.recv().ok()??
            };
            for entry in entries {
                loader.push(entry);
            }
        }
        Some(loader)
    })
}

/// Takes each entry of the file as it is parsed: validates it, adds it to the digest and encodes
/// it for the registry, then drops it. A large file is thus held only as its text and its
/// encoding, never also as drafts, definitions or messages.
struct Loader {
    next: usize,
    /// The problems found while parsing.
    problems: Vec<FieldViolation>,
    check: DefinitionsCheck,
    digest: DefinitionsDigest,
    definitions: EncodedDefinitions,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            next: 0,
            problems: Vec::new(),
            check: DefinitionsCheck::new(FIELD_PREFIX),
            digest: DefinitionsDigest::new(),
            definitions: EncodedDefinitions::default(),
        }
    }
}

impl EntrySink for Loader {
    fn push(&mut self, entry: Entry) {
        entry_problems(self.next, entry.problems, FIELD_PREFIX, &mut self.problems);
        if let Some(definition) = self.check.push(&entry.draft) {
            self.digest.push(&definition);
        }
        self.definitions
            .push(&pb::EnvironmentSpec::from(&entry.draft));
        self.next += 1;
    }
}

impl Loader {
    fn finish(self) -> Result<Loaded, Error> {
        match self.check.finish() {
            Ok(()) if self.problems.is_empty() => Ok(Loaded {
                definitions: self.definitions,
                digest: self.digest.finish(),
            }),
            checked => Err(every_problem(self.problems, checked.err(), FIELD_PREFIX)),
        }
    }
}

/// Validates `drafts` under `prefix`, reporting `violations` (found while parsing) with the
/// validation problems, ordered by entry.
pub(crate) fn validated(
    drafts: Vec<EnvironmentDraft>,
    violations: Vec<FieldViolation>,
    prefix: &str,
) -> Result<Vec<EnvironmentDraft>, Error> {
    match validate_definitions(&drafts, prefix) {
        Ok(_) if violations.is_empty() => Ok(drafts),
        checked => Err(every_problem(violations, checked.err(), prefix)),
    }
}

/// The problems found while parsing (`violations`) and those of validation (`invalid`) as one
/// error, ordered by entry.
fn every_problem(
    mut violations: Vec<FieldViolation>,
    invalid: Option<Error>,
    prefix: &str,
) -> Error {
    if let Some(e) = invalid {
        violations.extend(with_connect_paths(e).violations);
    }
    // Stable: within one entry, parse problems stay before validation problems.
    violations.sort_by_key(|v| entry_index(&v.field, prefix));
    Error::invalid(violations)
}

/// Whether `text` from `path` is JSON: a `.json` name, or text that starts with `[` or `{`.
pub fn is_json(path: &str, text: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".json") || text.trim_start().starts_with(['[', '{'])
}

fn parse_entries(
    text: &str,
    origin: &str,
) -> Result<(Vec<EnvironmentDraft>, Vec<FieldViolation>), Error> {
    let entries: Option<Entries<Vec<Entry>>> = from_text(text, origin)?;
    let entries = entries.map(|e| e.0).unwrap_or_default();
    Ok(into_drafts(entries, FIELD_PREFIX))
}

/// Deserialises `text` as JSON or YAML; a syntax error names `origin` and the line.
pub(crate) fn from_text<T: de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Error> {
    if is_json(origin, text) {
        serde_json::from_str(text).map_err(|e| syntax_error(origin, &e.to_string()))
    } else {
        yaml(text).map_err(|e| {
            // serde-saphyr appends a source snippet after the first line; line and column suffice.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            syntax_error(origin, first.strip_prefix("error: ").unwrap_or(first))
        })
    }
}

/// Deserialises YAML `text` within [`yaml_options`].
fn yaml<T: de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// serde-saphyr's default budget (250,000 nodes) stops at roughly 10,000 definitions; ours
/// allows 20 times that, still bounded against hostile input (aliases keep their defaults).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: 5_000_000,
            max_events: 20_000_000,
            max_recorded_anchor_events: 20_000_000,
        },
    }
}

fn syntax_error(origin: &str, message: &str) -> Error {
    Error::invalid_field(origin, message.trim_end())
}

/// Each entry's draft, and every per-entry problem with its path under `{prefix}[i]`.
pub(crate) fn into_drafts(
    entries: Vec<Entry>,
    prefix: &str,
) -> (Vec<EnvironmentDraft>, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let mut drafts = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        entry_problems(i, entry.problems, prefix, &mut violations);
        drafts.push(entry.draft);
    }
    (drafts, violations)
}

/// The problems of entry `i`, with their paths under `{prefix}[i]`.
fn entry_problems(
    i: usize,
    problems: Vec<FieldViolation>,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) {
    for p in problems {
        let field = if p.field.is_empty() {
            format!("{prefix}[{i}]")
        } else {
            format!("{prefix}[{i}].{}", p.field)
        };
        violations.push(FieldViolation::new(field, p.description));
    }
}

/// The entry index of a field path `{prefix}[i]…` (entries without one sort first).
fn entry_index(field: &str, prefix: &str) -> Option<usize> {
    field
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// Where the entries of the file's list go, one at a time as they are parsed.
trait EntrySink: Default {
    fn push(&mut self, entry: Entry);
}

impl EntrySink for Vec<Entry> {
    fn push(&mut self, entry: Entry) {
        Vec::push(self, entry);
    }
}

/// The top level of the declarative file: a list of definitions, each given to `S` as it is read.
struct Entries<S>(S);

impl<'de, S: EntrySink> Deserialize<'de> for Entries<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor<S>(std::marker::PhantomData<S>);
        impl<'de, S: EntrySink> Visitor<'de> for ListVisitor<S> {
            type Value = Entries<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of environment definitions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries<S>, A::Error> {
                let mut sink = S::default();
                while let Some(e) = seq.next_element()? {
                    sink.push(e);
                }
                Ok(Entries(sink))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Entries<S>, A::Error> {
                Err(de::Error::custom(
                    "the file must be a list of environment definitions (`- name: IMAGE …`), not a mapping; \
                     a file with `name: Kubernetes` and `images:` is the legacy runtime.yaml format: \
                     configure it as sync.legacy_file (EXECENV_SYNC__LEGACY_FILE) instead",
                ))
            }
        }
        d.deserialize_any(ListVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
