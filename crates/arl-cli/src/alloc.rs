//! How long the allocator keeps the memory a process frees before it gives it back.
//!
//! The allocator (mimalloc) keeps freed pages resident for a second by default before it
//! returns them to the system, so that a program that frees and allocates again soon
//! reuses them without page faults. An import of many batches frees and allocates a batch's
//! worth of events every batch, and in that second the freed pages of one batch sit beside
//! the live ones of the next: on a 32M-line import the peak resident memory crossed 10^9
//! bytes (977,652 KiB). A large import asks for them back after [`IMPORT_PURGE_DELAY_MS`]
//! instead (docs/PERFORMANCE.md, "The allocator's purge delay").

use std::os::raw::{c_int, c_long};

/// The allocator's purge delay for an import large enough to approach the memory bound.
pub const IMPORT_PURGE_DELAY_MS: c_long = 100;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the same in its v2 and v3).
const MI_OPTION_PURGE_DELAY: c_int = 15;

#[allow(
    unsafe_code,
    reason = "two functions of the allocator linked into the binary, declared as mimalloc.h does"
)]
mod ffi {
    use std::os::raw::{c_int, c_long};

    unsafe extern "C" {
        pub safe fn mi_option_set(option: c_int, value: c_long);
        pub safe fn mi_option_get(option: c_int) -> c_long;
    }
}

/// Sets the allocator's purge delay to `ms` milliseconds, unless the environment already
/// sets it (`MIMALLOC_PURGE_DELAY`, which the allocator reads itself): returns the delay in
/// effect.
pub fn purge_freed_memory_after(ms: c_long) -> c_long {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        ffi::mi_option_set(MI_OPTION_PURGE_DELAY, ms);
    }
    ffi::mi_option_get(MI_OPTION_PURGE_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_the_allocators() {
        // Its default first (a second in the allocator this binary links), then ours.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(ffi::mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
        }
        let delay = purge_freed_memory_after(IMPORT_PURGE_DELAY_MS);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(delay, IMPORT_PURGE_DELAY_MS);
        }
    }
}
