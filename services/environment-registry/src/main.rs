//! `execenv-environment-registry`: configuration → service → serve, through the kit's bootstrap,
//! with jemalloc as the allocator.

use std::process::ExitCode;

use execenv_environment_registry::start;
use execenv_kit::bootstrap;

/// jemalloc, giving freed memory back to the system at once (see [`release_freed_memory`]).
/// glibc's malloc keeps what each thread frees in that thread's arena: after a sync of 10,000
/// environments, a listing, a watch and two more syncs it held 56 MiB, of which 47 MiB were
/// free (malloc_info) for 9 MiB live (heaptrack), and it never returned them.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's decay settings: the defaults for arenas made later, and arena 0, made at start.
const DECAY_SETTINGS: [&[u8]; 4] = [
    b"arenas.dirty_decay_ms\0",
    b"arenas.muzzy_decay_ms\0",
    b"arena.0.dirty_decay_ms\0",
    b"arena.0.muzzy_decay_ms\0",
];

fn main() -> anyhow::Result<ExitCode> {
    release_freed_memory();
    // `done` ends with the database error when the database cannot be opened.
    Ok(bootstrap::serve(start)?)
}

/// Makes jemalloc return the pages it frees at once instead of over the next 10 s (its
/// default), so what a large sync allocates for a moment is not resident after it. The cost,
/// measured with `execenv-bench sync` on SQLite: a sync of 10,000 environments takes about 10 %
/// (create) to 35 % (update of 5,000) longer, still well under the 2 s target. Called before any
/// thread starts, so every arena has the setting.
fn release_freed_memory() {
    use tikv_jemalloc_ctl::{Access, AsName};
    for key in DECAY_SETTINGS {
        if let Err(e) = key.name().write(0_isize) {
            let name = String::from_utf8_lossy(key.strip_suffix(b"\0").unwrap_or(key));
            eprintln!(
                "execenv-environment-registry: cannot set jemalloc's {name} to 0 ({e}); \
                 freed memory goes back to the system within 10 s instead of at once"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_released_at_once() {
        use tikv_jemalloc_ctl::{Access, AsName};
        release_freed_memory();
        for key in DECAY_SETTINGS {
            let decay: isize = key.name().read().expect("a jemalloc setting");
            assert_eq!(decay, 0, "{}", String::from_utf8_lossy(key));
        }
    }
}
