//! Where images come from, as the examiner sees it: resolve a reference to one manifest (cheap:
//! manifests only), then read that manifest's layers into a merged file tree (expensive: every
//! layer streamed). [`ImageSource`] is that seam; the real one reads registries
//! ([`crate::oci::RegistrySource`]), and the examiner's own tests serve trees from memory.

use std::future::Future;

use execenv_core::examine::{ImageFiles, UnreadableKind};
use execenv_core::{Error, ErrorKind};

/// Why an image could not be read: the kind of problem, and one sentence naming the image and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unreadable {
    /// What kind of problem.
    pub kind: UnreadableKind,
    /// The sentence.
    pub message: String,
    /// The examiner's settings forbid reading this image (`examiner.allowed_registries`).
    pub forbidden: bool,
}

impl Unreadable {
    /// A problem of `kind`.
    pub fn new(kind: UnreadableKind, message: impl Into<String>) -> Self {
        Unreadable {
            kind,
            message: message.into(),
            forbidden: false,
        }
    }

    /// An image of a registry the examiner may not read (`examiner.allowed_registries`): nothing
    /// was asked of that registry.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Unreadable {
            kind: UnreadableKind::Unauthorized,
            message: message.into(),
            forbidden: true,
        }
    }

    /// The error an `Examine` call fails with: the image's absence is NOT_FOUND, a registry the
    /// settings forbid PERMISSION_DENIED, credentials
    /// FAILED_PRECONDITION (they are the examiner's configuration), a registry that does not
    /// answer UNAVAILABLE, anything unusable INVALID_ARGUMENT; the message is the sentence.
    pub fn to_error(&self) -> Error {
        if self.forbidden {
            return Error::new(ErrorKind::PermissionDenied, self.message.clone());
        }
        let kind = match self.kind {
            UnreadableKind::NotFound => ErrorKind::NotFound,
            UnreadableKind::Unauthorized => ErrorKind::FailedPrecondition,
            UnreadableKind::Unreachable => ErrorKind::Unavailable,
            UnreadableKind::Invalid => ErrorKind::InvalidArgument,
        };
        Error::new(kind, self.message.clone())
    }
}

/// The manifest a reference resolved to, as the examiner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The platform manifest's digest (`sha256:…`), never an index's.
    pub digest: String,
    /// Its platform (`linux/amd64`).
    pub platform: String,
    /// How many layers it has.
    pub layers: u32,
    /// The layers' sizes as stored (compressed), summed.
    pub layer_bytes: u64,
}

/// Reads images.
pub trait ImageSource: Send + Sync + 'static {
    /// What [`ImageSource::read_tree`] needs of a resolved manifest.
    type Resolved: Send + Sync + 'static;
    /// A merged file tree.
    type Tree: ImageFiles + Send + Sync + 'static;

    /// Resolves `reference` to the manifest for `platform` (None: the source's default).
    fn resolve(
        &self,
        reference: &str,
        platform: Option<&str>,
    ) -> impl Future<Output = Result<(Manifest, Self::Resolved), Unreadable>> + Send;

    /// Reads every layer of a resolved manifest into its merged tree.
    fn read_tree(
        &self,
        resolved: &Self::Resolved,
    ) -> impl Future<Output = Result<Self::Tree, Unreadable>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_fails_an_examination_with_its_own_code() {
        let code = |kind| Unreadable::new(kind, "x").to_error().kind;
        assert_eq!(code(UnreadableKind::NotFound), ErrorKind::NotFound);
        assert_eq!(
            code(UnreadableKind::Unauthorized),
            ErrorKind::FailedPrecondition
        );
        assert_eq!(code(UnreadableKind::Unreachable), ErrorKind::Unavailable);
        assert_eq!(code(UnreadableKind::Invalid), ErrorKind::InvalidArgument);
        let e = Unreadable::new(
            UnreadableKind::NotFound,
            "127.0.0.1:5000/python:9 was not found",
        )
        .to_error();
        assert_eq!(e.message, "127.0.0.1:5000/python:9 was not found");
    }
}
