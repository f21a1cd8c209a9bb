//! Selection against a fixed catalogue, for the fuzz harnesses whose input ends as a request
//! (version constraints, manifest.json): whatever the request, `select` and `explain` answer
//! without panicking and agree.

use chrono::{DateTime, Utc};
use execenv_core::identity::{Caller, Role};
use execenv_core::model::{
    DEFAULT_CLUSTER_NAME, Environment, EnvironmentSpec, Installation, Matching,
};
use execenv_core::select::{
    Catalogue, ContentSettings, Exclusions, MatchingSettings, Requirements, VersionMatching,
    explain, select,
};
use uuid::Uuid;

/// Installed versions every harness catalogue holds: releases, pre-releases, builds, odd ones.
const INSTALLED: [&str; 10] = [
    "3.11.9",
    "3.12.0rc1",
    "4.4.1",
    "4.3.0+build.7",
    "1.4.557",
    "2147483647.0.0.1",
    "3.13.0.dev0",
    "latest",
    "0",
    "4.4.1-rc.1",
];

/// The catalogue: fixed environments, and one whose installations are `extra` versions.
pub fn catalogue(extra: &[&str]) -> Catalogue {
    let mut environments: Vec<Environment> = (0..INSTALLED.len())
        .map(|i| environment(i as u128 + 1, &INSTALLED[i..=i]))
        .collect();
    environments.push(environment(100, extra));
    Catalogue::new(1, environments)
}

fn environment(n: u128, versions: &[&str]) -> Environment {
    let installations = |language: &str| -> Vec<Installation> {
        versions
            .iter()
            .map(|v| Installation {
                version: (*v).to_owned(),
                path: format!("/opt/{language}/bin/{language}"),
            })
            .collect()
    };
    Environment {
        id: n as i64,
        guid: Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n),
        spec: EnvironmentSpec {
            name: format!("registry.example.com/fuzz:{n}"),
            title: None,
            description: None,
            cluster_name: DEFAULT_CLUSTER_NAME.to_owned(),
            matching: Matching::Any,
            supervisor: None,
            python: installations("python"),
            r: installations("R"),
            quarto: installations("quarto"),
            tensorflow: Vec::new(),
            volume_mounts: Vec::new(),
        },
        environment_type: DEFAULT_CLUSTER_NAME.to_owned(),
        managed_by: None,
        permissions: Vec::new(),
        created_time: DateTime::<Utc>::UNIX_EPOCH,
        updated_time: DateTime::<Utc>::UNIX_EPOCH,
        revision: 1,
    }
}

/// Selects for `requirements` under the default and the strictest version matching; `select`
/// and `explain` must give the same answer.
pub fn check(catalogue: &Catalogue, requirements: &Requirements) {
    let caller = Caller {
        user: Some("fuzz".to_owned()),
        groups: Vec::new(),
        role: Role::Publisher,
    };
    let exact = MatchingSettings {
        python: VersionMatching::Exact,
        r: VersionMatching::Exact,
        quarto: VersionMatching::Exact,
    };
    let content = ContentSettings::default();
    let excluded = Exclusions::default();
    for settings in [MatchingSettings::default(), exact] {
        let chosen = select(
            catalogue,
            requirements,
            &content,
            &caller,
            &settings,
            &excluded,
        );
        let explained = explain(
            catalogue,
            requirements,
            &content,
            &caller,
            &settings,
            &excluded,
        );
        match (&chosen.selection, &explained.selection) {
            (Ok(a), Ok(b)) => assert_eq!(a.environment.guid, b.environment.guid),
            (Err(a), Err(b)) => assert_eq!(a.kind, b.kind),
            (a, b) => panic!("select said {a:?} but explain said {b:?}"),
        }
    }
}
