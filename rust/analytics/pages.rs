//! Large per-row and per-group arrays on transparent huge pages.
//!
//! A kernel run allocates fresh arrays of tens of megabytes (codes per row, totals per group,
//! latencies laid out by group). On 4 KiB pages their first touch costs a page fault per
//! 4 KiB: about 12% of a profiled 10M-row run. Where the kernel leaves huge pages to the
//! program (`transparent_hugepage=madvise`, a common default), asking for them makes that one
//! fault per 2 MiB (and the random accesses need fewer TLB entries). Elsewhere the advice is
//! a no-op and the arrays are ordinary vectors.

/// Arrays smaller than this keep ordinary pages: at most one aligned huge page fits in them,
/// not worth a system call.
const MIN_BYTES: usize = 4 << 20;

/// `n` copies of `value`, on huge pages when the system grants them.
pub fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

/// An empty vector with room for `n` values, on huge pages when the system grants them: the
/// advice is given before the first write, which is when pages are faulted in.
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    advise(v.as_ptr().cast(), n * std::mem::size_of::<T>());
    v
}

#[cfg(target_os = "linux")]
fn advise(start: *const u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < MIN_BYTES {
        return;
    }
    let first = (start as usize).next_multiple_of(HUGE);
    let end = (start as usize + bytes) / HUGE * HUGE;
    if end > first {
        // Advice only: a kernel without THP answers EINVAL and nothing changes.
        // SAFETY: [first, end) lies inside the vector's own allocation; MADV_HUGEPAGE does
        // not change its contents or validity.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: *const u8, _bytes: usize) {}
