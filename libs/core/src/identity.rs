//! Who is calling, and what they may see and do.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::model::{Environment, Principal};

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
        match self.role {
            Role::Administrator => true,
            Role::Viewer => false,
            Role::Publisher => {
                environment.permissions.is_empty()
                    || environment
                        .permissions
                        .iter()
                        .any(|p| self.is_named_by(&p.principal))
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
