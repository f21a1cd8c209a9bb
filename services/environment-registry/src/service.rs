//! The `execenv.registry.v1.Registry` gRPC service: authorises the caller, validates with
//! execenv-core, and reads or writes through the store.

use std::sync::{Arc, OnceLock};

use execenv_client::ServiceAuth;
use execenv_client::to_status;
use execenv_core::error::CONFIG_MANAGED;
use execenv_core::validate::{self, EnvironmentDraft, require_guid};
use execenv_core::{
    Actor, Caller, ChangeSource, Environment, Error, ErrorKind, ManagedBy, Principal,
};
use execenv_kit::WatchBound;
use execenv_kit::limits::watch_client;
use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::Registry;
use execenv_store::Store;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::feed::ChangeFeed;
use crate::list;

mod identity;
mod managed;
mod received;

pub use identity::IdentityService;
pub use received::RegistryApi;

/// How often an update retries when a concurrent writer changed the environment between our
/// read and our write (without the caller asking for a specific revision).
const UPDATE_ATTEMPTS: usize = 3;

/// The registry service.
#[derive(Clone)]
pub struct RegistryService {
    backend: Arc<OnceLock<Backend>>,
    auth: ServiceAuth,
    stop: Shutdown,
    watches: WatchBound,
    /// Syncs refused by their fence (`execenv_registry_syncs_fenced_total`).
    fenced: prometheus_client::metrics::counter::Counter,
}

/// Where the backend is put, once, when the database is ready.
pub type BackendSlot = Arc<OnceLock<Backend>>;

/// What the service needs once the database is migrated.
#[derive(Clone)]
pub struct Backend {
    /// The catalogue store.
    pub store: Arc<dyn Store>,
    /// The change feed over it.
    pub feed: ChangeFeed,
}

impl RegistryService {
    /// A service whose backend is set (once) when the database is ready; until then every call
    /// is UNAVAILABLE. `auth` says who may call.
    pub fn new(backend: Arc<OnceLock<Backend>>, auth: ServiceAuth, stop: Shutdown) -> Self {
        RegistryService {
            backend,
            auth,
            stop,
            watches: WatchBound::new(&execenv_kit::ServerConfig::with_ports(0, 0)),
            fenced: prometheus_client::metrics::counter::Counter::default(),
        }
    }

    /// The same service counting fenced syncs in `fenced`.
    pub fn with_fenced_counter(
        mut self,
        fenced: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        self.fenced = fenced;
        self
    }

    /// The same service holding each client to the watches `watches` allows.
    pub fn with_watch_bound(mut self, watches: WatchBound) -> Self {
        self.watches = watches;
        self
    }

