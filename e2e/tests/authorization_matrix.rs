//! The authorisation matrix: every gRPC method of execenv's protos and every operation of the
//! gateway's OpenAPI document, asked by each kind of caller against the real services (all six,
//! every one requiring the service token), and the answer compared with the two tables below.
//! The test prints the table as answered; it fails on a cell that differs, on a method or
//! operation without a row, and on a row of one that no longer exists.
//!
//! The columns, the callers:
//!
//! - `none`: no credentials (gRPC: no service token, no identity headers);
//! - `badkey`: a well-formed API key that does not exist (gRPC: a wrong service token, sent with
//!   an administrator's identity headers, which must not help);
//! - `viewer`, `pub+`, `pub-`, `admin`: a user of that role with their API key (gRPC: the service
//!   token with their identity headers, as the gateway sends them). `pub+` is a publisher named in
//!   the permissions of the restricted environment every request names, the owner of the content
//!   and of the launches the requests name, and a member of the group; `pub-` is another
//!   publisher, named nowhere;
//! - `service`: the service token alone (REST: the service token presented as an API key).
//!
//! Each request is valid, naming things that exist, so that its answer says whether the caller
//! may: a request that changes something changes a thing made for that one cell (a fresh
//! environment, user, group, key, bundle, content or session) when it would otherwise change
//! what a later cell needs.
//!
//! A cell is a gRPC code's short name (`ok`, `unauthn`, `denied`, `notfound`, `precond`, …: see
//! `execenv_e2e::matrix::code_name`) or an HTTP status. `today!wanted` marks a known defect: the
//! service answers `today` and should answer `wanted` (the comment on the row says why); it
//! passes on `today` only. To change a row, edit its line.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::bundles::RawTar;
use execenv_e2e::content::{self, TestApp};
use execenv_e2e::launcher::python_manifest;
use execenv_e2e::log_line;
use execenv_e2e::matrix::{self, Answer, Answers, COLUMNS};
use execenv_e2e::secured::{SecuredStack, StackOptions};
use execenv_proto::environments::v1 as env_pb;
use execenv_proto::examiner::v1 as exa;
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::launcher::v1 as lau;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use execenv_proto::sync::v1 as syn;
use execenv_proto::sync::v1::config_sync_client::ConfigSyncClient;
use serde_json::{Value, json};
use tonic::Status;
use tonic::transport::Channel;

/// What each gRPC method answers each caller. Known defects (`today!wanted`):
///
/// - Launcher Get, Watch, Cancel, Logs as `pub-`: another publisher's launch is shown, followed,
///   cancelled and its logs read; launch ownership makes it NOT_FOUND (helper "launch").
///
/// Select as `pub-` targets the restricted environment: FAILED_PRECONDITION saying it does not
/// exist (as GetEnvironment hides it); Explain's verdicts leave out what the caller may not use.
const GRPC: &str = "
# method                                              none     badkey   viewer   pub+     pub-     admin    service
execenv.registry.v1.Registry/CreateEnvironment        unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/GetEnvironment           unauthn  unauthn  denied   ok       notfound ok       ok
execenv.registry.v1.Registry/UpdateEnvironment        unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/DeleteEnvironment        unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/ListEnvironments         unauthn  unauthn  denied   ok       ok       ok       ok
execenv.registry.v1.Registry/ListPermissions          unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/AddPermission            unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/RemovePermission         unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/WatchEnvironments        unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/ListChanges              unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/ApplyManagedSet          unauthn  unauthn  denied   denied   denied   ok       ok
execenv.registry.v1.Registry/Bootstrap                unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/CreateUser               unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/GetUser                  unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/ListUsers                unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/UpdateUser               unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/DeleteUser               unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/CreateGroup              unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/ListGroups               unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/DeleteGroup              unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/AddGroupMember           unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/RemoveGroupMember        unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/CreateApiKey             unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/ListApiKeys              unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/DisableApiKey            unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/DeleteApiKey             unauthn  unauthn  denied   denied   denied   ok       ok
execenv.identity.v1.Identity/Authenticate             unauthn  unauthn  denied   denied   denied   denied   ok
execenv.identity.v1.Identity/ListSecurityEvents       unauthn  unauthn  denied   denied   denied   ok       ok
execenv.selector.v1.Selector/Select                   unauthn  unauthn  denied   ok       precond  ok       ok
execenv.selector.v1.Selector/Explain                  unauthn  unauthn  denied   ok       ok       ok       ok
execenv.launcher.v1.Launcher/Launch                   unauthn  unauthn  denied   ok       precond  ok       ok
execenv.launcher.v1.Launcher/Get                      unauthn  unauthn  denied   ok       notfound ok       ok
execenv.launcher.v1.Launcher/List                     unauthn  unauthn  denied   ok       ok       ok       ok
execenv.launcher.v1.Launcher/Watch                    unauthn  unauthn  denied   ok       notfound ok       ok
execenv.launcher.v1.Launcher/Cancel                   unauthn  unauthn  denied   ok       notfound ok       ok
execenv.launcher.v1.Launcher/Logs                     unauthn  unauthn  denied   ok       notfound ok       ok
execenv.sync.v1.ConfigSync/Status                     unauthn  unauthn  denied   ok       ok       ok       ok
execenv.sync.v1.ConfigSync/Plan                       unauthn  unauthn  denied   denied   denied   ok       ok
execenv.examiner.v1.ImageExaminer/Examine             unauthn  unauthn  denied   denied   denied   ok       ok
execenv.examiner.v1.ImageExaminer/ListChecks          unauthn  unauthn  denied   ok       ok       ok       ok
execenv.examiner.v1.ImageExaminer/GetCheck            unauthn  unauthn  denied   ok       notfound ok       ok
execenv.examiner.v1.ImageExaminer/WatchChecks         unauthn  unauthn  denied   ok       ok       ok       ok
execenv.examiner.v1.ImageExaminer/CheckNow            unauthn  unauthn  denied   denied   denied   ok       ok
";

