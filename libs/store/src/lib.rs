//! execenv-store: the catalogue's durable state behind one [`Store`] trait, with an embedded
//! SQLite implementation (the default) and a PostgreSQL one, chosen from the database URL.
//!
//! Every mutation appends to the change log in the same transaction, and writers are serialised
//! so that change revisions are strictly increasing in commit order (a watcher that resumes from
//! revision N never misses a change committed later with a smaller revision).
#![warn(missing_docs)]

mod accounts;
mod catalogue;
mod common;
mod launch_history;
mod open;
mod postgres;
mod security;
mod session;
mod sqlite;
mod store;

pub use launch_history::{LaunchHistory, LaunchRecord, Recorded};
pub use open::open;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use store::{AccountStore, EnvironmentPage, LogBounds, SecurityEventStore, Snapshot, Store};
