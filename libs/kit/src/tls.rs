//! TLS for every service: the shared `tls.*` settings, the server half (a rustls acceptor whose
//! certificate, key and client CA are re-read when their files change, in front of the gRPC
//! server or the gateway's HTTP server) and, from the same settings, the client half a service
//! calls others with ([`execenv_client::ClientTls`]). With `tls.cert_file` set a port serves
//! only TLS: a plain-text client fails its handshake. With `tls.client_ca_file` set a client
//! must present a certificate signed by that CA (mutual TLS), and that certificate is the
//! calling service's identity ([`execenv_client::ServiceAuth`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use execenv_client::tls::{FromFiles, certificates, private_key, provider, roots};
use execenv_client::{ClientTls, ServiceAuth, TlsError, TlsFile};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::config::AuthConfig;

/// How long a client may take over its TLS handshake before its connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared TLS settings (`EXECENV_TLS__…`); every file is PEM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// The server certificate (chain, leaf first); with `key_file`, the port serves only TLS.
    pub cert_file: Option<PathBuf>,
    /// The server certificate's private key.
    pub key_file: Option<PathBuf>,
    /// When set, mutual TLS: a client must present a certificate signed by this CA.
    pub client_ca_file: Option<PathBuf>,
    /// The CA the services this one calls are verified against; service URLs are then `https://`.
    pub ca_file: Option<PathBuf>,
    /// The certificate this service presents when it calls another under mutual TLS (default:
    /// `cert_file`).
    pub client_cert_file: Option<PathBuf>,
    /// The key of `client_cert_file` (default: `key_file`).
    pub client_key_file: Option<PathBuf>,
}

fn set(path: &Option<PathBuf>) -> Option<&PathBuf> {
    path.as_ref().filter(|p| !p.as_os_str().is_empty())
}

fn file(path: &std::path::Path, key: &str) -> TlsFile {
    TlsFile::new(path, key)
}

impl TlsConfig {
    /// Whether clients must present a certificate (mutual TLS).
    pub fn is_mutual(&self) -> bool {
        set(&self.client_ca_file).is_some()
    }

    /// The server side, when `cert_file` and `key_file` are set (one without the other is an
    /// error naming the other); `alpn` is what the port speaks (`h2` for gRPC).
    pub fn server(&self, alpn: &[&[u8]]) -> Result<Option<ServerTls>, TlsError> {
        let (cert, key) = match (set(&self.cert_file), set(&self.key_file)) {
            (None, None) => {
                if self.is_mutual() {
                    return Err(TlsError(
                        "tls.client_ca_file is set but tls.cert_file and tls.key_file are not; \
                         mutual TLS needs the server's own certificate: set both"
                            .to_owned(),
                    ));
                }
                return Ok(None);
            }
            (Some(cert), Some(key)) => (file(cert, "tls.cert_file"), file(key, "tls.key_file")),
            (Some(_), None) => {
                return Err(TlsError(
                    "tls.cert_file is set without tls.key_file; set both (the certificate's PEM key)"
                        .to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsError(
                    "tls.key_file is set without tls.cert_file; set both".to_owned(),
                ));
            }
        };
        let client_ca = set(&self.client_ca_file).map(|p| file(p, "tls.client_ca_file"));
        let mut files = vec![cert.clone(), key.clone()];
        files.extend(client_ca.clone());
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let build = move |contents: &[Vec<u8>]| {
            let builder = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError(format!("TLS cannot be set up: {e}")))?;
            let builder = match &client_ca {
                Some(ca) => {
                    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots(&contents[2], ca)?),
                        provider(),
                    )
                    .build()
                    .map_err(|e| TlsError(format!("{} cannot verify clients: {e}", ca.setting)))?;
                    builder.with_client_cert_verifier(verifier)
                }
                None => builder.with_no_client_auth(),
            };
            let mut config = builder
                .with_single_cert(
                    certificates(&contents[0], &cert)?,
                    private_key(&contents[1], &key)?,
                )
                .map_err(|e| {
                    TlsError(format!(
                        "tls.key_file {} does not fit tls.cert_file {}: {e}; give the key of the certificate",
                        key.path.display(),
                        cert.path.display()
                    ))
                })?;
            config.alpn_protocols = alpn.clone();
            Ok(config)
        };
        let files = FromFiles::load("the server's TLS certificate", files, build)?;
        Ok(Some(ServerTls {
            files: Arc::new(files),
        }))
    }

    /// The client side, when `ca_file` is set: services are verified against it, and this one
    /// presents `client_cert_file`/`client_key_file` (default: `cert_file`/`key_file`) when a
    /// service asks for a certificate.
    pub fn client(&self) -> Result<Option<ClientTls>, TlsError> {
        let Some(ca) = set(&self.ca_file) else {
            return Ok(None);
        };
        let identity = match (set(&self.client_cert_file), set(&self.client_key_file)) {
            (Some(cert), Some(key)) => Some((
                file(cert, "tls.client_cert_file"),
                file(key, "tls.client_key_file"),
            )),
            (None, None) => match (set(&self.cert_file), set(&self.key_file)) {
                (Some(cert), Some(key)) => {
                    Some((file(cert, "tls.cert_file"), file(key, "tls.key_file")))
                }
                _ => None,
            },
            _ => {
                return Err(TlsError(
                    "tls.client_cert_file and tls.client_key_file go together; set both or neither"
                        .to_owned(),
                ));
            }
        };
        ClientTls::new(file(ca, "tls.ca_file"), identity).map(Some)
    }
}

impl AuthConfig {
    /// Who may call this service: a verified client certificate under mutual TLS, else one of
    /// the service tokens (the current and, during a rotation, the previous one).
    pub fn service_auth(&self, tls: &TlsConfig) -> ServiceAuth {
        ServiceAuth::new(self.token(), self.previous_token())
            .with_client_certificates(tls.is_mutual())
    }
}

/// The server side of TLS: the configuration each new connection's handshake uses, read again
/// from its files when they change (one log line). Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    files: Arc<FromFiles<rustls::ServerConfig>>,
}

impl ServerTls {
    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.files.current())
    }

    /// Accepts connections on `listener` and completes their handshakes, each in a task of its
    /// own (a slow client holds up no one); a failed handshake — a plain-text client, a client
    /// certificate the CA did not sign — closes that connection, logged at debug. Stops when
    /// the returned [`TlsIncoming`] is dropped.
    pub fn accept(self, listener: TcpListener) -> TlsIncoming {
        let local_addr = listener.local_addr();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment rather than spin.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = self.acceptor();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed; connection closed")
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake took too long; connection closed")
                        }
                    }
                });
            }
        });
        TlsIncoming { rx, local_addr }
    }
}

/// Connections whose TLS handshake completed, with the peer's address: a stream for tonic
/// ([`TlsIncoming::into_stream`]) or an axum listener.
pub struct TlsIncoming {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: std::io::Result<SocketAddr>,
}

impl TlsIncoming {
    /// The connections as tonic's `serve_with_incoming` takes them.
    pub fn into_stream(
        self,
    ) -> impl tokio_stream::Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> {
        use tokio_stream::StreamExt;
        tokio_stream::wrappers::ReceiverStream::new(self.rx).map(|(stream, _)| Ok(stream))
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(accepted) => accepted,
            // The accepting task ends only when this is dropped, so this is never reached.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.local_addr {
            Ok(addr) => Ok(*addr),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}
