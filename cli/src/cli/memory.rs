//! Giving the memory a load freed back to the system.
//!
//! This is the command line's business, not the engine's: a library must not trim the heap of
//! the process that embeds it, so the engine leaves the choice to its caller, and `nql` calls
//! this once a project is loaded.

/// Returns the free pages of the C allocator's heaps to the system.
///
/// A load decodes far more than it keeps (Parquet pages, every raw series point on its way
/// into the summaries). glibc keeps what was freed in its per-thread arenas, so without this
/// a process that loaded 65 MB of Arrow data from 40M points stays at about three times that;
/// after it, well under two. Elsewhere it does nothing.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions: it takes the allocator's own locks and only
    // hands back pages that hold no live allocation.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// From now on, keeps the memory a query frees for the next query, instead of handing it
/// back to the system at once and faulting it in again page by page. glibc serves
/// allocations above 128 KiB (or its adjusted threshold) with `mmap` and unmaps them when
/// freed; a query allocates and frees megabytes (gathered columns, sort keys), so each paid
/// a page fault per page (a top-10 sort at 100,000 runs took 3 ms, 1.2 ms with this).
/// Called once a project is open: a load's own large buffers are better mapped and given
/// back as they are freed (kept, they raised the peak of an index build at 1,000,000 runs
/// by a quarter).
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets the allocator's tuning parameters, under its own lock; it
    // has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
