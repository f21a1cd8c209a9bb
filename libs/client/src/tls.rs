//! TLS between execenv's programs: certificates and keys read from PEM files and read again when
//! a file changes (Kubernetes rewrites a mounted Secret by swapping a `..data` symlink), and the
//! client half — the connector under a [`crate::Connection`] that verifies a service against a
//! CA and, under mutual TLS, presents this program's own certificate. The server half (the
//! acceptor, the settings) is `execenv-kit`'s; both share [`FromFiles`] and the PEM readers here.
//! The crypto provider is rustls's `ring`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A PEM file and the setting (or flag) that names it, which every error about it names too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The file.
    pub path: PathBuf,
    /// What sets it: `tls.ca_file`, `--ca-file`, ….
    pub setting: String,
}

impl TlsFile {
    /// `path`, set by `setting`.
    pub fn new(path: impl Into<PathBuf>, setting: impl Into<String>) -> Self {
        TlsFile {
            path: path.into(),
            setting: setting.into(),
        }
    }
}

/// Why TLS could not be set up: the message names the file and its setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

impl TlsError {
    fn about(file: &TlsFile, problem: impl std::fmt::Display) -> Self {
        TlsError(format!(
            "{} {}: {problem}; check {}",
            file.setting,
            file.path.display(),
            file.setting
        ))
    }
}

/// What identifies a file's contents without reading it: device, inode, size, modification time
/// (of the file a symlink points to, so a swapped `..data` link counts as a change).
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

type Build<T> = dyn Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync;

/// A value built from the contents of some files, built again when one of them changes: each
/// [`FromFiles::current`] (once per new connection) looks at the files' stamps, so a new
/// connection gets the new certificate with no timer. A change that does not build (a key
/// written after its certificate) keeps the last good value, with a warning, until it does.
pub struct FromFiles<T> {
    what: &'static str,
    files: Vec<TlsFile>,
    build: Box<Build<T>>,
    state: Mutex<(Vec<Stamp>, Arc<T>)>,
}

impl<T> FromFiles<T> {
    /// Reads `files` and builds the first value with `build` (given their contents in order);
    /// `what` names the value in the log line of a reload ("the gRPC server certificate").
    pub fn load(
        what: &'static str,
        files: Vec<TlsFile>,
        build: impl Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let stamps = files.iter().map(|f| stamp(&f.path)).collect();
        let value = build(&read_all(&files)?)?;
        Ok(FromFiles {
            what,
            files,
            build: Box::new(build),
            state: Mutex::new((stamps, Arc::new(value))),
        })
    }

    /// The files it is built from.
    pub fn files(&self) -> &[TlsFile] {
        &self.files
    }

    /// The value for a new connection: built again first when a file changed since.
    pub fn current(&self) -> Arc<T> {
        let stamps: Vec<Stamp> = self.files.iter().map(|f| stamp(&f.path)).collect();
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.0 != stamps {
            state.0 = stamps;
            match read_all(&self.files).and_then(|contents| (self.build)(&contents)) {
                Ok(value) => {
                    state.1 = Arc::new(value);
                    let files: Vec<String> = self
                        .files
                        .iter()
                        .map(|f| f.path.display().to_string())
                        .collect();
                    tracing::info!(files = %files.join(", "), "{} was read again: its files changed; new connections use it", self.what);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{} changed but cannot be used yet; the previous one stays until its files are whole", self.what);
                }
            }
        }
        state.1.clone()
    }
}

fn read_all(files: &[TlsFile]) -> Result<Vec<Vec<u8>>, TlsError> {
    files
        .iter()
        .map(|f| std::fs::read(&f.path).map_err(|e| TlsError::about(f, e)))
        .collect()
}

/// The certificates of a PEM file (a chain: the leaf first), at least one.
pub fn certificates(pem: &[u8], file: &TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::about(file, format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(TlsError::about(
            file,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &[u8], file: &TlsFile) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        TlsError::about(
            file,
            format!("holds no usable private key ({e}); give the PEM key of the certificate"),
        )
    })
}

/// A store of the CA certificates of a PEM file.
pub fn roots(pem: &[u8], file: &TlsFile) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in certificates(pem, file)? {
        store
            .add(cert)
            .map_err(|e| TlsError::about(file, format!("not a usable CA certificate ({e})")))?;
    }
    Ok(store)
}

