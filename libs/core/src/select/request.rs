//! What a selection is asked: the content's needs per language, its own defaults, and how
//! strictly the server matches versions.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How close an installed version must be to the one the content asks for (without a constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionMatching {
    /// Same major.minor.patch.
    Exact,
    /// Same major.minor.
    MajorMinor,
    /// Same major, the nearest minor.
    Nearest,
}

impl VersionMatching {
    /// The setting's spelling: `exact`, `major-minor`, `nearest`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionMatching::Exact => "exact",
            VersionMatching::MajorMinor => "major-minor",
            VersionMatching::Nearest => "nearest",
        }
    }

    /// Parses the setting's spelling.
    pub fn parse(s: &str) -> Option<VersionMatching> {
        [
            VersionMatching::Exact,
            VersionMatching::MajorMinor,
            VersionMatching::Nearest,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// The server's version matching per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchingSettings {
    /// Python: `major-minor` (default) or `exact`.
    pub python: VersionMatching,
    /// R: `nearest` (default), `major-minor` or `exact`.
    pub r: VersionMatching,
    /// Quarto: `nearest` (default), `major-minor` or `exact`.
    pub quarto: VersionMatching,
}

impl Default for MatchingSettings {
    fn default() -> Self {
        MatchingSettings {
            python: VersionMatching::MajorMinor,
            r: VersionMatching::Nearest,
            quarto: VersionMatching::Nearest,
        }
    }
}

impl MatchingSettings {
    /// Fails with InvalidArgument for a Python matching of `nearest` (Connect has none).
    pub fn validate(&self) -> Result<(), Error> {
        if self.python == VersionMatching::Nearest {
            return Err(Error::invalid_field(
                "python.version_matching",
                "nearest is not a Python version matching; use major-minor (the default) or exact",
            ));
        }
        Ok(())
    }
}

/// What the content asks of one language. Blank strings count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageNeed {
    /// The version it was written with (`python.version`, `platform`, `quarto.version`).
    pub version: Option<String>,
    /// The constraint (`environment.<language>.requires`).
    pub constraint: Option<String>,
}

/// What the content asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Python.
    pub python: LanguageNeed,
    /// R.
    pub r: LanguageNeed,
    /// Quarto.
    pub quarto: LanguageNeed,
    /// The manifest's `environment.identifier`.
    pub target_environment_guid: Option<String>,
    /// The manifest's `environment.image`.
    pub target_image: Option<String>,
}

/// The content's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSettings {
    /// The environment to use when the manifest targets none.
    pub default_environment_guid: Option<String>,
    /// The image to use when the manifest targets none (and no default environment is set).
    pub default_image_name: Option<String>,
}
