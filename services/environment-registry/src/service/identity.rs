//! The `execenv.identity.v1.Identity` gRPC service: users, groups and API keys. Served next to
//! the Registry on the same port, over the same store; every management call is for
//! administrators, and `Authenticate` for the calling service (the gateway) only. Refused keys
//! are counted per client address ([`SignInFailures`]); a client that reaches the threshold is
//! recorded as a `sign_in_failures` security event.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{SubsecRound, Utc};
use execenv_client::identity::{GROUPS_HEADER, ROLE_HEADER, USER_HEADER};
use execenv_core::accounts::{self, KeyOwner, Lookup, NewApiKey, User, UserDraft, UserUpdate, key};
use execenv_core::security::{
    NewSecurityEvent, SecurityEventKind, SecurityEventSubject, SignInFailures,
};
use execenv_core::{Caller, Error, ErrorKind};
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_server::Identity;
use execenv_store::Store;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{RegistryService, actor, reply, uuid_field};
use crate::list;

/// The identity service: the registry's backend and caller rules, with the account operations.
#[derive(Clone)]
pub struct IdentityService {
    registry: RegistryService,
    sign_in_failures: Arc<Mutex<SignInFailures>>,
}

impl IdentityService {
    /// Serves accounts from the same backend (and with the same service token) as `registry`,
    /// counting refused keys with `sign_in_failures`.
    pub fn new(registry: RegistryService, sign_in_failures: SignInFailures) -> Self {
        IdentityService {
            registry,
            sign_in_failures: Arc::new(Mutex::new(sign_in_failures)),
        }
    }

    fn store(&self) -> Result<&Arc<dyn Store>, Error> {
        Ok(&self.registry.backend()?.store)
    }

    /// The caller, who must be an administrator to `action`.
    fn admin<T>(&self, req: &Request<T>, action: &str) -> Result<Caller, Status> {
        let caller = self.registry.caller(req)?;
        caller
            .require_admin(action)
            .map_err(|e| execenv_client::to_status(&e))?;
        Ok(caller)
    }

    async fn create_key(
        &self,
        caller: &Caller,
        req: id::CreateApiKeyRequest,
    ) -> Result<id::CreateApiKeyResponse, Error> {
        let name = req.name.trim();
        accounts::validate_key_name(name)?;
        let mut random = [0_u8; key::KEY_BYTES];
        getrandom::fill(&mut random).map_err(|e| {
            Error::unavailable(format!(
                "the operating system's random source failed: {e}; retry"
            ))
        })?;
        let secret = key::format(&random);
        let created = self
            .store()?
            .create_api_key(
                &NewApiKey {
                    id: Uuid::new_v4(),
                    user: lookup("user", &req.user)?,
                    name: name.to_owned(),
                    prefix: key::prefix(&secret),
                    digest: key::digest(&secret),
                },
                &actor(caller),
            )
            .await?;
        // The id and prefix only: the secret never reaches a log.
        tracing::info!(key = %created.id, prefix = %created.prefix, user = %created.user_guid, "API key created");
        Ok(id::CreateApiKeyResponse {
            key: secret,
            api_key: Some((&created).into()),
        })
    }

    /// The user `presented` belongs to; a refusal counts against `client`.
    async fn authenticate_counting(&self, presented: &str, client: &str) -> Result<User, Error> {
        let answer = self.authenticate(presented).await;
        if matches!(&answer, Err(e) if e.kind == ErrorKind::Unauthenticated) {
            self.sign_in_failed(client).await;
        }
        answer
    }

    /// Counts a refused key of `client`; records the event when that makes the threshold.
    async fn sign_in_failed(&self, client: &str) {
        let client = if client.trim().is_empty() {
            "unknown"
        } else {
            client.trim()
        };
        let reached = match self.sign_in_failures.lock() {
            Ok(mut counter) => counter.failed(client, Instant::now()),
            Err(_) => None,
        };
        let Some(failures) = reached else {
            return;
        };
        tracing::warn!(client, failures, "repeated failed sign-ins from one client");
        let event = NewSecurityEvent {
            kind: SecurityEventKind::SignInFailures,
            actor: String::new(),
            subject: SecurityEventSubject {
                client_address: Some(client.to_owned()),
                failures: Some(failures),
                ..SecurityEventSubject::default()
            },
        };
        let recorded = match self.store() {
            Ok(store) => store.record_security_event(&event).await,
            Err(e) => Err(e),
        };
        // The refusal is answered whatever happens to its record.
        if let Err(e) = recorded {
            tracing::warn!(client, error = %e, "cannot record the failed sign-ins");
        }
    }

