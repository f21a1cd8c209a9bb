//! Users and groups in Connect's shapes: the user record of `GET /__api__/v1/user` and
//! `/v1/users` (connect-spec §1.8), a group of `/v1/groups`, and the page both lists come in.

use execenv_proto::identity::v1 as id;
use serde::Serialize;

use crate::environment::rfc3339;

/// A user as Connect answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectUser {
    pub guid: String,
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub user_role: String,
    pub created_time: Option<String>,
    pub updated_time: Option<String>,
    /// execenv does not record activity; null.
    pub active_time: Option<String>,
    pub confirmed: bool,
    pub locked: bool,
    pub privileges: Vec<&'static str>,
}

impl From<&id::User> for ConnectUser {
    fn from(u: &id::User) -> Self {
        let time = |t: &Option<prost_types::Timestamp>| t.as_ref().and_then(rfc3339);
        ConnectUser {
            guid: u.guid.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            user_role: u.role.clone(),
            created_time: time(&u.created_time),
            updated_time: time(&u.updated_time),
            active_time: None,
            confirmed: true,
            locked: u.disabled,
            privileges: privileges(&u.role),
        }
    }
}

/// A group as Connect answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectGroup {
    pub guid: String,
    pub name: String,
    /// execenv groups have no owner; null.
    pub owner_guid: Option<String>,
}

impl From<&id::Group> for ConnectGroup {
    fn from(g: &id::Group) -> Self {
        ConnectGroup {
            guid: g.guid.clone(),
            name: g.name.clone(),
            owner_guid: None,
        }
    }
}

/// Connect's paged list (`/v1/users`, `/v1/groups`): execenv answers everything on page 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub current_page: u32,
    pub total: usize,
}

impl<T> Page<T> {
    /// All of `results` as the first and only page.
    pub fn all(results: Vec<T>) -> Self {
        Page {
            total: results.len(),
            results,
            current_page: 1,
        }
    }
}

/// What the role may do with execution environments (execenv's own words; clients only list them).
fn privileges(role: &str) -> Vec<&'static str> {
    match role {
        "administrator" => vec![
            "view_environments",
            "use_environments",
            "change_environments",
        ],
        "publisher" => vec!["view_environments", "use_environments"],
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_user_has_every_key_connect_clients_read() {
        let user = id::User {
            guid: "0b7b5f5e-0000-4000-8000-000000000001".to_owned(),
            username: "alice".to_owned(),
            email: Some("alice@example.com".to_owned()),
            role: "publisher".to_owned(),
            created_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..id::User::default()
        };
        let json = serde_json::to_value(ConnectUser::from(&user)).unwrap();
        for key in [
            "guid",
            "username",
            "email",
            "first_name",
            "last_name",
            "user_role",
            "created_time",
            "updated_time",
            "active_time",
            "confirmed",
            "locked",
            "privileges",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert_eq!(json["user_role"], "publisher");
        assert_eq!(json["created_time"], "2023-11-14T22:13:20Z");
        assert_eq!(json["first_name"], serde_json::Value::Null);
        assert_eq!(json["locked"], false);
    }
}
