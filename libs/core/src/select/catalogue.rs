//! The catalogue indexed for selection: installation versions parsed once, environments in the
//! order ties are broken in, indices by guid and image name, and the environments grouped by the
//! versions they install, so that automatic selection compares groups rather than environments.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use uuid::Uuid;

use super::version::{Ver, parse_installed};
use crate::identity::Caller;
use crate::model::{Environment, Language, Matching};

/// The languages selection looks at, in ranking order.
pub(crate) const RANKED: [Language; 3] = [Language::R, Language::Python, Language::Quarto];

/// The catalogue, indexed for selection (versions parsed once). Built whenever the catalogue
/// changes. The environments are shared (`Arc`), so the selector's copy of the catalogue and
/// each catalogue built from it hold one environment once.
#[derive(Debug, Clone)]
pub struct Catalogue {
    revision: i64,
    environments: Vec<Arc<Environment>>,
    /// One per environment, sorted by the tie-break order: fewer installations, then older, then
    /// guid. Selection walks this and keeps the first of equals.
    pub(crate) entries: Vec<Entry>,
    /// Distinct-version ids of every installation, flat; entries point into it.
    pub(crate) installs: Vec<u32>,
    /// Per language of [`RANKED`]: its distinct versions.
    pub(crate) distinct: [Distinct; 3],
    /// The environments grouped by the set of versions they install of each ranked language:
    /// every member of a group fits a request as well as every other, so a selection ranks the
    /// groups (a few hundred at most in a real catalogue, however many environments) and then
    /// looks only at the members of the best.
    pub(crate) groups: Vec<Group>,
    /// The distinct-version ids of every group, flat; groups point into it.
    group_ids: Vec<u32>,
    /// Environment index (catalogue order) → position in `entries`.
    position_of_env: Vec<u32>,
    /// Guid → position in `entries`.
    by_guid: HashMap<Uuid, u32>,
    /// Positions in `entries`, sorted by image name and then position: one image's
    /// environments are a run in it, found by binary search (no copy of the names).
    by_image: Vec<u32>,
}

/// One environment as selection sees it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Index into the catalogue's environments.
    pub(crate) env: u32,
    pub(crate) matching: Matching,
    /// No permission entries: every publisher may use it.
    pub(crate) open: bool,
    /// Per language of [`RANKED`]: start and length of its installations in `installs`.
    pub(crate) langs: [(u32, u32); 3],
}

/// Environments that install the same versions of each ranked language (as sets: order and
/// repeats aside).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Per language of [`RANKED`]: start and length of its distinct-version ids in the
    /// catalogue's `group_ids`, ascending.
    langs: [(u32, u32); 3],
    /// The members' positions in `entries`, ascending.
    pub(crate) members: Vec<u32>,
}

/// The distinct installed versions of one language, ascending. Id 0 stands for every installed
/// version that does not parse; ids 1.. are versions in ascending order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Distinct {
    pub(crate) versions: Vec<Ver>,
    /// For Python: each version as PEP 440 reads it (`None` if it does not).
    pub(crate) pep440: Vec<Option<pep440_rs::Version>>,
}

impl Catalogue {
    /// Indexes `environments` (listed in any order) as of `revision`. Environments already
    /// shared (`Arc<Environment>`) are not copied.
    pub fn new<E: Into<Arc<Environment>>>(
        revision: i64,
        environments: impl IntoIterator<Item = E>,
    ) -> Catalogue {
        let environments: Vec<Arc<Environment>> =
            environments.into_iter().map(Into::into).collect();
        let distinct = RANKED.map(|language| distinct_versions(language, &environments));
        // The sort keys side by side, so that sorting does not chase every environment's pointer.
        let mut order: Vec<(usize, chrono::DateTime<chrono::Utc>, Uuid, u32)> = environments
            .iter()
            .enumerate()
            .map(|(i, e)| (installation_count(e), e.created_time, e.guid, i as u32))
            .collect();
        order.sort_unstable();
        let mut installs = Vec::new();
        let mut entries = Vec::with_capacity(environments.len());
        for &(_, _, _, i) in &order {
            let env = &environments[i as usize];
            let mut langs = [(0, 0); 3];
            for (l, language) in RANKED.into_iter().enumerate() {
                let start = installs.len() as u32;
                for installation in env.spec.installations(language) {
                    installs.push(distinct[l].id_of(&installation.version));
                }
                langs[l] = (start, installs.len() as u32 - start);
            }
            entries.push(Entry {
                env: i,
                matching: env.spec.matching,
                open: env.permissions.is_empty(),
                langs,
            });
        }
        drop(order);
        let mut position_of_env = vec![0; entries.len()];
        let mut by_guid = HashMap::with_capacity(entries.len());
        for (position, entry) in entries.iter().enumerate() {
            position_of_env[entry.env as usize] = position as u32;
            by_guid
                .entry(environments[entry.env as usize].guid)
                .or_insert(position as u32);
        }
        let mut by_image: Vec<u32> = (0..entries.len() as u32).collect();
        // Stable, and positions start ascending: each image's run stays ascending.
        by_image.sort_by(|&a, &b| {
            let name = |p: u32| &environments[entries[p as usize].env as usize].spec.name;
            name(a).cmp(name(b))
        });
        let mut catalogue = Catalogue {
            revision,
            environments,
            entries,
            position_of_env,
            installs,
            distinct,
            groups: Vec::new(),
            group_ids: Vec::new(),
            by_guid,
            by_image,
        };
        catalogue.group();
        catalogue
    }

