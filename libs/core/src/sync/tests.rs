#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};

use super::*;
use crate::error::ErrorKind;
use crate::model::{DEFAULT_CLUSTER_NAME, Installation, Matching};

const PREFIX: &str = "executionEnvironments";
const BASE: &str = "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy";
const PRO: &str = "ghcr.io/rstudio/content-pro:r4.4.1-py3.11.9-jammy";
const OTHER: &str = "ghcr.io/example/other:1.0";

/// A deterministic version-4 guid.
fn g(n: u128) -> Uuid {
    let u = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n);
    assert_eq!(u.get_version_num(), 4);
    u
}

/// Fresh guids for creates: g(0x1000), g(0x1001), …
fn fresh() -> impl FnMut() -> Uuid {
    let mut next = 0x1000;
    move || {
        next += 1;
        g(next - 1)
    }
}

fn spec(name: &str) -> EnvironmentSpec {
    EnvironmentSpec {
        name: name.to_owned(),
        title: None,
        description: None,
        cluster_name: DEFAULT_CLUSTER_NAME.to_owned(),
        matching: Matching::Any,
        supervisor: None,
        python: Vec::new(),
        r: Vec::new(),
        quarto: Vec::new(),
        tensorflow: Vec::new(),
        volume_mounts: Vec::new(),
    }
}

fn titled(name: &str, title: &str) -> EnvironmentSpec {
    EnvironmentSpec {
        title: Some(title.to_owned()),
        ..spec(name)
    }
}

fn def(guid: Option<Uuid>, spec: EnvironmentSpec) -> Definition {
    Definition {
        guid,
        spec: spec.into(),
    }
}

fn env(guid: Uuid, spec: EnvironmentSpec, managed: bool, revision: i64) -> Environment {
    let t = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    Environment {
        id: revision,
        guid,
        spec,
        environment_type: DEFAULT_CLUSTER_NAME.to_owned(),
        managed_by: managed.then_some(ManagedBy::ConfigFile),
        permissions: Vec::new(),
        created_time: t,
        updated_time: t,
        revision,
    }
}

fn plan(definitions: &[Definition], existing: &[Environment]) -> Result<SyncPlan, Error> {
    plan_sync(definitions, existing, PREFIX, fresh())
}

