//! What a 403 from the Kubernetes API server means for the launcher. An RBAC denial reads
//! `jobs.batch is forbidden: User "system:serviceaccount:NS:SA" cannot create resource "jobs" in
//! API group "batch" in the namespace "X"`; [`explain`] turns it into who may not do what where,
//! and which Role to fix. Other 403s (an exceeded ResourceQuota, an admission webhook) are not
//! about the Role and are left as the API server wrote them.

/// What the launcher's service account must be allowed in the namespace its Jobs run in (jobs in
/// API group `batch`, deployments in `apps`, the rest in the core group).
pub const NEEDED: &str = "jobs: create, get, list, watch, delete; deployments: create, get, list, \
    watch, patch, delete; services: create, get, list, watch, delete; pods: get, list, watch; \
    pods/log: get";

/// The explanation of the RBAC denial `message`, in `namespace` (the launcher's content
/// namespace), with `role` the Role that should allow it (the `kubernetes.role` setting) when it
/// is known; `None` when `message` is not an RBAC denial.
///
/// `forbidden: system:serviceaccount:NS:SA may not create jobs in namespace X — the Role R in
/// namespace X (the Helm chart's launcher.rbac) must allow it; the launcher needs …`
pub fn explain(message: &str, namespace: &str, role: Option<&str>) -> Option<String> {
    let user = quoted_after(message, "User \"")?;
    let rest = &message[message.find(" cannot ")? + " cannot ".len()..];
    let (verb, rest) = rest.split_once(" resource \"")?;
    let resource = rest.split('"').next()?;
    let namespace = quoted_after(message, "in the namespace \"").unwrap_or(namespace);
    let fix = match role.filter(|r| !r.is_empty()) {
        Some(role) => format!(
            "the Role {role} in namespace {namespace} (the Helm chart's launcher.rbac) must allow it"
        ),
        None => format!("bind it to a Role in namespace {namespace} that allows it"),
    };
    Some(format!(
        "forbidden: {user} may not {verb} {resource} in namespace {namespace} — {fix}; the launcher needs {NEEDED}"
    ))
}

/// The text between `start` and the next `"`.
fn quoted_after<'a>(message: &'a str, start: &str) -> Option<&'a str> {
    let from = message.find(start)? + start.len();
    message[from..].split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE_JOBS: &str = "jobs.batch is forbidden: User \"system:serviceaccount:execenv:execenv-launcher\" \
        cannot create resource \"jobs\" in API group \"batch\" in the namespace \"content\"";

    #[test]
    fn a_denied_create_names_the_account_the_verb_the_resource_the_namespace_and_the_role() {
        assert_eq!(
            explain(CREATE_JOBS, "content", Some("execenv-launcher")).as_deref(),
            Some(
                "forbidden: system:serviceaccount:execenv:execenv-launcher may not create jobs in namespace \
                 content — the Role execenv-launcher in namespace content (the Helm chart's launcher.rbac) \
                 must allow it; the launcher needs jobs: create, get, list, watch, delete; deployments: \
                 create, get, list, watch, patch, delete; services: create, get, list, watch, delete; \
                 pods: get, list, watch; pods/log: get"
            )
        );
    }

    #[test]
    fn without_a_role_setting_it_says_to_bind_one() {
        let why = explain(CREATE_JOBS, "content", None).unwrap_or_default();
        assert!(
            why.contains("— bind it to a Role in namespace content that allows it;"),
            "{why}"
        );
        assert_eq!(explain(CREATE_JOBS, "content", Some("")), Some(why));
    }

    #[test]
    fn a_subresource_and_a_trailing_rbac_note_are_read_too() {
        let message = "pods \"execenv-1\" is forbidden: User \"system:serviceaccount:ops:runner\" cannot get \
            resource \"pods/log\" in API group \"\" in the namespace \"jobs\": RBAC: role.rbac.authorization.k8s.io \
            \"runner\" not found";
        let why = explain(message, "elsewhere", Some("runner")).unwrap_or_default();
        assert!(
            why.starts_with(
                "forbidden: system:serviceaccount:ops:runner may not get pods/log in namespace jobs — \
                 the Role runner in namespace jobs"
            ),
            "{why}"
        );
    }

    #[test]
    fn a_denied_patch_of_a_deployment_names_the_resource_of_the_apps_group() {
        let message = "deployments.apps \"execenv-1\" is forbidden: User \"system:serviceaccount:execenv:launcher\" \
            cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"content\"";
        let why = explain(message, "content", Some("launcher")).unwrap_or_default();
        assert!(
            why.starts_with(
                "forbidden: system:serviceaccount:execenv:launcher may not patch deployments in namespace \
                 content — the Role launcher in namespace content"
            ),
            "{why}"
        );
        assert!(
            why.contains("deployments: create, get, list, watch, patch, delete; services: create, get, list, watch, delete;"),
            "{why}"
        );
    }

    #[test]
    fn a_403_that_is_not_an_rbac_denial_is_not_explained() {
        for message in [
            "jobs.batch \"execenv-1\" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, used: count/jobs.batch=10, limited: count/jobs.batch=10",
            "admission webhook \"policy.example.com\" denied the request: no GPUs on Sundays",
            "",
        ] {
            assert_eq!(explain(message, "content", Some("r")), None, "{message}");
        }
    }
}
