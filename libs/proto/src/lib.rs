//! Wire types and gRPC stubs generated from `proto/`, and the mechanical translation between
//! them and the execenv-core model (`convert`). No rules live here: validation is in execenv-core.
#![warn(missing_docs)]

// The generated modules (`v1` below) allow missing_docs: prost turns each comment of a .proto
// file into a doc comment, but tonic's client and server plumbing (constructors, traits,
// `*_server` and `*_client` modules) has none, and the contract is documented where it is
// written, in proto/. Everything written by hand here (`convert`, `views`) is documented.

pub mod apply;

/// `execenv.environments.v1`: the environment model.
pub mod environments {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.environments.v1");
    }
}

/// `execenv.registry.v1`: the environment-registry API.
pub mod registry {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.registry.v1");
    }
}

/// `execenv.sync.v1`: the config-sync API.
pub mod sync {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.sync.v1");
    }
}

/// `execenv.selector.v1`: the selector API.
pub mod selector {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.selector.v1");
    }
}

/// `execenv.launcher.v1`: the launcher API.
pub mod launcher {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.launcher.v1");
    }
}

/// `execenv.examiner.v1`: the image examiner API (what an image holds; drift of environments).
pub mod examiner {
    /// Version 1.
    // A CheckEvent is mostly a whole check; boxing it would only add an allocation per event.
    #[allow(missing_docs, clippy::large_enum_variant)]
    pub mod v1 {
        tonic::include_proto!("execenv.examiner.v1");
    }
}

/// `execenv.identity.v1`: users, groups and API keys (served by the environment-registry).
pub mod identity {
    /// Version 1.
    #[allow(missing_docs)]
    pub mod v1 {
        tonic::include_proto!("execenv.identity.v1");
    }
}

/// The encoded FileDescriptorSet of every execenv proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("execenv_descriptor");

pub mod convert;
pub mod views;
