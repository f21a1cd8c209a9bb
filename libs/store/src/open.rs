//! Choosing the backend from a database URL.

use std::sync::Arc;

use execenv_core::{Error, ErrorKind};

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// Opens the store named by `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`) and runs
/// its migrations.
///
/// An unknown scheme is InvalidArgument; a database that cannot be reached is Unavailable.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, Error> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::open(url).await?)),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the database URL scheme {scheme:?} is not supported; use sqlite://PATH, \
                 sqlite::memory: or postgres://USER@HOST:PORT/DATABASE (postgresql:// works too)"
            ),
        )),
    }
}