/// The crypto provider of every TLS configuration here: rustls's `ring`.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a program verifies the services it calls, and what it presents under mutual TLS: a CA
/// file, and optionally a certificate and key; all re-read when they change. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    files: Arc<FromFiles<rustls::ClientConfig>>,
}

impl ClientTls {
    /// Verifies services against the CA in `ca`; presents `identity` (certificate, key) when a
    /// service asks for a client certificate. Fails when a file cannot be read or used.
    pub fn new(ca: TlsFile, identity: Option<(TlsFile, TlsFile)>) -> Result<Self, TlsError> {
        let mut files = vec![ca.clone()];
        if let Some((cert, key)) = &identity {
            files.push(cert.clone());
            files.push(key.clone());
        }
        let cert_files = identity;
        let build = move |contents: &[Vec<u8>]| {
            let builder = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError(format!("TLS cannot be set up: {e}")))?
                .with_root_certificates(roots(&contents[0], &ca)?);
            let mut config = match &cert_files {
                Some((cert, key)) => builder
                    .with_client_auth_cert(
                        certificates(&contents[1], cert)?,
                        private_key(&contents[2], key)?,
                    )
                    .map_err(|e| {
                        TlsError::about(key, format!("does not fit {}: {e}", cert.path.display()))
                    })?,
                None => builder.with_no_client_auth(),
            };
            config.alpn_protocols = vec![b"h2".to_vec()];
            Ok(config)
        };
        Ok(ClientTls {
            files: Arc::new(FromFiles::load(
                "the TLS client configuration",
                files,
                build,
            )?),
        })
    }

    /// TLS from a command line's `--ca-file`, `--client-cert` and `--client-key` (or their
    /// `EXECENV_TLS__…` variables; an empty one counts as unset): none without a CA, the
    /// certificate and key presented under mutual TLS. The problem names the flag.
    pub fn from_flags(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<Self>, execenv_core::Error> {
        let set = |p: Option<&Path>| p.filter(|p| !p.as_os_str().is_empty()).map(Path::to_owned);
        let Some(ca) = set(ca) else {
            if set(cert).is_some() {
                return Err(execenv_core::Error::invalid_field(
                    "--client-cert",
                    "--client-cert is given without --ca-file; give the CA the services' \
                     certificates are signed by with --ca-file (or EXECENV_TLS__CA_FILE)",
                ));
            }
            return Ok(None);
        };
        let identity = match (set(cert), set(key)) {
            (Some(cert), Some(key)) => Some((
                TlsFile::new(cert, "--client-cert"),
                TlsFile::new(key, "--client-key"),
            )),
            _ => None,
        };
        ClientTls::new(TlsFile::new(ca, "--ca-file"), identity)
            .map(Some)
            .map_err(|e| execenv_core::Error::invalid_field("--ca-file", e.0))
    }

    /// The setting that names the CA file (for messages about URLs that do not fit it).
    pub fn ca_setting(&self) -> &str {
        &self.files.files()[0].setting
    }

    /// The configuration for a new gRPC connection (ALPN `h2`).
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.files.current()
    }

    /// The configuration for an HTTP client of the gateway (ALPN `h2`, `http/1.1`), as read now.
    pub fn http_config(&self) -> rustls::ClientConfig {
        let mut config = (*self.files.current()).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }

    /// Connects to `uri` (`https://HOST:PORT`) and completes the TLS handshake, verifying the
    /// service's certificate for HOST.
    pub async fn connect(
        &self,
        uri: &http::Uri,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
        let host = uri
            .host()
            .ok_or_else(|| invalid("the service URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let name = ServerName::try_from(host.clone())
            .map_err(|e| invalid(&format!("{host:?} is not a host name: {e}")))?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        tcp.set_nodelay(true)?;
        tokio_rustls::TlsConnector::from(self.config())
            .connect(name, tcp)
            .await
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("files", &self.files.files())
            .finish()
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.files.files() == other.files.files()
    }
}

impl Eq for ClientTls {}

/// The connector a TLS [`crate::Connection`]'s channel connects with.
pub(crate) fn connector(
    tls: ClientTls,
) -> impl tower::Service<
    http::Uri,
    Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = std::io::Error,
    Future = impl Future<
        Output = std::io::Result<
            hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        >,
    > + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        async move { tls.connect(&uri).await.map(hyper_util::rt::TokioIo::new) }
    })
}
