#![allow(clippy::unwrap_used)]
//! Versions and R/Quarto constraints (rule 2) at the unit level.

use super::version::{Constraint, parse_installed, parse_requested};

fn satisfies(constraint: &str, version: &str) -> bool {
    Constraint::parse_comparisons(constraint)
        .unwrap()
        .contains(parse_installed(version).unwrap(), None)
}

#[test]
fn rule2_versions_compare_component_wise_padding_with_zeros() {
    assert_eq!(
        parse_requested("4").unwrap(),
        parse_requested("4.0.0").unwrap()
    );
    assert_eq!(
        parse_requested("4.4").unwrap(),
        parse_installed("4.4.0").unwrap()
    );
    assert!(parse_requested("4.10.0").unwrap() > parse_requested("4.9.9").unwrap());
    assert!(parse_requested("4.4.0.1").unwrap() > parse_requested("4.4").unwrap());
    assert!(satisfies("==4.4", "4.4.0"));
    assert!(satisfies("<=4", "4.0.0"));
    assert!(!satisfies("<=4", "4.0.1"));
}

#[test]
fn rule2_requested_versions_have_one_to_four_numeric_components() {
    for good in ["4", "4.4", "4.4.2", "1.4.557.1", " 3.11.9 "] {
        assert!(parse_requested(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "4.",
        ".4",
        "4.4.2.1.0",
        "4.x",
        "v4.4",
        "4.4.2-rc1",
        "4..2",
        "99999999999",
    ] {
        let e = parse_requested(bad).unwrap_err();
        assert!(e.contains(&format!("\"{bad}\"")), "{e}");
    }
}

#[test]
fn rule2_installed_versions_may_carry_a_pre_release_or_build() {
    let release = parse_installed("3.13.0").unwrap();
    for pre in ["3.13.0-rc.1", "3.13.0rc1", "3.13.0.dev0"] {
        let v = parse_installed(pre).unwrap();
        assert!(v < release, "{pre}");
        assert!(v > parse_installed("3.12.99").unwrap(), "{pre}");
    }
    assert_eq!(parse_installed("3.13.0+build.5").unwrap(), release);
    assert!(parse_installed("latest").is_none());
    assert!(parse_installed("").is_none());
}

#[test]
fn rule2_every_comparison_operator() {
    assert!(satisfies(">= 4.0.0", "4.0.0"));
    assert!(!satisfies(">4.0.0", "4.0.0"));
    assert!(satisfies(">4.0.0", "4.0.1"));
    assert!(satisfies("<= 4.0.0", "4.0.0"));
    assert!(satisfies("<4.0.0", "3.6.3"));
    assert!(!satisfies("<4.0.0", "4.0.0"));
    assert!(satisfies("==4.3.2", "4.3.2"));
    assert!(!satisfies("==4.3.2", "4.3.20"));
    assert!(satisfies("!=4.2.1", "4.2.2"));
    assert!(!satisfies("!=4.2.1", "4.2.1"));
    assert!(satisfies("==4.3.*", "4.3.9"));
    assert!(!satisfies("==4.3.*", "4.4.0"));
    assert!(!satisfies("!=4.3.*", "4.3.0"));
    assert!(satisfies("!=4.3.*", "4.30.0"));
}

#[test]
fn rule2_compatible_release_means_at_least_and_the_same_prefix() {
    // ~=X.Y.Z is >=X.Y.Z and ==X.Y.*; ~=X.Y is >=X.Y and ==X.*.
    assert!(satisfies("~=4.4.0", "4.4.0"));
    assert!(satisfies("~=4.4.0", "4.4.9"));
    assert!(!satisfies("~=4.4.0", "4.5.0"));
    assert!(!satisfies("~=4.4.1", "4.4.0"));
    assert!(satisfies("~=4.4", "4.9.0"));
    assert!(!satisfies("~=4.4", "5.0.0"));
    assert!(!satisfies("~=4.4", "4.3.9"));
}

#[test]
fn rule2_comparisons_separated_by_commas_all_hold() {
    assert!(satisfies(">=4.1, <5", "4.4.2"));
    assert!(!satisfies(">=4.1, <5", "5.0.0"));
    assert!(!satisfies(">=4.1, <5", "4.0.5"));
    assert!(satisfies(" >= 4.1 ,< 5 , != 4.2.1 ", "4.2.2"));
}

#[test]
fn rule2_pre_releases_sort_below_their_release_in_comparisons() {
    assert!(!satisfies(">=4.4.0", "4.4.0-rc1"));
    assert!(satisfies("<4.4.0", "4.4.0-rc1"));
    assert!(!satisfies("==4.4.0", "4.4.0-rc1"));
    assert!(satisfies("==4.4.*", "4.4.0-rc1"));
}

#[test]
fn rule2_malformed_comparisons_are_rejected_with_the_reason() {
    for (bad, why) in [
        ("", "a comparison is empty"),
        (">=4.1,", "a comparison is empty"),
        ("4.4.0", "does not start with one of"),
        ("=>4.4", "does not start with one of"),
        (">=4.x", "is not a version"),
        (">= ", "is not a version"),
        (">=4.4.*", "allowed only with == and !="),
        ("~=4", "at least two components"),
        ("~=4.4.*", "allowed only with == and !="),
        ("==4.4.0.1.2", "is not a version"),
    ] {
        let e = Constraint::parse_comparisons(bad).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(
            e.starts_with(&format!("\"{bad}\" is not a version constraint")),
            "{e}"
        );
    }
}

#[test]
fn rule2_python_constraints_use_pep440() {
    let c = Constraint::parse_pep440(">=3.8,<4.0").unwrap();
    let v = |s: &str| {
        (
            parse_installed(s).unwrap(),
            s.parse::<pep440_rs::Version>().unwrap(),
        )
    };
    let (packed, pep) = v("3.11.9");
    assert!(c.contains(packed, Some(&pep)));
    let (packed, pep) = v("4.0.0");
    assert!(!c.contains(packed, Some(&pep)));
    // Without a PEP 440 reading of the installed version, a PEP 440 constraint never holds.
    assert!(!c.contains(parse_installed("3.11.9").unwrap(), None));
    let e = Constraint::parse_pep440(">=3.8,<<4").unwrap_err();
    assert!(
        e.starts_with("\">=3.8,<<4\" is not a PEP 440 specifier set"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}
