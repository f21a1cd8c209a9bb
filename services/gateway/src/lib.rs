//! execenv-gateway: a Connect-compatible REST API over the registry.
//!
//! The gateway owns one durable thing: the bundles uploaded to the data folder ([`bundles`],
//! unpacked by [`bundle_archive`] as hostile archives). It authenticates people by API key (asking the registry's
//! `Identity.Authenticate`, caching an answer for `server.key_cache_ms`), then calls the registry
//! over gRPC *as that person* (`x-execenv-user`, `x-execenv-groups`, `x-execenv-role`), so the
//! registry decides what they may see and do. Requests and answers have Posit Connect's JSON
//! shapes, status codes and error bodies (`{code, error, payload}`), so that `posit-sdk` and
//! `rsconnect` work against it unchanged.
//!
//! Each resource has one `*_api` module owning its routes and handlers; [`api::router`] composes
//! them and is imported by none of them. What the handlers share lives apart: [`state`] (the
//! service clients and the bundle store), [`auth`], [`error`], [`body`] and [`listing`];
//! [`environment`] and [`user`] translate the registry's messages to Connect's JSON.
//!
//! Images are examined and environments' checks (drift) read through [`examiner`], the image
//! examiner's client ([`images_api`], [`checks_api`]); the gateway never talks to an image's
//! registry itself.
//!
//! Interactive content is served at `/content/{guid}/` by [`content_proxy`]: who may view it
//! is [`execenv_core::content_access`] over [`content_records`] (owner, permission list), its instances are
//! started, followed and stopped by [`instances`] over [`instance_table`], and requests are
//! rewritten for them by [`forwarding`].

pub mod access;
pub mod api;
pub mod auth;
pub mod body;
pub mod bundle_archive;
pub mod bundles;
pub mod bundles_api;
pub mod catalogue_api;
pub mod changes_api;
pub mod checks_api;
pub mod config;
pub mod config_sync;
pub mod console;
pub mod content_api;
pub mod content_error;
pub mod content_metrics;
pub mod content_proxy;
pub mod content_records;
pub mod environment;
pub mod environments_api;
pub mod error;
pub mod events;
pub mod events_api;
pub mod examiner;
pub mod forwarding;
pub mod images_api;
pub mod installations_api;
pub mod instance_table;
pub mod instances;
pub mod launches_api;
pub mod limits;
pub mod linger;
pub mod listing;
pub mod permissions_api;
pub mod refusal;
pub mod registry;
pub mod revision;
pub mod security_events_api;
pub mod selection_api;
pub mod server_settings_api;
pub mod session;
pub mod session_api;
pub mod state;
pub mod sync_api;
pub mod throttle;
pub mod upload_body;
pub mod upstream;
pub mod user;
pub mod users_api;

mod server;

pub use config::{Config, ServerConfig};
pub use execenv_kit::StartError;
pub use execenv_kit::config::RegistryConfig;
pub use server::{Running, start};
