//! Users and groups named on the command line — by guid, or by username and group name — turned
//! into the guids that identity headers and permission entries hold (the gateway sends guids, so
//! a name would match nothing). Names are looked up in the registry's Identity service, acting as
//! the service itself; a name nobody has is refused with where to find the right one.

use execenv_core::accounts::Lookup;
use execenv_core::{Error, FieldViolation};
use execenv_proto::identity::v1 as id;

use crate::args::GlobalArgs;
use crate::connection::{Connect, Identity};

/// Whether a value names a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A user: guid or username.
    User,
    /// A group: guid or group name.
    Group,
}

/// A user or group as given on the command line, and the flag that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// User or group.
    pub kind: Kind,
    /// The flag, as an error names it (`--as-user`).
    pub flag: &'static str,
    /// The guid or name given.
    pub value: String,
}

impl Named {
    /// A user given with `flag`.
    pub fn user(flag: &'static str, value: &str) -> Self {
        Named {
            kind: Kind::User,
            flag,
            value: value.to_owned(),
        }
    }

    /// A group given with `flag`.
    pub fn group(flag: &'static str, value: &str) -> Self {
        Named {
            kind: Kind::Group,
            flag,
            value: value.to_owned(),
        }
    }

    /// Whether this is a name, to be looked up (a guid is used as it is).
    fn is_name(&self) -> bool {
        matches!(Lookup::parse(&self.value), Lookup::Name(_))
    }
}

/// The users and groups that names are looked up in: `(name, guid)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// Username and guid of each user.
    pub users: Vec<(String, String)>,
    /// Name and guid of each group.
    pub groups: Vec<(String, String)>,
}

impl Directory {
    /// The guid of every value of `named`, in order: a guid as it is, a name as the directory
    /// has it. Every name the directory lacks is reported, together.
    pub fn guids(&self, named: &[Named]) -> Result<Vec<String>, Error> {
        let mut guids = Vec::with_capacity(named.len());
        let mut unknown = Vec::new();
        for n in named {
            let name = match Lookup::parse(&n.value) {
                Lookup::Guid(guid) => {
                    guids.push(guid.to_string());
                    continue;
                }
                Lookup::Name(name) => name,
            };
            let (list, noun, command) = match n.kind {
                Kind::User => (&self.users, "user", "users"),
                Kind::Group => (&self.groups, "group", "groups"),
            };
            match list.iter().find(|(known, _)| *known == name) {
                Some((_, guid)) => guids.push(guid.clone()),
                None => unknown.push(FieldViolation::new(
                    n.flag,
                    format!(
                        "no {noun} named {name:?}; list them with `execenvctl {command} list`, \
                         and give a guid or a {noun} name from there"
                    ),
                )),
            }
        }
        if unknown.is_empty() {
            Ok(guids)
        } else {
            Err(Error::invalid(unknown))
        }
    }
}

/// The guid of every value of `named` (see [`Directory::guids`]); the registry is asked only for
/// the users, or the groups, that names are given for, and not at all for guids alone.
pub async fn guids(g: &GlobalArgs, named: &[Named]) -> Result<Vec<String>, Error> {
    let wanted = |kind: Kind| named.iter().any(|n| n.kind == kind && n.is_name());
    let mut directory = Directory::default();
    if wanted(Kind::User) || wanted(Kind::Group) {
        let identity = Identity::connect(&as_the_service(g)).await?;
        if wanted(Kind::User) {
            let listed = identity
                .call(|mut c| async move { c.list_users(id::ListUsersRequest {}).await })
                .await?;
            directory.users = listed
                .users
                .into_iter()
                .map(|u| (u.username, u.guid))
                .collect();
        }
        if wanted(Kind::Group) {
            let listed = identity
                .call(|mut c| async move { c.list_groups(id::ListGroupsRequest {}).await })
                .await?;
            directory.groups = listed
                .groups
                .into_iter()
                .map(|g| (g.name, g.guid))
                .collect();
        }
    }
    directory.guids(named)
}

/// The global flags acting as the same person, `--as-user` and `--as-groups` given by guid.
pub async fn acting(g: &GlobalArgs) -> Result<GlobalArgs, Error> {
    let mut named: Vec<Named> = g
        .as_groups
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| Named::group("--as-groups", v))
        .collect();
    let user = g.as_user.as_deref().filter(|u| !u.trim().is_empty());
    if let Some(user) = user {
        named.insert(0, Named::user("--as-user", user));
    }
    let mut guids = guids(g, &named).await?;
    let as_user = user.map(|_| guids.remove(0));
    Ok(GlobalArgs {
        as_user,
        as_groups: guids,
        ..g.clone()
    })
}

/// The flags with no one to act as: calls made as the service itself (an administrator), still
/// carrying the service token.
fn as_the_service(g: &GlobalArgs) -> GlobalArgs {
    GlobalArgs {
        as_user: None,
        as_groups: Vec::new(),
        as_role: None,
        ..g.clone()
    }
}

#[cfg(test)]
#[path = "principals_tests.rs"]
mod tests;
