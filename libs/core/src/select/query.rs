//! One request prepared against a catalogue: the target, and for each needed language a key per
//! distinct installed version, so that the walk over environments only compares integers.

use uuid::Uuid;

use super::catalogue::{Catalogue, Distinct, Entry, RANKED};
use super::exclusions::Exclusions;
use super::outcome::{Closeness, SelectedBy};
use super::request::{ContentSettings, MatchingSettings, Requirements, VersionMatching};
use super::version::{Constraint, Ver, parse_requested};
use crate::error::{Error, FieldViolation};
use crate::identity::Caller;
use crate::model::{Language, Matching};

/// The key of an installation that the language's need does not accept.
pub(crate) const INCOMPATIBLE: u64 = u64::MAX;

/// What the content asks of one language.
#[derive(Debug)]
pub(crate) struct Need<'r> {
    /// Index of the language in [`RANKED`].
    pub(crate) l: usize,
    pub(crate) language: Language,
    pub(crate) version: Option<(Ver, &'r str)>,
    pub(crate) constraint: Option<(Constraint, &'r str)>,
    pub(crate) mode: VersionMatching,
    /// Per distinct-version id: how good that version is for the content, lower is better
    /// ([`INCOMPATIBLE`] if it is not acceptable). Packs closeness (2 bits), distance (30 bits)
    /// and the reversed rank of the version (32 bits), so that newer wins among equals.
    pub(crate) keys: Vec<u64>,
}

/// Which environments the content targets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'r> {
    Guid(Uuid),
    Image(&'r str),
    Automatic,
}

/// A request ready to be answered.
#[derive(Debug)]
pub(crate) struct Query<'r> {
    /// The needed languages, in ranking order.
    pub(crate) needs: Vec<Need<'r>>,
    pub(crate) target: Target<'r>,
    pub(crate) selected_by: SelectedBy,
    /// Positions (in the catalogue's entries) of the excluded environments, ascending, with why.
    pub(crate) excluded: Vec<(u32, &'r str)>,
}

/// The winner of a walk: its position in the catalogue's entries and its keys.
pub(crate) type Winner = (u32, [u64; 3]);

impl<'r> Query<'r> {
    /// Validates the request (every problem at once) and prepares it against `catalogue`;
    /// exclusions naming no environment of the catalogue are ignored.
    pub(crate) fn prepare(
        catalogue: &Catalogue,
        requirements: &'r Requirements,
        content: &'r ContentSettings,
        settings: &MatchingSettings,
        exclusions: &'r Exclusions,
    ) -> Result<Query<'r>, Error> {
        let mut violations = Vec::new();
        let mut needs = Vec::new();
        for (l, language) in RANKED.into_iter().enumerate() {
            let (asked, mode) = match language {
                Language::R => (&requirements.r, settings.r),
                Language::Python => (&requirements.python, settings.python),
                _ => (&requirements.quarto, settings.quarto),
            };
            let field = language.as_str();
            let version = given(&asked.version).and_then(|text| {
                parse_requested(text)
                    .map(|v| (v, text))
                    .map_err(|e| {
                        violations.push(FieldViolation::new(format!("{field}.version"), e))
                    })
                    .ok()
            });
            let constraint = given(&asked.constraint).and_then(|text| {
                let parsed = if language == Language::Python {
                    Constraint::parse_pep440(text)
                } else {
                    Constraint::parse_comparisons(text)
                };
                parsed
                    .map(|c| (c, text))
                    .map_err(|e| {
                        violations.push(FieldViolation::new(format!("{field}.requires"), e))
                    })
                    .ok()
            });
            if version.is_some() || constraint.is_some() {
                let mut need = Need {
                    l,
                    language,
                    version,
                    constraint,
                    mode,
                    keys: Vec::new(),
                };
                need.keys = need.keys_over(&catalogue.distinct[l]);
                needs.push(need);
            }
        }
        let guid = |text: &'r str, field: &str, violations: &mut Vec<FieldViolation>| {
            Uuid::parse_str(text.trim())
                .map_err(|_| {
                    violations.push(FieldViolation::new(
                        field,
                        format!(
                            "\"{text}\" is not an environment guid (a UUID such as 8f0c1e2a-…)"
                        ),
                    ))
                })
                .ok()
        };
        let (target, selected_by) = if let Some(text) = given(&requirements.target_environment_guid)
        {
            let g = guid(text, "environment.identifier", &mut violations);
            (
                g.map_or(Target::Automatic, Target::Guid),
                SelectedBy::ManifestIdentifier,
            )
        } else if let Some(image) = given(&requirements.target_image) {
            (Target::Image(image), SelectedBy::ManifestImage)
        } else if let Some(text) = given(&content.default_environment_guid) {
            let g = guid(text, "default_environment_guid", &mut violations);
            (
                g.map_or(Target::Automatic, Target::Guid),
                SelectedBy::ContentDefaultEnvironment,
            )
        } else if let Some(image) = given(&content.default_image_name) {
            (Target::Image(image), SelectedBy::ContentDefaultImage)
        } else {
            (Target::Automatic, SelectedBy::Automatic)
        };
        if !violations.is_empty() {
            return Err(Error::invalid(violations));
        }
        let mut excluded: Vec<(u32, &'r str)> = exclusions
            .guids()
            .filter_map(|guid| {
                let position = catalogue.position_of_guid(guid)?;
                Some((position, exclusions.reason(guid)?))
            })
            .collect();
        excluded.sort_unstable();
        Ok(Query {
            needs,
            target,
            selected_by,
            excluded,
        })
    }

    /// Why the entry at `position` is excluded, if it is.
    pub(crate) fn exclusion(&self, position: u32) -> Option<&'r str> {
        if self.excluded.is_empty() {
            return None;
        }
        self.excluded
            .binary_search_by_key(&position, |(p, _)| *p)
            .ok()
            .map(|i| self.excluded[i].1)
    }

    /// The guids of the excluded environments that would otherwise be candidates: targeted,
    /// eligible by their matching, compatible and permitted.
    pub(crate) fn skipped(&self, catalogue: &Catalogue, caller: &Caller) -> Vec<Uuid> {
        let mut skipped: Vec<Uuid> = self
            .excluded
            .iter()
            .filter(|(p, _)| {
                let entry = &catalogue.entries[*p as usize];
                self.is_candidate(catalogue, *p)
                    && self.eligible_by_matching(entry)
                    && self
                        .needs
                        .iter()
                        .all(|need| need.best_key(catalogue, entry) != INCOMPATIBLE)
                    && catalogue.permits(caller, entry)
            })
            .map(|(p, _)| catalogue.env(&catalogue.entries[*p as usize]).guid)
            .collect();
        skipped.sort_unstable();
        skipped
    }

    /// Whether the request targets environments (by guid or image) rather than choosing among all.
    pub(crate) fn is_targeted(&self) -> bool {
        !matches!(self.target, Target::Automatic)
    }

    /// The positions (in the catalogue's entries) of the environments the request may choose from.
    pub(crate) fn candidates<'c>(&self, catalogue: &'c Catalogue) -> Candidates<'c> {
        match self.target {
            Target::Automatic => Candidates::All(0..catalogue.entries.len() as u32),
            Target::Guid(g) => Candidates::One(catalogue.position_of_guid(&g)),
            Target::Image(name) => Candidates::Some(catalogue.positions_of_image(name)),
        }
    }

    /// Whether the entry at `position` is among [`candidates`](Self::candidates).
    fn is_candidate(&self, catalogue: &Catalogue, position: u32) -> bool {
        match self.target {
            Target::Automatic => true,
            Target::Guid(g) => catalogue.position_of_guid(&g) == Some(position),
            Target::Image(name) => catalogue
                .positions_of_image(name)
                .binary_search(&position)
                .is_ok(),
        }
    }

    /// Whether an entry's `matching` lets it be chosen for this request.
    fn eligible_by_matching(&self, entry: &Entry) -> bool {
        match entry.matching {
            Matching::Any => true,
            Matching::Exact => self.is_targeted(),
            Matching::None => false,
        }
    }

    /// The best candidate: the lowest keys language by language, the first in tie order among
    /// equals. No parsing here: this is the hot path. Automatic selection of versions ranks the
    /// catalogue's version groups ([`Query::winner_by_group`]); a target, or a request for no
    /// version, walks its candidates.
    pub(crate) fn winner(&self, catalogue: &Catalogue, caller: &Caller) -> Option<Winner> {
        if matches!(self.target, Target::Automatic) && !self.needs.is_empty() {
            self.winner_by_group(catalogue, caller)
        } else {
            self.winner_by_walk(catalogue, caller)
        }
    }

    /// [`Query::winner`] by walking the candidates in tie order.
    pub(crate) fn winner_by_walk(&self, catalogue: &Catalogue, caller: &Caller) -> Option<Winner> {
        let mut best: Option<Winner> = None;
        let mut best_keys = [INCOMPATIBLE; 3];
        for p in self.candidates(catalogue) {
            let entry = &catalogue.entries[p as usize];
            if !self.eligible_by_matching(entry) || self.exclusion(p).is_some() {
                continue;
            }
            // Permissions last: checking them may touch the environment's entries, and most
            // candidates lose on versions first.
            if self.needs.is_empty() {
                if catalogue.permits(caller, entry) {
                    return Some((p, [0; 3]));
                }
                continue;
            }
            if let Some(keys) = self.beats(catalogue, entry, &best_keys)
                && catalogue.permits(caller, entry)
            {
                best_keys = keys;
                best = Some((p, keys));
            }
        }
        best
    }

    /// [`Query::winner`] over every environment, by version group: every member of a group has
    /// the same keys, so the groups are ranked by their keys and only the members of the best
    /// groups are looked at, in tie order, for the first the request may use (its matching,
    /// exclusions, the caller's permission). The same winner as walking every environment,
    /// at the cost of the groups rather than the environments.
    fn winner_by_group(&self, catalogue: &Catalogue, caller: &Caller) -> Option<Winner> {
        let mut ranked: Vec<([u64; 3], u32)> = Vec::new();
        let mut best = [INCOMPATIBLE; 3];
        'groups: for (g, group) in catalogue.groups.iter().enumerate() {
            let mut keys = [0; 3];
            for (i, need) in self.needs.iter().enumerate() {
                keys[i] = need.best_key_of(catalogue.group_ids(group, need.l));
                if keys[i] == INCOMPATIBLE {
                    continue 'groups;
                }
            }
            best = best.min(keys);
            ranked.push((keys, g as u32));
        }
        // Most often a member of the best groups may be used: one pass finds it. Otherwise
        // (all of them excluded, not permitted or exact-only) the groups are tried best first.
        if let Some(winner) = self.first_usable(catalogue, caller, &ranked, best) {
            return Some(winner);
        }
        ranked.sort_unstable();
        ranked
            .chunk_by(|a, b| a.0 == b.0)
            .skip_while(|run| run[0].0 == best)
            .find_map(|run| self.first_usable(catalogue, caller, run, run[0].0))
    }

    /// The first in tie order of the members of the groups of `ranked` whose keys are `keys`
    /// that the request may use.
    fn first_usable(
        &self,
        catalogue: &Catalogue,
        caller: &Caller,
        ranked: &[([u64; 3], u32)],
        keys: [u64; 3],
    ) -> Option<Winner> {
        ranked
            .iter()
            .filter(|(k, _)| *k == keys)
            .filter_map(|&(_, g)| {
                catalogue.groups[g as usize]
                    .members
                    .iter()
                    .copied()
                    .find(|&p| {
                        let entry = &catalogue.entries[p as usize];
                        self.eligible_by_matching(entry)
                            && self.exclusion(p).is_none()
                            && catalogue.permits(caller, entry)
                    })
            })
            .min()
            .map(|p| (p, keys))
    }

    /// The entry's keys if it is compatible and strictly better than `best`.
    fn beats(&self, catalogue: &Catalogue, entry: &Entry, best: &[u64; 3]) -> Option<[u64; 3]> {
        let mut keys = [0; 3];
        let mut tied = true;
        for (i, need) in self.needs.iter().enumerate() {
            let k = need.best_key(catalogue, entry);
            if k == INCOMPATIBLE || (tied && k > best[i]) {
                return None;
            }
            tied = tied && k == best[i];
            keys[i] = k;
        }
        (!tied).then_some(keys)
    }
}

