use std::collections::BTreeMap;

use super::*;

fn caller(role: Role, groups: &[&str]) -> Caller {
    Caller {
        user: Some("u-alice".to_owned()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        role,
    }
}

fn q(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn policy() -> Policy {
    Policy {
        limits: LimitsConfig {
            publisher: Resources {
                cpu_limit: q("2"),
                memory_limit: q("4Gi"),
                gpu: q("0"),
                ephemeral_storage_limit: q("10Gi"),
                ..Resources::default()
            },
            administrator: Resources::default(),
            groups: vec![GroupLimits {
                group: "g-gpu".to_owned(),
                caps: Resources {
                    gpu: q("2"),
                    cpu_limit: q("1"),
                    ..Resources::default()
                },
            }],
        },
        build: Resources {
            cpu_request: q("250m"),
            memory_limit: q("1Gi"),
            ..Resources::default()
        },
        run: Resources {
            cpu_request: q("100m"),
            ..Resources::default()
        },
        accounts: AccountRules::default(),
    }
}

#[test]
fn a_request_over_the_roles_cap_is_refused_naming_the_cap_and_the_setting() {
    let requested = Resources {
        cpu_limit: q("2500m"),
        ..Resources::default()
    };
    let e = policy()
        .resolve(&caller(Role::Publisher, &[]), LaunchKind::Run, &requested)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert_eq!(
        e.message,
        "resources.cpu_limit \"2500m\" is over the cap of \"2\" for u-alice (publisher) (setting limits.publisher.cpu_limit); ask for at most \"2\", or ask an administrator to raise the cap"
    );
}

#[test]
fn the_most_generous_cap_among_the_role_and_the_groups_applies() {
    let gpus = Resources {
        gpu: q("2"),
        cpu_limit: q("2"),
        ..Resources::default()
    };
    let p = policy();
    let e = p
        .resolve(&caller(Role::Publisher, &[]), LaunchKind::Run, &gpus)
        .unwrap_err();
    assert!(e.message.contains("limits.publisher.gpu"), "{e}");
    // The group allows 2 GPUs; its smaller CPU cap does not lower the role's.
    let resolved = p
        .resolve(
            &caller(Role::Publisher, &["g-other", "g-gpu"]),
            LaunchKind::Run,
            &gpus,
        )
        .unwrap();
    assert_eq!(resolved.gpu, q("2"));
    assert_eq!(resolved.cpu_limit, q("2"));
    let three = Resources {
        gpu: q("3"),
        ..Resources::default()
    };
    let e = p
        .resolve(
            &caller(Role::Publisher, &["g-gpu"]),
            LaunchKind::Run,
            &three,
        )
        .unwrap_err();
    assert!(e.message.contains("limits.groups (group g-gpu)"), "{e}");
}

#[test]
fn unset_quantities_take_the_kinds_defaults_then_the_caps_as_limits() {
    let p = policy();
    let build = p
        .resolve(
            &caller(Role::Publisher, &[]),
            LaunchKind::Build,
            &Resources::default(),
        )
        .unwrap();
    assert_eq!(
        build,
        Resources {
            cpu_request: q("250m"),
            cpu_limit: q("2"),
            memory_request: None,
            memory_limit: q("1Gi"),
            gpu: None,
            ephemeral_storage_request: None,
            ephemeral_storage_limit: q("10Gi"),
        }
    );
    let run = p
        .resolve(
            &caller(Role::Publisher, &[]),
            LaunchKind::Interactive,
            &Resources {
                cpu_request: q("1"),
                ..Resources::default()
            },
        )
        .unwrap();
    assert_eq!(run.cpu_request, q("1"));
    assert_eq!(run.memory_limit, q("4Gi"));
}

#[test]
fn administrators_have_their_own_caps_unset_by_default() {
    let requested = Resources {
        cpu_limit: q("64"),
        gpu: q("8"),
        ..Resources::default()
    };
    let resolved = policy()
        .resolve(
            &caller(Role::Administrator, &[]),
            LaunchKind::Run,
            &requested,
        )
        .unwrap();
    assert_eq!(resolved.cpu_limit, q("64"));
    assert_eq!(resolved.memory_limit, None);
}

#[test]
fn quantities_compare_across_suffixes() {
    assert_eq!(quantity("500m"), Some(0.5));
    assert_eq!(quantity("1Gi"), Some(1_073_741_824.0));
    assert_eq!(quantity("1e3"), Some(1000.0));
    assert!(!exceeds("1024Mi", "1Gi"));
    assert!(exceeds("1025Mi", "1Gi"));
    assert!(exceeds("2G", "1Gi"));
    assert!(exceeds("junk", "1Gi"), "unreadable counts as over");
}

#[test]
fn only_the_default_listed_or_labelled_accounts_may_be_named() {
    let rules = AccountRules {
        default: q("content"),
        allowed: vec!["reports".to_owned()],
        label: q("execenv.io/content-account=true"),
    };
    assert_eq!(rules.verdict("content"), AccountVerdict::Allowed);
    assert_eq!(rules.verdict("reports"), AccountVerdict::Allowed);
    let verdict = rules.verdict("gpu-jobs");
    assert_eq!(
        verdict,
        AccountVerdict::IfLabelled("execenv.io/content-account".to_owned(), q("true"))
    );
    let labels =
        |v: &str| BTreeMap::from([("execenv.io/content-account".to_owned(), v.to_owned())]);
    assert!(AccountRules::labelled(&verdict, Some(&labels("true"))));
    assert!(!AccountRules::labelled(&verdict, Some(&labels("false"))));
    assert!(!AccountRules::labelled(&verdict, None));
    assert_eq!(
        rules.refusal("admin").message,
        "service account \"admin\" is not one a launch may name; allowed: content, reports or an account labelled execenv.io/content-account=true (settings kubernetes.default_service_account, kubernetes.service_accounts, kubernetes.service_account_label); leave service_account out to use the default"
    );
}

#[test]
fn without_a_list_or_a_label_no_other_account_may_be_named() {
    let rules = AccountRules::default();
    let verdict = rules.verdict("cluster-admin");
    assert!(!AccountRules::labelled(&verdict, Some(&BTreeMap::new())));
    assert!(
        rules
            .refusal("cluster-admin")
            .message
            .contains("allowed: none")
    );
}

#[test]
fn group_caps_are_read_from_yaml() {
    let yaml = "limits:\n  publisher:\n    cpu_limit: \"2\"\n  groups:\n    - group: g-gpu\n      gpu: \"4\"\n";
    let dir = std::env::temp_dir().join(format!("execenv-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("launcher.yaml");
    std::fs::write(&file, yaml).unwrap();
    let config: crate::Config = execenv_kit::config::load(
        &crate::Config::default(),
        Some(&file),
        &std::collections::HashMap::new(),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(config.limits.publisher.cpu_limit, q("2"));
    assert_eq!(
        config.limits.groups,
        vec![GroupLimits {
            group: "g-gpu".to_owned(),
            caps: Resources {
                gpu: q("4"),
                ..Resources::default()
            },
        }]
    );
}

#[test]
fn role_caps_and_defaults_are_ordinary_variables() {
    let env = std::collections::HashMap::from([
        (
            "EXECENV_LIMITS__PUBLISHER__CPU_LIMIT".to_owned(),
            "4".to_owned(),
        ),
        (
            "EXECENV_KUBERNETES__INIT_RESOURCES__MEMORY_LIMIT".to_owned(),
            "64Mi".to_owned(),
        ),
        (
            "EXECENV_KUBERNETES__SERVICE_ACCOUNTS".to_owned(),
            "reports, gpu-jobs".to_owned(),
        ),
    ]);
    let config: crate::Config =
        execenv_kit::bootstrap::load(&execenv_kit::bootstrap::ServiceArgs::default(), &env, &[])
            .unwrap();
    assert_eq!(config.limits.publisher.cpu_limit, q("4"));
    assert_eq!(config.kubernetes.init_resources.memory_limit, q("64Mi"));
    assert_eq!(config.kubernetes.service_accounts, ["reports", "gpu-jobs"]);
}
