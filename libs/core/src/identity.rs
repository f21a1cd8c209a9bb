//! Who is calling, and what they may see and do.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::model::{Environment, Permission, Principal};

/// The role of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May do everything.
    Administrator,
    /// May list, get and use the environments they are allowed to use.
    Publisher,
    /// May not see environments.
    Viewer,
}

impl Role {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Administrator, Role::Publisher, Role::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// The identity a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// User guid or name; `None` for the service itself.
    pub user: Option<String>,
    /// Group guids.
    pub groups: Vec<String>,
    /// Role.
    pub role: Role,
}

impl Caller {
    /// The service acting on its own behalf (an administrator).
    pub fn service() -> Caller {
        Caller {
            user: None,
            groups: Vec::new(),
            role: Role::Administrator,
        }
    }

    /// The name recorded in the change log.
    pub fn actor_name(&self) -> String {
        self.user.clone().unwrap_or_else(|| "service".to_owned())
    }

    /// Fails with PermissionDenied unless the caller is an administrator.
    pub fn require_admin(&self, action: &str) -> Result<(), Error> {
        if self.role == Role::Administrator {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{action} requires the administrator role; {} has the {} role",
                    self.display_name(),
                    self.role.as_str()
                ),
            ))
        }
    }

    /// Fails with PermissionDenied for viewers: they may not see environments at all.
    pub fn require_publisher(&self, action: &str) -> Result<(), Error> {
        if self.role == Role::Viewer {
            Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{action} requires the publisher or administrator role; {} is a viewer",
                    self.display_name()
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Whether the caller may see and use `environment`: administrators always; publishers when it
    /// has no entries or an entry names them or one of their groups; viewers never.
    pub fn may_use(&self, environment: &Environment) -> bool {
        self.may_use_under(&environment.permissions)
    }

    /// [`Caller::may_use`] for an environment whose permission entries are `permissions`, for
    /// those who keep the entries without the rest of the environment (the image examiner's
    /// checks).
    pub fn may_use_under(&self, permissions: &[Permission]) -> bool {
        match self.role {
            Role::Administrator => true,
            Role::Viewer => false,
            Role::Publisher => {
                permissions.is_empty() || permissions.iter().any(|p| self.is_named_by(&p.principal))
            }
        }
    }

    /// Whether a permission entry names this caller directly or through a group.
    pub fn is_named_by(&self, principal: &Principal) -> bool {
        match principal {
            Principal::User(u) => self.user.as_deref() == Some(u.as_str()),
            Principal::Group(g) => self.groups.iter().any(|mine| mine == g),
        }
    }

    fn display_name(&self) -> String {
        match &self.user {
            Some(u) => format!("user {u}"),
            None => "the caller".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;
    use crate::model::{EnvironmentSpec, Matching, Permission};

    fn environment(principals: &[Principal]) -> Environment {
        let guid = Uuid::new_v4();
        Environment {
            id: 1,
            guid,
            spec: EnvironmentSpec {
                name: "ubuntu:22.04".to_owned(),
                title: None,
                description: None,
                cluster_name: "Kubernetes".to_owned(),
                matching: Matching::Any,
                supervisor: None,
                python: Vec::new(),
                r: Vec::new(),
                quarto: Vec::new(),
                tensorflow: Vec::new(),
                volume_mounts: Vec::new(),
            },
            environment_type: "Kubernetes".to_owned(),
            managed_by: None,
            permissions: principals
                .iter()
                .map(|p| Permission {
                    guid: Uuid::new_v4(),
                    environment_guid: guid,
                    principal: p.clone(),
                })
                .collect(),
            created_time: DateTime::UNIX_EPOCH,
            updated_time: DateTime::UNIX_EPOCH,
            revision: 1,
        }
    }

    fn caller(role: Role) -> Caller {
        Caller {
            user: Some("alice".to_owned()),
            groups: vec!["data-science".to_owned(), "staff".to_owned()],
            role,
        }
    }

    fn user(u: &str) -> Principal {
        Principal::User(u.to_owned())
    }

    fn group(g: &str) -> Principal {
        Principal::Group(g.to_owned())
    }

    #[test]
    fn administrator_may_use_every_environment() {
        let admin = caller(Role::Administrator);
        assert!(admin.may_use(&environment(&[])));
        assert!(admin.may_use(&environment(&[user("bob")])));
        assert!(admin.may_use(&environment(&[group("finance")])));
        assert!(Caller::service().may_use(&environment(&[user("bob")])));
    }

    #[test]
    fn publisher_may_use_an_environment_without_entries() {
        assert!(caller(Role::Publisher).may_use(&environment(&[])));
    }

    #[test]
    fn publisher_may_use_an_environment_with_an_entry_naming_them() {
        let env = environment(&[user("bob"), user("alice")]);
        assert!(caller(Role::Publisher).may_use(&env));
    }

    #[test]
    fn publisher_may_use_an_environment_with_an_entry_naming_one_of_their_groups() {
        let env = environment(&[user("bob"), group("staff")]);
        assert!(caller(Role::Publisher).may_use(&env));
    }

    #[test]
    fn publisher_may_not_use_an_environment_whose_entries_name_others() {
        let env = environment(&[user("bob"), group("finance")]);
        assert!(!caller(Role::Publisher).may_use(&env));
    }

    #[test]
    fn user_and_group_entries_are_not_confused() {
        // A group called "alice" does not name the user alice, nor a user called "staff" the group.
        let env = environment(&[group("alice"), user("staff")]);
        assert!(!caller(Role::Publisher).may_use(&env));
    }

    #[test]
    fn publisher_without_a_user_is_named_only_through_groups() {
        let anonymous = Caller {
            user: None,
            groups: vec!["staff".to_owned()],
            role: Role::Publisher,
        };
        assert!(!anonymous.is_named_by(&user("service")));
        assert!(!anonymous.is_named_by(&user("")));
        assert!(anonymous.is_named_by(&group("staff")));
    }

    #[test]
    fn viewer_may_never_use_an_environment() {
        let viewer = caller(Role::Viewer);
        assert!(!viewer.may_use(&environment(&[])));
        assert!(!viewer.may_use(&environment(&[user("alice")])));
        assert!(!viewer.may_use(&environment(&[group("staff")])));
    }

    #[test]
    fn require_admin_accepts_only_administrators() {
        assert_eq!(
            caller(Role::Administrator).require_admin("deleting environments"),
            Ok(())
        );
        for role in [Role::Publisher, Role::Viewer] {
            let e = caller(role)
                .require_admin("deleting environments")
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::PermissionDenied);
            assert_eq!(
                e.message,
                format!(
                    "deleting environments requires the administrator role; user alice has the {} role",
                    role.as_str()
                )
            );
        }
    }

    #[test]
    fn require_publisher_rejects_only_viewers() {
        assert_eq!(
            caller(Role::Administrator).require_publisher("listing"),
            Ok(())
        );
        assert_eq!(caller(Role::Publisher).require_publisher("listing"), Ok(()));
        let e = caller(Role::Viewer)
            .require_publisher("listing")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(
            e.message,
            "listing requires the publisher or administrator role; user alice is a viewer"
        );
    }

    #[test]
    fn role_messages_without_a_user_name_the_caller() {
        let anonymous = Caller {
            user: None,
            groups: Vec::new(),
            role: Role::Viewer,
        };
        let e = anonymous.require_admin("updating").unwrap_err();
        assert!(
            e.message.contains("the caller has the viewer role"),
            "{}",
            e.message
        );
    }

    #[test]
    fn service_caller_is_an_administrator_named_service() {
        let service = Caller::service();
        assert_eq!(service.role, Role::Administrator);
        assert_eq!(service.user, None);
        assert!(service.groups.is_empty());
        assert_eq!(service.actor_name(), "service");
        assert_eq!(service.require_admin("anything"), Ok(()));
    }

    #[test]
    fn actor_name_is_the_user() {
        assert_eq!(caller(Role::Publisher).actor_name(), "alice");
    }

    #[test]
    fn roles_round_trip_through_their_wire_spelling() {
        for role in [Role::Administrator, Role::Publisher, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Administrator"), None);
        assert_eq!(Role::parse("owner"), None);
    }
}
