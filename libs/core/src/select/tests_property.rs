#![allow(clippy::unwrap_used)]
//! Property tests: whatever the catalogue, the request and the exclusions, the selection is
//! compatible, permitted, never disabled and never excluded, and it does not depend on the order
//! the catalogue is listed in.

use proptest::prelude::*;
use uuid::Uuid;

use super::tests::{env, g};
use super::*;
use crate::error::{Error, ErrorKind};
use crate::identity::Role;
use crate::model::{Environment, Language, Matching, Permission, Principal};

const PYTHON: [&str; 6] = ["3.8.18", "3.10.4", "3.11.2", "3.11.9", "3.12.4", "3.13.0"];
const R: [&str; 6] = ["3.6.3", "4.0.5", "4.3.1", "4.3.3", "4.4.1", "5.0.0"];
const QUARTO: [&str; 3] = ["1.3.450", "1.4.557", "1.5.0"];
const IMAGES: [&str; 3] = ["img/a:1", "img/b:1", "img/c:1"];

type Check = fn([u64; 3]) -> bool;

/// R and Quarto constraints with an independent reading of each, as the oracle.
const R_CONSTRAINTS: [(&str, Check); 5] = [
    (">= 4.0.0", |v| v >= [4, 0, 0]),
    (">=4.1, <5", |v| ([4, 1, 0]..[5, 0, 0]).contains(&v)),
    ("~=4.3.0", |v| v >= [4, 3, 0] && v[..2] == [4, 3]),
    ("!=4.3.1", |v| v != [4, 3, 1]),
    ("<4", |v| v < [4, 0, 0]),
];
const QUARTO_CONSTRAINTS: [(&str, Check); 2] = [
    (">=1.4", |v| v >= [1, 4, 0]),
    ("~=1.3.0", |v| v >= [1, 3, 0] && v[..2] == [1, 3]),
];
const PYTHON_CONSTRAINTS: [&str; 4] = [">=3.8,<4", "~=3.11.0", "==3.12.*", ">=3.12"];

fn triple(v: &str) -> [u64; 3] {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap());
    [0; 3].map(|_| parts.next().unwrap_or(0))
}

#[derive(Debug, Clone)]
struct EnvCase {
    matching: u8,
    permissions: u8,
    image: usize,
    created: u8,
    python: Vec<usize>,
    r: Vec<usize>,
    quarto: Vec<usize>,
}

fn env_case() -> impl Strategy<Value = EnvCase> {
    (
        0u8..4,
        0u8..4,
        0..IMAGES.len(),
        0u8..4,
        proptest::collection::vec(0..PYTHON.len(), 0..3),
        proptest::collection::vec(0..R.len(), 0..3),
        proptest::collection::vec(0..QUARTO.len(), 0..2),
    )
        .prop_map(
            |(matching, permissions, image, created, python, r, quarto)| EnvCase {
                matching,
                permissions,
                image,
                created,
                python,
                r,
                quarto,
            },
        )
}

/// (version index, constraint index), each optional.
type Ask = (Option<usize>, Option<usize>);

#[derive(Debug, Clone)]
struct RequestCase {
    python: Ask,
    r: Ask,
    quarto: Ask,
    /// 0 none, 1 a catalogue guid, 2 a missing guid.
    manifest_guid: (u8, usize),
    manifest_image: Option<usize>,
    default_guid: (u8, usize),
    default_image: Option<usize>,
    caller: u8,
    python_exact: bool,
    r_mode: u8,
    quarto_mode: u8,
}

fn ask(versions: usize, constraints: usize) -> impl Strategy<Value = Ask> {
    (
        proptest::option::weighted(0.6, 0..versions),
        proptest::option::weighted(0.3, 0..constraints),
    )
}

fn target() -> impl Strategy<Value = (u8, usize)> {
    prop_oneof![6 => Just((0u8, 0usize)), 2 => (Just(1u8), 0usize..16), 1 => Just((2u8, 0usize))]
}

