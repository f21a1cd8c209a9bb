//! The six services as a secured deployment runs them — every one requiring the service token,
//! the gateway in front — with the launcher on local processes, the image examiner reading a real
//! OCI registry holding one image, and config-sync on a declarative file: the stack the
//! authorisation matrix and the secrets scenario run against. Users and environments are made
//! over gRPC as the service itself (execenvctl is not told the token).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use execenv_proto::environments::v1 as env_pb;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use tonic::transport::Channel;

use crate::oci_images::{Compression, Image, Layer, push, write_layout};
use crate::oci_registry::OciRegistry;
use crate::python::{host_python, host_python_version};
use crate::{RegistryProcess, ServiceProcess, content, sqlite_url};

/// How the stack is started.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// The registry's database URL; none: SQLite in the stack's folder.
    pub database_url: Option<String>,
    /// Settings every service gets (a log level, say).
    pub env: Vec<(&'static str, String)>,
}

/// The running stack; each process is killed (the launcher stopped) when dropped.
pub struct SecuredStack {
    // Fields drop in declaration order: the callers first, the registry last.
    /// The gateway (REST API).
    pub gateway: ServiceProcess,
    /// The image examiner, reading [`SecuredStack::oci`].
    pub examiner: ServiceProcess,
    /// The launcher, on local processes.
    pub launcher: ServiceProcess,
    /// The selector.
    pub selector: ServiceProcess,
    /// config-sync, on a file defining [`SecuredStack::managed_image`].
    pub config_sync: ServiceProcess,
    /// The registry.
    pub registry: RegistryProcess,
    /// The OCI registry holding [`SecuredStack::image`].
    pub oci: OciRegistry,
    /// The service token every service requires.
    pub token: String,
    /// An image in [`SecuredStack::oci`] holding a Python at `/opt/python/default`.
    pub image: String,
    /// The one environment of the declarative file.
    pub managed_image: String,
    /// This machine's Python interpreter and its version.
    pub python: (String, String),
    /// The launcher's data folder, where the gateway writes bundles.
    pub data: PathBuf,
    /// The declarative file config-sync follows.
    pub file: PathBuf,
    // Holds the database, the file, the data folder and the logs; removed last.
    dir: tempfile::TempDir,
}

