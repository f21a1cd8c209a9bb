//! Planning a sync of the declarative file against the catalogue: which environments to create,
//! adopt, update and delete so that the file-managed part of the catalogue equals the file.
//!
//! Everything here is pure. The registry validates the definitions, plans against the whole
//! catalogue it read inside its transaction, and applies the plan in that same transaction, so
//! either the whole file takes effect or nothing does.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, FieldViolation};
use crate::model::{Environment, EnvironmentSpec, ManagedBy};
use crate::validate::{EnvironmentDraft, check_spec, parse_guid};

/// The fencing token a sync carries when config-sync replicas elect their leader with a
/// Kubernetes Lease: the Lease, the replica holding it, and the Lease's transition count when it
/// took it (its term; every new holder increments it). The registry keeps the highest term it
/// has applied a sync under, per Lease, in the sync's own transaction, and refuses a sync of a
/// lower term: a deposed leader that wakes up cannot apply after its successor did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFence {
    /// The Lease (`namespace/name`).
    pub lease: String,
    /// The replica holding it (its identity in the Lease).
    pub holder: String,
    /// The Lease's transition count when this replica took it.
    pub term: i64,
}

impl SyncFence {
    /// Whether a sync under this fence may apply when the registry last applied one under
    /// `last` (term, holder) for the same Lease: Ok, or FailedPrecondition naming both. A
    /// lower term is a deposed leader; the same term under another holder is refused too (a
    /// term has one holder).
    pub fn admits(&self, last: Option<(i64, &str)>) -> Result<(), Error> {
        match last {
            Some((term, holder))
                if term > self.term || (term == self.term && holder != self.holder) =>
            {
                Err(Error::new(
                    crate::error::ErrorKind::FailedPrecondition,
                    format!(
                        "this sync is fenced off: config-sync {} holds term {} of lease {}, but the registry already applied a sync of term {term} by {holder}; a deposed leader may not apply (nothing changed)",
                        self.holder, self.term, self.lease
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A validated definition from the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The environment's guid when the file gives one; it then matches only that environment.
    pub guid: Option<Uuid>,
    /// The environment as the file declares it; shared with the plan made from it, so that a
    /// sync of 100,000 definitions does not hold every spec twice while it is applied.
    pub spec: Arc<EnvironmentSpec>,
}

/// What a sync will do; apply it whole or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPlan {
    /// New file-managed environments, in definition order.
    pub creates: Vec<PlannedCreate>,
    /// Unmanaged environments the file takes over, in definition order.
    pub adopts: Vec<PlannedAdopt>,
    /// File-managed environments whose fields change, in definition order.
    pub updates: Vec<PlannedUpdate>,
    /// File-managed environments no longer in the file, ordered by guid.
    pub deletes: Vec<PlannedDelete>,
    /// File-managed environments the file leaves as they are, in definition order.
    pub unchanged: Vec<Uuid>,
}

/// An environment to create, managed by the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCreate {
    /// Its guid: the definition's, or a fresh one.
    pub guid: Uuid,
    /// Its fields (the definition's).
    pub spec: Arc<EnvironmentSpec>,
}

/// An unmanaged environment that becomes file-managed; its spec is replaced, while its guid,
/// permissions and creation time are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAdopt {
    /// The adopted environment.
    pub guid: Uuid,
    /// Its new fields (the definition's).
    pub spec: Arc<EnvironmentSpec>,
    /// The fields that change, always including `managed_by`.
    pub changed_fields: Vec<String>,
    /// The revision the plan was made against.
    pub expected_revision: i64,
}

/// A file-managed environment whose fields change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUpdate {
    /// The environment.
    pub guid: Uuid,
    /// Its new fields (the definition's).
    pub spec: Arc<EnvironmentSpec>,
    /// The fields that change.
    pub changed_fields: Vec<String>,
    /// The revision the plan was made against.
    pub expected_revision: i64,
}

/// A file-managed environment that is no longer in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDelete {
    /// The environment.
    pub guid: Uuid,
    /// Its image name, for the report.
    pub name: String,
    /// The revision the plan was made against.
    pub expected_revision: i64,
}

impl SyncPlan {
    /// True when applying the plan would change nothing.
    pub fn is_noop(&self) -> bool {
        self.creates.is_empty()
            && self.adopts.is_empty()
            && self.updates.is_empty()
            && self.deletes.is_empty()
    }
}

/// Validates every draft of the file (field paths prefixed `{prefix}[{i}].`) and the rules over
/// the set: guids are version-4 UUIDs and unique, and an image name may appear more than once only
/// when every entry with it has its own guid. Reports every problem of every definition together.
///
/// Drafts may be given by value, one at a time: each is dropped once it is checked, so a large
/// file is never held as drafts and as definitions at once (the registry converts each entry of
/// a sync request as it goes).
pub fn validate_definitions<D: Borrow<EnvironmentDraft>>(
    drafts: impl IntoIterator<Item = D>,
    prefix: &str,
) -> Result<Vec<Definition>, Error> {
    let mut check = DefinitionsCheck::new(prefix);
    let definitions: Vec<Definition> = drafts
        .into_iter()
        .filter_map(|draft| check.push(draft.borrow()))
        .collect();
    check.finish().map(|()| definitions)
}

/// [`validate_definitions`] one draft at a time, for a caller that reads a large file and keeps
/// no draft once it is checked: the same rules, and the same problems in the same order.
pub struct DefinitionsCheck {
    prefix: String,
    next: usize,
    /// The problems of the entries themselves.
    violations: Vec<FieldViolation>,
    set: SetCheck<Box<str>>,
    /// The problems of the rules over the set, reported after the entries' own.
    set_violations: Vec<FieldViolation>,
}

impl DefinitionsCheck {
    /// A check of a file whose problems are reported at `{prefix}[{i}].…`.
    pub fn new(prefix: &str) -> Self {
        DefinitionsCheck {
            prefix: prefix.to_owned(),
            next: 0,
            violations: Vec::new(),
            set: SetCheck::new(NameRule::EveryEntryHasAGuid),
            set_violations: Vec::new(),
        }
    }