fn request_case() -> impl Strategy<Value = RequestCase> {
    (
        ask(PYTHON.len(), PYTHON_CONSTRAINTS.len()),
        ask(R.len(), R_CONSTRAINTS.len()),
        ask(QUARTO.len(), QUARTO_CONSTRAINTS.len()),
        target(),
        proptest::option::weighted(0.15, 0..IMAGES.len()),
        target(),
        proptest::option::weighted(0.15, 0..IMAGES.len()),
        0u8..3,
        any::<bool>(),
        0u8..3,
        0u8..3,
    )
        .prop_map(
            |(
                python,
                r,
                quarto,
                manifest_guid,
                manifest_image,
                default_guid,
                default_image,
                caller,
                python_exact,
                r_mode,
                quarto_mode,
            )| RequestCase {
                python,
                r,
                quarto,
                manifest_guid,
                manifest_image,
                default_guid,
                default_image,
                caller,
                python_exact,
                r_mode,
                quarto_mode,
            },
        )
}

fn build(cases: &[EnvCase]) -> Vec<Environment> {
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = i as u128 + 1;
            let pick = |pool: &[&'static str], idx: &[usize]| -> Vec<&'static str> {
                idx.iter().map(|&k| pool[k]).collect()
            };
            let mut e = env(
                n,
                IMAGES[c.image],
                &pick(&PYTHON, &c.python),
                &pick(&R, &c.r),
                &pick(&QUARTO, &c.quarto),
            );
            e.created_time = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH
                + chrono::Duration::hours(i64::from(c.created));
            e.spec.matching = match c.matching {
                0 | 1 => Matching::Any,
                2 => Matching::Exact,
                _ => Matching::None,
            };
            let principal = match c.permissions {
                0 | 1 => None,
                2 => Some(Principal::User("alice".to_owned())),
                _ => Some(Principal::Group("staff".to_owned())),
            };
            e.permissions = principal
                .into_iter()
                .map(|principal| Permission {
                    guid: g(0x5000 + n),
                    environment_guid: e.guid,
                    principal,
                })
                .collect();
            e
        })
        .collect()
}

fn mode(m: u8) -> VersionMatching {
    match m {
        0 => VersionMatching::Exact,
        1 => VersionMatching::MajorMinor,
        _ => VersionMatching::Nearest,
    }
}

fn guid_of(t: (u8, usize), envs: usize) -> Option<String> {
    match t {
        (1, k) if envs > 0 => Some(g(k as u128 % envs as u128 + 1).to_string()),
        (2, _) | (1, _) => Some(g(0xdead).to_string()),
        _ => None,
    }
}

struct Request {
    requirements: Requirements,
    content: ContentSettings,
    caller: Caller,
    settings: MatchingSettings,
}

fn request(case: &RequestCase, envs: usize) -> Request {
    let language = |(v, c): Ask, versions: &[&str], constraints: &[&str]| LanguageNeed {
        version: v.map(|i| versions[i].to_owned()),
        constraint: c.map(|i| constraints[i].to_owned()),
    };
    let r_texts: Vec<&str> = R_CONSTRAINTS.iter().map(|c| c.0).collect();
    let q_texts: Vec<&str> = QUARTO_CONSTRAINTS.iter().map(|c| c.0).collect();
    Request {
        requirements: Requirements {
            python: language(case.python, &PYTHON, &PYTHON_CONSTRAINTS),
            r: language(case.r, &R, &r_texts),
            quarto: language(case.quarto, &QUARTO, &q_texts),
            target_environment_guid: guid_of(case.manifest_guid, envs),
            target_image: case.manifest_image.map(|i| IMAGES[i].to_owned()),
        },
        content: ContentSettings {
            default_environment_guid: guid_of(case.default_guid, envs),
            default_image_name: case.default_image.map(|i| IMAGES[i].to_owned()),
        },
        caller: match case.caller {
            0 => Caller::service(),
            1 => Caller {
                user: Some("alice".to_owned()),
                groups: Vec::new(),
                role: Role::Publisher,
            },
            _ => Caller {
                user: Some("carol".to_owned()),
                groups: vec!["staff".to_owned()],
                role: Role::Publisher,
            },
        },
        settings: MatchingSettings {
            python: if case.python_exact {
                VersionMatching::Exact
            } else {
                VersionMatching::MajorMinor
            },
            r: mode(case.r_mode),
            quarto: mode(case.quarto_mode),
        },
    }
}

