//! The people execenv knows: users (with a role), groups of users, and the API keys users
//! authenticate with. Plain data and the rules over it; the registry stores them and the
//! gateway authenticates with them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::{Caller, Role};

pub mod key;
pub mod validate;

pub use validate::{
    UserDraft, UserUpdate, validate_group_name, validate_key_name, validate_new_user,
};

/// A person who may use execenv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// UUID v4, chosen when the user is created.
    pub guid: Uuid,
    /// Unique login name.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// The groups the user belongs to, ordered by guid.
    pub group_guids: Vec<Uuid>,
    /// A disabled user cannot authenticate; their keys stay but do not work.
    pub disabled: bool,
    /// When the user was created.
    pub created_time: DateTime<Utc>,
    /// When the user was last changed (not counting group membership).
    pub updated_time: DateTime<Utc>,
}

impl User {
    /// The identity requests made with this user's key act as.
    pub fn caller(&self) -> Caller {
        Caller {
            user: Some(self.guid.to_string()),
            groups: self.group_guids.iter().map(Uuid::to_string).collect(),
            role: self.role,
        }
    }
}

/// A validated new user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The guid to create it with.
    pub guid: Uuid,
    /// Unique login name.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Role.
    pub role: Role,
}

/// A named set of users, as environment permissions name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// UUID v4.
    pub guid: Uuid,
    /// Unique name.
    pub name: String,
    /// The members, ordered by guid.
    pub member_guids: Vec<Uuid>,
    /// When the group was created.
    pub created_time: DateTime<Utc>,
}

/// An API key as listed: everything but the secret, which is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// UUID v4 naming the key in `keys disable|delete`.
    pub id: Uuid,
    /// What the key is for, chosen by its creator.
    pub name: String,
    /// The first characters of the secret (`ee_` and a few more), enough to recognise a key
    /// in a list and far too few to guess the rest.
    pub prefix: String,
    /// The user the key acts as.
    pub user_guid: Uuid,
    /// When the key was created.
    pub created_time: DateTime<Utc>,
    /// When the key last authenticated a request (updated at most once a minute).
    pub last_used_time: Option<DateTime<Utc>>,
    /// A disabled key does not authenticate.
    pub disabled: bool,
}

/// A new API key to store: its SHA-256 digest and prefix, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key's id.
    pub id: Uuid,
    /// The user it belongs to.
    pub user: Lookup,
    /// Its name.
    pub name: String,
    /// [`key::prefix`] of the secret.
    pub prefix: String,
    /// [`key::digest`] of the secret.
    pub digest: String,
}

/// A key found by its digest, with the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The key.
    pub key: ApiKey,
    /// The stored digest (compared again, in constant time, by the caller).
    pub digest: String,
    /// Its user, with their groups.
    pub user: User,
}

/// How a request names a user or a group: by guid, or by username / group name. Names that
/// parse as UUIDs are refused when users and groups are created, so the two never clash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// By guid.
    Guid(Uuid),
    /// By username or group name.
    Name(String),
}

impl Lookup {
    /// A guid when `s` parses as a UUID, else a name (trimmed).
    pub fn parse(s: &str) -> Lookup {
        let s = s.trim();
        match Uuid::parse_str(s) {
            Ok(guid) => Lookup::Guid(guid),
            Err(_) => Lookup::Name(s.to_owned()),
        }
    }
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Guid(g) => write!(f, "{g}"),
            Lookup::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// How long a key's last use may be out of date: recording every use of a hot key would be a
/// database write per request.
pub const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Whether a use at `now` of a key last used at `last_used` should be recorded.
pub fn should_record_use(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn lookups_are_guids_when_they_parse_as_uuids() {
        let g = Uuid::new_v4();
        assert_eq!(Lookup::parse(&g.to_string()), Lookup::Guid(g));
        assert_eq!(Lookup::parse(" alice "), Lookup::Name("alice".to_owned()));
    }

    #[test]
    fn a_use_is_recorded_at_most_once_a_minute() {
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(1);
        assert!(should_record_use(None, now));
        assert!(!should_record_use(Some(now - TimeDelta::seconds(59)), now));
        assert!(should_record_use(Some(now - TimeDelta::seconds(60)), now));
    }

    #[test]
    fn a_users_caller_carries_guid_groups_and_role() {
        let g = Uuid::new_v4();
        let user = User {
            guid: Uuid::new_v4(),
            username: "alice".to_owned(),
            email: None,
            first_name: None,
            last_name: None,
            role: Role::Publisher,
            group_guids: vec![g],
            disabled: false,
            created_time: DateTime::UNIX_EPOCH,
            updated_time: DateTime::UNIX_EPOCH,
        };
        let caller = user.caller();
        assert_eq!(caller.user, Some(user.guid.to_string()));
        assert_eq!(caller.groups, vec![g.to_string()]);
        assert_eq!(caller.role, Role::Publisher);
    }
}