    /// Checks the next draft of the file: its definition when it is valid on its own (whether
    /// the file is valid is known at [`DefinitionsCheck::finish`]).
    pub fn push(&mut self, draft: &EnvironmentDraft) -> Option<Definition> {
        let i = self.next;
        self.next += 1;
        let (definition, key) = check_entry(draft, &self.prefix, i, &mut self.violations);
        self.set.push(
            i,
            Box::from(key.name),
            key,
            &self.prefix,
            &mut self.set_violations,
        );
        definition
    }

    /// Every problem of the drafts pushed, as [`validate_definitions`] reports them.
    pub fn finish(self) -> Result<(), Error> {
        let mut violations = self.violations;
        violations.extend(self.set_violations);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(violations))
        }
    }
}

/// Validates entry `i` on its own: its definition when valid, and what the set rules look at.
fn check_entry<'a>(
    draft: &'a EnvironmentDraft,
    prefix: &str,
    i: usize,
    violations: &mut Vec<FieldViolation>,
) -> (Option<Definition>, SetKey<'a>) {
    let given = draft.guid.as_deref().filter(|g| !g.trim().is_empty());
    let guid = given.and_then(|g| match parse_guid(g) {
        Ok(u) => Some(u),
        Err(d) => {
            violations.push(FieldViolation::new(field(prefix, i, "guid"), d));
            None
        }
    });
    let definition =
        check_spec(draft, &format!("{prefix}[{i}]."), violations).map(|spec| Definition {
            guid,
            spec: Arc::new(spec),
        });
    let key = SetKey {
        name: draft.name.as_deref().unwrap_or_default(),
        has_guid: given.is_some(),
        guid,
    };
    (definition, key)
}

