use super::*;

fn draft(name: &str) -> EnvironmentDraft {
    EnvironmentDraft {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

#[test]
fn minimal_environment_gets_defaults() {
    let (guid, spec) =
        validate_new(&draft("ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy")).expect("valid");
    assert_eq!(guid, None);
    assert_eq!(spec.cluster_name, "Kubernetes");
    assert_eq!(spec.matching, Matching::Any);
}
