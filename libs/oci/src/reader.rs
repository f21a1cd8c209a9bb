//! Reading an image from its registry: the reference resolved to one platform's manifest, then
//! every layer streamed into an [`ImageTree`].

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::{ImageIndexEntry, OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::credentials::{DockerConfig, registry_host};
use crate::error::{Fetched, ReadError, Subject};
use crate::layer::{Compression, LayerFailure, apply_stream};
use crate::platform::Platform;
use crate::tree::ImageTree;

/// The largest image config read (to learn the platform of an image without an index); real
/// ones are a few KiB.
const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// How an [`ImageReader`] reaches registries.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// The platform read from image indexes when a call names none; default linux/amd64.
    pub platform: Platform,
    /// Credentials per registry host; default empty: anonymous.
    pub credentials: DockerConfig,
    /// Hosts spoken to over plain HTTP (`127.0.0.1:5000`; loopback tests).
    pub insecure_registries: Vec<String>,
    /// Extra PEM CA certificates trusted for HTTPS registries.
    pub ca_files: Vec<PathBuf>,
    /// Per request: to connect, and between two reads of an answer; default 30 s.
    pub timeout: Duration,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            platform: Platform::linux_amd64(),
            credentials: DockerConfig::empty(),
            insecure_registries: Vec::new(),
            ca_files: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Reads images from registries: [`resolve`](Self::resolve) a reference, then
/// [`read_tree`](Self::read_tree). Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ImageReader {
    client: Client,
    platform: Platform,
    credentials: DockerConfig,
}

/// A reference resolved to one platform's image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The reference as asked.
    pub reference: String,
    /// The platform manifest's digest (`sha256:…`).
    pub digest: String,
    /// The index's digest, when the reference named an index.
    pub index_digest: Option<String>,
    /// The manifest's platform (from the index entry, or else from the image's config).
    pub platform: Platform,
    /// The layers, bottom first.
    pub layers: Vec<LayerInfo>,
}

/// One layer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Its digest (`sha256:…`).
    pub digest: String,
    /// Its media type, which says its compression.
    pub media_type: String,
    /// Its size in bytes, compressed, as the manifest says.
    pub size: u64,
}