    fn backend(&self) -> Result<&Backend, Error> {
        self.backend.get().ok_or_else(|| {
            Error::unavailable("the registry is starting: its database migrations have not finished; retry shortly")
        })
    }

    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        self.auth.caller(req).map_err(|e| to_status(&e))
    }

    async fn create(
        &self,
        caller: &Caller,
        spec: Option<pb::EnvironmentSpec>,
    ) -> Result<Environment, Error> {
        caller.require_admin("creating an environment")?;
        let draft = EnvironmentDraft::from(spec.unwrap_or_default());
        let (guid, spec) = validate::validate_new(&draft)?;
        let guid = guid.unwrap_or_else(Uuid::new_v4);
        let env = self
            .backend()?
            .store
            .create_environment(guid, &spec, None, &actor(caller))
            .await?;
        self.backend()?.feed.committed();
        tracing::info!(guid = %env.guid, name = %env.spec.name, actor = %caller.actor_name(), "environment created");
        Ok(env)
    }

    async fn visible(&self, caller: &Caller, guid: &str) -> Result<Environment, Error> {
        caller.require_publisher("reading an environment")?;
        let guid = require_guid("guid", guid)?;
        let env = self.backend()?.store.get_environment(guid).await?;
        if !caller.may_use(&env) {
            // Publishers do not learn about environments they may not use.
            return Err(Error::environment_not_found(guid));
        }
        Ok(env)
    }

    async fn update(
        &self,
        caller: &Caller,
        req: reg::UpdateEnvironmentRequest,
    ) -> Result<Environment, Error> {
        caller.require_admin("updating an environment")?;
        let guid = require_guid("guid", &req.guid)?;
        let draft = EnvironmentDraft::from(req.environment.unwrap_or_default());
        let mask = req.update_mask.map(|m| m.paths).unwrap_or_default();
        for attempt in 1..=UPDATE_ATTEMPTS {
            let current = self.backend()?.store.get_environment(guid).await?;
            refuse_managed(&current, "updated")?;
            current.check_revision(req.expected_revision)?;
            let spec = validate::apply_update(&current.spec, &draft, &mask)?;
            if spec == current.spec {
                return Ok(current);
            }
            match self
                .backend()?
                .store
                .update_environment(guid, &spec, current.revision, &actor(caller))
                .await
            {
                Ok(env) => {
                    self.backend()?.feed.committed();
                    tracing::info!(%guid, revision = env.revision, actor = %caller.actor_name(), "environment updated");
                    return Ok(env);
                }
                Err(e)
                    if e.kind == ErrorKind::Conflict
                        && req.expected_revision == 0
                        && attempt < UPDATE_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("environment {guid} keeps changing concurrently; retry the update"),
        ))
    }

    async fn delete(
        &self,
        caller: &Caller,
        req: reg::DeleteEnvironmentRequest,
    ) -> Result<i64, Error> {
        caller.require_admin("deleting an environment")?;
        let guid = require_guid("guid", &req.guid)?;
        let current = self.backend()?.store.get_environment(guid).await?;
        refuse_managed(&current, "deleted")?;
        current.check_revision(req.expected_revision)?;
        let revision = self
            .backend()?
            .store
            .delete_environment(guid, current.revision, &actor(caller))
            .await?;
        self.backend()?.feed.committed();
        tracing::info!(%guid, name = %current.spec.name, revision, actor = %caller.actor_name(), "environment deleted");
        Ok(revision)
    }

    async fn list(
        &self,
        caller: &Caller,
        req: reg::ListEnvironmentsRequest,
    ) -> Result<reg::ListEnvironmentsResponse, Error> {
        caller.require_publisher("listing environments")?;
        let mut query = list::list_query(&req)?;
        if caller.role != execenv_core::Role::Administrator {
            query.visible_to = Some(execenv_core::query::Visibility {
                user: caller.user.clone(),
                groups: caller.groups.clone(),
            });
        }
        let page = self.backend()?.store.list_environments(&query).await?;
        Ok(reg::ListEnvironmentsResponse {
            next_page_token: list::next_page_token(&query, page.environments.len(), page.total),
            environments: page.environments.iter().map(Into::into).collect(),
            total_count: page.total,
        })
    }

    async fn add_permission(
        &self,
        caller: &Caller,
        req: reg::AddPermissionRequest,
    ) -> Result<pb::Permission, Error> {
        caller.require_admin("changing environment permissions")?;
        let guid = require_guid("environment_guid", &req.environment_guid)?;
        let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let principal = match (nonempty(req.user_guid), nonempty(req.group_guid)) {
            (Some(u), None) => Principal::User(u),
            (None, Some(g)) => Principal::Group(g),
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field(
                    "user_guid",
                    "give a user_guid or a group_guid, not both: one entry grants one user or one group",
                ));
            }
            (None, None) => {
                return Err(Error::invalid_field(
                    "user_guid",
                    "give the user_guid or the group_guid to grant",
                ));
            }
        };
        let (p, revision) = self
            .backend()?
            .store
            .add_permission(guid, &principal, &actor(caller))
            .await?;
        self.backend()?.feed.committed();
        tracing::info!(environment = %guid, permission = %p.guid, revision, actor = %caller.actor_name(), "permission added");
        Ok(pb::Permission {
            revision,
            ..(&p).into()
        })
    }

    async fn remove_permission(
        &self,
        caller: &Caller,
        req: reg::RemovePermissionRequest,
    ) -> Result<i64, Error> {
        caller.require_admin("changing environment permissions")?;
        let guid = require_guid("environment_guid", &req.environment_guid)?;
        let permission = uuid_field("permission_guid", &req.permission_guid)?;
        let revision = self
            .backend()?
            .store
            .remove_permission(guid, permission, &actor(caller))
            .await?;
        self.backend()?.feed.committed();
        tracing::info!(environment = %guid, %permission, revision, actor = %caller.actor_name(), "permission removed");
        Ok(revision)
    }
}

/// The change-log actor for a caller of the API.
fn actor(caller: &Caller) -> Actor {
    Actor {
        name: caller.actor_name(),
        source: ChangeSource::Api,
    }
}

fn refuse_managed(env: &Environment, verb: &str) -> Result<(), Error> {
    match env.managed_by {
        Some(ManagedBy::ConfigFile) => Err(Error::new(
            ErrorKind::FailedPrecondition,
            format!(
                "environment {} ({}) {CONFIG_MANAGED} and cannot be {verb} through the API; \
                 change its entry in the declarative file (the Helm value executionEnvironments) and config-sync applies it. \
                 Its permissions can still be changed through the API",
                env.guid, env.spec.name
            ),
        )),
        None => Ok(()),
    }
}