/// What each REST operation answers each caller. Known defects (`today!wanted`): the launches of
/// another publisher (as gRPC's, above). A launch names `pub+`'s
/// content, which only its owner and administrators may build or run.
const REST: &str = "
# operation                                                              none badkey viewer pub+ pub- admin service
GET    /__api__/server_settings                                          200  200    200    200  200  200   200
GET    /__api__/openapi.json                                             200  200    200    200  200  200   200
GET    /__api__/v1/user                                                  401  401    200    200  200  200   401
GET    /__api__/v1/users                                                 401  401    403    403  403  200   401
GET    /__api__/v1/groups                                                401  401    403    403  403  200   401
GET    /__api__/v1/server_settings/{language}                            401  401    403    200  200  200   401
GET    /__api__/v1/environments                                          401  401    403    200  200  200   401
POST   /__api__/v1/environments                                          401  401    403    403  403  200   401
GET    /__api__/v1/environments/{guid}                                   401  401    403    200  404  200   401
PUT    /__api__/v1/environments/{guid}                                   401  401    403    403  403  200   401
DELETE /__api__/v1/environments/{guid}                                   401  401    403    403  403  204   401
GET    /__api__/v1/environments/{guid}/permissions                       401  401    403    403  403  200   401
POST   /__api__/v1/environments/{guid}/permissions                       401  401    403    403  403  200   401
GET    /__api__/v1/environments/{guid}/permissions/{permission_guid}     401  401    403    403  403  200   401
DELETE /__api__/v1/environments/{guid}/permissions/{permission_guid}     401  401    403    403  403  204   401
GET    /__api__/execenv/v1/changes                                       401  401    403    403  403  200   401
GET    /__api__/execenv/v1/security-events                               401  401    403    403  403  200   401
POST   /__api__/execenv/v1/select                                        401  401    403    200  409  200   401
POST   /__api__/execenv/v1/explain                                       401  401    403    200  200  200   401
GET    /__api__/execenv/v1/launches                                      401  401    403    200  200  200   401
POST   /__api__/execenv/v1/launches                                      401  401    403    200  403  200   401  # pub-: another's content
GET    /__api__/execenv/v1/launches/{id}                                 401  401    403    200  404  200   401
POST   /__api__/execenv/v1/launches/{id}/cancel                          401  401    403    200  404  200   401
GET    /__api__/execenv/v1/launches/{id}/logs                            401  401    403    200  404  200   401
GET    /__api__/execenv/v1/content/{guid}/bundles                        401  401    403    200  403  200   401
POST   /__api__/execenv/v1/content/{guid}/bundles                        401  401    403    201  403  201   401
DELETE /__api__/execenv/v1/content/{guid}/bundles/{id}                   401  401    403    204  403  204   401
GET    /__api__/execenv/v1/environments                                  401  401    403    200  200  200   401
GET    /__api__/execenv/v1/sync                                          401  401    403    200  200  200   401
GET    /__api__/execenv/v1/events                                        401  401    200    200  200  200   401
GET    /__api__/execenv/v1/session                                       401  401    200    200  200  200   401
POST   /__api__/execenv/v1/session                                       401  401    200    200  200  200   401
DELETE /__api__/execenv/v1/session                                       401  401    204    204  204  204   401
GET    /__api__/execenv/v1/content/{guid}                                401  401    403    200  403  200   401
GET    /__api__/execenv/v1/content/{guid}/permissions                    401  401    403    200  403  200   401
POST   /__api__/execenv/v1/content/{guid}/permissions                    401  401    403    200  403  200   401
DELETE /__api__/execenv/v1/content/{guid}/permissions/{permission_guid}  401  401    403    204  403  204   401
GET    /content/{guid}                                                   308  308    308    308  308  308   308
GET    /content/{guid}/{path}                                            401  401    403    200  403  200   401
POST   /content/{guid}/{path}                                            401  401    403    200  403  200   401
POST   /content/{guid}                                                   308  308    308    308  308  308   308
PUT    /content/{guid}                                                   308  308    308    308  308  308   308
DELETE /content/{guid}                                                   308  308    308    308  308  308   308
OPTIONS /content/{guid}                                                  308  308    308    308  308  308   308
HEAD   /content/{guid}                                                   308  308    308    308  308  308   308
PATCH  /content/{guid}                                                   308  308    308    308  308  308   308
TRACE  /content/{guid}                                                   308  308    308    308  308  308   308
PUT    /content/{guid}/{path}                                            401  401    403    405  403  405   401
DELETE /content/{guid}/{path}                                            401  401    403    405  403  405   401
OPTIONS /content/{guid}/{path}                                           401  401    403    405  403  405   401
PATCH  /content/{guid}/{path}                                            401  401    403    405  403  405   401
TRACE  /content/{guid}/{path}                                            401  401    403    405  403  405   401
HEAD   /content/{guid}/{path}                                            401  401    403    405  403  405   401
GET    /__api__/execenv/v1/instances                                     401  401    403    200  200  200   401
POST   /__api__/execenv/v1/images/examine                                401  401    403    403  403  200   401
GET    /__api__/execenv/v1/checks                                        401  401    403    200  200  200   401
POST   /__api__/execenv/v1/checks/refresh                                401  401    403    403  403  200   401
GET    /__api__/execenv/v1/environments/{guid}/check                     401  401    403    200  404  200   401
";