fn draft(guid: Option<&str>, name: &str) -> EnvironmentDraft {
    EnvironmentDraft {
        guid: guid.map(str::to_owned),
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// The violations of a failed validation or plan, checked to be InvalidArgument.
fn violations<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<FieldViolation> {
    let e = r.expect_err("expected an invalid-argument error");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    e.violations
}

/// The catalogue after applying `plan` to `existing`, as the registry would leave it.
fn apply(existing: &[Environment], plan: &SyncPlan) -> Vec<Environment> {
    let mut out: Vec<Environment> = existing
        .iter()
        .filter(|e| !plan.deletes.iter().any(|d| d.guid == e.guid))
        .cloned()
        .collect();
    for e in &mut out {
        if let Some(a) = plan.adopts.iter().find(|a| a.guid == e.guid) {
            e.spec = (*a.spec).clone();
            e.managed_by = Some(ManagedBy::ConfigFile);
            e.revision += 100;
        }
        if let Some(u) = plan.updates.iter().find(|u| u.guid == e.guid) {
            e.spec = (*u.spec).clone();
            e.revision += 100;
        }
    }
    for c in &plan.creates {
        out.push(env(c.guid, (*c.spec).clone(), true, 500));
    }
    out
}

// Rule 6: the guid phase.

#[test]
fn guid_definition_never_falls_back_to_the_name() {
    let existing = [
        env(g(1), spec(BASE), true, 3),
        env(g(2), spec(BASE), false, 4),
    ];
    let p = plan(&[def(Some(g(9)), spec(BASE))], &existing).unwrap();
    assert_eq!(
        p.creates,
        vec![PlannedCreate {
            guid: g(9),
            spec: spec(BASE).into()
        }]
    );
    assert!(p.adopts.is_empty() && p.updates.is_empty() && p.unchanged.is_empty());
    // The managed environment with the same name is not the one the file names: it goes.
    assert_eq!(p.deletes.len(), 1);
    assert_eq!(p.deletes[0].guid, g(1));
}

#[test]
fn guid_definition_adopts_an_unmanaged_environment_with_that_guid() {
    let existing = [env(g(1), spec(BASE), false, 7)];
    let p = plan(&[def(Some(g(1)), titled(BASE, "Base"))], &existing).unwrap();
    assert_eq!(p.adopts.len(), 1);
    assert_eq!(p.adopts[0].guid, g(1));
    assert_eq!(p.adopts[0].expected_revision, 7);
    assert!(p.creates.is_empty() && p.updates.is_empty() && p.deletes.is_empty());
}

#[test]
fn guid_definition_updates_a_managed_environment_or_leaves_it_unchanged() {
    let existing = [
        env(g(1), spec(BASE), true, 7),
        env(g(2), spec(PRO), true, 8),
    ];
    let p = plan(
        &[
            def(Some(g(1)), titled(BASE, "Base")),
            def(Some(g(2)), spec(PRO)),
        ],
        &existing,
    )
    .unwrap();
    assert_eq!(
        p.updates,
        vec![PlannedUpdate {
            guid: g(1),
            spec: titled(BASE, "Base").into(),
            changed_fields: vec!["title".to_owned()],
            expected_revision: 7,
        }]
    );
    assert_eq!(p.unchanged, vec![g(2)]);
    assert!(p.creates.is_empty() && p.adopts.is_empty() && p.deletes.is_empty());
}

// Rule 7: the name phase.

#[test]
fn guid_less_definition_prefers_the_managed_environment_with_its_name() {
    let existing = [
        env(g(1), spec(BASE), false, 1),
        env(g(2), spec(BASE), true, 2),
    ];
    let p = plan(&[def(None, titled(BASE, "Base"))], &existing).unwrap();
    assert_eq!(p.updates.len(), 1);
    assert_eq!(p.updates[0].guid, g(2));
    assert!(p.adopts.is_empty() && p.creates.is_empty() && p.deletes.is_empty());
}

#[test]
fn guid_less_definition_adopts_the_unmanaged_environment_with_its_name() {
    let existing = [
        env(g(1), spec(BASE), false, 1),
        env(g(2), spec(PRO), false, 2),
    ];
    let p = plan(&[def(None, spec(BASE))], &existing).unwrap();
    assert_eq!(p.adopts.len(), 1);
    assert_eq!(p.adopts[0].guid, g(1));
    assert!(p.creates.is_empty() && p.updates.is_empty() && p.deletes.is_empty());
}

#[test]
fn guid_less_definition_without_a_match_is_created_with_a_new_guid() {
    let existing = [env(g(1), spec(PRO), false, 1)];
    let p = plan(&[def(None, spec(BASE)), def(None, spec(OTHER))], &existing).unwrap();
    assert_eq!(
        p.creates,
        vec![
            PlannedCreate {
                guid: g(0x1000),
                spec: spec(BASE).into()
            },
            PlannedCreate {
                guid: g(0x1001),
                spec: spec(OTHER).into()
            },
        ]
    );
    assert!(p.adopts.is_empty() && p.deletes.is_empty());
}

#[test]
fn name_phase_skips_environments_matched_by_guid() {
    // Both definitions could resolve to g(1): the guid one wins, and the name one falls through to
    // the other (unmanaged) environment of that image. (validate_definitions rejects such a file
    // by rule 9; the planner stays correct without it.)
    let existing = [
        env(g(1), spec(BASE), true, 1),
        env(g(2), spec(BASE), false, 2),
    ];
    let p = plan(
        &[
            def(None, titled(BASE, "by name")),
            def(Some(g(1)), spec(BASE)),
        ],
        &existing,
    )
    .unwrap();
    assert_eq!(p.unchanged, vec![g(1)]);
    assert_eq!(p.adopts.len(), 1);
    assert_eq!(p.adopts[0].guid, g(2));
    assert!(p.creates.is_empty() && p.updates.is_empty() && p.deletes.is_empty());

    // With no other environment of the image, the name definition is created.
    let p = plan(
        &[
            def(None, titled(BASE, "by name")),
            def(Some(g(1)), spec(BASE)),
        ],
        &existing[..1],
    )
    .unwrap();
    assert_eq!(p.unchanged, vec![g(1)]);
    assert_eq!(p.creates.len(), 1);
    assert_eq!(p.creates[0].guid, g(0x1000));
}

// Rule 8: adoption.

#[test]
fn adoption_keeps_the_guid_and_takes_the_definitions_spec() {
    let mut current = titled(BASE, "Hand-made");
    current.python = vec![Installation {
        version: "3.11.9".to_owned(),
        path: "/opt/python/3.11.9/bin/python3".to_owned(),
    }];
    let existing = [env(g(1), current, false, 12)];
    let wanted = titled(BASE, "From the file");
    let p = plan(&[def(None, wanted.clone())], &existing).unwrap();
    assert_eq!(
        p.adopts,
        vec![PlannedAdopt {
            guid: g(1),
            spec: wanted.into(),
            changed_fields: vec!["title".into(), "python".into(), "managed_by".into()],
            expected_revision: 12,
        }]
    );

    // An identical spec is still an adoption: the environment changes hands.
    let existing = [env(g(1), spec(BASE), false, 12)];
    let p = plan(&[def(None, spec(BASE))], &existing).unwrap();
    assert_eq!(p.adopts[0].changed_fields, vec!["managed_by".to_owned()]);
    assert!(!p.is_noop());
}

// Rule 9: duplicate names.

#[test]
fn validate_rejects_duplicate_names_without_guids() {
    let v = violations(validate_definitions(
        &[
            draft(None, BASE),
            draft(None, PRO),
            draft(Some(&g(1).to_string()), BASE),
        ],
        PREFIX,
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[2].name");
    assert!(
        v[0].description.contains("executionEnvironments[0]"),
        "{v:?}"
    );
    assert!(v[0].description.contains("guid"), "{v:?}");
}

#[test]
fn validate_accepts_duplicate_names_when_every_entry_has_a_guid() {
    let defs = validate_definitions(
        &[
            draft(Some(&g(1).to_string()), BASE),
            draft(Some(&g(2).to_string()), BASE),
            draft(None, PRO),
        ],
        PREFIX,
    )
    .unwrap();
    assert_eq!(
        defs,
        vec![
            def(Some(g(1)), spec(BASE)),
            def(Some(g(2)), spec(BASE)),
            def(None, spec(PRO)),
        ]
    );
}

#[test]
fn validate_rejects_duplicate_guids() {
    let v = violations(validate_definitions(
        &[
            draft(Some(&g(1).to_string()), BASE),
            draft(Some(&g(1).to_string().to_uppercase()), PRO),
        ],
        PREFIX,
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[1].guid");
    assert!(
        v[0].description.contains("executionEnvironments[0]"),
        "{v:?}"
    );
}

// Rule 10: ambiguous names.

#[test]
fn several_unmanaged_environments_with_the_name_fail_the_plan() {
    let existing = [
        env(g(3), spec(BASE), false, 1),
        env(g(1), spec(BASE), false, 2),
        env(g(2), spec(PRO), false, 3),
    ];
    let v = violations(plan(
        &[def(None, spec(PRO)), def(None, spec(BASE))],
        &existing,
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[1].name");
    let d = &v[0].description;
    let (first, second) = (d.find(&g(1).to_string()), d.find(&g(3).to_string()));
    assert!(first.is_some() && second.is_some() && first < second, "{d}");
    assert!(d.contains("add the `guid`"), "{d}");
}

#[test]
fn several_managed_environments_with_the_name_fail_the_plan() {
    // The unmanaged one does not count: managed ones are preferred, and there are two.
    let existing = [
        env(g(2), spec(BASE), true, 1),
        env(g(1), spec(BASE), true, 2),
        env(g(3), spec(BASE), false, 3),
    ];
    let v = violations(plan(&[def(None, spec(BASE))], &existing));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[0].name");
    assert!(
        v[0].description.contains(&format!("({}, {})", g(1), g(2))),
        "{v:?}"
    );
    assert!(!v[0].description.contains(&g(3).to_string()), "{v:?}");

    // Naming one by guid resolves it: the other managed one is deleted.
    let p = plan(&[def(Some(g(1)), spec(BASE))], &existing).unwrap();
    assert_eq!(p.unchanged, vec![g(1)]);
    assert_eq!(p.deletes.len(), 1);
    assert_eq!(p.deletes[0].guid, g(2));
}

// Rule 11: guids are version 4.

#[test]
fn validate_rejects_guids_that_are_not_version_4() {
    let v1 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    let v = violations(validate_definitions(
        &[
            draft(Some(v1), BASE),
            draft(Some("not-a-uuid"), PRO),
            draft(Some(""), OTHER),
        ],
        PREFIX,
    ));
    let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0].guid",
            "executionEnvironments[1].guid"
        ]
    );
    assert!(v[0].description.contains("version-1"), "{v:?}");
}

// Rule 12: the name is immutable.

#[test]
fn renaming_a_guid_definition_is_rejected() {
    for managed in [true, false] {
        let existing = [env(g(1), spec(BASE), managed, 1)];
        let v = violations(plan(&[def(Some(g(1)), spec(PRO))], &existing));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].field, "executionEnvironments[0].name");
        assert!(v[0].description.contains("cannot be changed"), "{v:?}");
        assert!(v[0].description.contains("remove this entry"), "{v:?}");
        assert!(v[0].description.contains(BASE), "{v:?}");
    }
}

// Rule 13: deletion.

#[test]
fn managed_environments_missing_from_the_file_are_deleted_and_unmanaged_ones_kept() {
    let existing = [
        env(g(5), spec(OTHER), true, 5),
        env(g(1), spec(BASE), true, 1),
        env(g(2), spec(PRO), false, 2),
        env(g(3), spec(OTHER), true, 3),
    ];
    let p = plan(&[def(None, spec(BASE))], &existing).unwrap();
    assert_eq!(p.unchanged, vec![g(1)]);
    assert_eq!(
        p.deletes,
        vec![
            PlannedDelete {
                guid: g(3),
                name: OTHER.to_owned(),
                expected_revision: 3
            },
            PlannedDelete {
                guid: g(5),
                name: OTHER.to_owned(),
                expected_revision: 5
            },
        ]
    );
    assert!(p.adopts.is_empty() && p.creates.is_empty() && p.updates.is_empty());
}

#[test]
fn empty_definitions_delete_every_managed_environment() {
    let existing = [
        env(g(2), spec(BASE), true, 1),
        env(g(1), spec(PRO), true, 2),
        env(g(3), spec(OTHER), false, 3),
    ];
    let p = plan(&[], &existing).unwrap();
    let deleted: Vec<Uuid> = p.deletes.iter().map(|d| d.guid).collect();
    assert_eq!(deleted, vec![g(1), g(2)]);
    assert!(p.creates.is_empty() && p.adopts.is_empty() && p.updates.is_empty());
    assert!(plan(&[], &existing[2..]).unwrap().is_noop());
}

// Whole plans.

#[test]
fn changed_fields_name_exactly_the_fields_that_differ() {
    let current = spec(BASE);
    let mut wanted = spec(BASE);
    wanted.description = Some("d".into());
    wanted.matching = Matching::Exact;
    wanted.supervisor = Some("/opt/supervisor".into());
    wanted.quarto = vec![Installation {
        version: "1.4.553".into(),
        path: "/opt/quarto/1.4.553/bin/quarto".into(),
    }];
    wanted.cluster_name = "Other".into();
    assert_eq!(
        changed_fields(&current, &wanted),
        [
            "description",
            "cluster_name",
            "matching",
            "supervisor",
            "quarto"
        ]
    );
    assert!(changed_fields(&current, &current).is_empty());
}

#[test]
fn unchanged_environments_make_a_noop_plan() {
    let existing = [
        env(g(1), titled(BASE, "Base"), true, 1),
        env(g(2), spec(PRO), true, 2),
        env(g(3), spec(OTHER), false, 3),
    ];
    let p = plan(
        &[def(Some(g(2)), spec(PRO)), def(None, titled(BASE, "Base"))],
        &existing,
    )
    .unwrap();
    assert!(p.is_noop(), "{p:?}");
    assert_eq!(p.unchanged, vec![g(2), g(1)]);
}

#[test]
fn planning_the_result_of_a_plan_again_is_a_noop() {
    let existing = [
        env(g(1), spec(BASE), false, 1),
        env(g(2), spec(PRO), true, 2),
        env(g(3), spec(OTHER), true, 3),
        env(g(4), spec(OTHER), false, 4),
    ];
    let definitions = [
        def(None, titled(BASE, "adopted")),
        def(Some(g(2)), titled(PRO, "updated")),
        def(None, spec("ghcr.io/example/new:1")),
        def(Some(g(7)), spec("ghcr.io/example/new:1")),
    ];
    let first = plan(&definitions, &existing).unwrap();
    assert!(!first.is_noop());
    let after = apply(&existing, &first);
    let second = plan(&definitions, &after).unwrap();
    assert!(second.is_noop(), "{second:?}");
    assert_eq!(second.unchanged.len(), definitions.len());
    // The unmanaged environment the file never named is still there, untouched.
    assert!(after.contains(&existing[3]));
}

#[test]
fn a_mixed_plan_lists_every_kind_in_a_deterministic_order() {
    let existing = [
        env(g(1), spec(BASE), false, 1),       // adopted by name
        env(g(2), spec(PRO), true, 2),         // updated by guid
        env(g(3), spec(OTHER), true, 3),       // unchanged by name
        env(g(9), spec("x.io/a:1"), true, 9),  // deleted
        env(g(8), spec("x.io/b:1"), true, 8),  // deleted
        env(g(6), spec("x.io/c:1"), false, 6), // untouched
        env(g(5), spec("x.io/d:1"), false, 5), // adopted by guid
    ];
    let definitions = [
        def(None, spec("x.io/new:1")),
        def(Some(g(5)), titled("x.io/d:1", "D")),
        def(None, spec(OTHER)),
        def(Some(g(2)), titled(PRO, "Pro")),
        def(None, titled(BASE, "Base")),
        def(Some(g(20)), spec("x.io/new:2")),
    ];
    let p = plan(&definitions, &existing).unwrap();
    let creates: Vec<Uuid> = p.creates.iter().map(|c| c.guid).collect();
    assert_eq!(creates, vec![g(0x1000), g(20)]);
    let adopts: Vec<Uuid> = p.adopts.iter().map(|a| a.guid).collect();
    assert_eq!(adopts, vec![g(5), g(1)]);
    assert_eq!(p.updates.len(), 1);
    assert_eq!(p.updates[0].guid, g(2));
    assert_eq!(p.updates[0].expected_revision, 2);
    assert_eq!(p.unchanged, vec![g(3)]);
    let deletes: Vec<Uuid> = p.deletes.iter().map(|d| d.guid).collect();
    assert_eq!(deletes, vec![g(8), g(9)]);
    // The same input plans the same output.
    assert_eq!(plan(&definitions, &existing).unwrap(), p);
}

#[test]
fn plan_reports_every_problem_of_every_definition_together() {
    let existing = [
        env(g(1), spec(BASE), true, 1),
        env(g(2), spec(PRO), false, 2),
        env(g(3), spec(PRO), false, 3),
    ];
    let definitions = [
        def(Some(g(1)), spec(OTHER)), // renamed
        def(None, spec("x.io/ok:1")),
        def(None, spec(PRO)), // ambiguous
    ];
    let v = violations(plan(&definitions, &existing));
    let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0].name",
            "executionEnvironments[2].name"
        ]
    );
}

