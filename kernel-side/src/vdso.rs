//! The entry points of a mapped vDSO (one of ours, or the kernel's), as the
//! typed function pointers of the table of entries, with safe wrappers for
//! tests and benches.

use std::marker::PhantomData;

use common::clock::{Timespec, Timeval, Timezone};
pub use common::entries::{PerEntry, PerEntryOfAnyLayout, Pointers};

/// Where each entry is, from an image's base; `None` where it has none
/// (an entry of other layouts than the image's).
pub type Offsets = PerEntryOfAnyLayout<Option<u64>>;

/// Resolved entry points, valid for `'a` (while the mapping lives).
#[derive(Clone, Copy, Debug)]
pub struct Vdso<'a> {
    /// The entries as typed function pointers, `None` where the image has
    /// none.
    pub entries: Pointers,
    mapping: PhantomData<&'a ()>,
}

/// The pointer of an entry the caller needs.
fn required<F>(entry: Option<F>, name: &str) -> F {
    entry.unwrap_or_else(|| panic!("the mapped vDSO has no {name} entry"))
}

impl Vdso<'_> {
    /// Entry points at `base + offset` for each entry `offsets` has.
    ///
    /// # Safety
    /// Each address must be the start of the corresponding function of a
    /// mapped vDSO whose data pages are mapped as it expects, for the
    /// lifetime chosen.
    pub unsafe fn from_offsets(base: *const u8, offsets: &Offsets) -> Self {
        let find = |name: &str| {
            let offset = (*offsets.get(name)?)?;
            Some(base.wrapping_add(offset as usize) as usize)
        };
        Vdso {
            // SAFETY: the caller vouches that each address is that function.
            entries: unsafe { Pointers::resolve(find) },
            mapping: PhantomData,
        }
    }

    /// `clock_gettime`: the return value (0 or -errno) and the time.
    #[inline]
    pub fn clock_gettime(&self, clock: i32) -> (i32, Timespec) {
        let f = required(self.entries.clock_gettime, "clock_gettime");
        let mut ts = Timespec::default();
        // SAFETY: a valid vDSO entry (see `from_offsets`) and a writable timespec.
        let ret = unsafe { f(clock, &mut ts) };
        (ret, ts)
    }

    /// `gettimeofday` with either pointer left NULL when `want_*` is false.
    #[inline]
    pub fn gettimeofday(
        &self,
        want_tv: bool,
        want_tz: bool,
    ) -> (i32, Option<Timeval>, Option<Timezone>) {
        let f = required(self.entries.gettimeofday, "gettimeofday");
        let (mut tv, mut tz) = (Timeval::default(), Timezone::default());
        let tvp = if want_tv {
            &mut tv as *mut Timeval
        } else {
            std::ptr::null_mut()
        };
        let tzp = if want_tz {
            &mut tz as *mut Timezone
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: a valid vDSO entry; each pointer is NULL or writable.
        let ret = unsafe { f(tvp, tzp) };
        (ret, want_tv.then_some(tv), want_tz.then_some(tz))
    }

    /// `time(NULL)` when `store` is false, else `time(&t)`: (returned, stored).
    #[inline]
    pub fn time(&self, store: bool) -> (i64, Option<i64>) {
        let f = required(self.entries.time, "time");
        let mut t = 0i64;
        let p = if store {
            &mut t as *mut i64
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: a valid vDSO entry; the pointer is NULL or writable.
        let ret = unsafe { f(p) };
        (ret, store.then_some(t))
    }

    #[inline]
    pub fn clock_getres(&self, clock: i32) -> (i32, Timespec) {
        let f = required(self.entries.clock_getres, "clock_getres");
        let mut ts = Timespec::default();
        // SAFETY: a valid vDSO entry and a writable timespec.
        let ret = unsafe { f(clock, &mut ts) };
        (ret, ts)
    }

    /// `getcpu`: (returned, cpu, node).
    #[inline]
    pub fn getcpu(&self) -> (i64, u32, u32) {
        let f = required(self.entries.getcpu, "getcpu");
        let (mut cpu, mut node) = (u32::MAX, u32::MAX);
        // SAFETY: a valid vDSO entry and writable outputs.
        let ret = unsafe { f(&mut cpu, &mut node, std::ptr::null_mut()) };
        (ret, cpu, node)
    }

    /// `getrandom(buf, buf.len(), flags, state, opaque_len)`, for an image
    /// (or kernel) that has the entry; `state` is passed as it is, so a
    /// caller may hand it any address (the parameter query, a straddling
    /// state).
    ///
    /// # Safety
    /// `state` must be what the entry may read and write for these
    /// arguments: the query's 64 bytes, or `opaque_len` bytes of state.
    #[inline]
    pub unsafe fn getrandom(
        &self,
        buf: &mut [u8],
        flags: u32,
        state: *mut u8,
        opaque_len: usize,
    ) -> isize {
        let f = required(self.entries.getrandom, "getrandom");
        // SAFETY: a valid vDSO entry; the buffer is writable for its
        // length; the caller vouches for the state.
        unsafe {
            f(
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                state.cast(),
                opaque_len,
            )
        }
    }
}