/// A well-formed API key that no one has.
const UNKNOWN_KEY: &str = "ee_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// How long one cell may take; a content's cold start is the longest.
const CELL_WITHIN: Duration = Duration::from_secs(180);

#[test]
fn every_method_and_operation_answers_each_kind_of_caller_as_the_table_says() -> Result<()> {
    let started = std::time::Instant::now();
    let grpc = matrix::parse(GRPC, 1)?;
    let rest = matrix::parse(REST, 2)?;
    matrix::same_keys("gRPC", &grpc, &matrix::grpc_methods()?)?;
    let document: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../services/gateway/openapi.json"
    )))?;
    matrix::same_keys("REST", &rest, &matrix::rest_operations(&document)?)?;

    let runtime = tokio::runtime::Runtime::new()?;
    let world = runtime.block_on(World::make())?;
    log_line!(
        "authorisation matrix: fixtures ready after {:?}",
        started.elapsed()
    );

    let mut grpc_answers = Answers::default();
    for row in &grpc {
        let mut answers = Vec::new();
        for who in WHO {
            let answer = runtime
                .block_on(async {
                    tokio::time::timeout(CELL_WITHIN, world.grpc(&row.key, who)).await
                })
                .with_context(|| format!("{} as {who:?} did not answer", row.key))??;
            answers.push(match answer {
                Ok(()) => Answer {
                    got: "ok".to_owned(),
                    detail: String::new(),
                },
                Err(status) => Answer {
                    got: matrix::code_name(status.code()).to_owned(),
                    detail: matrix::shorten(status.message(), 200),
                },
            });
        }
        grpc_answers.record(row, answers);
    }
    let mut rest_answers = Answers::default();
    for row in &rest {
        let mut answers = Vec::new();
        for who in WHO {
            let (status, body) = runtime
                .block_on(world.rest(&row.key, who))
                .with_context(|| format!("{} as {who:?}", row.key))?;
            answers.push(Answer {
                got: status.to_string(),
                detail: matrix::shorten(&body, 200),
            });
        }
        rest_answers.record(row, answers);
    }

    let (grpc_table, mut differences) = grpc_answers.report(52);
    let (rest_table, rest_differences) = rest_answers.report(72);
    differences.extend(rest_differences);
    log_line!(
        "authorisation matrix ({} gRPC methods, {} REST operations, {} columns: {}) after {:?}; `!` marks a known defect:\n{grpc_table}\n{rest_table}",
        grpc.len(),
        rest.len(),
        COLUMNS.len(),
        COLUMNS.join(", "),
        started.elapsed()
    );
    if !differences.is_empty() {
        bail!(
            "{} cells differ from the table:\n{}",
            differences.len(),
            differences.join("\n")
        );
    }
    Ok(())
}

/// A kind of caller, one per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    BadKey,
    Viewer,
    PubIn,
    PubOut,
    Admin,
    Service,
}

const WHO: [Who; 7] = [
    Who::Nobody,
    Who::BadKey,
    Who::Viewer,
    Who::PubIn,
    Who::PubOut,
    Who::Admin,
    Who::Service,
];

/// The stack and what the requests name.
struct World {
    stack: SecuredStack,
    viewer: (id::User, String),
    pub_in: (id::User, String),
    pub_out: (id::User, String),
    admin: (id::User, String),
    /// The group `pub+` is a member of.
    group: id::Group,
    /// A user the identity calls read and change.
    someone: id::User,
    /// The environment open only to `pub+`, with this machine's Python, and its permission.
    restricted: (String, String),
    /// An environment the updates change.
    changing: String,
    /// The interactive content of `pub+`, built, and its bundle.
    app: (String, String),
    /// Content of `pub+` whose bundles are uploaded and deleted.
    playground: String,
    /// A finished run of the app by `pub+`.
    finished: String,
    /// A cancelled run of the app by `pub+`.
    cancelled: String,
    channels: Channels,
}

struct Channels {
    registry: Channel,
    selector: Channel,
    launcher: Channel,
    config_sync: Channel,
    examiner: Channel,
}