/// Plans a sync of `definitions` against the whole current catalogue `existing`. Violations are
/// reported at `{prefix}[{i}].…`; `new_guid` supplies the guids of created environments whose
/// definition has none (the caller passes `Uuid::new_v4`). Every problem is reported together and
/// no plan is returned when there is one.
pub fn plan_sync(
    definitions: &[Definition],
    existing: &[Environment],
    prefix: &str,
    mut new_guid: impl FnMut() -> Uuid,
) -> Result<SyncPlan, Error> {
    let mut violations = Vec::new();
    // Validated definitions pass these checks already. They are repeated, in the weaker form the
    // planner needs, so that unvalidated input can neither match one environment twice (the same
    // guid twice) nor make a plan that the next sync cannot repeat (two guid-less entries of one
    // image would create a second environment that makes the name ambiguous next time).
    let keys: Vec<SetKey> = definitions
        .iter()
        .map(|d| SetKey {
            name: &d.spec.name,
            has_guid: d.guid.is_some(),
            guid: d.guid,
        })
        .collect();
    check_set(
        &keys,
        prefix,
        NameRule::OneEntryWithoutGuid,
        &mut violations,
    );

    let by_guid: HashMap<Uuid, &Environment> = existing.iter().map(|e| (e.guid, e)).collect();
    let mut by_name: HashMap<&str, Vec<&Environment>> = HashMap::new();
    for e in existing {
        by_name.entry(e.spec.name.as_str()).or_default().push(e);
    }
    let mut matched: HashSet<Uuid> = HashSet::new();
    // One outcome per definition, so the plan lists them in definition order whichever phase
    // matched them.
    let mut outcomes: Vec<Option<Outcome>> = vec![None; definitions.len()];

    // GUID phase: a guid matches only the environment with that guid, never a name.
    for (i, def) in definitions.iter().enumerate() {
        let Some(guid) = def.guid else { continue };
        if !matched.insert(guid) {
            continue; // a duplicate guid, reported by check_set
        }
        outcomes[i] = Some(match by_guid.get(&guid) {
            None => Outcome::Create(guid),
            Some(env) if env.spec.name != def.spec.name => {
                violations.push(FieldViolation::new(
                    field(prefix, i, "name"),
                    format!(
                        "environment {guid} has the image {:?}, and the image name of an environment cannot be changed; \
                         remove this entry and add a new one (with another guid or none) for {:?}",
                        env.spec.name, def.spec.name
                    ),
                ));
                continue;
            }
            Some(env) => Outcome::Matched(env),
        });
    }

    // Name phase: a guid-less definition matches the file-managed environment with its name,
    // else adopts the unmanaged one, else creates one.
    for (i, def) in definitions.iter().enumerate() {
        if def.guid.is_some() {
            continue;
        }
        let candidates: Vec<&Environment> = by_name
            .get(def.spec.name.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|e| !matched.contains(&e.guid))
            .collect();
        let managed: Vec<&Environment> = candidates
            .iter()
            .copied()
            .filter(|e| is_file_managed(e))
            .collect();
        let pool: Vec<&Environment> = if managed.is_empty() {
            candidates
                .iter()
                .copied()
                .filter(|e| e.managed_by.is_none())
                .collect()
        } else {
            managed
        };
        match pool.as_slice() {
            [] => outcomes[i] = Some(Outcome::Create(new_guid())),
            [env] => {
                matched.insert(env.guid);
                outcomes[i] = Some(Outcome::Matched(env));
            }
            several => {
                let mut guids: Vec<Uuid> = several.iter().map(|e| e.guid).collect();
                guids.sort();
                let kind = if is_file_managed(several[0]) {
                    "file-managed"
                } else {
                    "unmanaged"
                };
                violations.push(FieldViolation::new(
                    field(prefix, i, "name"),
                    format!(
                        "{} {kind} environments have the image {:?} ({}); add the `guid` of the one this entry manages",
                        guids.len(),
                        def.spec.name,
                        guids
                            .iter()
                            .map(Uuid::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }

    if !violations.is_empty() {
        return Err(Error::invalid(violations));
    }

    let mut plan = SyncPlan::default();
    for (def, outcome) in definitions.iter().zip(outcomes) {
        match outcome {
            None => {}
            Some(Outcome::Create(guid)) => plan.creates.push(PlannedCreate {
                guid,
                spec: def.spec.clone(),
            }),
            Some(Outcome::Matched(env)) if !is_file_managed(env) => {
                let mut changed_fields = changed_fields(&env.spec, &def.spec);
                changed_fields.push("managed_by".to_owned());
                plan.adopts.push(PlannedAdopt {
                    guid: env.guid,
                    spec: def.spec.clone(),
                    changed_fields,
                    expected_revision: env.revision,
                });
            }
            Some(Outcome::Matched(env)) => {
                let changed_fields = changed_fields(&env.spec, &def.spec);
                if changed_fields.is_empty() {
                    plan.unchanged.push(env.guid);
                } else {
                    plan.updates.push(PlannedUpdate {
                        guid: env.guid,
                        spec: def.spec.clone(),
                        changed_fields,
                        expected_revision: env.revision,
                    });
                }
            }
        }
    }
    // Unmanaged environments are never deleted; file-managed ones the file no longer names are.
    plan.deletes = existing
        .iter()
        .filter(|e| is_file_managed(e) && !matched.contains(&e.guid))
        .map(|e| PlannedDelete {
            guid: e.guid,
            name: e.spec.name.clone(),
            expected_revision: e.revision,
        })
        .collect();
    plan.deletes.sort_by_key(|d| d.guid);
    Ok(plan)
}

/// A stable hex SHA-256 of the definitions' canonical JSON (fields in declaration order,
/// definitions in file order): equal digests mean the parsed file did not change.
pub fn definitions_digest(definitions: &[Definition]) -> String {
    let mut digest = DefinitionsDigest::new();
    for definition in definitions {
        digest.push(definition);
    }
    digest.finish()
}

/// [`definitions_digest`] one definition at a time: the same digest, hashed as each definition
/// is pushed, so that neither the definitions nor their JSON need to be held together.
pub struct DefinitionsDigest {
    hasher: Sha256,
    count: usize,
}

impl DefinitionsDigest {
    /// The digest of no definitions yet.
    pub fn new() -> Self {
        let mut hasher = Sha256::new();
        // Versioned, so a change of the canonical form is never mistaken for an unchanged file.
        hasher.update(b"execenv-definitions-v1\n");
        DefinitionsDigest { hasher, count: 0 }
    }

    /// Adds the next definition, in file order.
    pub fn push(&mut self, definition: &Definition) {
        // The bytes of the definitions as one JSON array: `[a,b,…]`.
        self.hasher
            .update(if self.count == 0 { b"[" } else { b"," });
        serde_json::to_writer(HashWriter(&mut self.hasher), definition)
            .expect("definitions are plain data and always serialize to JSON");
        self.count += 1;
    }

    /// The hex digest.
    pub fn finish(mut self) -> String {
        if self.count == 0 {
            self.hasher.update(b"[");
        }
        self.hasher.update(b"]");
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Default for DefinitionsDigest {
    fn default() -> Self {
        DefinitionsDigest::new()
    }
}

/// Feeds JSON as it is written into the hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The names of the spec fields that differ between `current` and `wanted` (the image name
/// cannot differ between matched environments, so it is never listed).
fn changed_fields(current: &EnvironmentSpec, wanted: &EnvironmentSpec) -> Vec<String> {
    let differs = [
        ("title", current.title != wanted.title),
        ("description", current.description != wanted.description),
        ("cluster_name", current.cluster_name != wanted.cluster_name),
        ("matching", current.matching != wanted.matching),
        ("supervisor", current.supervisor != wanted.supervisor),
        ("python", current.python != wanted.python),
        ("r", current.r != wanted.r),
        ("quarto", current.quarto != wanted.quarto),
        ("tensorflow", current.tensorflow != wanted.tensorflow),
        (
            "volume_mounts",
            current.volume_mounts != wanted.volume_mounts,
        ),
    ];
    differs
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(f, _)| f.to_owned())
        .collect()
}

/// How one definition was resolved.
#[derive(Clone, Copy)]
enum Outcome<'a> {
    /// Create an environment with this guid.
    Create(Uuid),
    /// Update (or leave) a file-managed environment, or adopt an unmanaged one.
    Matched(&'a Environment),
}

/// What the set rules look at in one entry of the file.
#[derive(Clone, Copy)]
struct SetKey<'a> {
    name: &'a str,
    /// The entry gives a guid, valid or not.
    has_guid: bool,
    /// The guid, when valid.
    guid: Option<Uuid>,
}

/// When entries may share an image name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameRule {
    /// Only when every entry with the name has a guid (the rule for files).
    EveryEntryHasAGuid,
    /// When at most one of them has none (what planning needs to be repeatable).
    OneEntryWithoutGuid,
}

/// The rules over the whole file: no guid twice, and an image name twice only as `names` allows.
/// Each entry is reported once per rule, against the first earlier entry it clashes with.
fn check_set(
    keys: &[SetKey<'_>],
    prefix: &str,
    names: NameRule,
    violations: &mut Vec<FieldViolation>,
) {
    let mut set = SetCheck::new(names);
    for (i, key) in keys.iter().enumerate() {
        set.push(i, key.name, *key, prefix, violations);
    }
}

/// [`check_set`] one entry at a time; `N` is how it keeps the names it has seen (borrowed when
/// every entry outlives the check, owned when each is dropped once checked).
struct SetCheck<N> {
    names: NameRule,
    first_with_guid: HashMap<Uuid, usize>,
    /// The entries with each name so far, and whether each gave a guid.
    with_name: HashMap<N, Vec<(usize, bool)>>,
}

impl<N: Borrow<str> + Hash + Eq> SetCheck<N> {
    fn new(names: NameRule) -> Self {
        SetCheck {
            names,
            first_with_guid: HashMap::new(),
            with_name: HashMap::new(),
        }
    }

    /// Checks entry `i`, whose name `name` is `key.name`, against the entries before it.
    fn push(
        &mut self,
        i: usize,
        name: N,
        key: SetKey<'_>,
        prefix: &str,
        violations: &mut Vec<FieldViolation>,
    ) {
        if let Some(guid) = key.guid {
            if let Some(&j) = self.first_with_guid.get(&guid) {
                violations.push(FieldViolation::new(
                    field(prefix, i, "guid"),
                    format!(
                        "guid {guid} is also given by {prefix}[{j}]; each environment may be declared once, so remove one of the entries or give it another guid"
                    ),
                ));
            } else {
                self.first_with_guid.insert(guid, i);
            }
        }
        if key.name.is_empty() {
            return; // reported as required by check_spec
        }
        let names = self.names;
        let earlier = self.with_name.entry(name).or_default();
        let clashes = |has_guid: bool| match names {
            NameRule::EveryEntryHasAGuid => !key.has_guid || !has_guid,
            NameRule::OneEntryWithoutGuid => !key.has_guid && !has_guid,
        };
        if let Some(&(j, _)) = earlier.iter().find(|&&(_, has_guid)| clashes(has_guid)) {
            violations.push(FieldViolation::new(
                field(prefix, i, "name"),
                format!(
                    "the image {:?} is also declared by {prefix}[{j}]; entries may share an image only when each has its own `guid`, so add a guid to both entries",
                    key.name
                ),
            ));
        }
        earlier.push((i, key.has_guid));
    }
}

/// True when the declarative file owns `env`.
fn is_file_managed(env: &Environment) -> bool {
    env.managed_by == Some(ManagedBy::ConfigFile)
}

/// The path of `name` in entry `i` of the file.
fn field(prefix: &str, i: usize, name: &str) -> String {
    format!("{prefix}[{i}].{name}")
}

#[cfg(test)]
mod tests;