#[test]
fn validation_reports_every_problem_of_every_definition_together() {
    let mut bad_version = draft(None, BASE);
    bad_version.python = vec![Installation {
        version: "3.11".into(),
        path: "/opt/python/3.11/bin/python3".into(),
    }];
    let mut bad_matching = draft(Some("nope"), PRO);
    bad_matching.matching = Some("sometimes".into());
    let v = violations(validate_definitions(
        &[
            bad_version,
            bad_matching,
            draft(None, "Not An Image"),
            draft(None, BASE),
        ],
        PREFIX,
    ));
    let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0].python.installations[0].version",
            "executionEnvironments[1].guid",
            "executionEnvironments[1].matching",
            "executionEnvironments[2].name",
            "executionEnvironments[3].name",
        ]
    );
}

#[test]
fn violations_carry_the_prefix_and_the_entry_index() {
    let mut drafts: Vec<EnvironmentDraft> = (0..3)
        .map(|i| draft(None, &format!("x.io/img:{i}")))
        .collect();
    let mut bad = draft(None, "x.io/img:3");
    bad.python = vec![Installation {
        version: "3.11".into(),
        path: "/opt/python/bin/python3".into(),
    }];
    drafts.push(bad);
    let v = violations(validate_definitions(&drafts, PREFIX));
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].field,
        "executionEnvironments[3].python.installations[0].version"
    );
    let v = violations(validate_definitions(&drafts, "environments"));
    assert_eq!(
        v[0].field,
        "environments[3].python.installations[0].version"
    );

    let existing = [env(g(1), spec(BASE), true, 1)];
    let e = plan_sync(&[def(Some(g(1)), spec(PRO))], &existing, "file", fresh()).unwrap_err();
    assert_eq!(e.violations[0].field, "file[0].name");
}