impl World {
    async fn make() -> Result<World> {
        let stack = SecuredStack::start(&StackOptions::default())?;
        let viewer = stack.user_with_key("vera", "viewer").await?;
        let pub_in = stack.user_with_key("pia", "publisher").await?;
        let pub_out = stack.user_with_key("otto", "publisher").await?;
        let admin = stack.user_with_key("ada", "administrator").await?;
        let (someone, _) = stack.user_with_key("sam", "viewer").await?;
        let mut identity = stack.identity().await?;
        let group = identity
            .create_group(stack.as_service(id::CreateGroupRequest {
                name: "insiders".to_owned(),
            })?)
            .await?
            .into_inner();
        let group = identity
            .add_group_member(stack.as_service(id::GroupMemberRequest {
                group: group.guid.clone(),
                user: pub_in.0.guid.clone(),
            })?)
            .await?
            .into_inner();
        let (restricted, permission) = stack
            .environment(&stack.image, "Restricted", true, Some(&pub_in.0.guid))
            .await?;
        let (changing, _) = stack
            .environment(
                &scratch_image(&stack),
                "Changing",
                false,
                Some(&pub_in.0.guid),
            )
            .await?;
        let channels = Channels {
            registry: Channel::from_shared(stack.registry.url.clone())?
                .connect()
                .await?,
            selector: Channel::from_shared(stack.selector.url.clone())?
                .connect()
                .await?,
            launcher: Channel::from_shared(stack.launcher.url.clone())?
                .connect()
                .await?,
            config_sync: Channel::from_shared(stack.config_sync.url.clone())?
                .connect()
                .await?,
            examiner: Channel::from_shared(stack.examiner.url.clone())?
                .connect()
                .await?,
        };
        let mut world = World {
            viewer,
            pub_in,
            pub_out,
            admin,
            group,
            someone,
            restricted: (restricted.guid, permission),
            changing: changing.guid,
            app: (String::new(), String::new()),
            playground: String::new(),
            finished: String::new(),
            cancelled: String::new(),
            channels,
            stack,
        };
        world.publish()?;
        Ok(world)
    }