    async fn authenticate(&self, presented: &str) -> Result<User, Error> {
        // One answer for every failure: whether a key exists, or who is disabled, is not told.
        let refused = || {
            Error::new(
                ErrorKind::Unauthenticated,
                "the API key is not valid; check it, or ask an administrator for a new one",
            )
        };
        if !key::is_well_formed(presented) {
            return Err(refused());
        }
        let digest = key::digest(presented);
        let store = self.store()?;
        let Some(KeyOwner {
            key: found,
            digest: stored,
            user,
        }) = store.find_api_key(&digest).await?
        else {
            return Err(refused());
        };
        if !key::constant_time_eq(stored.as_bytes(), digest.as_bytes())
            || found.disabled
            || user.disabled
        {
            return Err(refused());
        }
        let now = Utc::now().trunc_subsecs(6);
        if accounts::should_record_use(found.last_used_time, now) {
            // Failing to note the use does not fail the request.
            if let Err(e) = store.record_api_key_use(found.id, now).await {
                tracing::warn!(key = %found.id, error = %e, "cannot record the API key's use");
            }
        }
        Ok(user)
    }
}

/// A user or group named by guid or name; InvalidArgument when empty.
fn lookup(field: &str, s: &str) -> Result<Lookup, Error> {
    if s.trim().is_empty() {
        return Err(Error::invalid_field(
            field,
            "is required: give a guid or a name",
        ));
    }
    Ok(Lookup::parse(s))
}

fn user_reply(r: Result<User, Error>) -> Result<Response<id::User>, Status> {
    reply(r.map(|u| (&u).into()))
}

