//! What selection is told of the images behind the environments: the image examiner's last
//! check of each (`execenv_core::examine`'s states), as one line for `Explain` and, with the
//! selector's `selection.skip_drift`, as [`Exclusions`] of the environments in drift.
//!
//! Only drift excludes. An unreadable image is reported but not left out: the examiner may lack
//! credentials or network paths that the nodes pulling the image have.

use uuid::Uuid;

use super::exclusions::Exclusions;
use crate::examine::CheckState;

/// What the image examiner last found of one environment's image, as selection uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheck {
    /// How the environment stands against its image.
    pub state: CheckState,
    /// The sentences of the findings that put it in drift (missing installations, other
    /// versions), in the examiner's order; notices are not kept.
    pub drift: Vec<String>,
    /// Why the image could not be read (state unreadable); empty otherwise.
    pub unreadable: String,
}

impl ImageCheck {
    /// The line `Explain` shows for the environment: `in drift: …` or `image unreadable: …`;
    /// None when it matches its image or was not checked yet.
    pub fn note(&self) -> Option<String> {
        match self.state {
            CheckState::Ok | CheckState::Pending => None,
            CheckState::Drift => Some(format!("in drift: {}", self.drift_text())),
            CheckState::Unreadable => Some(format!(
                "image unreadable: {}",
                if self.unreadable.trim().is_empty() {
                    "the image examiner could not read the image"
                } else {
                    self.unreadable.trim()
                }
            )),
        }
    }

    /// Why `selection.skip_drift` leaves the environment out; None unless it is in drift.
    pub fn skip_reason(&self) -> Option<String> {
        (self.state == CheckState::Drift).then(|| {
            format!(
                "in drift and selection.skip_drift is on: {}",
                self.drift_text()
            )
        })
    }

    fn drift_text(&self) -> String {
        let findings: Vec<&str> = self
            .drift
            .iter()
            .map(|m| m.trim())
            .filter(|m| !m.is_empty())
            .collect();
        if findings.is_empty() {
            "the image examiner found that the image does not match the definition".to_owned()
        } else {
            findings.join("; ")
        }
    }
}

/// The exclusions of `selection.skip_drift`: every environment whose check is in drift, with
/// its [`ImageCheck::skip_reason`].
pub fn drift_exclusions<'a>(
    checks: impl IntoIterator<Item = (Uuid, &'a ImageCheck)>,
) -> Exclusions {
    checks
        .into_iter()
        .filter_map(|(guid, check)| check.skip_reason().map(|reason| (guid, reason)))
        .collect()
}
