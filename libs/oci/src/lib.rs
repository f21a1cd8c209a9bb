//! execenv-oci: reads container images straight from OCI registries, without Docker, so the
//! examiner can tell what an image holds.
//!
//! - [`ImageReader::resolve`] turns a reference (`registry.example.com/team/python:3.11`) into
//!   one platform's manifest ([`Resolved`]): an OCI image index or a Docker manifest list is
//!   followed to the [`Platform`] asked for (linux/amd64 by default).
//! - [`ImageReader::read_tree`] streams the layers — plain, gzip or zstd tars — through a bounded
//!   channel into an [`ImageTree`], the merged file tree with whiteouts applied, verifying each
//!   layer's digest on the way. Only metadata is kept, plus the small version files
//!   `execenv_core::examine::wants_content` names, so memory follows the number of files, never
//!   the size of the layers. The tree implements `execenv_core::examine::ImageFiles`, which the
//!   pure examination rules read.
//! - Registries are spoken to anonymously, with HTTP Basic credentials, or through the bearer
//!   token flow (oci-client's), with the credentials of a Docker config ([`DockerConfig`]);
//!   an authentication failure is tried once, never retried.
//! - Every failure is a [`ReadError`]: not found, unauthorized, unreachable or invalid, with one
//!   sentence naming the image and what to do.

#![warn(missing_docs)]

pub mod credentials;
pub mod error;
mod layer;
pub mod platform;
pub mod reader;
pub mod tree;

pub use credentials::DockerConfig;
pub use error::ReadError;
pub use platform::Platform;
pub use reader::{ImageReader, LayerInfo, ReaderOptions, Resolved, registry_of};
pub use tree::ImageTree;