/// A UUID argument that is not necessarily version 4 (permission ids are ours, but be lenient).
fn uuid_field(field: &str, s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s.trim())
        .map_err(|_| Error::invalid_field(field, format!("{s:?} is not a UUID")))
}

fn reply<T>(r: Result<T, Error>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(|e| to_status(&e))
}

type WatchStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<reg::WatchEnvironmentsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Registry for RegistryService {
    async fn create_environment(
        &self,
        req: Request<reg::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let caller = self.caller(&req)?;
        reply(
            self.create(&caller, req.into_inner().environment)
                .await
                .map(|e| (&e).into()),
        )
    }

    async fn get_environment(
        &self,
        req: Request<reg::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let caller = self.caller(&req)?;
        reply(
            self.visible(&caller, &req.get_ref().guid)
                .await
                .map(|e| (&e).into()),
        )
    }

    async fn update_environment(
        &self,
        req: Request<reg::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let caller = self.caller(&req)?;
        reply(
            self.update(&caller, req.into_inner())
                .await
                .map(|e| (&e).into()),
        )
    }

    async fn delete_environment(
        &self,
        req: Request<reg::DeleteEnvironmentRequest>,
    ) -> Result<Response<reg::DeleteEnvironmentResponse>, Status> {
        let caller = self.caller(&req)?;
        reply(
            self.delete(&caller, req.into_inner())
                .await
                .map(|revision| reg::DeleteEnvironmentResponse { revision }),
        )
    }

    async fn list_environments(
        &self,
        req: Request<reg::ListEnvironmentsRequest>,
    ) -> Result<Response<reg::ListEnvironmentsResponse>, Status> {
        let caller = self.caller(&req)?;
        reply(self.list(&caller, req.into_inner()).await)
    }

    async fn list_permissions(
        &self,
        req: Request<reg::ListPermissionsRequest>,
    ) -> Result<Response<reg::ListPermissionsResponse>, Status> {
        let caller = self.caller(&req)?;
        let r = async {
            caller.require_admin("listing environment permissions")?;
            let guid = require_guid("environment_guid", &req.get_ref().environment_guid)?;
            let env = self.backend()?.store.get_environment(guid).await?;
            Ok(reg::ListPermissionsResponse {
                permissions: env.permissions.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }

    async fn add_permission(
        &self,
        req: Request<reg::AddPermissionRequest>,
    ) -> Result<Response<pb::Permission>, Status> {
        let caller = self.caller(&req)?;
        reply(self.add_permission(&caller, req.into_inner()).await)
    }

    async fn remove_permission(
        &self,
        req: Request<reg::RemovePermissionRequest>,
    ) -> Result<Response<reg::RemovePermissionResponse>, Status> {
        let caller = self.caller(&req)?;
        reply(
            self.remove_permission(&caller, req.into_inner())
                .await
                .map(|revision| reg::RemovePermissionResponse { revision }),
        )
    }

    type WatchEnvironmentsStream = WatchStream;

    async fn watch_environments(
        &self,
        req: Request<reg::WatchEnvironmentsRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let caller = self.caller(&req)?;
        caller
            .require_admin("watching the catalogue (meant for execenv services)")
            .map_err(|e| to_status(&e))?;
        let permit = self
            .watches
            .open(watch_client(&req, &caller), "catalogue watches")
            .map_err(|e| to_status(&e))?;
        let feed = &self.backend().map_err(|e| to_status(&e))?.feed;
        let rx = feed
            .watch(req.get_ref().from_revision, self.stop.clone())
            .await
            .map_err(|e| to_status(&e))?;
        // The permit is held, and the client's place taken, as long as the stream is open.
        let stream = ReceiverStream::new(rx).map(move |item| {
            let _open = &permit;
            item.map_err(|e| to_status(&e))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn apply_managed_set(
        &self,
        req: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        let caller = self.caller(&req)?;
        reply(self.apply_set(&caller, req.into_inner().into()).await)
    }

    async fn bootstrap(
        &self,
        req: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        let caller = self.caller(&req)?;
        reply(self.bootstrap_catalogue(&caller, req.into_inner()).await)
    }

    async fn list_changes(
        &self,
        req: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        let caller = self.caller(&req)?;
        let r = async {
            caller.require_admin("reading the audit trail")?;
            let filter = list::change_filter(req.get_ref())?;
            let changes = self.backend()?.store.list_changes(&filter).await?;
            Ok(reg::ListChangesResponse {
                next_page_token: list::next_change_token(
                    changes.last().map(|c| c.revision),
                    changes.len(),
                    filter.limit,
                ),
                changes: changes.iter().map(Into::into).collect(),
            })
        };
        reply(r.await)
    }
}
