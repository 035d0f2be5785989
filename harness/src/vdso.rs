//! The five entry points of a mapped vDSO (one of ours, or the kernel's),
//! as function pointers, with safe wrappers for tests and benches.

use std::ffi::c_void;
use std::marker::PhantomData;

use common::clock::{Timespec, Timeval, Timezone};
use common::entries::ENTRIES;

pub type ClockGettime = unsafe extern "C" fn(i32, *mut Timespec) -> i32;
pub type Gettimeofday = unsafe extern "C" fn(*mut Timeval, *mut Timezone) -> i32;
pub type Time = unsafe extern "C" fn(*mut i64) -> i64;
pub type ClockGetres = unsafe extern "C" fn(i32, *mut Timespec) -> i32;
pub type Getcpu = unsafe extern "C" fn(*mut u32, *mut u32, *mut c_void) -> i64;

/// Resolved entry points, valid for `'a` (while the mapping lives).
#[derive(Clone, Copy)]
pub struct Vdso<'a> {
    pub clock_gettime: ClockGettime,
    pub gettimeofday: Gettimeofday,
    pub time: Time,
    pub clock_getres: ClockGetres,
    pub getcpu: Getcpu,
    mapping: PhantomData<&'a ()>,
}

impl Vdso<'_> {
    /// Entry points at `base + offsets[i]`, in the order of `ENTRIES`.
    ///
    /// # Safety
    /// Each address must be the start of the corresponding function of a
    /// mapped vDSO whose data pages are mapped as it expects, for the
    /// lifetime chosen.
    pub unsafe fn from_offsets(base: *const u8, offsets: [u64; ENTRIES.len()]) -> Self {
        let at = |i: usize| base.wrapping_add(offsets[i] as usize);
        // SAFETY: the caller vouches that each address is that function.
        unsafe {
            Vdso {
                clock_gettime: std::mem::transmute::<*const u8, ClockGettime>(at(0)),
                gettimeofday: std::mem::transmute::<*const u8, Gettimeofday>(at(1)),
                time: std::mem::transmute::<*const u8, Time>(at(2)),
                clock_getres: std::mem::transmute::<*const u8, ClockGetres>(at(3)),
                getcpu: std::mem::transmute::<*const u8, Getcpu>(at(4)),
                mapping: PhantomData,
            }
        }
    }

    /// `clock_gettime`: the return value (0 or -errno) and the time.
    #[inline]
    pub fn clock_gettime(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: a valid vDSO entry (see `from_offsets`) and a writable timespec.
        let ret = unsafe { (self.clock_gettime)(clock, &mut ts) };
        (ret, ts)
    }

    /// `gettimeofday` with either pointer left NULL when `want_*` is false.
    #[inline]
    pub fn gettimeofday(
        &self,
        want_tv: bool,
        want_tz: bool,
    ) -> (i32, Option<Timeval>, Option<Timezone>) {
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
        let ret = unsafe { (self.gettimeofday)(tvp, tzp) };
        (ret, want_tv.then_some(tv), want_tz.then_some(tz))
    }

    /// `time(NULL)` when `store` is false, else `time(&t)`: (returned, stored).
    #[inline]
    pub fn time(&self, store: bool) -> (i64, Option<i64>) {
        let mut t = 0i64;
        let p = if store {
            &mut t as *mut i64
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: a valid vDSO entry; the pointer is NULL or writable.
        let ret = unsafe { (self.time)(p) };
        (ret, store.then_some(t))
    }

    #[inline]
    pub fn clock_getres(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: a valid vDSO entry and a writable timespec.
        let ret = unsafe { (self.clock_getres)(clock, &mut ts) };
        (ret, ts)
    }

    /// `getcpu`: (returned, cpu, node).
    #[inline]
    pub fn getcpu(&self) -> (i64, u32, u32) {
        let (mut cpu, mut node) = (u32::MAX, u32::MAX);
        // SAFETY: a valid vDSO entry and writable outputs.
        let ret = unsafe { (self.getcpu)(&mut cpu, &mut node, std::ptr::null_mut()) };
        (ret, cpu, node)
    }
}
