//! execenv-selector: chooses the execution environment a piece of content builds and runs in.
//!
//! The selector owns nothing durable. It keeps an in-memory [`Catalogue`](select::Catalogue) that
//! the registry's `WatchEnvironments` stream keeps current (followed by the client crate's
//! `CatalogueWatch`, module [`catalogue`]), and answers `Select` and
//! `Explain` from it with the pure rules of `execenv_core::select`. It reports NOT_SERVING until
//! it holds a full catalogue; after that it keeps answering — also while the registry is away —
//! and every answer says which revision it was made from and how old the catalogue is.
//!
//! With `examiner.url` it also follows the image examiner's `WatchChecks` stream (module
//! [`checks`]): `Explain` says which environments' images are in drift or unreadable, and with
//! `selection.skip_drift` `Select` leaves the ones in drift out — the rule itself is
//! `execenv_core::select`'s (its `Exclusions`). Losing the examiner never stops selection.

pub mod catalogue;
pub mod checks;
pub mod config;
pub mod examiner;
pub mod metrics;
mod server;
pub mod service;

/// The selection rules (`execenv_core::select`), re-exported for the crate's modules.
pub(crate) use execenv_core::select;

pub use catalogue::SharedCatalogue;
pub use checks::SharedChecks;
pub use config::{Config, ExaminerConfig, SelectionConfig};
pub use execenv_kit::StartError;
pub use execenv_kit::config::RegistryConfig;
pub use server::{Running, State, start};
pub use service::SelectorService;
