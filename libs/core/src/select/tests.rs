#![allow(clippy::unwrap_used)]
//! One or more tests per selection rule, named after the rule (`rule1_…`).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::error::{Error, ErrorKind};
use crate::identity::Role;
use crate::model::{
    DEFAULT_CLUSTER_NAME, Environment, EnvironmentSpec, Installation, Language, Matching,
    Permission, Principal,
};

const BASE: &str = "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy";
const PRO: &str = "ghcr.io/rstudio/content-pro:r4.4.1-py3.11.9-jammy";

/// A deterministic version-4 guid.
pub(super) fn g(n: u128) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n)
}

fn installations(language: &str, versions: &[&str]) -> Vec<Installation> {
    versions
        .iter()
        .map(|v| Installation {
            version: (*v).to_owned(),
            path: format!("/opt/{language}/{v}/bin/{language}"),
        })
        .collect()
}

/// Environment `n` (created n minutes after the epoch) using `image`, with these installations.
pub(super) fn env(
    n: u128,
    image: &str,
    python: &[&str],
    r: &[&str],
    quarto: &[&str],
) -> Environment {
    Environment {
        id: n as i64,
        guid: g(n),
        spec: EnvironmentSpec {
            name: image.to_owned(),
            title: None,
            description: None,
            cluster_name: DEFAULT_CLUSTER_NAME.to_owned(),
            matching: Matching::Any,
            supervisor: None,
            python: installations("python", python),
            r: installations("R", r),
            quarto: installations("quarto", quarto),
            tensorflow: Vec::new(),
            volume_mounts: Vec::new(),
        },
        environment_type: DEFAULT_CLUSTER_NAME.to_owned(),
        managed_by: None,
        permissions: Vec::new(),
        created_time: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(n as i64),
        updated_time: DateTime::<Utc>::UNIX_EPOCH,
        revision: 1,
    }
}

fn matching(mut e: Environment, m: Matching) -> Environment {
    e.spec.matching = m;
    e
}

fn permitted(mut e: Environment, principals: &[Principal]) -> Environment {
    e.permissions = principals
        .iter()
        .enumerate()
        .map(|(i, p)| Permission {
            guid: g(0x9000 + i as u128),
            environment_guid: e.guid,
            principal: p.clone(),
        })
        .collect();
    e
}

fn caller(role: Role) -> Caller {
    Caller {
        user: Some("alice".to_owned()),
        groups: vec!["data-science".to_owned()],
        role,
    }
}

fn publisher() -> Caller {
    caller(Role::Publisher)
}

fn need(version: Option<&str>, constraint: Option<&str>) -> LanguageNeed {
    LanguageNeed {
        version: version.map(str::to_owned),
        constraint: constraint.map(str::to_owned),
    }
}

fn python(v: &str) -> Requirements {
    Requirements {
        python: need(Some(v), None),
        ..Requirements::default()
    }
}

fn r(v: &str) -> Requirements {
    Requirements {
        r: need(Some(v), None),
        ..Requirements::default()
    }
}

fn catalogue(envs: Vec<Environment>) -> Catalogue {
    Catalogue::new(7, envs)
}

/// Selects as publisher alice with no content defaults and default matching.
fn pick(c: &Catalogue, req: &Requirements) -> Result<Uuid, Error> {
    pick_with(
        c,
        req,
        &ContentSettings::default(),
        &MatchingSettings::default(),
    )
}

fn pick_with(
    c: &Catalogue,
    req: &Requirements,
    content: &ContentSettings,
    settings: &MatchingSettings,
) -> Result<Uuid, Error> {
    let selection = select(
        c,
        req,
        content,
        &publisher(),
        settings,
        &Exclusions::default(),
    )
    .selection;
    // explain always agrees with select.
    let explanation = explain(
        c,
        req,
        content,
        &publisher(),
        settings,
        &Exclusions::default(),
    );
    match (&selection, &explanation.selection) {
        (Ok(a), Ok(b)) => assert_eq!(a.environment.guid, b.environment.guid),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("select and explain disagree"),
    }
    selection.map(|s| s.environment.guid)
}

