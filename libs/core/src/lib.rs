//! execenv-core: the domain model of execution environments and the rules over it.
//!
//! Everything here is a pure function over plain data: no I/O, no async runtime, no wire types.
//! Services translate between the wire, the store and these types.

#![warn(missing_docs)]

pub mod accounts;
pub mod bundle;
pub mod content_access;
pub mod error;
pub mod examine;
pub mod identity;
pub mod image_reference;
pub mod model;
pub mod query;
pub mod security;
pub mod select;
pub mod sync;
pub mod validate;

pub use error::{Error, ErrorKind, FieldViolation};
pub use identity::{Caller, Role};
pub use model::{
    Actor, Change, ChangeAction, ChangeSource, Environment, EnvironmentSpec, Installation,
    Language, ManagedBy, Matching, Permission, Principal, VolumeMount, VolumeSource,
};