    /// `pub+`'s content: the FastAPI app, built; a run of it that finished, one cancelled; and
    /// content with a small bundle.
    fn publish(&mut self) -> Result<()> {
        let client = content::Client {
            api: self.stack.gateway.address(),
            key: &self.pub_in.1,
        };
        let version = self.stack.python.1.clone();
        let app = uuid::Uuid::new_v4().to_string();
        let pip = content::offline_pip(&content::wheelhouse()?);
        let bundle = client.publish(&app, TestApp::FastApi, &version, None, &pip)?;
        let manifest = TestApp::FastApi.manifest(&version, None);
        let run = |command: Value| {
            client.call(
                "POST",
                "/__api__/execenv/v1/launches",
                Some(&json!({"kind": "run", "content": {"guid": app, "bundle": bundle, "manifest": manifest}, "command": command})),
                200,
            )
        };
        let finished = run(json!(["python", "-c", "print('finished')"]))?;
        let finished = finished["id"].as_str().context("a launch id")?.to_owned();
        let ended = client.launch_until(&finished, content::BUILD_WITHIN, "finished", |l| {
            matches!(
                l["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })?;
        ensure!(ended["state"] == "succeeded", "the run ended: {ended}");
        let sleeping = run(json!(["python", "-c", "import time; time.sleep(300)"]))?;
        let cancelled = sleeping["id"].as_str().context("a launch id")?.to_owned();
        client.call(
            "POST",
            &format!("/__api__/execenv/v1/launches/{cancelled}/cancel"),
            None,
            200,
        )?;
        client.launch_until(&cancelled, content::BUILD_WITHIN, "cancelled", |l| {
            l["state"] == "cancelled"
        })?;
        self.playground = self.fresh_content()?;
        self.app = (app, bundle);
        self.finished = finished;
        self.cancelled = cancelled;
        Ok(())
    }

    /// New content of `pub+` with a small bundle; its guid.
    fn fresh_content(&self) -> Result<String> {
        let guid = uuid::Uuid::new_v4().to_string();
        self.upload(&guid)?;
        Ok(guid)
    }

    /// Uploads a small bundle to content `guid` as `pub+`; its id.
    fn upload(&self, guid: &str) -> Result<String> {
        content::Client {
            api: self.stack.gateway.address(),
            key: &self.pub_in.1,
        }
        .upload(guid, &small_bundle(&self.stack.python.1))
    }

    fn person(&self, who: Who) -> Option<&(id::User, String)> {
        match who {
            Who::Viewer => Some(&self.viewer),
            Who::PubIn => Some(&self.pub_in),
            Who::PubOut => Some(&self.pub_out),
            Who::Admin => Some(&self.admin),
            Who::Nobody | Who::BadKey | Who::Service => None,
        }
    }

    /// `message` as `who` sends it over gRPC.
    fn ask<T>(&self, who: Who, message: T) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let md = request.metadata_mut();
        let token = match who {
            Who::Nobody => None,
            Who::BadKey => Some(format!("{}-but-wrong", self.stack.token)),
            _ => Some(self.stack.token.clone()),
        };
        if let Some(token) = token {
            md.insert("authorization", format!("Bearer {token}").parse()?);
        }
        let person = match who {
            Who::BadKey => Some(&self.admin),
            other => self.person(other),
        };
        if let Some((user, _)) = person {
            md.insert("x-execenv-user", user.guid.parse()?);
            md.insert("x-execenv-role", user.role.parse()?);
            if !user.group_guids.is_empty() {
                md.insert("x-execenv-groups", user.group_guids.join(",").parse()?);
            }
        }
        Ok(request)
    }

    /// Calls gRPC `method` as `who`; the answer.
    async fn grpc(&self, method: &str, who: Who) -> Result<Result<(), Status>> {
        let c = &self.channels;
        let mut registry = RegistryClient::new(c.registry.clone());
        let mut identity = IdentityClient::new(c.registry.clone());
        let mut selector = SelectorClient::new(c.selector.clone());
        let mut launcher = LauncherClient::new(c.launcher.clone());
        let mut sync = ConfigSyncClient::new(c.config_sync.clone());
        let mut examiner = ImageExaminerClient::new(c.examiner.clone());
        let stack = &self.stack;
        let restricted = self.restricted.0.clone();
        let someone = self.someone.guid.clone();
        let answer = match method.rsplit('.').next().unwrap_or_default() {
            "Registry/CreateEnvironment" => registry
                .create_environment(self.ask(
                    who,
                    reg::CreateEnvironmentRequest {
                        environment: Some(env_pb::EnvironmentSpec {
                            name: scratch_image(stack),
                            ..Default::default()
                        }),
                    },
                )?)
                .await
                .map(drop),
            "Registry/GetEnvironment" => registry
                .get_environment(self.ask(who, reg::GetEnvironmentRequest { guid: restricted })?)
                .await
                .map(drop),
            "Registry/UpdateEnvironment" => registry
                .update_environment(self.ask(
                    who,
                    reg::UpdateEnvironmentRequest {
                        guid: self.changing.clone(),
                        environment: Some(env_pb::EnvironmentSpec {
                            title: Some(format!("Changed by {who:?}")),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["title".to_owned()],
                        }),
                        expected_revision: 0,
                    },
                )?)
                .await
                .map(drop),
            "Registry/DeleteEnvironment" => {
                let guid = self.fresh_environment().await?.0;
                registry
                    .delete_environment(self.ask(
                        who,
                        reg::DeleteEnvironmentRequest {
                            guid,
                            expected_revision: 0,
                        },
                    )?)
                    .await
                    .map(drop)
            }
            "Registry/ListEnvironments" => registry
                .list_environments(self.ask(who, reg::ListEnvironmentsRequest::default())?)
                .await
                .map(drop),
            "Registry/ListPermissions" => registry
                .list_permissions(self.ask(
                    who,
                    reg::ListPermissionsRequest {
                        environment_guid: restricted,
                    },
                )?)
                .await
                .map(drop),
            "Registry/AddPermission" => {
                let guid = self.fresh_environment().await?.0;
                registry
                    .add_permission(self.ask(
                        who,
                        reg::AddPermissionRequest {
                            environment_guid: guid,
                            user_guid: None,
                            group_guid: Some(self.group.guid.clone()),
                        },
                    )?)
                    .await
                    .map(drop)
            }
            "Registry/RemovePermission" => {
                let (guid, permission) = self.fresh_environment().await?;
                registry
                    .remove_permission(self.ask(
                        who,
                        reg::RemovePermissionRequest {
                            environment_guid: guid,
                            permission_guid: permission,
                        },
                    )?)
                    .await
                    .map(drop)
            }
            "Registry/WatchEnvironments" => registry
                .watch_environments(
                    self.ask(who, reg::WatchEnvironmentsRequest { from_revision: 0 })?,
                )
                .await
                .map(drop),
            "Registry/ListChanges" => registry
                .list_changes(self.ask(who, reg::ListChangesRequest::default())?)
                .await
                .map(drop),
            "Registry/ApplyManagedSet" => registry
                .apply_managed_set(self.ask(
                    who,
                    reg::ApplyManagedSetRequest {
                        definitions: vec![env_pb::EnvironmentSpec {
                            name: stack.managed_image.clone(),
                            title: Some("From the file".to_owned()),
                            ..Default::default()
                        }],
                        dry_run: true,
                        field_prefix: String::new(),
                        fence: None,
                    },
                )?)
                .await
                .map(drop),
            "Registry/Bootstrap" => registry
                .bootstrap(self.ask(who, reg::BootstrapRequest::default())?)
                .await
                .map(drop),
            "Identity/CreateUser" => identity
                .create_user(self.ask(
                    who,
                    id::CreateUserRequest {
                        username: fresh_name("user"),
                        role: "viewer".to_owned(),
                        ..Default::default()
                    },
                )?)
                .await
                .map(drop),
            "Identity/GetUser" => identity
                .get_user(self.ask(who, id::GetUserRequest { user: someone })?)
                .await
                .map(drop),
            "Identity/ListUsers" => identity
                .list_users(self.ask(who, id::ListUsersRequest {})?)
                .await
                .map(drop),
            "Identity/UpdateUser" => identity
                .update_user(self.ask(
                    who,
                    id::UpdateUserRequest {
                        user: someone,
                        email: Some("sam@example.com".to_owned()),
                        ..Default::default()
                    },
                )?)
                .await
                .map(drop),
            "Identity/DeleteUser" => {
                let (user, _) = stack.user_with_key(&fresh_name("gone"), "viewer").await?;
                identity
                    .delete_user(self.ask(who, id::DeleteUserRequest { user: user.guid })?)
                    .await
                    .map(drop)
            }
            "Identity/CreateGroup" => identity
                .create_group(self.ask(
                    who,
                    id::CreateGroupRequest {
                        name: fresh_name("group"),
                    },
                )?)
                .await
                .map(drop),
            "Identity/ListGroups" => identity
                .list_groups(self.ask(who, id::ListGroupsRequest {})?)
                .await
                .map(drop),
            "Identity/DeleteGroup" => {
                let group = self.fresh_group(false).await?;
                identity
                    .delete_group(self.ask(who, id::DeleteGroupRequest { group })?)
                    .await
                    .map(drop)
            }
            "Identity/AddGroupMember" => {
                let group = self.fresh_group(false).await?;
                identity
                    .add_group_member(self.ask(
                        who,
                        id::GroupMemberRequest {
                            group,
                            user: someone,
                        },
                    )?)
                    .await
                    .map(drop)
            }
            "Identity/RemoveGroupMember" => {
                let group = self.fresh_group(true).await?;
                identity
                    .remove_group_member(self.ask(
                        who,
                        id::GroupMemberRequest {
                            group,
                            user: someone,
                        },
                    )?)
                    .await
                    .map(drop)
            }
            "Identity/CreateApiKey" => identity
                .create_api_key(self.ask(
                    who,
                    id::CreateApiKeyRequest {
                        user: someone,
                        name: fresh_name("key"),
                    },
                )?)
                .await
                .map(drop),
            "Identity/ListSecurityEvents" => identity
                .list_security_events(self.ask(who, id::ListSecurityEventsRequest::default())?)
                .await
                .map(drop),
            "Identity/ListApiKeys" => identity
                .list_api_keys(self.ask(who, id::ListApiKeysRequest { user: None })?)
                .await
                .map(drop),
            "Identity/DisableApiKey" => {
                let key = self.fresh_key().await?;
                identity
                    .disable_api_key(self.ask(who, id::DisableApiKeyRequest { id: key })?)
                    .await
                    .map(drop)
            }
            "Identity/DeleteApiKey" => {
                let key = self.fresh_key().await?;
                identity
                    .delete_api_key(self.ask(who, id::DeleteApiKeyRequest { id: key })?)
                    .await
                    .map(drop)
            }
            "Identity/Authenticate" => identity
                .authenticate(self.ask(
                    who,
                    id::AuthenticateRequest {
                        key: self.viewer.1.clone(),
                        client_address: String::new(),
                    },
                )?)
                .await
                .map(drop),
            "Selector/Select" => selector
                .select(self.ask(who, self.selection())?)
                .await
                .map(drop),
            "Selector/Explain" => selector
                .explain(self.ask(who, self.selection())?)
                .await
                .map(drop),
            "Launcher/Launch" => launcher
                .launch(self.ask(who, self.run_request())?)
                .await
                .map(drop),
            "Launcher/Get" => launcher
                .get(self.ask(
                    who,
                    lau::GetLaunchRequest {
                        id: self.finished.clone(),
                    },
                )?)
                .await
                .map(drop),
            "Launcher/List" => launcher
                .list(self.ask(who, lau::ListLaunchesRequest::default())?)
                .await
                .map(drop),
            "Launcher/Watch" => launcher
                .watch(self.ask(
                    who,
                    lau::WatchLaunchesRequest {
                        id: self.finished.clone(),
                    },
                )?)
                .await
                .map(drop),
            "Launcher/Cancel" => launcher
                .cancel(self.ask(
                    who,
                    lau::CancelLaunchRequest {
                        id: self.cancelled.clone(),
                    },
                )?)
                .await
                .map(drop),
            "Launcher/Logs" => launcher
                .logs(self.ask(
                    who,
                    lau::LogsRequest {
                        id: self.finished.clone(),
                        follow: false,
                    },
                )?)
                .await
                .map(drop),
            "ConfigSync/Status" => sync
                .status(self.ask(who, syn::StatusRequest {})?)
                .await
                .map(drop),
            "ConfigSync/Plan" => sync
                .plan(self.ask(who, syn::PlanRequest {})?)
                .await
                .map(drop),
            "ImageExaminer/Examine" => examiner
                .examine(self.ask(
                    who,
                    exa::ExamineRequest {
                        image: stack.image.clone(),
                        platform: String::new(),
                        refresh: false,
                    },
                )?)
                .await
                .map(drop),
            "ImageExaminer/ListChecks" => examiner
                .list_checks(self.ask(who, exa::ListChecksRequest {})?)
                .await
                .map(drop),
            "ImageExaminer/GetCheck" => examiner
                .get_check(self.ask(who, exa::GetCheckRequest { guid: restricted })?)
                .await
                .map(drop),
            "ImageExaminer/WatchChecks" => examiner
                .watch_checks(self.ask(who, exa::WatchChecksRequest {})?)
                .await
                .map(drop),
            "ImageExaminer/CheckNow" => examiner
                .check_now(self.ask(who, exa::CheckNowRequest {})?)
                .await
                .map(drop),
            other => bail!("the test has no request for the gRPC method {other}: add one"),
        };
        Ok(answer)
    }

    /// A selection naming the restricted environment and this machine's Python.
    fn selection(&self) -> sel::SelectRequest {
        sel::SelectRequest {
            requirements: Some(sel::Requirements {
                python_version: Some(self.stack.python.1.clone()),
                target_environment_guid: Some(self.restricted.0.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A run of `pub+`'s app that ends at once.
    fn run_request(&self) -> lau::LaunchRequest {
        lau::LaunchRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            kind: lau::Kind::Run as i32,
            content: Some(lau::Content {
                guid: self.app.0.clone(),
                bundle: self.app.1.clone(),
                requirements: Some(sel::Requirements {
                    python_version: Some(self.stack.python.1.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            command: vec!["python".to_owned(), "-c".to_owned(), "pass".to_owned()],
            ..Default::default()
        }
    }

    /// A new environment open only to `pub+`; its guid and that permission's.
    async fn fresh_environment(&self) -> Result<(String, String)> {
        let (env, permission) = self
            .stack
            .environment(
                &scratch_image(&self.stack),
                "Fresh",
                false,
                Some(&self.pub_in.0.guid),
            )
            .await?;
        Ok((env.guid, permission))
    }

    /// A new group, with the user the identity calls change as a member when `member`; its guid.
    async fn fresh_group(&self, member: bool) -> Result<String> {
        let mut identity = self.stack.identity().await?;
        let group = identity
            .create_group(self.stack.as_service(id::CreateGroupRequest {
                name: fresh_name("group"),
            })?)
            .await?
            .into_inner();
        if member {
            identity
                .add_group_member(self.stack.as_service(id::GroupMemberRequest {
                    group: group.guid.clone(),
                    user: self.someone.guid.clone(),
                })?)
                .await?;
        }
        Ok(group.guid)
    }

    /// A new key of the user the identity calls change; its id.
    async fn fresh_key(&self) -> Result<String> {
        let mut identity = self.stack.identity().await?;
        let created = identity
            .create_api_key(self.stack.as_service(id::CreateApiKeyRequest {
                user: self.someone.guid.clone(),
                name: fresh_name("key"),
            })?)
            .await?
            .into_inner();
        Ok(created
            .api_key
            .context("a created key without its record")?
            .id)
    }

    /// Calls REST `operation` as `who`; the status and body.
    async fn rest(&self, operation: &str, who: Who) -> Result<(u16, String)> {
        let (method, template) = operation
            .split_once(' ')
            .context("an operation without a path")?;
        let restricted = self.restricted.0.clone();
        let (app, _) = &self.app;
        let mut body: Option<Value> = None;
        let mut gzip: Option<Vec<u8>> = None;
        let path = match operation {
            "GET /__api__/v1/server_settings/{language}" => {
                "/__api__/v1/server_settings/python".to_owned()
            }
            "POST /__api__/v1/environments" => {
                body = Some(json!({"name": scratch_image(&self.stack), "title": "Made"}));
                template.to_owned()
            }
            "GET /__api__/v1/environments/{guid}"
            | "GET /__api__/v1/environments/{guid}/permissions"
            | "GET /__api__/execenv/v1/environments/{guid}/check" => {
                template.replace("{guid}", &restricted)
            }
            "PUT /__api__/v1/environments/{guid}" => {
                body = Some(json!({"title": format!("Changed by {who:?}")}));
                template.replace("{guid}", &self.changing)
            }
            "DELETE /__api__/v1/environments/{guid}" => {
                template.replace("{guid}", &self.fresh_environment().await?.0)
            }
            "POST /__api__/v1/environments/{guid}/permissions" => {
                body = Some(json!({"group_guid": self.group.guid}));
                template.replace("{guid}", &self.fresh_environment().await?.0)
            }
            "GET /__api__/v1/environments/{guid}/permissions/{permission_guid}" => template
                .replace("{guid}", &restricted)
                .replace("{permission_guid}", &self.restricted.1),
            "DELETE /__api__/v1/environments/{guid}/permissions/{permission_guid}" => {
                let (guid, permission) = self.fresh_environment().await?;
                template
                    .replace("{guid}", &guid)
                    .replace("{permission_guid}", &permission)
            }
            "POST /__api__/execenv/v1/select" | "POST /__api__/execenv/v1/explain" => {
                body = Some(json!({"requirements": {
                    "python_version": self.stack.python.1,
                    "target_environment_guid": restricted,
                }}));
                template.to_owned()
            }
            "POST /__api__/execenv/v1/launches" => {
                body = Some(
                    json!({"kind": "run", "content": {"guid": app, "bundle": self.app.1},
                    "command": ["python", "-c", "pass"]}),
                );
                template.to_owned()
            }
            "GET /__api__/execenv/v1/launches/{id}"
            | "GET /__api__/execenv/v1/launches/{id}/logs" => {
                template.replace("{id}", &self.finished)
            }
            "POST /__api__/execenv/v1/launches/{id}/cancel" => {
                template.replace("{id}", &self.cancelled)
            }
            "GET /__api__/execenv/v1/content/{guid}/bundles" => {
                template.replace("{guid}", &self.playground)
            }
            "POST /__api__/execenv/v1/content/{guid}/bundles" => {
                gzip = Some(small_bundle(&self.stack.python.1));
                template.replace("{guid}", &self.playground)
            }
            "DELETE /__api__/execenv/v1/content/{guid}/bundles/{id}" => {
                let bundle = self.upload(&self.playground)?;
                template
                    .replace("{guid}", &self.playground)
                    .replace("{id}", &bundle)
            }
            "GET /__api__/execenv/v1/content/{guid}"
            | "GET /__api__/execenv/v1/content/{guid}/permissions"
            | "GET /content/{guid}" => template.replace("{guid}", app),
            "POST /__api__/execenv/v1/content/{guid}/permissions" => {
                body = Some(json!({"group_guid": self.group.guid}));
                template.replace("{guid}", &self.fresh_content()?)
            }
            "DELETE /__api__/execenv/v1/content/{guid}/permissions/{permission_guid}" => {
                let (guid, permission) = self.content_permission()?;
                template
                    .replace("{guid}", &guid)
                    .replace("{permission_guid}", &permission)
            }
            "GET /content/{guid}/{path}" => format!("/content/{app}/items/tea?q=1"),
            "POST /content/{guid}/{path}" => {
                body = Some(json!([1, 2, 3]));
                format!("/content/{app}/sum")
            }
            // Every other method reaches the app the same way (it answers those it has no route
            // for with 405); on the bare content path, every method is redirected.
            _ if template == "/content/{guid}" => template.replace("{guid}", app),
            _ if template == "/content/{guid}/{path}" => format!("/content/{app}/items/tea"),
            "POST /__api__/execenv/v1/images/examine" => {
                body = Some(json!({"image": self.stack.image}));
                template.to_owned()
            }
            "GET /__api__/execenv/v1/session"
            | "POST /__api__/execenv/v1/session"
            | "DELETE /__api__/execenv/v1/session" => return self.session(method, who),
            _ if template.contains('{') => {
                bail!("the test has no request for the REST operation {operation}: add one")
            }
            _ => template.to_owned(),
        };
        let authorization = match who {
            Who::Nobody => None,
            Who::BadKey => Some(format!("Key {UNKNOWN_KEY}")),
            Who::Service => Some(format!("Key {}", self.stack.token)),
            person => self.person(person).map(|(_, key)| format!("Key {key}")),
        };
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let json_body = body.map(|b| b.to_string());
        let payload = match (&gzip, &json_body) {
            (Some(bytes), _) => Some(("application/gzip", bytes.as_slice())),
            (None, Some(text)) => Some(("application/json", text.as_bytes())),
            (None, None) => None,
        };
        matrix::http_status(
            self.stack.gateway.address(),
            method,
            &path,
            &headers,
            payload,
            CELL_WITHIN,
        )
    }

    /// The session routes, whose credentials are a session's cookie (signing in: a key in the
    /// body). Each cell signs in anew: signing out ends the session.
    fn session(&self, method: &str, who: Who) -> Result<(u16, String)> {
        let address = self.stack.gateway.address();
        let path = "/__api__/execenv/v1/session";
        let key = match who {
            Who::Nobody => String::new(),
            Who::BadKey => UNKNOWN_KEY.to_owned(),
            Who::Service => self.stack.token.clone(),
            person => self
                .person(person)
                .map(|(_, k)| k.clone())
                .unwrap_or_default(),
        };
        if method == "POST" {
            let body = json!({"api_key": key}).to_string();
            return matrix::http_status(
                address,
                method,
                path,
                &[],
                Some(("application/json", body.as_bytes())),
                CELL_WITHIN,
            );
        }
        let (cookie, csrf) = match who {
            Who::Nobody => (None, String::new()),
            Who::BadKey | Who::Service => (Some(format!("execenv_session={key}")), String::new()),
            _ => {
                let signed_in = execenv_e2e::http_request(
                    address,
                    "POST",
                    path,
                    &[],
                    Some(&json!({"api_key": key})),
                )?;
                let cookie = signed_in
                    .header("set-cookie")
                    .and_then(|c| c.split(';').next())
                    .context("signing in set no cookie")?
                    .to_owned();
                let csrf = signed_in.json()?["csrf_token"]
                    .as_str()
                    .context("signing in gave no CSRF token")?
                    .to_owned();
                (Some(cookie), csrf)
            }
        };
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie));
            headers.push(("X-CSRF-Token", &csrf));
        }
        matrix::http_status(address, method, path, &headers, None, CELL_WITHIN)
    }

    /// New content of `pub+` with one permission (the group); its guid and the permission's.
    fn content_permission(&self) -> Result<(String, String)> {
        let guid = self.fresh_content()?;
        let added = content::Client {
            api: self.stack.gateway.address(),
            key: &self.pub_in.1,
        }
        .call(
            "POST",
            &format!("/__api__/execenv/v1/content/{guid}/permissions"),
            Some(&json!({"group_guid": self.group.guid})),
            200,
        )?;
        let permission = added["guid"]
            .as_str()
            .or_else(|| added["id"].as_str())
            .with_context(|| format!("a content permission without its guid: {added}"))?
            .to_owned();
        Ok((guid, permission))
    }
}

/// A new image name in the stack's OCI registry (not pushed: its check finds it missing).
fn scratch_image(stack: &SecuredStack) -> String {
    stack.oci.reference(&format!("{}:1", fresh_name("scratch")))
}

/// `prefix` and 8 random hex digits.
fn fresh_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..8])
}

/// A Python script bundle for `version` (nothing to install).
fn small_bundle(version: &str) -> Vec<u8> {
    RawTar::default()
        .manifest(&python_manifest(version).to_string())
        .file("app.py", "print('hello')\n")
        .file("requirements.txt", "")
        .gz()
}