fn chosen(c: &Catalogue, req: &Requirements, language: Language) -> String {
    let s = select(
        c,
        req,
        &ContentSettings::default(),
        &publisher(),
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .unwrap();
    s.installations
        .iter()
        .find(|i| i.language == language)
        .unwrap()
        .version
        .clone()
}

fn settings(python: VersionMatching, r: VersionMatching) -> MatchingSettings {
    MatchingSettings {
        python,
        r,
        quarto: VersionMatching::Nearest,
    }
}

// Rule 1 -----------------------------------------------------------------------------------------

#[test]
fn rule1_a_language_without_version_or_constraint_is_not_needed() {
    let c = catalogue(vec![env(1, BASE, &[], &["4.4.1"], &[])]);
    assert_eq!(pick(&c, &r("4.4.1")).unwrap(), g(1));
    assert_eq!(pick(&c, &Requirements::default()).unwrap(), g(1));
}

#[test]
fn rule1_a_version_alone_makes_a_language_needed() {
    let c = catalogue(vec![env(1, BASE, &[], &["4.4.1"], &[])]);
    let e = pick(&c, &python("3.11.9")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
}

#[test]
fn rule1_a_constraint_alone_makes_a_language_needed() {
    let c = catalogue(vec![env(1, BASE, &[], &["4.4.1"], &[])]);
    let req = Requirements {
        quarto: need(None, Some(">=1.4")),
        ..Requirements::default()
    };
    assert_eq!(
        pick(&c, &req).unwrap_err().kind,
        ErrorKind::FailedPrecondition
    );
}

#[test]
fn rule1_blank_strings_do_not_make_a_language_needed() {
    let c = catalogue(vec![env(1, BASE, &[], &["4.4.1"], &[])]);
    let req = Requirements {
        python: need(Some(""), Some("  ")),
        ..Requirements::default()
    };
    assert_eq!(pick(&c, &req).unwrap(), g(1));
}

// Rule 2 -----------------------------------------------------------------------------------------

/// The Python versions of `versions` that a constraint accepts (one environment per version).
fn python_accepted(constraint: &str, versions: &[&str]) -> Vec<String> {
    versions
        .iter()
        .filter(|v| {
            let c = catalogue(vec![env(1, BASE, &[v], &[], &[])]);
            let req = Requirements {
                python: need(None, Some(constraint)),
                ..Requirements::default()
            };
            pick(&c, &req).is_ok()
        })
        .map(|v| (*v).to_owned())
        .collect()
}

fn r_accepted(constraint: &str, versions: &[&str]) -> Vec<String> {
    versions
        .iter()
        .filter(|v| {
            let c = catalogue(vec![env(1, BASE, &[], &[v], &[])]);
            let req = Requirements {
                r: need(None, Some(constraint)),
                ..Requirements::default()
            };
            pick(&c, &req).is_ok()
        })
        .map(|v| (*v).to_owned())
        .collect()
}

#[test]
fn rule2_python_constraints_are_pep440_specifier_sets() {
    let all = [
        "3.7.17", "3.8.0", "3.11.0", "3.11.9", "3.12.4", "3.13.1", "4.0.0",
    ];
    assert_eq!(
        python_accepted(">=3.8,<4.0", &all),
        ["3.8.0", "3.11.0", "3.11.9", "3.12.4", "3.13.1"]
    );
    assert_eq!(python_accepted("~=3.11.0", &all), ["3.11.0", "3.11.9"]);
    assert_eq!(python_accepted("==3.12.*", &all), ["3.12.4"]);
    assert_eq!(
        python_accepted("~=3.11", &all),
        ["3.11.0", "3.11.9", "3.12.4", "3.13.1"]
    );
}

#[test]
fn rule2_r_and_quarto_constraints_are_comma_separated_comparisons() {
    let all = [
        "3.6.3", "4.0.0", "4.1.3", "4.2.1", "4.3.2", "4.4.0", "4.4.2", "5.0.0",
    ];
    assert_eq!(
        r_accepted(">= 4.0.0", &all),
        [
            "4.0.0", "4.1.3", "4.2.1", "4.3.2", "4.4.0", "4.4.2", "5.0.0"
        ]
    );
    assert_eq!(
        r_accepted(">=4.1, <5", &all),
        ["4.1.3", "4.2.1", "4.3.2", "4.4.0", "4.4.2"]
    );
    assert_eq!(r_accepted("~=4.4.0", &all), ["4.4.0", "4.4.2"]);
    assert_eq!(
        r_accepted(">=4.0, !=4.2.1, <4.4", &all),
        ["4.0.0", "4.1.3", "4.3.2"]
    );
    assert_eq!(r_accepted("==4.3.*", &all), ["4.3.2"]);
    assert_eq!(r_accepted("> 4.4, <= 4.4.2", &all), ["4.4.2"]);

    let c = catalogue(vec![
        env(1, BASE, &[], &[], &["1.3.450"]),
        env(2, PRO, &[], &[], &["1.4.557"]),
    ]);
    let req = Requirements {
        quarto: need(None, Some(">= 1.4")),
        ..Requirements::default()
    };
    assert_eq!(pick(&c, &req).unwrap(), g(2));
}

#[test]
fn rule2_a_malformed_constraint_is_invalid_argument_naming_it_and_the_field() {
    let c = catalogue(vec![env(1, BASE, &["3.11.9"], &["4.4.1"], &[])]);
    for (req, field, text) in [
        (
            Requirements {
                python: need(None, Some(">=3.8,<<4")),
                ..Requirements::default()
            },
            "python.requires",
            ">=3.8,<<4",
        ),
        (
            Requirements {
                r: need(None, Some("4.0.0")),
                ..Requirements::default()
            },
            "r.requires",
            "4.0.0",
        ),
        (
            Requirements {
                quarto: need(None, Some(">= 1.4,")),
                ..Requirements::default()
            },
            "quarto.requires",
            ">= 1.4,",
        ),
    ] {
        let e = pick(&c, &req).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
        assert_eq!(e.violations.len(), 1);
        assert_eq!(e.violations[0].field, field);
        assert!(e.violations[0].description.contains(text), "{e}");
    }
}

#[test]
fn rule2_a_malformed_version_is_invalid_argument_and_every_problem_is_reported() {
    let c = catalogue(vec![env(1, BASE, &["3.11.9"], &["4.4.1"], &[])]);
    let req = Requirements {
        python: need(Some("3.11.x"), None),
        r: need(Some("four"), Some("~=4")),
        ..Requirements::default()
    };
    let e = pick(&c, &req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["r.version", "r.requires", "python.version"]);
    assert!(e.message.contains("\"3.11.x\" is not a version"), "{e}");
}

// Rule 3 -----------------------------------------------------------------------------------------

fn compatible(language_versions: &[&str], asked: &str, mode: VersionMatching) -> Vec<String> {
    language_versions
        .iter()
        .filter(|v| {
            let c = catalogue(vec![env(1, BASE, &[], &[v], &[])]);
            pick_with(
                &c,
                &r(asked),
                &ContentSettings::default(),
                &settings(VersionMatching::MajorMinor, mode),
            )
            .is_ok()
        })
        .map(|v| (*v).to_owned())
        .collect()
}

const R_VERSIONS: [&str; 6] = ["3.6.3", "4.2.3", "4.3.0", "4.3.2", "4.4.1", "5.0.0"];

#[test]
fn rule3_exact_matching_needs_the_same_major_minor_patch() {
    assert_eq!(
        compatible(&R_VERSIONS, "4.3.2", VersionMatching::Exact),
        ["4.3.2"]
    );
    assert!(compatible(&R_VERSIONS, "4.3.1", VersionMatching::Exact).is_empty());
}

#[test]
fn rule3_major_minor_matching_needs_the_same_major_minor() {
    assert_eq!(
        compatible(&R_VERSIONS, "4.3.1", VersionMatching::MajorMinor),
        ["4.3.0", "4.3.2"]
    );
}

#[test]
fn rule3_nearest_matching_needs_the_same_major_never_across() {
    assert_eq!(
        compatible(&R_VERSIONS, "4.0.1", VersionMatching::Nearest),
        ["4.2.3", "4.3.0", "4.3.2", "4.4.1"]
    );
    assert!(compatible(&["3.6.3", "5.0.0"], "4.4.1", VersionMatching::Nearest).is_empty());
}

#[test]
fn rule3_a_given_constraint_decides_compatibility_over_the_version() {
    // Python matching is major-minor, yet 3.12 fits a request for 3.9 that says >=3.11.
    let c = catalogue(vec![env(1, BASE, &["3.9.18", "3.12.4"], &[], &[])]);
    let req = Requirements {
        python: need(Some("3.9.18"), Some(">=3.11")),
        ..Requirements::default()
    };
    assert_eq!(chosen(&c, &req, Language::Python), "3.12.4");
    let only_old = catalogue(vec![env(1, BASE, &["3.9.18"], &[], &[])]);
    assert!(pick(&only_old, &req).is_err());
}

// Rule 4 -----------------------------------------------------------------------------------------

#[test]
fn rule4_an_environment_needs_a_compatible_installation_for_every_needed_language() {
    let c = catalogue(vec![
        env(1, BASE, &["3.11.9"], &["3.6.3"], &[]),
        env(2, PRO, &["3.10.4"], &["4.4.1"], &[]),
    ]);
    let req = Requirements {
        python: need(Some("3.11.2"), None),
        r: need(Some("4.4.1"), None),
        ..Requirements::default()
    };
    let e = pick(&c, &req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert_eq!(e.violations.len(), 2);
}

#[test]
fn rule4_the_exact_version_is_used_when_present() {
    let c = catalogue(vec![env(1, BASE, &[], &["4.3.3", "4.3.1", "4.4.0"], &[])]);
    assert_eq!(chosen(&c, &r("4.3.1"), Language::R), "4.3.1");
}

#[test]
fn rule4_else_the_same_major_minor_with_the_highest_patch() {
    let c = catalogue(vec![env(
        1,
        BASE,
        &[],
        &["4.3.0", "4.3.3", "4.3.1", "4.4.0"],
        &[],
    )]);
    assert_eq!(chosen(&c, &r("4.3.2"), Language::R), "4.3.3");
}

#[test]
fn rule4_else_the_nearest_minor_preferring_the_newer() {
    let c = catalogue(vec![env(
        1,
        BASE,
        &[],
        &["4.0.5", "4.2.3", "4.4.1", "4.4.2", "4.5.0"],
        &[],
    )]);
    assert_eq!(chosen(&c, &r("4.3.1"), Language::R), "4.4.2");
    assert_eq!(chosen(&c, &r("4.1.0"), Language::R), "4.2.3");
    assert_eq!(chosen(&c, &r("4.9.0"), Language::R), "4.5.0");
}

#[test]
fn rule4_with_only_a_constraint_the_highest_satisfying_version() {
    let c = catalogue(vec![env(
        1,
        BASE,
        &["3.13.1", "3.10.4", "3.12.4"],
        &[],
        &[],
    )]);
    let req = Requirements {
        python: need(None, Some(">=3.10,<3.13")),
        ..Requirements::default()
    };
    assert_eq!(chosen(&c, &req, Language::Python), "3.12.4");
    let s = select(
        &c,
        &req,
        &ContentSettings::default(),
        &publisher(),
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .unwrap();
    assert_eq!(s.installations[0].closeness, Closeness::Constraint);
    assert_eq!(s.installations[0].path, "/opt/python/3.12.4/bin/python");
}

#[test]
fn rule4_with_a_constraint_and_a_version_the_version_decides_the_preference() {
    let c = catalogue(vec![env(
        1,
        BASE,
        &["3.13.1", "3.10.4", "3.11.2", "3.12.4"],
        &[],
        &[],
    )]);
    let req = Requirements {
        python: need(Some("3.11.9"), Some(">=3.10")),
        ..Requirements::default()
    };
    let s = select(
        &c,
        &req,
        &ContentSettings::default(),
        &publisher(),
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .unwrap();
    assert_eq!(s.installations[0].version, "3.11.2");
    assert_eq!(s.installations[0].closeness, Closeness::MajorMinor);
}

// Rule 5 -----------------------------------------------------------------------------------------

fn targets() -> Catalogue {
    catalogue(vec![
        env(1, BASE, &["3.11.9"], &[], &[]),
        env(2, PRO, &["3.11.9"], &[], &[]),
        env(3, "ghcr.io/example/custom:1", &["3.11.9"], &[], &[]),
        env(4, "ghcr.io/example/custom:2", &["3.11.9"], &[], &[]),
    ])
}

fn defaults(guid: Option<Uuid>, image: Option<&str>) -> ContentSettings {
    ContentSettings {
        default_environment_guid: guid.map(|g| g.to_string()),
        default_image_name: image.map(str::to_owned),
    }
}

fn pick_targeted(
    c: &Catalogue,
    req: &Requirements,
    content: &ContentSettings,
) -> Result<(Uuid, SelectedBy), Error> {
    select(
        c,
        req,
        content,
        &publisher(),
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .map(|s| (s.environment.guid, s.selected_by))
}

#[test]
fn rule5_the_manifest_identifier_wins_over_everything() {
    let req = Requirements {
        target_environment_guid: Some(g(3).to_string()),
        target_image: Some(PRO.to_owned()),
        ..python("3.11.9")
    };
    let content = defaults(Some(g(4)), Some(BASE));
    assert_eq!(
        pick_targeted(&targets(), &req, &content).unwrap(),
        (g(3), SelectedBy::ManifestIdentifier)
    );
}

#[test]
fn rule5_the_manifest_image_wins_over_the_content_defaults() {
    let req = Requirements {
        target_image: Some(PRO.to_owned()),
        ..python("3.11.9")
    };
    let content = defaults(Some(g(4)), Some(BASE));
    assert_eq!(
        pick_targeted(&targets(), &req, &content).unwrap(),
        (g(2), SelectedBy::ManifestImage)
    );
}

#[test]
fn rule5_then_the_content_default_environment_then_its_default_image() {
    let req = python("3.11.9");
    assert_eq!(
        pick_targeted(&targets(), &req, &defaults(Some(g(4)), Some(BASE))).unwrap(),
        (g(4), SelectedBy::ContentDefaultEnvironment)
    );
    assert_eq!(
        pick_targeted(&targets(), &req, &defaults(None, Some(PRO))).unwrap(),
        (g(2), SelectedBy::ContentDefaultImage)
    );
}

#[test]
fn rule5_else_automatic_selection() {
    assert_eq!(
        pick_targeted(&targets(), &python("3.11.9"), &ContentSettings::default()).unwrap(),
        (g(1), SelectedBy::Automatic)
    );
}

#[test]
fn rule5_a_missing_target_is_an_error_never_a_fall_back() {
    let req = Requirements {
        target_environment_guid: Some(g(99).to_string()),
        ..python("3.11.9")
    };
    let e = pick_targeted(&targets(), &req, &ContentSettings::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(
        e.message
            .contains(&format!("environment {} does not exist", g(99))),
        "{e}"
    );
    assert_eq!(e.violations[0].field, "environment.identifier");

    let e = pick_targeted(
        &targets(),
        &python("3.11.9"),
        &defaults(None, Some("nope:1")),
    )
    .unwrap_err();
    assert!(
        e.message.contains("no environment uses image nope:1"),
        "{e}"
    );
    assert_eq!(e.violations[0].field, "default_image_name");
}

#[test]
fn rule5_a_forbidden_target_is_answered_as_one_that_does_not_exist() {
    let c = catalogue(vec![
        permitted(
            env(1, BASE, &["3.11.9"], &[], &[]),
            &[Principal::User("bob".to_owned())],
        ),
        env(2, PRO, &["3.11.9"], &[], &[]),
    ]);
    let e = pick_targeted(&c, &python("3.11.9"), &defaults(Some(g(1)), None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(
        e.message
            .contains(&format!("environment {} does not exist", g(1))),
        "{e}"
    );
    assert!(!e.message.contains("not permitted"), "{e}");
}

#[test]
fn rule5_an_incompatible_target_is_an_error() {
    let req = Requirements {
        target_image: Some(BASE.to_owned()),
        ..python("3.12.1")
    };
    let e = pick_targeted(&targets(), &req, &ContentSettings::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(e.message.contains("no Python 3.12.x: has 3.11.9"), "{e}");
}

#[test]
fn rule5_an_image_matching_several_environments_is_ranked() {
    let c = catalogue(vec![
        env(1, BASE, &["3.11.2"], &[], &[]),
        env(2, BASE, &["3.11.9"], &[], &[]),
        env(3, BASE, &["3.10.4"], &[], &[]),
        env(4, PRO, &["3.11.9"], &[], &[]),
    ]);
    let req = Requirements {
        target_image: Some(BASE.to_owned()),
        ..python("3.11.9")
    };
    assert_eq!(pick(&c, &req).unwrap(), g(2));
}

#[test]
fn rule5_a_malformed_target_guid_is_invalid_argument() {
    let req = Requirements {
        target_environment_guid: Some("not-a-guid".to_owned()),
        ..Requirements::default()
    };
    let e = pick(&targets(), &req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "environment.identifier");
    let e = pick_targeted(
        &targets(),
        &Requirements::default(),
        &ContentSettings {
            default_environment_guid: Some("nope".to_owned()),
            default_image_name: None,
        },
    )
    .unwrap_err();
    assert_eq!(e.violations[0].field, "default_environment_guid");
}

// Rule 6 -----------------------------------------------------------------------------------------

#[test]
fn rule6_matching_none_is_never_selected_even_when_targeted() {
    let c = catalogue(vec![matching(
        env(1, BASE, &["3.11.9"], &[], &[]),
        Matching::None,
    )]);
    assert!(pick(&c, &python("3.11.9")).is_err());
    let req = Requirements {
        target_environment_guid: Some(g(1).to_string()),
        ..python("3.11.9")
    };
    let e = pick(&c, &req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(e.message.contains("disabled"), "{e}");
}

#[test]
fn rule6_matching_exact_is_selected_only_when_targeted() {
    let c = catalogue(vec![
        matching(env(1, BASE, &["3.11.9"], &[], &[]), Matching::Exact),
        env(2, PRO, &["3.11.2"], &[], &[]),
    ]);
    // Automatic: the exact-only environment is skipped although its Python is closer.
    assert_eq!(pick(&c, &python("3.11.9")).unwrap(), g(2));
    // Targeted by the manifest or a content default: chosen.
    let by_image = Requirements {
        target_image: Some(BASE.to_owned()),
        ..python("3.11.9")
    };
    assert_eq!(pick(&c, &by_image).unwrap(), g(1));
    let by_guid = Requirements {
        target_environment_guid: Some(g(1).to_string()),
        ..python("3.11.9")
    };
    assert_eq!(pick(&c, &by_guid).unwrap(), g(1));
    assert_eq!(
        pick_targeted(&c, &python("3.11.9"), &defaults(None, Some(BASE)))
            .unwrap()
            .0,
        g(1)
    );
}

#[test]
fn rule6_matching_any_is_selected_automatically_and_when_targeted() {
    let c = catalogue(vec![env(1, BASE, &["3.11.9"], &[], &[])]);
    assert_eq!(pick(&c, &python("3.11.9")).unwrap(), g(1));
    assert_eq!(
        pick_targeted(&c, &python("3.11.9"), &defaults(Some(g(1)), None))
            .unwrap()
            .0,
        g(1)
    );
}

// Rule 7 -----------------------------------------------------------------------------------------

fn restricted() -> Catalogue {
    catalogue(vec![
        permitted(
            env(1, BASE, &["3.11.9"], &[], &[]),
            &[Principal::User("bob".to_owned())],
        ),
        permitted(
            env(2, BASE, &["3.11.8"], &[], &[]),
            &[Principal::Group("data-science".to_owned())],
        ),
        permitted(
            env(3, BASE, &["3.11.7"], &[], &[]),
            &[Principal::User("alice".to_owned())],
        ),
        env(4, BASE, &["3.11.6"], &[], &[]),
    ])
}

fn pick_as(c: &Catalogue, who: &Caller) -> Result<Uuid, Error> {
    select(
        c,
        &python("3.11.9"),
        &ContentSettings::default(),
        who,
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .map(|s| s.environment.guid)
}

#[test]
fn rule7_administrators_may_use_every_environment() {
    assert_eq!(
        pick_as(&restricted(), &caller(Role::Administrator)).unwrap(),
        g(1)
    );
    assert_eq!(pick_as(&restricted(), &Caller::service()).unwrap(), g(1));
}

#[test]
fn rule7_publishers_may_use_open_environments_and_those_naming_them_or_their_groups() {
    assert_eq!(pick_as(&restricted(), &publisher()).unwrap(), g(2));
    let carol = Caller {
        user: Some("carol".to_owned()),
        groups: Vec::new(),
        role: Role::Publisher,
    };
    assert_eq!(pick_as(&restricted(), &carol).unwrap(), g(4));
    let only_restricted = catalogue(vec![permitted(
        env(1, BASE, &["3.11.9"], &[], &[]),
        &[Principal::User("bob".to_owned())],
    )]);
    // The environment carol may not use is not named to her.
    let e = pick_as(&only_restricted, &carol).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(
        e.message.contains("the catalogue has no environments"),
        "{e}"
    );
    assert!(e.violations.is_empty(), "{e}");
}

#[test]
fn rule7_viewers_are_denied_the_whole_call() {
    let viewer = caller(Role::Viewer);
    assert_eq!(
        pick_as(&restricted(), &viewer).unwrap_err().kind,
        ErrorKind::PermissionDenied
    );
    let c = restricted();
    let x = explain(
        &c,
        &python("3.11.9"),
        &ContentSettings::default(),
        &viewer,
        &MatchingSettings::default(),
        &Exclusions::default(),
    );
    assert!(x.verdicts.is_empty());
    assert_eq!(x.selection.unwrap_err().kind, ErrorKind::PermissionDenied);
}

// Rule 8 -----------------------------------------------------------------------------------------

fn all_three(py: &str, rv: &str, q: &str) -> Requirements {
    Requirements {
        python: need(Some(py), None),
        r: need(Some(rv), None),
        quarto: need(Some(q), None),
        ..Requirements::default()
    }
}

#[test]
fn rule8_r_decides_before_python_before_quarto() {
    let c = catalogue(vec![
        env(1, BASE, &["3.11.9"], &["4.3.0"], &["1.4.557"]),
        env(2, BASE, &["3.11.2"], &["4.4.1"], &["1.3.450"]),
        env(3, BASE, &["3.11.9"], &["4.4.1"], &["1.3.450"]),
        env(4, BASE, &["3.11.9"], &["4.4.1"], &["1.4.557"]),
    ]);
    let req = all_three("3.11.9", "4.4.1", "1.4.557");
    assert_eq!(pick(&c, &req).unwrap(), g(4));
    let without_4 = catalogue(
        c.environments()
            .filter(|e| e.guid != g(4))
            .cloned()
            .collect(),
    );
    // R exact on 2 and 3; Python exact only on 3.
    assert_eq!(pick(&without_4, &req).unwrap(), g(3));
    let only_1_2 = catalogue(
        c.environments()
            .filter(|e| e.guid <= g(2))
            .cloned()
            .collect(),
    );
    // 2 has the exact R and wins, although 1 is exact on Python and Quarto.
    assert_eq!(pick(&only_1_2, &req).unwrap(), g(2));
}

#[test]
fn rule8_exact_beats_major_minor_beats_major() {
    let c = catalogue(vec![
        env(1, BASE, &[], &["4.2.3"], &[]),
        env(2, BASE, &[], &["4.3.3"], &[]),
        env(3, BASE, &[], &["4.3.1"], &[]),
    ]);
    assert_eq!(pick(&c, &r("4.3.1")).unwrap(), g(3));
    assert_eq!(pick(&c, &r("4.3.2")).unwrap(), g(2));
    let major_only = catalogue(vec![
        env(1, BASE, &[], &["4.2.3"], &[]),
        env(2, BASE, &[], &["4.3.3"], &[]),
    ]);
    assert_eq!(pick(&major_only, &r("4.3.9")).unwrap(), g(2));
}

#[test]
fn rule8_then_the_smaller_distance_then_the_newer_version() {
    let c = catalogue(vec![
        env(1, BASE, &[], &["4.0.5"], &[]),
        env(2, BASE, &[], &["4.2.3"], &[]),
        env(3, BASE, &[], &["4.6.0"], &[]),
    ]);
    // 4.3 asked: 4.2 is one minor away, 4.0 three, 4.6 three.
    assert_eq!(pick(&c, &r("4.3.0")).unwrap(), g(2));
    // 4.4 asked: 4.2 and 4.6 are both two minors away; the newer wins.
    assert_eq!(pick(&c, &r("4.4.0")).unwrap(), g(3));
    // Same major.minor: the higher patch wins.
    let patches = catalogue(vec![
        env(1, BASE, &[], &["4.4.3"], &[]),
        env(2, BASE, &[], &["4.4.1"], &[]),
    ]);
    assert_eq!(pick(&patches, &r("4.4.2")).unwrap(), g(1));
}

#[test]
fn rule8_ties_go_to_fewer_unneeded_installations() {
    let c = catalogue(vec![
        env(1, BASE, &["3.11.9", "3.12.4"], &["4.4.1"], &[]),
        env(2, PRO, &["3.11.9"], &["4.4.1"], &["1.4.557"]),
        env(3, PRO, &["3.11.9"], &[], &[]),
    ]);
    assert_eq!(pick(&c, &python("3.11.9")).unwrap(), g(3));
}

#[test]
fn rule8_then_the_older_environment_then_the_guid() {
    let mut newer = env(1, BASE, &["3.11.9"], &[], &[]);
    newer.created_time += Duration::days(1);
    let older = env(2, BASE, &["3.11.9"], &[], &[]);
    let c = catalogue(vec![newer.clone(), older]);
    assert_eq!(pick(&c, &python("3.11.9")).unwrap(), g(2));

    let mut twin = env(3, BASE, &["3.11.9"], &[], &[]);
    let mut first = env(5, BASE, &["3.11.9"], &[], &[]);
    first.created_time = twin.created_time;
    twin.guid = g(7);
    let c = catalogue(vec![twin, first]);
    assert_eq!(pick(&c, &python("3.11.9")).unwrap(), g(5));
}

#[test]
fn rule8_the_result_does_not_depend_on_the_catalogue_order() {
    let envs = vec![
        env(1, BASE, &["3.11.9"], &["4.4.1"], &[]),
        env(2, PRO, &["3.11.9"], &["4.4.1"], &[]),
        env(3, PRO, &["3.11.9"], &["4.4.0"], &[]),
    ];
    let mut reversed = envs.clone();
    reversed.reverse();
    let req = Requirements {
        python: need(Some("3.11.9"), None),
        r: need(Some("4.4.1"), None),
        ..Requirements::default()
    };
    assert_eq!(pick(&catalogue(envs), &req).unwrap(), g(1));
    assert_eq!(pick(&catalogue(reversed), &req).unwrap(), g(1));
}

// Rule 9 -----------------------------------------------------------------------------------------

#[test]
fn rule9_a_failure_says_what_was_asked_in_connects_words() {
    let c = catalogue(vec![env(1, "bogus", &["3.11.9"], &[], &[])]);
    let req = Requirements {
        target_image: Some("bogus".to_owned()),
        ..python("3.10.0")
    };
    let e = pick(&c, &req).unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(
        e.message.starts_with(
            "Cannot find compatible environment: no compatible Kubernetes environment with image named bogus and Python version 3.10.0: "
        ),
        "{e}"
    );
}

#[test]
fn rule9_a_failure_mentions_every_requirement_given() {
    let c = catalogue(vec![env(1, BASE, &["3.11.9"], &[], &[])]);
    let req = Requirements {
        python: need(Some("3.11.9"), Some(">=3.11")),
        r: need(Some("4.2.2"), None),
        quarto: need(None, Some(">=1.4")),
        target_environment_guid: Some(g(1).to_string()),
        ..Requirements::default()
    };
    let e = pick(&c, &req).unwrap_err();
    assert!(
        e.message.starts_with(&format!(
            "Cannot find compatible environment: no compatible Kubernetes environment with identifier {}, R version 4.2.2, Python version 3.11.9 satisfying >=3.11 and Quarto satisfying >=1.4: ",
            g(1)
        )),
        "{e}"
    );
    let automatic = catalogue(vec![env(1, BASE, &["3.11.9"], &[], &[])]);
    let e = pick(&automatic, &python("3.10.0")).unwrap_err();
    assert!(
        e.message.starts_with(
            "Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.10.0: "
        ),
        "{e}"
    );
}

#[test]
fn rule9_a_failure_carries_the_reasons_per_environment() {
    let c = catalogue(vec![
        env(1, BASE, &["3.10.4", "3.11.2"], &[], &[]),
        matching(env(2, PRO, &["3.12.1"], &[], &[]), Matching::None),
    ]);
    let req = Requirements {
        python: need(None, Some(">=3.12")),
        ..Requirements::default()
    };
    let e = pick(&c, &req).unwrap_err();
    assert_eq!(e.violations.len(), 2);
    assert_eq!(e.violations[0].field, format!("environments[{}]", g(1)));
    assert_eq!(
        e.violations[0].description,
        "no Python satisfying >=3.12: has 3.10.4, 3.11.2"
    );
    assert_eq!(e.violations[1].field, format!("environments[{}]", g(2)));
    assert!(e.violations[1].description.starts_with("disabled"));
    assert!(e.message.contains("none of the 2 environments fits"), "{e}");

    let e = pick(&catalogue(Vec::new()), &python("3.11.9")).unwrap_err();
    assert!(
        e.message.contains("the catalogue has no environments"),
        "{e}"
    );
}

// Rule 10 (the reasons explain gives) ------------------------------------------------------------

fn explained(c: &Catalogue, req: &Requirements, who: &Caller) -> Vec<(Uuid, VerdictOutcome)> {
    explain(
        c,
        req,
        &ContentSettings::default(),
        who,
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .verdicts
    .into_iter()
    .map(|v| (v.environment.guid, v.outcome))
    .collect()
}

fn rejected(reasons: &[&str]) -> VerdictOutcome {
    VerdictOutcome::Rejected {
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
    }
}

#[test]
fn rule10_explain_gives_a_precise_reason_for_every_rejection_of_what_the_caller_may_use() {
    let c = catalogue(vec![
        matching(env(1, BASE, &["3.12.1"], &["4.4.1"], &[]), Matching::None),
        permitted(
            env(2, BASE, &["3.12.1"], &["4.4.1"], &[]),
            &[Principal::User("bob".to_owned())],
        ),
        matching(env(3, BASE, &["3.12.1"], &["4.4.1"], &[]), Matching::Exact),
        env(4, BASE, &["3.10.4", "3.11.2"], &["3.6.3"], &[]),
        env(5, BASE, &["3.12.1"], &["4.4.1"], &[]),
    ]);
    let req = Requirements {
        python: need(None, Some(">=3.12")),
        r: need(Some("4.2.0"), None),
        ..Requirements::default()
    };
    let verdicts = explained(&c, &req, &publisher());
    assert_eq!(
        verdicts,
        vec![
            (
                g(1),
                rejected(&["disabled: its matching is none, so it is never selected"])
            ),
            (
                g(3),
                rejected(&[
                    "exact-only: its matching is exact and the content does not target it by guid or image"
                ])
            ),
            (
                g(4),
                rejected(&[
                    "no R 4.x: has 3.6.3",
                    "no Python satisfying >=3.12: has 3.10.4, 3.11.2"
                ])
            ),
            (g(5), VerdictOutcome::Chosen),
        ]
    );
}

#[test]
fn rule10_explain_names_the_target_an_environment_is_not() {
    let c = catalogue(vec![
        env(1, BASE, &["3.11.9"], &[], &[]),
        env(2, PRO, &["3.11.9"], &[], &[]),
    ]);
    let by_image = Requirements {
        target_image: Some(PRO.to_owned()),
        ..python("3.11.9")
    };
    let verdicts = explained(&c, &by_image, &publisher());
    assert_eq!(
        verdicts[0].1,
        rejected(&[&format!(
            "different image: uses {BASE}, the content targets image {PRO}"
        )])
    );
    assert_eq!(verdicts[1].1, VerdictOutcome::Chosen);
    let by_guid = Requirements {
        target_environment_guid: Some(g(1).to_string()),
        ..python("3.11.9")
    };
    let verdicts = explained(&c, &by_guid, &publisher());
    assert_eq!(verdicts[0].1, VerdictOutcome::Chosen);
    assert_eq!(
        verdicts[1].1,
        rejected(&[&format!("not the targeted environment {}", g(1))])
    );
}

#[test]
fn rule10_explain_says_what_a_compatible_environment_lost_on() {
    let mut older = env(5, PRO, &["3.11.9"], &["4.4.1"], &[]);
    older.created_time = DateTime::<Utc>::UNIX_EPOCH;
    let c = catalogue(vec![
        env(1, BASE, &["3.11.9"], &["4.4.1"], &[]),
        env(2, BASE, &["3.11.9"], &["4.3.2"], &[]),
        env(3, BASE, &["3.11.2"], &["4.4.1"], &[]),
        env(4, BASE, &["3.11.9"], &["4.4.1"], &["1.4.557"]),
        older,
    ]);
    let req = Requirements {
        python: need(Some("3.11.9"), None),
        r: need(Some("4.4.1"), None),
        ..Requirements::default()
    };
    let verdicts = explained(&c, &req, &publisher());
    let lost = |comparison: &str| VerdictOutcome::Compatible {
        lost_to: g(5),
        comparison: comparison.to_owned(),
    };
    assert_eq!(verdicts[4].1, VerdictOutcome::Chosen);
    assert_eq!(
        verdicts[1].1,
        lost("R: 4.4.1 (exact) beats 4.3.2 (same major)")
    );
    assert_eq!(
        verdicts[2].1,
        lost("Python: 3.11.9 (exact) beats 3.11.2 (same major.minor)")
    );
    assert_eq!(
        verdicts[3].1,
        lost(
            "same versions; the chosen environment has 0 installation(s) the content does not need, this one 1"
        )
    );
    assert!(
        matches!(&verdicts[0].1, VerdictOutcome::Compatible { comparison, .. } if comparison.contains("the chosen environment is older"))
    );
}

#[test]
fn rule10_explain_lists_every_environment_in_catalogue_order_with_its_installations() {
    let c = catalogue(vec![
        env(3, BASE, &["3.11.9"], &[], &[]),
        env(1, BASE, &["3.10.1"], &[], &[]),
        env(2, BASE, &["3.11.9", "3.11.2"], &[], &[]),
    ]);
    let x = explain(
        &c,
        &python("3.11.2"),
        &ContentSettings::default(),
        &publisher(),
        &MatchingSettings::default(),
        &Exclusions::default(),
    );
    let order: Vec<Uuid> = x.verdicts.iter().map(|v| v.environment.guid).collect();
    assert_eq!(order, [g(3), g(1), g(2)]);
    assert_eq!(x.selection.as_ref().unwrap().environment.guid, g(2));
    assert_eq!(x.verdicts[0].installations[0].version, "3.11.9");
    assert!(x.verdicts[1].installations.is_empty());
    assert_eq!(x.verdicts[2].installations[0].closeness, Closeness::Exact);
    assert_eq!(
        x.selection.unwrap().installations,
        x.verdicts[2].installations
    );
}

// Settings, names and the catalogue --------------------------------------------------------------

#[test]
fn matching_settings_default_and_validate() {
    let d = MatchingSettings::default();
    assert_eq!(d.python, VersionMatching::MajorMinor);
    assert_eq!(d.r, VersionMatching::Nearest);
    assert_eq!(d.quarto, VersionMatching::Nearest);
    assert_eq!(d.validate(), Ok(()));
    let bad = MatchingSettings {
        python: VersionMatching::Nearest,
        ..d
    };
    assert_eq!(
        bad.validate().unwrap_err().violations[0].field,
        "python.version_matching"
    );
    let parsed: MatchingSettings = serde_json::from_str(r#"{"r":"major-minor"}"#).unwrap();
    assert_eq!(parsed.r, VersionMatching::MajorMinor);
    assert_eq!(parsed.python, VersionMatching::MajorMinor);
    for m in [
        VersionMatching::Exact,
        VersionMatching::MajorMinor,
        VersionMatching::Nearest,
    ] {
        assert_eq!(VersionMatching::parse(m.as_str()), Some(m));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            format!("\"{}\"", m.as_str())
        );
    }
}

#[test]
fn wire_spellings_of_selected_by_and_closeness() {
    assert_eq!(
        SelectedBy::ManifestIdentifier.as_str(),
        "manifest-identifier"
    );
    assert_eq!(SelectedBy::ManifestImage.as_str(), "manifest-image");
    assert_eq!(
        SelectedBy::ContentDefaultEnvironment.as_str(),
        "content-default-environment"
    );
    assert_eq!(
        SelectedBy::ContentDefaultImage.as_str(),
        "content-default-image"
    );
    assert_eq!(SelectedBy::Automatic.as_str(), "automatic");
    assert_eq!(Closeness::Exact.as_str(), "exact");
    assert_eq!(Closeness::MajorMinor.as_str(), "major-minor");
    assert_eq!(Closeness::Major.as_str(), "major");
    assert_eq!(Closeness::Constraint.as_str(), "constraint");
}

#[test]
fn catalogue_keeps_its_revision_and_order() {
    let c = catalogue(vec![
        env(2, BASE, &[], &[], &[]),
        env(1, PRO, &[], &[], &[]),
    ]);
    assert_eq!(c.revision(), 7);
    assert_eq!(c.len(), 2);
    assert!(!c.is_empty());
    assert!(catalogue(Vec::new()).is_empty());
    let guids: Vec<Uuid> = c.environments().map(|e| e.guid).collect();
    assert_eq!(guids, [g(2), g(1)]);
}

#[test]
fn unparseable_installed_versions_never_fit_and_are_named() {
    let c = catalogue(vec![env(1, BASE, &["three"], &[], &[])]);
    let e = pick(&c, &python("3.11.9")).unwrap_err();
    assert_eq!(
        e.violations[0].description,
        "no Python 3.11.x: has \"three\" (not a version)"
    );
}
