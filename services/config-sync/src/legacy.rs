//! The deprecated `runtime.yaml` format (Connect's old `launcher.customRuntimeYaml`), used only to
//! bootstrap an empty catalogue: `name: Kubernetes` (the cluster) and `images: [{name, matching?,
//! supervisor?, python|r|quarto: {installations: [{path, version}]}}]`. Pure.

use std::fmt;

use execenv_core::Error;
use execenv_core::validate::EnvironmentDraft;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::file::{Entry, from_text, into_drafts, validated};

/// The field-path prefix of the legacy file's problems (`images[2].python…`).
pub const FIELD_PREFIX: &str = "images";

/// Parses a legacy `runtime.yaml` into drafts, unvalidated; every image gets the file's cluster
/// name. An empty file, or one without `images`, holds no definitions.
pub fn parse(text: &str, origin: &str) -> Result<Vec<EnvironmentDraft>, Error> {
    let (drafts, violations) = parse_images(text, origin)?;
    if violations.is_empty() {
        Ok(drafts)
    } else {
        Err(Error::invalid(violations))
    }
}

/// Parses and validates a legacy file: its drafts, valid, or every problem together.
pub fn load(text: &str, origin: &str) -> Result<Vec<EnvironmentDraft>, Error> {
    let (drafts, violations) = parse_images(text, origin)?;
    validated(drafts, violations, FIELD_PREFIX)
}

fn parse_images(
    text: &str,
    origin: &str,
) -> Result<(Vec<EnvironmentDraft>, Vec<execenv_core::FieldViolation>), Error> {
    let file: Option<RuntimeFile> = from_text(text, origin)?;
    let file = file.unwrap_or_default();
    let (mut drafts, mut violations) = into_drafts(file.images, FIELD_PREFIX);
    for d in &mut drafts {
        if d.cluster_name.is_none() {
            d.cluster_name.clone_from(&file.name);
        }
    }
    for key in file.unknown {
        violations.push(execenv_core::FieldViolation::new(
            origin,
            format!("unknown key {key:?}; a runtime.yaml has `name` (the cluster) and `images`"),
        ));
    }
    Ok((drafts, violations))
}

/// The top level of a `runtime.yaml`.
#[derive(Debug, Default)]
struct RuntimeFile {
    /// The cluster name (`Kubernetes`).
    name: Option<String>,
    /// One entry per image.
    images: Vec<Entry>,
    /// Keys other than `name` and `images`.
    unknown: Vec<String>,
}

impl<'de> Deserialize<'de> for RuntimeFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FileVisitor;
        impl<'de> Visitor<'de> for FileVisitor {
            type Value = RuntimeFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a runtime.yaml mapping with `name: Kubernetes` and `images`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RuntimeFile, A::Error> {
                let mut file = RuntimeFile::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => file.name = map.next_value()?,
                        "images" => {
                            let images: Option<Vec<Entry>> = map.next_value()?;
                            file.images = images.unwrap_or_default();
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            file.unknown.push(key);
                        }
                    }
                }
                Ok(file)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<RuntimeFile, A::Error> {
                Err(de::Error::custom(
                    "a runtime.yaml is a mapping with `name: Kubernetes` and `images`, not a list; \
                     a list of definitions is the declarative format: configure it as sync.file \
                     (EXECENV_SYNC__FILE) instead",
                ))
            }
        }
        d.deserialize_any(FileVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use execenv_core::Installation;

    const RUNTIME_YAML: &str = "\
name: Kubernetes
images:
  - name: ghcr.io/rstudio/content-base:r4.2.3-py3.11.9-ubuntu2204
    python:
      installations:
        - path: /opt/python/3.11.9/bin/python3
          version: 3.11.9
    r:
      installations:
        - path: /opt/R/4.2.3/bin/R
          version: 4.2.3
    quarto:
      installations:
        - path: /opt/quarto/1.3.450/bin/quarto
          version: 1.3.450
  - name: ghcr.io/rstudio/content-base:r4.4.0-py3.12.3-ubuntu2204
    matching: exact
    supervisor: /opt/supervisor.sh
";

    #[test]
    fn legacy_runtime_yaml_becomes_drafts_with_the_cluster_name() {
        let drafts = parse(RUNTIME_YAML, "runtime.yaml").unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!(
            drafts[0].name.as_deref(),
            Some("ghcr.io/rstudio/content-base:r4.2.3-py3.11.9-ubuntu2204")
        );
        assert_eq!(drafts[0].cluster_name.as_deref(), Some("Kubernetes"));
        assert_eq!(
            drafts[0].quarto,
            vec![Installation {
                version: "1.3.450".to_owned(),
                path: "/opt/quarto/1.3.450/bin/quarto".to_owned()
            }]
        );
        assert_eq!(drafts[1].matching.as_deref(), Some("exact"));
        assert_eq!(drafts[1].supervisor.as_deref(), Some("/opt/supervisor.sh"));
        assert_eq!(load(RUNTIME_YAML, "runtime.yaml").unwrap().len(), 2);
    }

    #[test]
    fn legacy_problems_are_reported_under_images() {
        let text = "name: Kubernetes\nimages:\n  - name: ghcr.io/a/b:1\n    pyhton: {}\n  - matching: any\n";
        let err = load(text, "runtime.yaml").unwrap_err();
        let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["images[0]", "images[1].name"]);
    }

    #[test]
    fn legacy_unknown_top_level_keys_are_errors() {
        let err = parse("name: Kubernetes\nimage: []\n", "runtime.yaml").unwrap_err();
        assert!(
            err.message.contains("unknown key \"image\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn legacy_empty_file_holds_no_images() {
        assert!(parse("", "runtime.yaml").unwrap().is_empty());
        assert!(
            parse("name: Kubernetes\n", "runtime.yaml")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_list_given_as_legacy_file_points_at_the_declarative_setting() {
        let err = parse("- name: ghcr.io/a/b:1\n", "runtime.yaml").unwrap_err();
        assert!(err.message.contains("sync.file"), "{}", err.message);
    }
}
