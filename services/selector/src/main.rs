//! `execenv-selector`: configuration → service → serve, through the kit's bootstrap, with
//! jemalloc as the allocator.

use std::process::ExitCode;

use execenv_kit::{allocator, bootstrap};
use execenv_selector::start;

/// jemalloc, giving freed memory back to the system at once (see [`allocator`]): each
/// catalogue rebuild frees the previous catalogue, which glibc's malloc would keep resident.
#[global_allocator]
static ALLOCATOR: allocator::Jemalloc = allocator::Jemalloc;

fn main() -> anyhow::Result<ExitCode> {
    allocator::release_freed_memory("execenv-selector");
    Ok(bootstrap::serve(start)?)
}
