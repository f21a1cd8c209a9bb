//! Users, groups and API keys between the wire and execenv-core.

use execenv_core::accounts::{ApiKey, Group, User};
use execenv_core::{Error, Role};

use super::{from_timestamp, timestamp, wire_uuid};
use crate::identity::v1 as id;

impl From<&User> for id::User {
    fn from(u: &User) -> Self {
        id::User {
            guid: u.guid.to_string(),
            username: u.username.clone(),
            email: u.email.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            role: u.role.as_str().to_owned(),
            group_guids: u.group_guids.iter().map(ToString::to_string).collect(),
            disabled: u.disabled,
            created_time: Some(timestamp(u.created_time)),
            updated_time: Some(timestamp(u.updated_time)),
        }
    }
}

impl TryFrom<id::User> for User {
    type Error = Error;

    fn try_from(u: id::User) -> Result<Self, Error> {
        Ok(User {
            guid: wire_uuid("user guid", &u.guid)?,
            role: Role::parse(&u.role).ok_or_else(|| {
                Error::internal(format!("role {:?} from the registry is not a role", u.role))
            })?,
            group_guids: u
                .group_guids
                .iter()
                .map(|g| wire_uuid("group guid", g))
                .collect::<Result<_, _>>()?,
            created_time: time("user created_time", u.created_time.as_ref())?,
            updated_time: time("user updated_time", u.updated_time.as_ref())?,
            username: u.username,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            disabled: u.disabled,
        })
    }
}

impl From<&Group> for id::Group {
    fn from(g: &Group) -> Self {
        id::Group {
            guid: g.guid.to_string(),
            name: g.name.clone(),
            member_guids: g.member_guids.iter().map(ToString::to_string).collect(),
            created_time: Some(timestamp(g.created_time)),
        }
    }
}

impl TryFrom<id::Group> for Group {
    type Error = Error;

    fn try_from(g: id::Group) -> Result<Self, Error> {
        Ok(Group {
            guid: wire_uuid("group guid", &g.guid)?,
            member_guids: g
                .member_guids
                .iter()
                .map(|m| wire_uuid("member guid", m))
                .collect::<Result<_, _>>()?,
            created_time: time("group created_time", g.created_time.as_ref())?,
            name: g.name,
        })
    }
}

impl From<&ApiKey> for id::ApiKey {
    fn from(k: &ApiKey) -> Self {
        id::ApiKey {
            id: k.id.to_string(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            user_guid: k.user_guid.to_string(),
            created_time: Some(timestamp(k.created_time)),
            last_used_time: k.last_used_time.map(timestamp),
            disabled: k.disabled,
        }
    }
}

impl TryFrom<id::ApiKey> for ApiKey {
    type Error = Error;

    fn try_from(k: id::ApiKey) -> Result<Self, Error> {
        Ok(ApiKey {
            id: wire_uuid("API key id", &k.id)?,
            user_guid: wire_uuid("user guid", &k.user_guid)?,
            created_time: time("API key created_time", k.created_time.as_ref())?,
            last_used_time: k
                .last_used_time
                .as_ref()
                .map(|t| time("API key last_used_time", Some(t)))
                .transpose()?,
            name: k.name,
            prefix: k.prefix,
            disabled: k.disabled,
        })
    }
}

fn time(
    what: &str,
    t: Option<&prost_types::Timestamp>,
) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    t.and_then(from_timestamp)
        .ok_or_else(|| Error::internal(format!("{what} from the registry is missing or invalid")))
}

impl From<&execenv_core::security::SecurityEvent> for id::SecurityEvent {
    fn from(e: &execenv_core::security::SecurityEvent) -> Self {
        let s = &e.subject;
        id::SecurityEvent {
            id: e.id,
            time: Some(timestamp(e.time)),
            kind: e.kind.as_str().to_owned(),
            actor: e.actor.clone(),
            user_guid: s.user_guid.clone(),
            group_guid: s.group_guid.clone(),
            api_key_id: s.api_key_id.map(|k| k.to_string()),
            api_key_prefix: s.api_key_prefix.clone(),
            revocation: s.revocation.map(|r| r.as_str().to_owned()),
            environment_guid: s.environment_guid.map(|g| g.to_string()),
            permission_guid: s.permission_guid.map(|p| p.to_string()),
            client_address: s.client_address.clone(),
            failures: s.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn accounts_round_trip_through_the_wire() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let user = User {
            guid: Uuid::new_v4(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            first_name: None,
            last_name: Some("Smith".into()),
            role: Role::Publisher,
            group_guids: vec![Uuid::new_v4()],
            disabled: true,
            created_time: t,
            updated_time: t,
        };
        assert_eq!(User::try_from(id::User::from(&user)).unwrap(), user);
        let group = Group {
            guid: Uuid::new_v4(),
            name: "staff".into(),
            member_guids: vec![user.guid],
            created_time: t,
        };
        assert_eq!(Group::try_from(id::Group::from(&group)).unwrap(), group);
        let key = ApiKey {
            id: Uuid::new_v4(),
            name: "laptop".into(),
            prefix: "ee_abcdef".into(),
            user_guid: user.guid,
            created_time: t,
            last_used_time: None,
            disabled: false,
        };
        assert_eq!(ApiKey::try_from(id::ApiKey::from(&key)).unwrap(), key);
    }
}
