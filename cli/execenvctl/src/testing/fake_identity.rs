//! An in-process Identity service (the registry's users, groups and API keys): alice and bob
//! (disabled), the groups staff (both) and data-science (alice), one API key. It records every
//! request and, like the real one, refuses callers acting as a person without the administrator
//! role.

use std::sync::{Arc, Mutex};

use execenv_core::Role;
use execenv_core::accounts::User;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_server::{Identity, IdentityServer};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{noon, wire_noon};

/// alice's guid.
pub const ALICE: &str = "a11ce5e5-0000-4000-8000-000000000001";
/// bob's guid.
pub const BOB: &str = "b0b0b0b0-0000-4000-8000-000000000002";
/// The group staff's guid.
pub const STAFF: &str = "57aff000-0000-4000-8000-000000000003";
/// The group data-science's guid.
pub const DATA_SCIENCE: &str = "da7a5c1e-0000-4000-8000-000000000004";
/// The secret of the API key the fake creates.
pub const SECRET: &str = "ee_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";

/// Every request the fake received, as debug text, in order.
#[derive(Clone, Default)]
pub struct FakeIdentity {
    /// The requests, as `{:?}` of the message.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FakeIdentity {
    /// The gRPC service of this fake.
    pub fn server(self) -> IdentityServer<Self> {
        IdentityServer::new(self)
    }

    /// Records `r` and answers `value`; a person acting without being an administrator is
    /// refused, as the registry refuses them.
    fn answer<T: std::fmt::Debug, R>(
        &self,
        r: Request<T>,
        value: R,
    ) -> Result<Response<R>, Status> {
        let role = r.metadata().get("x-execenv-role");
        if role.is_some_and(|role| role != "administrator") {
            return Err(Status::permission_denied(
                "managing users requires the administrator role",
            ));
        }
        self.seen
            .lock()
            .unwrap()
            .push(format!("{:?}", r.into_inner()));
        Ok(Response::new(value))
    }
}

/// A user: alice and bob as the fake knows them, anyone else with a nil guid and no groups.
pub fn user(username: &str, disabled: bool) -> id::User {
    let (guid, groups) = match username {
        "alice" => (ALICE, vec![STAFF, DATA_SCIENCE]),
        "bob" => (BOB, vec![STAFF]),
        _ => ("00000000-0000-0000-0000-000000000000", vec![]),
    };
    id::User::from(&User {
        guid: Uuid::parse_str(guid).unwrap(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        first_name: None,
        last_name: None,
        role: Role::Publisher,
        group_guids: groups.iter().map(|g| Uuid::parse_str(g).unwrap()).collect(),
        disabled,
        created_time: noon(),
        updated_time: noon(),
    })
}

/// A group with these member guids.
pub fn group(guid: &str, name: &str, members: &[&str]) -> id::Group {
    id::Group {
        guid: guid.into(),
        name: name.into(),
        member_guids: members.iter().map(|m| (*m).to_owned()).collect(),
        created_time: Some(wire_noon()),
    }
}

/// The API key the fake lists: alice's "laptop".
pub fn api_key() -> id::ApiKey {
    id::ApiKey {
        id: Uuid::nil().to_string(),
        name: "laptop".into(),
        prefix: SECRET[..9].into(),
        user_guid: ALICE.into(),
        created_time: Some(wire_noon()),
        last_used_time: None,
        disabled: false,
    }
}

#[tonic::async_trait]
impl Identity for FakeIdentity {
    async fn create_user(
        &self,
        r: Request<id::CreateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let name = r.get_ref().username.clone();
        self.answer(r, user(&name, false))
    }
    async fn get_user(&self, r: Request<id::GetUserRequest>) -> Result<Response<id::User>, Status> {
        self.answer(r, user("alice", false))
    }
    async fn list_users(
        &self,
        r: Request<id::ListUsersRequest>,
    ) -> Result<Response<id::ListUsersResponse>, Status> {
        self.answer(
            r,
            id::ListUsersResponse {
                users: vec![user("alice", false), user("bob", true)],
            },
        )
    }
    async fn update_user(
        &self,
        r: Request<id::UpdateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let disabled = r.get_ref().disabled.unwrap_or(false);
        self.answer(r, user("alice", disabled))
    }
    async fn delete_user(
        &self,
        r: Request<id::DeleteUserRequest>,
    ) -> Result<Response<id::DeleteUserResponse>, Status> {
        self.answer(r, id::DeleteUserResponse {})
    }
    async fn create_group(
        &self,
        r: Request<id::CreateGroupRequest>,
    ) -> Result<Response<id::Group>, Status> {
        let name = r.get_ref().name.clone();
        self.answer(r, group(STAFF, &name, &[]))
    }
    async fn list_groups(
        &self,
        r: Request<id::ListGroupsRequest>,
    ) -> Result<Response<id::ListGroupsResponse>, Status> {
        self.answer(
            r,
            id::ListGroupsResponse {
                groups: vec![
                    group(STAFF, "staff", &[ALICE, BOB]),
                    group(DATA_SCIENCE, "data-science", &[ALICE]),
                ],
            },
        )
    }
    async fn delete_group(
        &self,
        r: Request<id::DeleteGroupRequest>,
    ) -> Result<Response<id::DeleteGroupResponse>, Status> {
        self.answer(r, id::DeleteGroupResponse {})
    }
    async fn add_group_member(
        &self,
        r: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.answer(r, group(STAFF, "staff", &[ALICE]))
    }
    async fn remove_group_member(
        &self,
        r: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.answer(r, group(STAFF, "staff", &[]))
    }
    async fn create_api_key(
        &self,
        r: Request<id::CreateApiKeyRequest>,
    ) -> Result<Response<id::CreateApiKeyResponse>, Status> {
        self.answer(
            r,
            id::CreateApiKeyResponse {
                key: SECRET.into(),
                api_key: Some(api_key()),
            },
        )
    }
    async fn list_api_keys(
        &self,
        r: Request<id::ListApiKeysRequest>,
    ) -> Result<Response<id::ListApiKeysResponse>, Status> {
        self.answer(
            r,
            id::ListApiKeysResponse {
                api_keys: vec![api_key()],
            },
        )
    }
    async fn disable_api_key(
        &self,
        r: Request<id::DisableApiKeyRequest>,
    ) -> Result<Response<id::ApiKey>, Status> {
        self.answer(
            r,
            id::ApiKey {
                disabled: true,
                ..api_key()
            },
        )
    }
    async fn delete_api_key(
        &self,
        r: Request<id::DeleteApiKeyRequest>,
    ) -> Result<Response<id::DeleteApiKeyResponse>, Status> {
        self.answer(r, id::DeleteApiKeyResponse {})
    }
    async fn authenticate(
        &self,
        _: Request<id::AuthenticateRequest>,
    ) -> Result<Response<id::User>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn list_security_events(
        &self,
        _: Request<id::ListSecurityEventsRequest>,
    ) -> Result<Response<id::ListSecurityEventsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
}