    /// Fills `groups` and `group_ids` from the entries.
    fn group(&mut self) {
        let mut index: HashMap<Box<[u32]>, u32> = HashMap::new();
        // An entry's signature: per language, the number of its distinct ids, then the ids.
        let (mut signature, mut ids) = (Vec::new(), Vec::new());
        for position in 0..self.entries.len() {
            signature.clear();
            for l in 0..RANKED.len() {
                ids.clear();
                ids.extend_from_slice(self.ids(&self.entries[position], l));
                ids.sort_unstable();
                ids.dedup();
                signature.push(ids.len() as u32);
                signature.extend_from_slice(&ids);
            }
            let group = match index.get(signature.as_slice()) {
                Some(&group) => group,
                None => {
                    let group = self.groups.len() as u32;
                    let mut langs = [(0, 0); 3];
                    let mut rest = signature.as_slice();
                    for lang in &mut langs {
                        let (&len, after) = rest.split_first().unwrap_or((&0, &[]));
                        let (ids, after) = after.split_at(len as usize);
                        *lang = (self.group_ids.len() as u32, len);
                        self.group_ids.extend_from_slice(ids);
                        rest = after;
                    }
                    self.groups.push(Group {
                        langs,
                        members: Vec::new(),
                    });
                    index.insert(signature.clone().into_boxed_slice(), group);
                    group
                }
            };
            self.groups[group as usize].members.push(position as u32);
        }
    }

    /// The revision of the registry this catalogue reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// How many environments it holds.
    pub fn len(&self) -> usize {
        self.environments.len()
    }

    /// Whether it holds no environment.
    pub fn is_empty(&self) -> bool {
        self.environments.is_empty()
    }

    /// Every environment, in the order given to [`Catalogue::new`].
    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.iter().map(Arc::as_ref)
    }

    /// The environment behind an entry.
    pub(crate) fn env(&self, entry: &Entry) -> &Environment {
        &self.environments[entry.env as usize]
    }

    /// The position in `entries` of the environment at `index` in catalogue order.
    pub(crate) fn position_of_env(&self, index: usize) -> u32 {
        self.position_of_env[index]
    }

    /// The position in `entries` of the environment with `guid`.
    pub(crate) fn position_of_guid(&self, guid: &Uuid) -> Option<u32> {
        self.by_guid.get(guid).copied()
    }

    /// The positions in `entries` of the environments using image `name`, ascending.
    pub(crate) fn positions_of_image(&self, name: &str) -> &[u32] {
        let name_at = |p: u32| self.env(&self.entries[p as usize]).spec.name.as_str();
        let start = self.by_image.partition_point(|&p| name_at(p) < name);
        let len = self.by_image[start..].partition_point(|&p| name_at(p) == name);
        &self.by_image[start..start + len]
    }

    /// The distinct-version ids of an entry's installations of language `l` (index into
    /// [`RANKED`]), in the environment's order.
    pub(crate) fn ids(&self, entry: &Entry, l: usize) -> &[u32] {
        let (start, len) = entry.langs[l];
        &self.installs[start as usize..(start + len) as usize]
    }

    /// The distinct-version ids a group's members install of language `l`, ascending.
    pub(crate) fn group_ids(&self, group: &Group, l: usize) -> &[u32] {
        let (start, len) = group.langs[l];
        &self.group_ids[start as usize..(start + len) as usize]
    }

    /// Whether `caller` may use the entry's environment (cheap for environments open to all).
    pub(crate) fn permits(&self, caller: &Caller, entry: &Entry) -> bool {
        (entry.open && caller.role != crate::identity::Role::Viewer)
            || caller.may_use(self.env(entry))
    }
}

impl Distinct {
    /// The id of an installed version string.
    fn id_of(&self, version: &str) -> u32 {
        parse_installed(version)
            .and_then(|v| self.versions[1..].binary_search(&v).ok())
            .map_or(0, |i| i as u32 + 1)
    }
}

/// The installations an environment lists, over every language.
pub(crate) fn installation_count(env: &Environment) -> usize {
    Language::ALL
        .iter()
        .map(|&l| env.spec.installations(l).len())
        .sum()
}

/// The distinct versions of `language` in the catalogue, ascending, after the id-0 placeholder.
fn distinct_versions(language: Language, environments: &[Arc<Environment>]) -> Distinct {
    // Versions that pack alike (3.11 and 3.11.0) share an id; for Python the PEP 440 reading of
    // the smallest spelling is kept, so the result does not depend on the catalogue's order.
    let mut seen: BTreeMap<Ver, &str> = BTreeMap::new();
    for env in environments {
        for installation in env.spec.installations(language) {
            if let Some(v) = parse_installed(&installation.version) {
                let spelling = seen.entry(v).or_insert(&installation.version);
                if installation.version.as_str() < *spelling {
                    *spelling = &installation.version;
                }
            }
        }
    }
    // Id 0 is the placeholder for versions that do not parse; it sorts below every version.
    let mut versions = vec![Ver::PLACEHOLDER];
    let mut pep440 = vec![None];
    for (v, spelling) in seen {
        versions.push(v);
        if language == Language::Python {
            pep440.push(pep440_rs::Version::from_str(spelling.trim()).ok());
        }
    }
    Distinct { versions, pep440 }
}
