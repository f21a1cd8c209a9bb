//! The allocator of the services that hold the catalogue (the registry, the selector,
//! config-sync): jemalloc, set to give the memory it frees back to the system at once.
//!
//! glibc's malloc keeps what each thread frees in that thread's arena. After a sync of 10,000
//! environments, a listing, a watch and two more syncs the registry held 56 MiB on glibc, of
//! which 47 MiB were free (malloc_info) for 9 MiB live (heaptrack), and it never returned them.
//! A service that rebuilds a large structure now and then pays that as resident memory that
//! only grows. Each binary names [`Jemalloc`] as its global allocator and calls
//! [`release_freed_memory`] first thing in `main`:
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: execenv_kit::allocator::Jemalloc = execenv_kit::allocator::Jemalloc;
//!
//! fn main() {
//!     execenv_kit::allocator::release_freed_memory("execenv-example");
//!     // … the service …
//! }
//! ```

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's decay settings: the defaults for arenas made later, and arena 0, made at start.
const DECAY_SETTINGS: [&[u8]; 4] = [
    b"arenas.dirty_decay_ms\0",
    b"arenas.muzzy_decay_ms\0",
    b"arena.0.dirty_decay_ms\0",
    b"arena.0.muzzy_decay_ms\0",
];

/// Makes jemalloc return the pages it frees at once instead of over the next 10 s (its
/// default), so what a large sync or rebuild allocates for a moment is not resident after it.
/// The cost, measured with `execenv-bench sync` on the registry with SQLite: a sync of 10,000
/// environments took about 10 % (create) to 35 % (update of 5,000) longer. Call it before any
/// thread starts, so every arena has the setting; `program` names the binary in the warning
/// printed when a setting cannot be made (the program then runs with jemalloc's defaults).
pub fn release_freed_memory(program: &str) {
    use tikv_jemalloc_ctl::{Access, AsName};
    for key in DECAY_SETTINGS {
        if let Err(e) = key.name().write(0_isize) {
            let name = String::from_utf8_lossy(key.strip_suffix(b"\0").unwrap_or(key));
            eprintln!(
                "{program}: cannot set jemalloc's {name} to 0 ({e}); \
                 freed memory goes back to the system within 10 s instead of at once"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings are read back from jemalloc itself (this test binary links it through the
    /// kit; the setting applies to jemalloc whether or not it is the global allocator).
    #[test]
    fn freed_memory_is_released_at_once() {
        use tikv_jemalloc_ctl::{Access, AsName};
        release_freed_memory("test");
        for key in DECAY_SETTINGS {
            let decay: isize = key.name().read().expect("a jemalloc setting");
            assert_eq!(decay, 0, "{}", String::from_utf8_lossy(key));
        }
    }
}
