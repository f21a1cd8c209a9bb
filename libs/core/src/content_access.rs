//! Who may view a content (an app or API the gateway serves at `/content/{guid}/`), and who may manage its permission list: one
//! rule each, over the signed-in person, the content's owner and its permission list.
//!
//! - view: administrators; the content's owner; users named in its permission list; members
//!   of groups named there. Whatever the role (a viewer named in the list may view).
//! - manage (read and change the permission list): administrators and the owner.

use serde::{Deserialize, Serialize};

use crate::identity::{Caller, Role};
use crate::model::Principal;

/// One entry of a content's permission list: a user or a group that may view it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentPermission {
    /// The entry's guid.
    pub guid: String,
    /// The content's guid.
    pub content_guid: String,
    /// The user allowed; null for a group's entry.
    pub user_guid: Option<String>,
    /// The group allowed; null for a user's entry.
    pub group_guid: Option<String>,
}

impl ContentPermission {
    /// Whether this entry names `principal`.
    pub fn names(&self, principal: &Principal) -> bool {
        match principal {
            Principal::User(guid) => self.user_guid.as_deref() == Some(guid),
            Principal::Group(guid) => self.group_guid.as_deref() == Some(guid),
        }
    }
}

/// Whether `caller` may view a content owned by `owner` (None: no owner recorded) whose
/// permission list is `permissions`.
pub fn may_view(caller: &Caller, owner: Option<&str>, permissions: &[ContentPermission]) -> bool {
    if may_manage(caller, owner) {
        return true;
    }
    permissions.iter().any(|p| {
        let user = p.user_guid.is_some() && p.user_guid == caller.user;
        let group = p
            .group_guid
            .as_ref()
            .is_some_and(|g| caller.groups.contains(g));
        user || group
    })
}

/// Whether `caller` may read and change the permission list of a content owned by `owner`.
pub fn may_manage(caller: &Caller, owner: Option<&str>) -> bool {
    caller.role == Role::Administrator || caller.user.as_deref().is_some_and(|me| owner == Some(me))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, groups: &[&str], role: Role) -> Caller {
        Caller {
            user: Some(user.to_owned()),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            role,
        }
    }

    fn entry(user: Option<&str>, group: Option<&str>) -> ContentPermission {
        ContentPermission {
            guid: "p".to_owned(),
            content_guid: "c".to_owned(),
            user_guid: user.map(str::to_owned),
            group_guid: group.map(str::to_owned),
        }
    }

    #[test]
    fn who_may_view() {
        let list = [entry(Some("u-val"), None), entry(None, Some("g-team"))];
        let cases = [
            // (user, groups, role, owner, may view)
            ("u-ada", &[][..], Role::Administrator, Some("u-pat"), true),
            ("u-ada", &[][..], Role::Administrator, None, true),
            ("u-pat", &[][..], Role::Publisher, Some("u-pat"), true),
            ("u-sam", &[][..], Role::Publisher, Some("u-pat"), false),
            ("u-val", &[][..], Role::Viewer, Some("u-pat"), true),
            ("u-vic", &["g-team"][..], Role::Viewer, Some("u-pat"), true),
            (
                "u-vic",
                &["g-other"][..],
                Role::Viewer,
                Some("u-pat"),
                false,
            ),
            ("u-vic", &[][..], Role::Viewer, None, false),
        ];
        for (user, groups, role, owner, expected) in cases {
            assert_eq!(
                may_view(&caller(user, groups, role), owner, &list),
                expected,
                "{user} {groups:?} {role:?} owner {owner:?}"
            );
        }
    }

    #[test]
    fn an_empty_list_lets_only_administrators_and_the_owner_view() {
        assert!(may_view(
            &caller("u-pat", &[], Role::Viewer),
            Some("u-pat"),
            &[]
        ));
        assert!(!may_view(
            &caller("u-sam", &["g-team"], Role::Publisher),
            Some("u-pat"),
            &[]
        ));
    }

    #[test]
    fn an_entry_names_one_principal_and_never_matches_a_missing_one() {
        // A caller without a user (the service) is not matched by an entry without one.
        let service = Caller {
            user: None,
            groups: vec![],
            role: Role::Publisher,
        };
        assert!(!may_view(&service, None, &[entry(None, Some("g"))]));
        assert!(!may_manage(&service, None));
    }

    #[test]
    fn who_may_manage_the_list() {
        let cases = [
            ("u-ada", Role::Administrator, Some("u-pat"), true),
            ("u-pat", Role::Publisher, Some("u-pat"), true),
            ("u-sam", Role::Publisher, Some("u-pat"), false),
            ("u-val", Role::Viewer, Some("u-pat"), false),
            ("u-pat", Role::Publisher, None, false),
        ];
        for (user, role, owner, expected) in cases {
            assert_eq!(
                may_manage(&caller(user, &[], role), owner),
                expected,
                "{user} {role:?} owner {owner:?}"
            );
        }
    }
}
