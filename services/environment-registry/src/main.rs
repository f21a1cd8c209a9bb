//! `execenv-environment-registry`: configuration → service → serve, through the kit's bootstrap,
//! with jemalloc as the allocator.

use std::process::ExitCode;

use execenv_environment_registry::start;
use execenv_kit::{allocator, bootstrap};

/// jemalloc, giving freed memory back to the system at once (see [`allocator`]).
#[global_allocator]
static ALLOCATOR: allocator::Jemalloc = allocator::Jemalloc;

fn main() -> anyhow::Result<ExitCode> {
    allocator::release_freed_memory("execenv-environment-registry");
    // `done` ends with the database error when the database cannot be opened.
    Ok(bootstrap::serve(start)?)
}