impl ImageReader {
    /// A reader with `options`; a CA file that cannot be read or holds no certificate is Invalid.
    pub fn new(options: ReaderOptions) -> Result<ImageReader, ReadError> {
        // TLS through ring, as everywhere else in the workspace; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = Vec::new();
        for path in &options.ca_files {
            let data = std::fs::read(path).map_err(|e| {
                ReadError::invalid(format!(
                    "cannot read the CA file {}: {e}; fix examiner.ca_files",
                    path.display()
                ))
            })?;
            if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
                return Err(ReadError::invalid(format!(
                    "the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----); fix examiner.ca_files",
                    path.display()
                )));
            }
            roots.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(
                options
                    .insecure_registries
                    .iter()
                    .map(|h| registry_host(h))
                    .collect(),
            ),
            extra_root_certificates: roots,
            // Indexes are resolved here, to the asked platform, with the offered ones in errors.
            platform_resolver: None,
            connect_timeout: Some(options.timeout),
            read_timeout: Some(options.timeout),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| {
            ReadError::invalid(format!(
                "cannot set up the registry client: {e}; check the certificates in examiner.ca_files"
            ))
        })?;
        Ok(ImageReader {
            client,
            platform: options.platform,
            credentials: options.credentials,
        })
    }

    /// Resolves a reference to the image manifest for `platform` (None = the options' default):
    /// follows an index (OCI image index or Docker manifest list) to the platform's manifest.
    /// Cheap: manifests only, no layers.
    pub async fn resolve(
        &self,
        reference: &str,
        platform: Option<&Platform>,
    ) -> Result<Resolved, ReadError> {
        let wanted = platform.unwrap_or(&self.platform);
        let parsed = parse_reference(reference)?;
        let host = parsed.registry().to_string();
        let subject = self.subject(reference, &parsed, &host);
        let auth = self.auth(&parsed);
        let (manifest, digest) = self
            .client
            .pull_manifest(&parsed, &auth)
            .await
            .map_err(|e| subject.error(&e, Fetched::Manifest))?;
        match manifest {
            OciManifest::Image(image) => {
                let platform = self.config_platform(&parsed, &image, &subject).await?;
                Ok(resolved(reference, digest, None, platform, &image))
            }
            OciManifest::ImageIndex(index) => {
                let offered: Vec<(Platform, &ImageIndexEntry)> = index
                    .manifests
                    .iter()
                    .filter_map(|entry| Some((platform_of(entry)?, entry)))
                    .collect();
                let Some((platform, entry)) = offered.iter().find(|(p, _)| wanted.accepts(p))
                else {
                    let names: Vec<String> = offered.iter().map(|(p, _)| p.to_string()).collect();
                    return Err(ReadError::invalid(format!(
                        "{reference} has no image for the platform {wanted}: its index offers {}; ask for one of those",
                        if names.is_empty() {
                            "no platform".to_string()
                        } else {
                            names.join(", ")
                        }
                    )));
                };
                let by_digest = parsed.clone_with_digest(entry.digest.clone());
                let (manifest, _) = self
                    .client
                    .pull_manifest(&by_digest, &auth)
                    .await
                    .map_err(|e| subject.error(&e, Fetched::Manifest))?;
                let OciManifest::Image(image) = manifest else {
                    return Err(ReadError::invalid(format!(
                        "{reference}'s index points for {platform} at {}, which is another index, not an image; point the tag at an image or a one-level index",
                        entry.digest
                    )));
                };
                Ok(resolved(
                    reference,
                    entry.digest.clone(),
                    Some(digest),
                    platform.clone(),
                    &image,
                ))
            }
        }
    }

    /// Streams every layer of `resolved` in order (gzip, zstd or uncompressed, by media type;
    /// Docker's media types too) into an [`ImageTree`]: whiteouts applied, contents kept only for
    /// files `execenv_core::examine::wants_content` names, up to MAX_CAPTURED_FILE_BYTES. Memory
    /// stays bounded by the tree's metadata, never by layer sizes. Verifies each layer's digest
    /// while streaming (a mismatch is Invalid).
    pub async fn read_tree(&self, resolved: &Resolved) -> Result<ImageTree, ReadError> {
        let reference = resolved.reference.as_str();
        let parsed = parse_reference(reference)?;
        let host = parsed.registry().to_string();
        let subject = self.subject(reference, &parsed, &host);
        let mut compressions = Vec::new();
        for layer in &resolved.layers {
            let compression = Compression::of(&layer.media_type).ok_or_else(|| {
                ReadError::invalid(format!(
                    "layer {} of {reference} has the media type {}, which is not an image layer (a tar, plain or compressed with gzip or zstd)",
                    layer.digest, layer.media_type
                ))
            })?;
            compressions.push(compression);
        }
        // Blob requests use the credentials resolve() stored; a Resolved may come from elsewhere.
        self.client
            .store_auth_if_needed(parsed.resolve_registry(), &self.auth(&parsed))
            .await;
        let mut tree = ImageTree::new();
        for (layer, compression) in resolved.layers.iter().zip(compressions) {
            let fetched = Fetched::Blob(&layer.digest);
            let stream = self
                .client
                .pull_blob_stream(&parsed, layer.digest.as_str())
                .await
                .map_err(|e| subject.error(&e, fetched))?;
            tree = apply_stream(tree, compression, stream)
                .await
                .map_err(|failure| match failure {
                    LayerFailure::Stream(e) => subject.stream(&e, fetched),
                    LayerFailure::Layer(why) => ReadError::invalid(format!(
                        "layer {} of {reference} cannot be read: {why}; the image is damaged, push it again",
                        layer.digest
                    )),
                })?;
        }
        Ok(tree)
    }

    fn subject<'a>(&'a self, reference: &'a str, parsed: &Reference, host: &'a str) -> Subject<'a> {
        Subject {
            reference,
            host,
            credential: self.credentials.credential_for(parsed.resolve_registry()),
        }
    }

    fn auth(&self, parsed: &Reference) -> RegistryAuth {
        self.credentials
            .credential_for(parsed.resolve_registry())
            .map_or(RegistryAuth::Anonymous, |c| c.registry_auth())
    }

    /// The platform an image's config names (an image reached without an index).
    async fn config_platform(
        &self,
        parsed: &Reference,
        image: &OciImageManifest,
        subject: &Subject<'_>,
    ) -> Result<Platform, ReadError> {
        let digest = image.config.digest.as_str();
        let fetched = Fetched::Blob(digest);
        let mut stream = self
            .client
            .pull_blob_stream(parsed, digest)
            .await
            .map_err(|e| subject.error(&e, fetched))?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| subject.stream(&e, fetched))?;
            if bytes.len() + chunk.len() > MAX_CONFIG_BYTES {
                return Err(ReadError::invalid(format!(
                    "the config {digest} of {} is larger than {MAX_CONFIG_BYTES} bytes, which no image config is",
                    subject.reference
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        #[derive(Deserialize)]
        struct ImageConfig {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let config: ImageConfig = serde_json::from_slice(&bytes).map_err(|e| {
            ReadError::invalid(format!(
                "the config {digest} of {} is not an image config: {e}",
                subject.reference
            ))
        })?;
        Ok(Platform {
            os: config.os.unwrap_or_else(|| "unknown".to_string()),
            architecture: config.architecture.unwrap_or_else(|| "unknown".to_string()),
            variant: config.variant.filter(|v| !v.is_empty()),
        })
    }
}

/// The registry host a reference names (`ghcr.io`, `127.0.0.1:5000`; `docker.io` when it names
/// none); `None` when it does not parse.
pub fn registry_of(reference: &str) -> Option<String> {
    parse_reference(reference)
        .ok()
        .map(|parsed| parsed.registry().to_owned())
}

fn parse_reference(reference: &str) -> Result<Reference, ReadError> {
    reference.trim().parse().map_err(|e| {
        ReadError::invalid(format!(
            "{reference:?} is not an image reference ({e}); write it like registry.example.com/team/python:3.11 or with @sha256:…"
        ))
    })
}

/// The platform of an index entry; None for entries that are no platform's image (build
/// attestations say `unknown/unknown`).
fn platform_of(entry: &ImageIndexEntry) -> Option<Platform> {
    let p = entry.platform.as_ref()?;
    let platform = Platform {
        os: p.os.to_string(),
        architecture: p.architecture.to_string(),
        variant: p.variant.clone().filter(|v| !v.is_empty()),
    };
    (platform.os != "unknown").then_some(platform)
}

fn resolved(
    reference: &str,
    digest: String,
    index_digest: Option<String>,
    platform: Platform,
    image: &OciImageManifest,
) -> Resolved {
    Resolved {
        reference: reference.to_string(),
        digest,
        index_digest,
        platform,
        layers: image
            .layers
            .iter()
            .map(|l| LayerInfo {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: u64::try_from(l.size).unwrap_or(0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
