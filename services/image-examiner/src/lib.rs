//! execenv-image-examiner: reads images straight from their registries — without pulling or
//! running them — to tell which Python, R and Quarto installations they hold (`Examine`), and
//! checks every environment of the catalogue against its image (drift: `ListChecks`,
//! `GetCheck`, `WatchChecks`, `CheckNow`).
//!
//! Why a service of its own rather than a part of the registry, the gateway or the selector:
//!
//! - it talks to arbitrary outside registries with their credentials — the Docker config lives
//!   here and nowhere else, so no other service holds registry credentials;
//! - its work is bandwidth- and CPU-heavy (every layer of an image streamed, decompressed and
//!   merged) and must not slow selection or the API;
//! - it scales, fails and restarts on its own: while it is away, selection and the catalogue
//!   work as before, only without drift information.
//!
//! The pieces: [`source::ImageSource`] reads images (the registries through `execenv-oci`:
//! [`oci::RegistrySource`]); [`examinations::Examiner`] keeps what each manifest holds and reads
//! each once; [`drift`] follows the registry's catalogue (`execenv_client::CatalogueWatch`) and
//! checks each environment with the pure rules of `execenv_core::examine`, recording its
//! [`check::Check`] on the [`board::CheckBoard`] that the gRPC service ([`service`]) answers
//! from. Everything is in memory: a restart checks every environment again (nothing is stored;
//! the registry's catalogue and the images are the truth).

pub mod board;
pub mod check;
pub mod config;
pub mod drift;
pub mod examinations;
mod lru;
pub mod metrics;
pub mod oci;
mod server;
pub mod service;
pub mod source;
#[cfg(test)]
mod testing;

pub use board::CheckBoard;
pub use config::{Config, ExaminerConfig};
pub use execenv_kit::StartError;
pub use execenv_kit::config::RegistryConfig;
pub use server::{Running, start, start_with};
