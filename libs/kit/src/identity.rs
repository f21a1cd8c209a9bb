//! Transitional: the identity metadata contract now lives in `execenv_client::identity`.
pub use execenv_client::identity::*;
