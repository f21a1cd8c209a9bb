//! Environments that selection leaves out whatever else they fit, each with the reason their
//! verdict gives: the selector's `selection.skip_drift` leaves out environments whose image
//! drifted from their definition ([`super::drift`]).

use std::collections::BTreeMap;

use uuid::Uuid;

/// Environments selection must not choose, by guid, each with the reason it says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    reasons: BTreeMap<Uuid, String>,
}

impl Exclusions {
    /// Nothing left out.
    pub const fn new() -> Exclusions {
        Exclusions {
            reasons: BTreeMap::new(),
        }
    }

    /// Leaves the environment `guid` out, for `reason` (a phrase that fits in a list of reasons:
    /// "in drift and selection.skip_drift is on: …"). A second reason replaces the first.
    pub fn exclude(&mut self, guid: Uuid, reason: impl Into<String>) {
        self.reasons.insert(guid, reason.into());
    }

    /// Why `guid` is left out, if it is.
    pub fn reason(&self, guid: &Uuid) -> Option<&str> {
        self.reasons.get(guid).map(String::as_str)
    }

    /// How many environments are left out.
    pub fn len(&self) -> usize {
        self.reasons.len()
    }

    /// Whether nothing is left out.
    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The guids left out, ascending.
    pub fn guids(&self) -> impl Iterator<Item = &Uuid> {
        self.reasons.keys()
    }
}

impl FromIterator<(Uuid, String)> for Exclusions {
    fn from_iter<I: IntoIterator<Item = (Uuid, String)>>(iter: I) -> Self {
        Exclusions {
            reasons: iter.into_iter().collect(),
        }
    }
}