#[test]
fn plan_rejects_duplicate_guids_even_without_validation() {
    let v = violations(plan(
        &[def(Some(g(1)), spec(BASE)), def(Some(g(1)), spec(PRO))],
        &[],
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[1].guid");
}

#[test]
fn plan_rejects_two_guid_less_definitions_of_one_image_even_without_validation() {
    let v = violations(plan(
        &[def(None, spec(BASE)), def(None, titled(BASE, "again"))],
        &[],
    ));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "executionEnvironments[1].name");
    assert!(
        v[0].description.contains("executionEnvironments[0]"),
        "{v:?}"
    );
}

#[test]
fn definitions_digest_is_stable_and_follows_the_content() {
    let a = [def(Some(g(1)), spec(BASE)), def(None, spec(PRO))];
    let d = definitions_digest(&a);
    assert_eq!(d.len(), 64);
    assert!(
        d.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(d, definitions_digest(&a.clone()));
    assert_ne!(d, definitions_digest(&[def(Some(g(1)), spec(BASE))]));
    assert_ne!(
        d,
        definitions_digest(&[def(Some(g(1)), titled(BASE, "t")), def(None, spec(PRO))])
    );
    assert_ne!(definitions_digest(&[]), d);
}

#[test]
fn definitions_digest_is_the_hash_of_the_definitions_canonical_json() {
    // SHA-256 of `execenv-definitions-v1\n` and the definitions as one compact JSON array, as
    // the digest was first defined: another value would make every replica apply its file again.
    assert_eq!(
        definitions_digest(&[def(Some(g(1)), spec(BASE)), def(None, titled(PRO, "Pro"))]),
        "22190f1184bcd7bfacee4a2e4114b1128d381884d3b04b1bea14b76005c42a88"
    );
    assert_eq!(
        definitions_digest(&[]),
        "913e63d34d0363e19f2ec1e247519658b2cbedf7e01a292831a2db9b3a6642c7"
    );
}

#[test]
fn checking_drafts_one_at_a_time_finds_what_validate_definitions_finds_in_its_order() {
    let drafts = [
        draft(None, BASE),
        draft(Some("not-a-guid"), PRO),
        draft(None, BASE),
        draft(Some(&g(1).to_string()), ""),
        draft(Some(&g(1).to_string()), OTHER),
    ];
    // Each entry's own problems first, then those of the rules over the set.
    let expected = [
        "executionEnvironments[1].guid",
        "executionEnvironments[3].name",
        "executionEnvironments[2].name",
        "executionEnvironments[4].guid",
    ];
    let mut check = DefinitionsCheck::new(PREFIX);
    let valid = drafts.iter().filter_map(|d| check.push(d)).count();
    assert_eq!(valid, 4);
    let one_at_a_time: Vec<String> = violations(check.finish())
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(one_at_a_time, expected);
    let all_at_once: Vec<String> = violations(validate_definitions(&drafts, PREFIX))
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(all_at_once, expected);
}

#[test]
fn checking_valid_drafts_one_at_a_time_gives_their_definitions() {
    let drafts = [
        draft(Some(&g(1).to_string()), BASE),
        draft(Some(&g(2).to_string()), BASE),
        draft(None, PRO),
    ];
    let mut check = DefinitionsCheck::new(PREFIX);
    let definitions: Vec<Definition> = drafts.iter().filter_map(|d| check.push(d)).collect();
    check.finish().unwrap();
    assert_eq!(
        definitions,
        vec![
            def(Some(g(1)), spec(BASE)),
            def(Some(g(2)), spec(BASE)),
            def(None, spec(PRO)),
        ]
    );
}

fn fence(holder: &str, term: i64) -> SyncFence {
    SyncFence {
        lease: "execenv/execenv-config-sync".to_owned(),
        holder: holder.to_owned(),
        term,
    }
}

#[test]
fn a_fence_admits_the_first_sync_the_same_holder_and_a_newer_term() {
    assert!(fence("pod-a", 3).admits(None).is_ok());
    assert!(fence("pod-a", 3).admits(Some((3, "pod-a"))).is_ok());
    assert!(fence("pod-b", 4).admits(Some((3, "pod-a"))).is_ok());
}

#[test]
fn a_fence_refuses_an_older_term_and_another_holder_of_the_same_term() {
    let deposed = fence("pod-a", 3).admits(Some((4, "pod-b"))).unwrap_err();
    assert_eq!(deposed.kind, ErrorKind::FailedPrecondition);
    assert_eq!(
        deposed.message,
        "this sync is fenced off: config-sync pod-a holds term 3 of lease execenv/execenv-config-sync, but the registry already applied a sync of term 4 by pod-b; a deposed leader may not apply (nothing changed)"
    );
    let twin = fence("pod-c", 4).admits(Some((4, "pod-b"))).unwrap_err();
    assert_eq!(twin.kind, ErrorKind::FailedPrecondition);
}
