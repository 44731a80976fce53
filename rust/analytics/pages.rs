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

/// Types whose all-zero bytes are a value, the one [`zeroed`] arrays start with.
///
/// # Safety
/// All-zero bytes must be a valid value of the type (as they are of an integer).
pub unsafe trait Zeroable {}

// SAFETY: integers are valid as all-zero bytes.
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u16 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for i64 {}

/// `n` zeros, on huge pages when the system grants them, and not written here: memory fresh
/// from the system is zero already, so the allocator (calloc) skips the writing and the pages
/// are faulted in by the array's first real write, after the advice. Writing zeros first
/// would fault every page in, then write it again.
pub fn zeroed<T: Zeroable>(n: usize) -> Vec<T> {
    let layout = std::alloc::Layout::array::<T>(n).expect("array size fits the address space");
    if layout.size() == 0 {
        return Vec::new();
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    advise(ptr, layout.size());
    // SAFETY: allocated by the global allocator with the layout of `n` values of `T`, and
    // all-zero bytes are `n` valid values (`T: Zeroable`).
    unsafe { Vec::from_raw_parts(ptr.cast(), n, n) }
}

/// `n` copies of `value`, on huge pages when the system grants them. For arrays whose first
/// writes are random (totals per group, latencies laid out by group): their faults are better
/// taken in one sequential pass here than in the middle of the random one (`zeroed` totals
/// made a (feature, tenant) rollup about 10% slower).
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