/// Positions to walk: every entry, or a given few.
pub(crate) enum Candidates<'c> {
    All(std::ops::Range<u32>),
    One(Option<u32>),
    Some(&'c [u32]),
}

impl Iterator for Candidates<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            Candidates::All(range) => range.next(),
            Candidates::One(one) => one.take(),
            Candidates::Some(slice) => {
                let (first, rest) = slice.split_first()?;
                *slice = rest;
                Some(*first)
            }
        }
    }
}

impl Need<'_> {
    /// The key of the entry's best installation of this language.
    pub(crate) fn best_key(&self, catalogue: &Catalogue, entry: &Entry) -> u64 {
        self.best_key_of(catalogue.ids(entry, self.l))
    }

    /// The best key of installations with distinct-version `ids`.
    pub(crate) fn best_key_of(&self, ids: &[u32]) -> u64 {
        ids.iter()
            .map(|&id| self.keys[id as usize])
            .min()
            .unwrap_or(INCOMPATIBLE)
    }

    /// The index (in the environment's list) and key of the installation used: the best, the
    /// first listed among equals. `None` if none is acceptable.
    pub(crate) fn chosen(&self, catalogue: &Catalogue, entry: &Entry) -> Option<(usize, u64)> {
        let mut best: Option<(usize, u64)> = None;
        for (i, &id) in catalogue.ids(entry, self.l).iter().enumerate() {
            let k = self.keys[id as usize];
            if k != INCOMPATIBLE && best.is_none_or(|(_, b)| k < b) {
                best = Some((i, k));
            }
        }
        best
    }

    fn keys_over(&self, distinct: &Distinct) -> Vec<u64> {
        let n = distinct.versions.len();
        let mut keys = vec![INCOMPATIBLE; n];
        for (id, key) in keys.iter_mut().enumerate().skip(1) {
            let pep440 = distinct.pep440.get(id).and_then(Option::as_ref);
            if let Some((closeness, distance)) = self.classify(distinct.versions[id], pep440) {
                *key = pack(closeness, distance, (n - id) as u64);
            }
        }
        keys
    }

    /// How close an installed version is to what is asked, and how far within that closeness;
    /// `None` if it is not acceptable. The constraint, when given, decides acceptance and the
    /// version only preference; otherwise the version matching mode decides.
    fn classify(&self, v: Ver, pep440: Option<&pep440_rs::Version>) -> Option<(Closeness, u64)> {
        if let Some((constraint, _)) = &self.constraint
            && !constraint.contains(v, pep440)
        {
            return None;
        }
        let Some((want, _)) = self.version else {
            return Some((Closeness::Constraint, 0));
        };
        let closeness = if v == want {
            (Closeness::Exact, 0)
        } else if v.major() == want.major() && v.minor() == want.minor() {
            (Closeness::MajorMinor, 0)
        } else if v.major() == want.major() {
            (Closeness::Major, v.minor().abs_diff(want.minor()))
        } else {
            (Closeness::Constraint, v.major().abs_diff(want.major()))
        };
        let allowed = self.constraint.is_some()
            || match self.mode {
                VersionMatching::Exact => closeness.0 == Closeness::Exact,
                VersionMatching::MajorMinor => closeness.0 <= Closeness::MajorMinor,
                VersionMatching::Nearest => closeness.0 <= Closeness::Major,
            };
        allowed.then_some(closeness)
    }
}

fn pack(closeness: Closeness, distance: u64, reverse_rank: u64) -> u64 {
    let tier = closeness as u64;
    (tier << 62) | (distance.min((1 << 30) - 1) << 32) | reverse_rank.min(u64::from(u32::MAX))
}

/// The closeness a key encodes.
pub(crate) fn closeness_of(key: u64) -> Closeness {
    match key >> 62 {
        0 => Closeness::Exact,
        1 => Closeness::MajorMinor,
        2 => Closeness::Major,
        _ => Closeness::Constraint,
    }
}

/// The distance a key encodes (minors within a major, majors across).
pub(crate) fn distance_of(key: u64) -> u64 {
    (key >> 32) & ((1 << 30) - 1)
}

/// A string field that is given and not blank.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.trim().is_empty())
}