impl SecuredStack {
    /// Starts the OCI registry (with its image) and the six services, all ready.
    pub fn start(options: &StackOptions) -> Result<SecuredStack> {
        let dir = tempfile::tempdir()?;
        let token = format!("svc-{}", uuid::Uuid::new_v4().simple());
        let oci = OciRegistry::start()?;
        let layer = Layer::new(Compression::GZIP).python("/opt/python/default", "3.11.2");
        let layout = write_layout(
            &dir.path().join("image"),
            "latest",
            &[Image::new("linux/amd64").layer(layer)],
        )?;
        let image = push(&layout, &oci, "python:matrix")?;
        let managed_image = oci.reference("managed:1");
        let file = dir.path().join("environments.yaml");
        std::fs::write(
            &file,
            format!("- name: {managed_image}\n  title: From the file\n"),
        )?;
        let mut common = vec![("EXECENV_AUTH__SERVICE_TOKEN", token.clone())];
        common.extend(options.env.iter().cloned());
        let with = |more: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
            common.iter().chain(more).cloned().collect()
        };
        let database = options
            .database_url
            .clone()
            .unwrap_or_else(|| sqlite_url(dir.path()));
        let registry = RegistryProcess::start(&database, dir.path(), &with(&[]))?;
        let config_sync = ServiceProcess::config_sync(
            &registry,
            dir.path(),
            &with(&[("EXECENV_SYNC__FILE", file.display().to_string())]),
        )?;
        let examiner = ServiceProcess::image_examiner(
            &registry,
            dir.path(),
            &with(&[
                (
                    "EXECENV_EXAMINER__INSECURE_REGISTRIES",
                    oci.host().to_owned(),
                ),
                ("EXECENV_EXAMINER__REQUEST_TIMEOUT_S", "5".to_owned()),
            ]),
        )?;
        let selector = ServiceProcess::selector(
            &registry,
            dir.path(),
            &with(&[("EXECENV_EXAMINER__URL", examiner.url.clone())]),
        )?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let wheelhouse = content::wheelhouse()?;
        let launcher = ServiceProcess::launcher(
            &selector,
            dir.path(),
            &with(&[
                ("EXECENV_LAUNCHER__BACKEND", "local".to_owned()),
                ("EXECENV_LOCAL__DATA_DIR", data.display().to_string()),
                ("PIP_NO_INDEX", "1".to_owned()),
                ("PIP_FIND_LINKS", wheelhouse.display().to_string()),
            ]),
        )?;
        let gateway = ServiceProcess::gateway(
            &registry,
            dir.path(),
            &with(&[
                ("EXECENV_SELECTOR__URL", selector.url.clone()),
                ("EXECENV_LAUNCHER__URL", launcher.url.clone()),
                ("EXECENV_CONFIG_SYNC__URL", config_sync.url.clone()),
                ("EXECENV_EXAMINER__URL", examiner.url.clone()),
                ("EXECENV_BUNDLES__DIR", data.display().to_string()),
                // The matrix sends over a hundred refused keys from this one address: the
                // throttle of failed sign-ins is off here and has its own test (gateway_limits).
                ("EXECENV_LIMITS__AUTH_FAILURE_BURST", "0".to_owned()),
            ]),
        )?;
        Ok(SecuredStack {
            gateway,
            examiner,
            launcher,
            selector,
            config_sync,
            registry,
            oci,
            token,
            image,
            managed_image,
            python: (host_python()?, host_python_version()?),
            data,
            file,
            dir,
        })
    }

    /// The folder holding the logs (and everything else of the stack).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Each service's name and process, the gateway first.
    pub fn services(&self) -> [(&'static str, &ServiceProcess); 6] {
        [
            ("gateway", &self.gateway),
            ("image-examiner", &self.examiner),
            ("launcher", &self.launcher),
            ("selector", &self.selector),
            ("config-sync", &self.config_sync),
            ("environment-registry", &self.registry),
        ]
    }

    /// A request carrying the service token and nothing else: the service acting as itself.
    pub fn as_service<T>(&self, message: T) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .context("a service token that is not ASCII")?,
        );
        Ok(request)
    }

    /// The registry's Identity service.
    pub async fn identity(&self) -> Result<IdentityClient<Channel>> {
        Ok(IdentityClient::connect(self.registry.url.clone()).await?)
    }

    /// The registry's Registry service.
    pub async fn catalogue(&self) -> Result<RegistryClient<Channel>> {
        Ok(RegistryClient::connect(self.registry.url.clone()).await?)
    }

    /// Creates the user `username` with `role` and a key of theirs; the user and the key.
    pub async fn user_with_key(&self, username: &str, role: &str) -> Result<(id::User, String)> {
        let mut identity = self.identity().await?;
        let user = identity
            .create_user(self.as_service(id::CreateUserRequest {
                username: username.to_owned(),
                role: role.to_owned(),
                ..Default::default()
            })?)
            .await?
            .into_inner();
        let key = identity
            .create_api_key(self.as_service(id::CreateApiKeyRequest {
                user: user.guid.clone(),
                name: "e2e".to_owned(),
            })?)
            .await?
            .into_inner()
            .key;
        Ok((user, key))
    }

    /// Creates an environment for `image` titled `title`, with this machine's Python when
    /// `python`, open only to `user` when given (else to every publisher); it and the guid of
    /// that permission (empty when open).
    pub async fn environment(
        &self,
        image: &str,
        title: &str,
        python: bool,
        user: Option<&str>,
    ) -> Result<(env_pb::Environment, String)> {
        let mut catalogue = self.catalogue().await?;
        let installations = if python {
            vec![env_pb::Installation {
                version: self.python.1.clone(),
                path: self.python.0.clone(),
            }]
        } else {
            Vec::new()
        };
        let spec = env_pb::EnvironmentSpec {
            name: image.to_owned(),
            title: Some(title.to_owned()),
            python: Some(env_pb::Installations { installations }),
            ..Default::default()
        };
        let created = catalogue
            .create_environment(self.as_service(reg::CreateEnvironmentRequest {
                environment: Some(spec),
            })?)
            .await?
            .into_inner();
        let Some(user) = user else {
            return Ok((created, String::new()));
        };
        let permission = catalogue
            .add_permission(self.as_service(reg::AddPermissionRequest {
                environment_guid: created.guid.clone(),
                user_guid: Some(user.to_owned()),
                group_guid: None,
            })?)
            .await?
            .into_inner();
        Ok((created, permission.guid))
    }
}
