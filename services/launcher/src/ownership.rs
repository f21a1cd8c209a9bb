//! Whose launches a caller may see: a launch records the user guid of who asked
//! ([`Launch::owner_guid`]); administrators and services (calling as themselves) see every
//! launch, a publisher only their own. Another's launch is answered as not found — the same answer
//! as an id that does not exist — so that launch ids of others do not leak. Viewers are refused
//! before this is asked (`Caller::require_publisher`).

use execenv_core::{Caller, Error, ErrorKind, Role};

use crate::launch::Launch;

/// Which launches a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every launch: administrators and services.
    All,
    /// Only the launches whose owner is this user guid: publishers.
    Owner(String),
}

impl Scope {
    /// The scope of `caller`. A publisher call that names no user cannot own anything and is
    /// refused.
    pub fn of(caller: &Caller) -> Result<Scope, Error> {
        if caller.role == Role::Administrator {
            return Ok(Scope::All);
        }
        match caller.user.as_deref().filter(|u| !u.is_empty()) {
            Some(user) => Ok(Scope::Owner(user.to_owned())),
            None => Err(Error::new(
                ErrorKind::PermissionDenied,
                "a publisher's call must name its user (x-execenv-user); launches belong to the user who asked",
            )),
        }
    }

    /// Whether `launch` is in the scope.
    pub fn includes(&self, launch: &Launch) -> bool {
        match self {
            Scope::All => true,
            Scope::Owner(user) => launch.owner_guid == *user,
        }
    }

    /// The owner a list is restricted to (None: every launch).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Owner(user) => Some(user),
        }
    }
}

/// The owner recorded for a launch `caller` asks for: their user guid, or empty for a service
/// asking as itself.
pub fn owner_of(caller: &Caller) -> String {
    caller.user.clone().unwrap_or_default()
}

/// The answer for a launch id the caller may not see, or that does not exist: the same for both.
pub fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no launch {id:?}; `execenvctl launches list` shows the known launches"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn caller(user: Option<&str>, role: Role) -> Caller {
        Caller {
            user: user.map(str::to_owned),
            groups: Vec::new(),
            role,
        }
    }

    fn owned_by(owner: &str) -> Launch {
        let json = serde_json::json!({
            "id": "l1", "kind": "run", "content_guid": "c", "bundle": "1", "state": "running",
            "reason": "Running", "message": "", "exit_code": null, "environment_guid": "e",
            "environment_title": "t", "image": "i", "installations": [], "selected_by": "",
            "backend": "local", "job_name": "", "namespace": "",
            "created": "2026-12-06T20:00:00Z", "submitted": null, "started": null,
            "finished": null, "owner_guid": owner,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_publisher_sees_only_their_own_launches() {
        let scope = Scope::of(&caller(Some("u-alice"), Role::Publisher)).unwrap();
        assert!(scope.includes(&owned_by("u-alice")));
        assert!(!scope.includes(&owned_by("u-bob")));
        assert!(
            !scope.includes(&owned_by("")),
            "a service's launch is not a publisher's"
        );
        assert_eq!(scope.owner(), Some("u-alice"));
    }

    #[test]
    fn administrators_and_services_see_every_launch() {
        for c in [
            caller(Some("u-admin"), Role::Administrator),
            Caller::service(),
        ] {
            let scope = Scope::of(&c).unwrap();
            assert!(scope.includes(&owned_by("u-bob")));
            assert!(scope.includes(&owned_by("")));
            assert_eq!(scope.owner(), None);
        }
    }

    #[test]
    fn a_publisher_without_a_user_is_refused() {
        let e = Scope::of(&caller(None, Role::Publisher)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_launch_recorded_before_owners_has_none() {
        let mut json = serde_json::to_value(owned_by("x")).unwrap();
        json.as_object_mut().unwrap().remove("owner_guid");
        let old: Launch = serde_json::from_value(json).unwrap();
        assert_eq!(old.owner_guid, "");
        assert_eq!(owner_of(&Caller::service()), "");
        assert_eq!(
            owner_of(&caller(Some("u-alice"), Role::Publisher)),
            "u-alice"
        );
    }
}
