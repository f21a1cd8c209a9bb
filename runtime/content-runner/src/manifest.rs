//! The parts of Connect's `manifest.json` the runner reads.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The package file pip installs when the manifest names none.
pub const DEFAULT_PACKAGE_FILE: &str = "requirements.txt";

/// A bundle's manifest: what the runner needs from Connect's `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Manifest {
    /// `metadata`: app mode and entrypoint.
    #[serde(default)]
    pub metadata: Metadata,
    /// `python`: present when the content uses Python.
    #[serde(default)]
    pub python: Option<PythonSection>,
    /// `files`: the bundle's files and their checksums (kept as given).
    #[serde(default)]
    pub files: BTreeMap<String, serde_json::Value>,
}

/// The manifest's `metadata` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Metadata {
    /// `appmode`, e.g. `python-script`, `python-api`, `quarto-static`.
    #[serde(default)]
    pub appmode: Option<String>,
    /// `entrypoint`, e.g. `app.py` or `report.qmd`.
    #[serde(default)]
    pub entrypoint: Option<String>,
}

/// The manifest's `python` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PythonSection {
    /// `version` the content was written against (informational here).
    #[serde(default)]
    pub version: Option<String>,
    /// `package_manager`: which tool and which file.
    #[serde(default)]
    pub package_manager: Option<PackageManager>,
}

/// The manifest's `python.package_manager` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PackageManager {
    /// `name`, e.g. `pip`.
    #[serde(default)]
    pub name: Option<String>,
    /// `package_file`, `requirements.txt` when absent.
    #[serde(default)]
    pub package_file: Option<String>,
}

impl Manifest {
    /// Reads `BUNDLE/manifest.json`.
    pub fn load(bundle: &Path) -> Result<Manifest, Error> {
        let path = bundle.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|err| {
            Error::Invalid(format!(
                "{}: cannot read the bundle's manifest ({err}); a bundle is a folder with Connect's manifest.json (write one with `rsconnect write-manifest`)",
                path.display()
            ))
        })?;
        Manifest::parse(&text).map_err(|err| Error::Invalid(format!("{}: {err}", path.display())))
    }

    /// Parses the text of a manifest; the error names the line and column of the problem.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        serde_json::from_str(text).map_err(|err| format!("not a valid manifest: {err}"))
    }

    /// The package file pip installs, relative to the bundle; rejects paths leaving the bundle.
    pub fn package_file(&self) -> Result<PathBuf, Error> {
        let name = self
            .python
            .as_ref()
            .and_then(|python| python.package_manager.as_ref())
            .and_then(|manager| manager.package_file.as_deref())
            .filter(|name| !name.is_empty())
            .unwrap_or(DEFAULT_PACKAGE_FILE);
        inside_bundle(name).map_err(|why| {
            Error::Invalid(format!(
                "manifest.json: python.package_manager.package_file {name:?} {why}"
            ))
        })
    }

    /// `metadata.appmode`; empty when the manifest names none.
    pub fn appmode(&self) -> &str {
        self.metadata.appmode.as_deref().unwrap_or_default()
    }

    /// The entrypoint, relative to the bundle, when the manifest names one.
    pub fn entrypoint(&self) -> Result<Option<PathBuf>, Error> {
        match self
            .metadata
            .entrypoint
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            None => Ok(None),
            Some(name) => inside_bundle(name).map(Some).map_err(|why| {
                Error::Invalid(format!("manifest.json: metadata.entrypoint {name:?} {why}"))
            }),
        }
    }
}

/// A relative path that stays inside the bundle.
fn inside_bundle(name: &str) -> Result<PathBuf, &'static str> {
    let path = PathBuf::from(name);
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(path)
    } else {
        Err("must be a path inside the bundle (relative, without `..`)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECT_MANIFEST: &str = r#"{
        "version": 1,
        "locale": "en_US",
        "platform": "4.3.1",
        "metadata": {"appmode": "python-script", "entrypoint": "main.py", "primary_rmd": null},
        "python": {"version": "3.11.7", "package_manager": {"name": "pip", "version": "23.2.1", "package_file": "reqs/prod.txt"}},
        "files": {"main.py": {"checksum": "abc"}, "reqs/prod.txt": {"checksum": "def"}}
    }"#;

    #[test]
    fn reads_appmode_entrypoint_package_manager_and_files() {
        let manifest = Manifest::parse(CONNECT_MANIFEST).expect("valid");
        assert_eq!(manifest.metadata.appmode.as_deref(), Some("python-script"));
        assert_eq!(
            manifest.entrypoint().expect("ok"),
            Some(PathBuf::from("main.py"))
        );
        let manager = manifest
            .python
            .as_ref()
            .and_then(|p| p.package_manager.clone())
            .expect("pm");
        assert_eq!(manager.name.as_deref(), Some("pip"));
        assert_eq!(
            manifest.package_file().expect("ok"),
            PathBuf::from("reqs/prod.txt")
        );
        assert_eq!(manifest.files.len(), 2);
    }

    #[test]
    fn package_file_defaults_to_requirements_txt() {
        let manifest =
            Manifest::parse(r#"{"metadata": {}, "python": {"version": "3.11"}}"#).expect("valid");
        assert_eq!(
            manifest.package_file().expect("ok"),
            PathBuf::from("requirements.txt")
        );
        let no_python = Manifest::parse("{}").expect("valid");
        assert!(no_python.python.is_none());
        assert_eq!(
            no_python.package_file().expect("ok"),
            PathBuf::from("requirements.txt")
        );
    }

    #[test]
    fn paths_leaving_the_bundle_are_rejected() {
        let manifest = Manifest::parse(
            r#"{"metadata": {"entrypoint": "../x.py"}, "python": {"package_manager": {"package_file": "/etc/passwd"}}}"#,
        )
        .expect("valid json");
        let err = manifest.package_file().expect_err("absolute path");
        assert!(
            err.to_string()
                .contains("package_file \"/etc/passwd\" must be a path inside the bundle")
        );
        assert_eq!(err.exit_code(), 2);
        assert!(manifest.entrypoint().is_err());
    }

    #[test]
    fn invalid_json_names_the_position() {
        let err = Manifest::parse("{\"metadata\": [1,}").expect_err("invalid");
        assert!(err.starts_with("not a valid manifest:"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        let wrong_type =
            Manifest::parse(r#"{"metadata": {"appmode": 3}}"#).expect_err("wrong type");
        assert!(wrong_type.contains("invalid type"), "{wrong_type}");
    }

    #[test]
    fn a_missing_manifest_is_an_invalid_input_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Manifest::load(dir.path()).expect_err("missing");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .contains("manifest.json: cannot read the bundle's manifest"),
            "{err}"
        );
    }
}
