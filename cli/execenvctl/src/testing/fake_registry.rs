//! An in-process registry for the `env` and `changes` tests: two pages of environments, a create
//! that refuses its input, an update and permission calls that keep what they were sent.

use std::sync::{Arc, Mutex};

use execenv_core::{Environment, Error, FieldViolation};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_server::{Registry, RegistryServer};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Calls, GUID, environment, wire_noon};
use crate::testing::fake_identity::FakeIdentity;

/// What the fake registry was sent, besides each call's metadata.
#[derive(Debug, Default)]
pub struct Seen {
    /// The page token of every `ListEnvironments`, in order.
    pub list_tokens: Vec<String>,
    /// The last `UpdateEnvironment`.
    pub update: Option<reg::UpdateEnvironmentRequest>,
    /// Every `AddPermission`.
    pub permissions: Vec<reg::AddPermissionRequest>,
}

/// A registry that serves two pages of environments and records what it receives.
#[derive(Clone, Default)]
pub struct FakeRegistry {
    /// Each call's metadata.
    pub calls: Calls,
    /// What it was sent.
    pub seen: Arc<Mutex<Seen>>,
}

/// The sample environment with `guid` and image `name`, as the registry sends it.
pub fn wire_environment(guid: Uuid, name: &str) -> pb::Environment {
    let mut e: Environment = environment();
    e.guid = guid;
    e.spec.name = name.into();
    pb::Environment::from(&e)
}

impl FakeRegistry {
    /// Serves this registry and `identity` at one address, as the real registry serves both.
    pub async fn serve_with(self, identity: FakeIdentity) -> std::net::SocketAddr {
        super::serve(
            tonic::transport::Server::builder()
                .add_service(RegistryServer::new(self))
                .add_service(identity.server()),
        )
        .await
    }
}

#[tonic::async_trait]
impl Registry for FakeRegistry {
    async fn create_environment(
        &self,
        r: Request<reg::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.calls.record(&r)?;
        Err(execenv_client::to_status(&Error::invalid(vec![
            FieldViolation::new("name", "is not a valid container image reference"),
            FieldViolation::new(
                "python.installations[0].version",
                "\"3.11\" is not a semantic version",
            ),
            FieldViolation::new(
                "volume_mounts[0].source.pvc.claim_name",
                "\"Bad_Claim\" is not a Kubernetes name",
            ),
        ])))
    }
    async fn get_environment(
        &self,
        r: Request<reg::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.calls.record(&r)?;
        let guid = Uuid::parse_str(&r.get_ref().guid)
            .map_err(|_| Status::not_found("no such environment"))?;
        Ok(Response::new(wire_environment(guid, "img:get")))
    }
    async fn update_environment(
        &self,
        r: Request<reg::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.calls.record(&r)?;
        let request = r.into_inner();
        let guid =
            Uuid::parse_str(&request.guid).map_err(|_| Status::not_found("no such environment"))?;
        self.seen.lock().unwrap().update = Some(request);
        Ok(Response::new(wire_environment(guid, "img:updated")))
    }
    async fn delete_environment(
        &self,
        r: Request<reg::DeleteEnvironmentRequest>,
    ) -> Result<Response<reg::DeleteEnvironmentResponse>, Status> {
        self.calls
            .answer(&r, reg::DeleteEnvironmentResponse { revision: 7 })
    }
    async fn list_environments(
        &self,
        r: Request<reg::ListEnvironmentsRequest>,
    ) -> Result<Response<reg::ListEnvironmentsResponse>, Status> {
        self.calls.record(&r)?;
        let token = r.into_inner().page_token;
        self.seen.lock().unwrap().list_tokens.push(token.clone());
        let (name, next) = match token.as_str() {
            "" => ("img:page1", "p2"),
            "p2" => ("img:page2", ""),
            other => return Err(Status::invalid_argument(format!("bad token {other}"))),
        };
        Ok(Response::new(reg::ListEnvironmentsResponse {
            environments: vec![wire_environment(Uuid::new_v4(), name)],
            next_page_token: next.into(),
            total_count: 2,
        }))
    }
    async fn list_permissions(
        &self,
        r: Request<reg::ListPermissionsRequest>,
    ) -> Result<Response<reg::ListPermissionsResponse>, Status> {
        self.calls.answer(
            &r,
            reg::ListPermissionsResponse {
                permissions: vec![],
            },
        )
    }
    async fn add_permission(
        &self,
        r: Request<reg::AddPermissionRequest>,
    ) -> Result<Response<pb::Permission>, Status> {
        self.calls.record(&r)?;
        let r = r.into_inner();
        self.seen.lock().unwrap().permissions.push(r.clone());
        Ok(Response::new(pb::Permission {
            guid: Uuid::nil().to_string(),
            environment_guid: r.environment_guid,
            user_guid: r.user_guid,
            group_guid: r.group_guid,
            revision: 8,
        }))
    }
    async fn remove_permission(
        &self,
        _: Request<reg::RemovePermissionRequest>,
    ) -> Result<Response<reg::RemovePermissionResponse>, Status> {
        Err(Status::unavailable("database is down"))
    }
    type WatchEnvironmentsStream =
        tokio_stream::Empty<Result<reg::WatchEnvironmentsResponse, Status>>;
    async fn watch_environments(
        &self,
        _: Request<reg::WatchEnvironmentsRequest>,
    ) -> Result<Response<Self::WatchEnvironmentsStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn apply_managed_set(
        &self,
        _: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn bootstrap(
        &self,
        _: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn list_changes(
        &self,
        r: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        self.calls.record(&r)?;
        assert_eq!(r.get_ref().after_revision, 3);
        Ok(Response::new(reg::ListChangesResponse {
            changes: vec![wire_change()],
            next_page_token: String::new(),
        }))
    }
}

/// A change-log entry: alice retitled the sample environment at noon, revision 4.
pub fn wire_change() -> reg::Change {
    reg::Change {
        revision: 4,
        time: Some(wire_noon()),
        actor: "alice".into(),
        source: "api".into(),
        action: "update".into(),
        environment_guid: GUID.into(),
        before_json: r#"{"title":"old"}"#.into(),
        after_json: r#"{"title":"new"}"#.into(),
    }
}