fn group_reply(r: Result<accounts::Group, Error>) -> Result<Response<id::Group>, Status> {
    reply(r.map(|g| (&g).into()))
}

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn create_user(
        &self,
        req: Request<id::CreateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let caller = self.admin(&req, "creating a user")?;
        let r = req.into_inner();
        let draft = UserDraft {
            username: r.username,
            role: r.role,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
        };
        let created = async {
            let user = accounts::validate_new_user(&draft, Uuid::new_v4())?;
            let created = self.store()?.create_user(&user).await?;
            tracing::info!(user = %created.guid, username = %created.username, role = created.role.as_str(), actor = %caller.actor_name(), "user created");
            Ok(created)
        };
        user_reply(created.await)
    }

    async fn get_user(
        &self,
        req: Request<id::GetUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        self.admin(&req, "reading users")?;
        let r = async {
            self.store()?
                .get_user(&lookup("user", &req.get_ref().user)?)
                .await
        };
        user_reply(r.await)
    }

    async fn list_users(
        &self,
        req: Request<id::ListUsersRequest>,
    ) -> Result<Response<id::ListUsersResponse>, Status> {
        self.admin(&req, "listing users")?;
        let r = async {
            let users = self.store()?.list_users().await?;
            Ok(id::ListUsersResponse {
                users: users.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }

    async fn update_user(
        &self,
        req: Request<id::UpdateUserRequest>,
    ) -> Result<Response<id::User>, Status> {
        let caller = self.admin(&req, "updating a user")?;
        let r = req.into_inner();
        let updated = async {
            let user = lookup("user", &r.user)?;
            let update = UserUpdate::validate(
                r.role.as_deref(),
                r.disabled,
                r.email.as_deref(),
                r.first_name.as_deref(),
                r.last_name.as_deref(),
            )?;
            let updated = self.store()?.update_user(&user, &update).await?;
            tracing::info!(user = %updated.guid, role = updated.role.as_str(), disabled = updated.disabled, actor = %caller.actor_name(), "user updated");
            Ok(updated)
        };
        user_reply(updated.await)
    }

    async fn delete_user(
        &self,
        req: Request<id::DeleteUserRequest>,
    ) -> Result<Response<id::DeleteUserResponse>, Status> {
        let caller = self.admin(&req, "deleting a user")?;
        let r = async {
            let user = lookup("user", &req.get_ref().user)?;
            self.store()?.delete_user(&user, &actor(&caller)).await?;
            tracing::info!(%user, actor = %caller.actor_name(), "user deleted with their keys and memberships");
            Ok(id::DeleteUserResponse {})
        };
        reply(r.await)
    }

    async fn create_group(
        &self,
        req: Request<id::CreateGroupRequest>,
    ) -> Result<Response<id::Group>, Status> {
        let caller = self.admin(&req, "creating a group")?;
        let r = async {
            let name = req.get_ref().name.trim();
            accounts::validate_group_name(name)?;
            let group = self.store()?.create_group(Uuid::new_v4(), name).await?;
            tracing::info!(group = %group.guid, name = %group.name, actor = %caller.actor_name(), "group created");
            Ok(group)
        };
        group_reply(r.await)
    }

    async fn list_groups(
        &self,
        req: Request<id::ListGroupsRequest>,
    ) -> Result<Response<id::ListGroupsResponse>, Status> {
        self.admin(&req, "listing groups")?;
        let r = async {
            let groups = self.store()?.list_groups().await?;
            Ok(id::ListGroupsResponse {
                groups: groups.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }

    async fn delete_group(
        &self,
        req: Request<id::DeleteGroupRequest>,
    ) -> Result<Response<id::DeleteGroupResponse>, Status> {
        let caller = self.admin(&req, "deleting a group")?;
        let r = async {
            let group = lookup("group", &req.get_ref().group)?;
            self.store()?.delete_group(&group).await?;
            tracing::info!(%group, actor = %caller.actor_name(), "group deleted");
            Ok(id::DeleteGroupResponse {})
        };
        reply(r.await)
    }

    async fn add_group_member(
        &self,
        req: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.admin(&req, "changing group members")?;
        let r = async {
            let r = req.get_ref();
            let (group, user) = (lookup("group", &r.group)?, lookup("user", &r.user)?);
            self.store()?.add_group_member(&group, &user).await
        };
        group_reply(r.await)
    }

    async fn remove_group_member(
        &self,
        req: Request<id::GroupMemberRequest>,
    ) -> Result<Response<id::Group>, Status> {
        self.admin(&req, "changing group members")?;
        let r = async {
            let r = req.get_ref();
            let (group, user) = (lookup("group", &r.group)?, lookup("user", &r.user)?);
            self.store()?.remove_group_member(&group, &user).await
        };
        group_reply(r.await)
    }

    async fn create_api_key(
        &self,
        req: Request<id::CreateApiKeyRequest>,
    ) -> Result<Response<id::CreateApiKeyResponse>, Status> {
        let caller = self.admin(&req, "creating an API key")?;
        reply(self.create_key(&caller, req.into_inner()).await)
    }

    async fn list_api_keys(
        &self,
        req: Request<id::ListApiKeysRequest>,
    ) -> Result<Response<id::ListApiKeysResponse>, Status> {
        self.admin(&req, "listing API keys")?;
        let r = async {
            let user = req
                .get_ref()
                .user
                .as_deref()
                .map(|u| lookup("user", u))
                .transpose()?;
            let keys = self.store()?.list_api_keys(user.as_ref()).await?;
            Ok(id::ListApiKeysResponse {
                api_keys: keys.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }

    async fn disable_api_key(
        &self,
        req: Request<id::DisableApiKeyRequest>,
    ) -> Result<Response<id::ApiKey>, Status> {
        let caller = self.admin(&req, "disabling an API key")?;
        let r = async {
            let key_id = uuid_field("id", &req.get_ref().id)?;
            let disabled = self
                .store()?
                .disable_api_key(key_id, &actor(&caller))
                .await?;
            tracing::info!(key = %key_id, actor = %caller.actor_name(), "API key disabled");
            Ok((&disabled).into())
        };
        reply(r.await)
    }

    async fn delete_api_key(
        &self,
        req: Request<id::DeleteApiKeyRequest>,
    ) -> Result<Response<id::DeleteApiKeyResponse>, Status> {
        let caller = self.admin(&req, "deleting an API key")?;
        let r = async {
            let key_id = uuid_field("id", &req.get_ref().id)?;
            self.store()?
                .delete_api_key(key_id, &actor(&caller))
                .await?;
            tracing::info!(key = %key_id, actor = %caller.actor_name(), "API key deleted");
            Ok(id::DeleteApiKeyResponse {})
        };
        reply(r.await)
    }

    async fn authenticate(
        &self,
        req: Request<id::AuthenticateRequest>,
    ) -> Result<Response<id::User>, Status> {
        // The service token (when configured) is checked as for every call.
        self.registry.caller(&req)?;
        let md = req.metadata();
        if [USER_HEADER, GROUPS_HEADER, ROLE_HEADER]
            .iter()
            .any(|h| md.get(*h).is_some())
        {
            return Err(execenv_client::to_status(&Error::new(
                ErrorKind::PermissionDenied,
                "Authenticate is for execenv services (the gateway): call it as the service, without identity headers",
            )));
        }
        let r = req.get_ref();
        user_reply(self.authenticate_counting(&r.key, &r.client_address).await)
    }

    async fn list_security_events(
        &self,
        req: Request<id::ListSecurityEventsRequest>,
    ) -> Result<Response<id::ListSecurityEventsResponse>, Status> {
        self.admin(&req, "reading the security events")?;
        let r = async {
            let filter = list::security_event_filter(req.get_ref())?;
            let events = self.store()?.list_security_events(&filter).await?;
            Ok(id::ListSecurityEventsResponse {
                next_page_token: list::next_security_event_token(
                    events.last().map(|e| e.id),
                    events.len(),
                    filter.limit,
                ),
                events: events.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }
}
