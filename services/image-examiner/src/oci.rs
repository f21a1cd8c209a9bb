//! The real [`ImageSource`]: registries read with `execenv-oci` ([`ImageReader`]), with the
//! examiner's platform, credentials, plain-HTTP registries, CAs and request timeout.

use execenv_core::examine::UnreadableKind;
use execenv_oci::{
    DockerConfig, ImageReader, ImageTree, Platform, ReadError, ReaderOptions, Resolved, registry_of,
};

use crate::config::ExaminerConfig;
use crate::source::{ImageSource, Manifest, Unreadable};

/// Images read from their registries.
pub struct RegistrySource {
    reader: ImageReader,
    /// `examiner.allowed_registries`, lower case; empty: every registry.
    allowed: Vec<String>,
}

impl RegistrySource {
    /// A source configured by `config`; the message of a failure names the setting to fix (a
    /// platform that does not parse, a Docker config that is missing or broken, a CA file).
    pub fn new(config: &ExaminerConfig) -> Result<RegistrySource, String> {
        let platform = Platform::parse(&config.platform)
            .map_err(|e| format!("examiner.platform (EXECENV_EXAMINER__PLATFORM): {e}"))?;
        let credentials = match &config.docker_config {
            None => DockerConfig::empty(),
            Some(path) => DockerConfig::load(path).map_err(|e| {
                format!("examiner.docker_config (EXECENV_EXAMINER__DOCKER_CONFIG): {e}")
            })?,
        };
        let hosts = credentials.hosts();
        let reader = ImageReader::new(ReaderOptions {
            platform,
            credentials,
            insecure_registries: config.insecure_registries.clone(),
            ca_files: config.ca_files.clone(),
            timeout: config.request_timeout(),
        })
        .map_err(|e| e.message)?;
        tracing::info!(platform = config.platform, credentials_for = ?hosts,
            insecure_registries = ?config.insecure_registries, "reading images from their registries");
        let allowed = config
            .allowed_registries
            .iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .collect();
        Ok(RegistrySource { reader, allowed })
    }

    /// Refuses, before anything is sent, an image whose registry the settings do not allow.
    fn allow(&self, reference: &str) -> Result<(), Unreadable> {
        let Some(registry) = registry_of(reference) else {
            // The reader says what is wrong with it.
            return Ok(());
        };
        if self.allowed.is_empty() || self.allowed.contains(&registry.to_ascii_lowercase()) {
            return Ok(());
        }
        Err(Unreadable::forbidden(format!(
            "{reference} is in registry {registry}, which this examiner may not read: examiner.allowed_registries (EXECENV_EXAMINER__ALLOWED_REGISTRIES) lists {}; add the registry there to examine its images",
            self.allowed.join(", ")
        )))
    }
}

fn unreadable(e: ReadError) -> Unreadable {
    Unreadable::new(e.kind, e.message)
}

impl ImageSource for RegistrySource {
    type Resolved = Resolved;
    type Tree = ImageTree;

    async fn resolve(
        &self,
        reference: &str,
        platform: Option<&str>,
    ) -> Result<(Manifest, Resolved), Unreadable> {
        self.allow(reference)?;
        let platform = platform
            .map(Platform::parse)
            .transpose()
            .map_err(|e| Unreadable::new(UnreadableKind::Invalid, e))?;
        let resolved = self
            .reader
            .resolve(reference, platform.as_ref())
            .await
            .map_err(unreadable)?;
        let manifest = Manifest {
            digest: resolved.digest.clone(),
            platform: resolved.platform.to_string(),
            layers: u32::try_from(resolved.layers.len()).unwrap_or(u32::MAX),
            layer_bytes: resolved.layers.iter().map(|l| l.size).sum(),
        };
        Ok((manifest, resolved))
    }

    async fn read_tree(&self, resolved: &Resolved) -> Result<ImageTree, Unreadable> {
        self.reader.read_tree(resolved).await.map_err(unreadable)
    }
}
