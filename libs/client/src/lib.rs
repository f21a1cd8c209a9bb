//! execenv-client: how anything calls an execenv service — other services, `execenvctl`, tests.
//!
//! A [`Connection`] is one channel to one service ([`Target`]: which service, its URL, and what the
//! user sets to change it), bounded by [`Options`] (connect and request timeouts, keep-alive for
//! streams, message-size limit). From it come the typed clients — [`RegistryClient`],
//! [`IdentityClient`], [`ConfigSyncClient`], [`SelectorClient`], [`LauncherClient`] — each acting as
//! a caller (the identity headers) or as the calling service, with the service token and the
//! trace context on every call ([`Outgoing`]). A failed call is an [`execenv_core::Error`]: the
//! service's own, or one message for a service that could not be reached
//! ("cannot reach the registry at URL: …; is execenv-environment-registry running? set
//! EXECENV_REGISTRY__URL").
//!
//! The crate depends on the API types (`execenv-proto`, `execenv-core`), never on a server.
//! [`CatalogueWatch`] follows the registry's catalogue (listing, then each change, reconnecting
//! and resuming by itself) for a service that keeps a copy of it; [`Backoff`] spaces the attempts
//! of anything that follows a stream from another service.
//!
//! With the `testing` feature, [`testing::FakeRegistry`] is an in-process registry for tests.

#![warn(missing_docs)]

pub mod backoff;
pub mod catalogue;
pub mod connection;
pub mod identity;
pub mod service;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod trace;

pub use backoff::Backoff;
pub use catalogue::{CatalogueEvent, CatalogueEvents, CatalogueWatch};
pub use connection::{
    Client, ConfigSyncClient, Connection, ExaminerClient, IdentityClient, Intercepted,
    LauncherClient, Options, Outgoing, RegistryClient, SelectorClient, Target, UNSENT_RETRY_WITHIN,
    answered, error_chain, never_sent, retry_unanswered, retry_unsent, with_scheme,
};
pub use identity::{IdentityInterceptor, ServiceAuth};
pub use service::Service;
pub use status::{from_status, to_status};
pub use tls::{ClientTls, TlsError, TlsFile};