/// The oracle: whether installed version `v` fits what `case` asks of a language, read
/// independently of the implementation.
fn fits(
    language: Language,
    (version, constraint): Ask,
    v: &str,
    versions: &[&str],
    matching: VersionMatching,
) -> bool {
    if let Some(c) = constraint {
        return match language {
            Language::Python => {
                let spec: pep440_rs::VersionSpecifiers = PYTHON_CONSTRAINTS[c].parse().unwrap();
                spec.contains(&v.parse().unwrap())
            }
            Language::R => R_CONSTRAINTS[c].1(triple(v)),
            _ => QUARTO_CONSTRAINTS[c].1(triple(v)),
        };
    }
    let Some(want) = version else {
        return true;
    };
    let (have, want) = (triple(v), triple(versions[want]));
    match matching {
        VersionMatching::Exact => have == want,
        VersionMatching::MajorMinor => have[..2] == want[..2],
        VersionMatching::Nearest => have[0] == want[0],
    }
}

/// Whether `env` has, for every language the request asks something of, an installation that fits.
fn compatible(env: &Environment, case: &RequestCase, settings: &MatchingSettings) -> bool {
    [
        (Language::Python, case.python, &PYTHON[..], settings.python),
        (Language::R, case.r, &R[..], settings.r),
        (Language::Quarto, case.quarto, &QUARTO[..], settings.quarto),
    ]
    .into_iter()
    .all(|(language, asked, versions, matching)| {
        asked == (None, None)
            || env
                .spec
                .installations(language)
                .iter()
                .any(|i| fits(language, asked, &i.version, versions, matching))
    })
}

