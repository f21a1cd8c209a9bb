//! A launch plan for the local backend's tests: content [`CONTENT`] bundle 7 in an environment of
//! the host's Python, with Python and Quarto chosen.

use execenv_core::{Environment, Language};
use serde_json::json;

use crate::job_spec::{ChosenInstallation, LaunchKind, LaunchRequest, Resources};
use crate::launch::{BackendKind, Launch, Plan};

/// The content's guid.
pub(crate) const CONTENT: &str = "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c";

/// A plan for launch `id` of `kind`, running `command`.
pub(crate) fn plan_with_id(id: &str, kind: LaunchKind, command: &[&str]) -> Plan {
    let environment: Environment = serde_json::from_value(json!({
        "id": 1, "guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50", "revision": 1,
        "name": "local/host-python", "title": "Host Python", "description": null,
        "cluster_name": "Kubernetes", "environment_type": "Kubernetes", "matching": "any",
        "supervisor": null, "managed_by": null, "permissions": [], "volume_mounts": [],
        "python": [{"version": "3.11.7", "path": "/usr/bin/python3.11"}],
        "r": [], "quarto": [{"version": "1.5.57", "path": "/opt/quarto/bin/quarto"}], "tensorflow": [],
        "created_time": "2026-01-01T00:00:00Z", "updated_time": "2026-01-01T00:00:00Z",
    }))
    .expect("an environment");
    let installations: Vec<ChosenInstallation> = [Language::Python, Language::Quarto]
        .into_iter()
        .flat_map(|language| {
            environment
                .spec
                .installations(language)
                .iter()
                .map(move |i| ChosenInstallation {
                    language,
                    version: i.version.clone(),
                    path: i.path.clone(),
                })
        })
        .collect();
    let request = LaunchRequest {
        request_id: id.into(),
        kind,
        content_guid: CONTENT.into(),
        bundle_id: "7".into(),
        command: command.iter().map(|c| (*c).to_owned()).collect(),
        env: vec![],
        resources: Resources::default(),
        service_account: None,
    };
    let launch = Launch::new(
        &request,
        &environment,
        &installations,
        "manifest",
        BackendKind::Local,
    );
    Plan {
        request,
        environment,
        installations,
        launch,
    }
}

/// [`plan_with_id`] with the id `req-1`.
pub(crate) fn plan(kind: LaunchKind, command: &[&str]) -> Plan {
    plan_with_id("req-1", kind, command)
}
