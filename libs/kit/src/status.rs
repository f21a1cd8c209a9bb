//! Transitional: the error ↔ status mapping now lives in `execenv_client::status`.
pub use execenv_client::status::{from_status, to_status};