fn outcome(result: &Result<Selection<'_>, Error>) -> Result<Uuid, (ErrorKind, String)> {
    match result {
        Ok(s) => Ok(s.environment.guid),
        Err(e) => Err((e.kind, e.message.clone())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_selection_is_compatible_permitted_never_disabled_and_independent_of_order(
        cases in proptest::collection::vec(env_case(), 0..10),
        req in request_case(),
        shuffle_seed in any::<u64>(),
        excluded_mask in prop_oneof![Just(0u16), any::<u16>()],
    ) {
        let envs = build(&cases);
        let Request { requirements, content, caller, settings } = request(&req, envs.len());
        let catalogue = Catalogue::new(1, envs.clone());
        let is_excluded = |e: &Environment| envs.iter().position(|x| x.guid == e.guid)
            .is_some_and(|i| excluded_mask & (1 << i) != 0);
        let exclusions: Exclusions = envs.iter().filter(|e| is_excluded(e))
            .map(|e| (e.guid, "left out by the test".to_owned()))
            .collect();
        let choice = select(&catalogue, &requirements, &content, &caller, &settings, &exclusions);
        let result = choice.selection;
        let targeted = requirements.target_environment_guid.is_some()
            || requirements.target_image.is_some()
            || content.default_environment_guid.is_some()
            || content.default_image_name.is_some();

        match &result {
            Ok(s) => {
                let e = s.environment;
                prop_assert_ne!(e.spec.matching, Matching::None);
                prop_assert!(caller.may_use(e));
                prop_assert!(e.spec.matching == Matching::Any || targeted);
                prop_assert!(compatible(e, &req, &settings));
                prop_assert!(!is_excluded(e));
                for chosen in &s.installations {
                    let (asked, versions, matching) = match chosen.language {
                        Language::Python => (req.python, &PYTHON[..], settings.python),
                        Language::R => (req.r, &R[..], settings.r),
                        _ => (req.quarto, &QUARTO[..], settings.quarto),
                    };
                    prop_assert!(fits(chosen.language, asked, &chosen.version, versions, matching));
                    prop_assert!(e.spec.installations(chosen.language).iter().any(|i| i.version == chosen.version && i.path == chosen.path));
                }
                // The target decides which environments may be chosen.
                if let Some(guid) = &requirements.target_environment_guid {
                    prop_assert_eq!(&e.guid.to_string(), guid);
                } else if let Some(image) = &requirements.target_image {
                    prop_assert_eq!(&e.spec.name, image);
                } else if let Some(guid) = &content.default_environment_guid {
                    prop_assert_eq!(&e.guid.to_string(), guid);
                } else if let Some(image) = &content.default_image_name {
                    prop_assert_eq!(&e.spec.name, image);
                }
            }
            Err(err) => {
                prop_assert_eq!(err.kind, ErrorKind::FailedPrecondition, "{}", err);
                if !targeted {
                    // Nothing eligible fits: automatic selection misses no candidate.
                    for e in &envs {
                        prop_assert!(!(e.spec.matching == Matching::Any
                            && caller.may_use(e)
                            && compatible(e, &req, &settings)
                            && !is_excluded(e)));
                    }
                }
            }
        }

        // Automatic selection skipped exactly the excluded environments that fit.
        if !targeted && caller.role != Role::Viewer {
            let mut fitting: Vec<Uuid> = envs.iter()
                .filter(|e| is_excluded(e)
                    && e.spec.matching == Matching::Any
                    && caller.may_use(e)
                    && compatible(e, &req, &settings))
                .map(|e| e.guid)
                .collect();
            fitting.sort();
            if result.as_ref().is_ok() || result.as_ref().is_err_and(|e| e.kind == ErrorKind::FailedPrecondition) {
                prop_assert_eq!(&choice.skipped, &fitting);
            }
        }

        // explain agrees with select, and its verdicts with the oracle.
        let explanation = explain(&catalogue, &requirements, &content, &caller, &settings, &exclusions);
        prop_assert_eq!(outcome(&explanation.selection), outcome(&result));
        // Only the environments the caller may use have a verdict (the others are hidden).
        prop_assert_eq!(explanation.verdicts.len(), envs.iter().filter(|e| caller.may_use(e)).count());
        let chosen = explanation.verdicts.iter().filter(|v| v.outcome == VerdictOutcome::Chosen).count();
        prop_assert_eq!(chosen, usize::from(result.is_ok()));
        for verdict in &explanation.verdicts {
            prop_assert!(caller.may_use(verdict.environment));
            if !matches!(verdict.outcome, VerdictOutcome::Rejected { .. }) {
                prop_assert!(compatible(verdict.environment, &req, &settings));
            }
            if is_excluded(verdict.environment) {
                let rejected_for_it = matches!(&verdict.outcome,
                    VerdictOutcome::Rejected { reasons } if reasons.iter().any(|r| r == "left out by the test"));
                prop_assert!(rejected_for_it, "{:?}", verdict.outcome);
            }
        }

        // Listing the catalogue in another order changes nothing.
        let mut shuffled = envs.clone();
        let mut state = shuffle_seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let reordered = Catalogue::new(1, shuffled);
        let again = select(&reordered, &requirements, &content, &caller, &settings, &exclusions).selection;
        prop_assert_eq!(outcome(&again), outcome(&result));
    }

    /// Automatic selection ranks version groups instead of walking every environment: it must
    /// choose exactly what the walk over every environment in tie order chooses (same position,
    /// same keys), with environments sharing versions, permissions and exclusions.
    #[test]
    fn ranking_version_groups_chooses_what_walking_every_environment_chooses(
        cases in proptest::collection::vec(env_case(), 0..40),
        req in request_case(),
        excluded_mask in prop_oneof![Just(0u64), any::<u64>()],
    ) {
        let envs = build(&cases);
        let Request { requirements, caller, settings, .. } = request(&req, envs.len());
        let automatic = Requirements {
            target_environment_guid: None,
            target_image: None,
            ..requirements
        };
        let catalogue = Catalogue::new(1, envs.clone());
        let exclusions: Exclusions = envs.iter().enumerate()
            .filter(|(i, _)| excluded_mask & (1 << i) != 0)
            .map(|(_, e)| (e.guid, "left out by the test".to_owned()))
            .collect();
        let content = ContentSettings::default();
        if let Ok(query) = query::Query::prepare(&catalogue, &automatic, &content, &settings, &exclusions) {
            prop_assert_eq!(
                query.winner(&catalogue, &caller),
                query.winner_by_walk(&catalogue, &caller)
            );
        }
    }
}
