//! The C ABI of the five entry points, on top of the clock algorithms: the
//! pointers the caller passes, and the system call when the pages cannot
//! answer. The images' exported functions are one call into here each,
//! with the image's [`Design`] (`vdso.so` and `vdso-timens.so` are
//! [`design::Host`](crate::design::Host) and [`design::Timens`](crate::design::Timens)).
//!
//! Like the kernel's vDSO, these write through the caller's pointers without
//! checking them (a bad pointer faults here, where the system call would
//! return -EFAULT); the pointers that may be NULL are checked.

use core::ffi::c_void;

use crate::arch::{self, nr, syscall3};
use crate::clock::{self, Timespec, Timeval, Timezone};
use crate::design::Design;
use crate::vvar::{DataPage, TimensSlot};

/// # Safety
/// `ts` must be valid for a write of a `Timespec`, and the data pages must be
/// mapped as `docs/abi.md` says.
#[inline(always)]
pub unsafe fn clock_gettime<D: Design>(clock_id: i32, ts: *mut Timespec) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { clock_gettime_on::<D>(arch::vvar_page(), arch::timens_page(), clock_id, ts) }
}

/// `clock_gettime` over the pages given as the vvar and timens pages.
///
/// # Safety
/// As for [`clock_gettime`].
#[inline(always)]
pub(crate) unsafe fn clock_gettime_on<D: Design>(
    vvar: &DataPage,
    timens: TimensSlot<'_>,
    clock_id: i32,
    ts: *mut Timespec,
) -> i32 {
    match clock::clock_gettime_in::<D>(vvar, timens, clock_id) {
        // SAFETY: the caller vouches for `ts`.
        Some(t) => unsafe {
            ts.write(t);
            0
        },
        // SAFETY: forwarded from the caller; the kernel checks `ts` itself.
        None => match unsafe { D::clock_gettime_elsewhere(vvar, clock_id, ts) } {
            Some(ret) => ret,
            // SAFETY: the kernel checks `ts` itself.
            None => unsafe { fallback(nr::CLOCK_GETTIME, clock_id as usize, ts as usize, 0) as i32 },
        },
    }
}

/// # Safety
/// `tv` and `tz` must each be NULL or valid for a write.
#[inline(always)]
pub unsafe fn gettimeofday<D: Design>(tv: *mut Timeval, tz: *mut Timezone) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { gettimeofday_on::<D>(arch::vvar_page(), arch::timens_page(), tv, tz) }
}

/// `gettimeofday` over the pages given as the vvar and timens pages.
///
/// # Safety
/// As for [`gettimeofday`].
#[inline(always)]
pub(crate) unsafe fn gettimeofday_on<D: Design>(
    vvar: &DataPage,
    timens: TimensSlot<'_>,
    tv: *mut Timeval,
    tz: *mut Timezone,
) -> i32 {
    if !tv.is_null() {
        match clock::gettimeofday(vvar) {
            // SAFETY: non-NULL, and the caller vouches for it.
            Some(t) => unsafe { tv.write(t) },
            None => {
                // SAFETY: forwarded from the caller.
                if let Some(ret) = unsafe { D::gettimeofday_elsewhere(vvar, tv, tz) } {
                    return ret;
                }
                // SAFETY: the kernel checks both pointers itself.
                return unsafe { fallback(nr::GETTIMEOFDAY, tv as usize, tz as usize, 0) as i32 };
            }
        }
    }
    if !tz.is_null() {
        match clock::timezone_in::<D>(vvar, timens) {
            // SAFETY: non-NULL, and the caller vouches for it.
            Some(zone) => unsafe { tz.write(zone) },
            // SAFETY: the kernel checks `tz` itself; `tv` is done.
            None => return unsafe { fallback(nr::GETTIMEOFDAY, 0, tz as usize, 0) as i32 },
        }
    }
    0
}

/// # Safety
/// `t` must be NULL or valid for a write.
#[inline(always)]
pub unsafe fn time<D: Design>(t: *mut i64) -> i64 {
    let Some(now) = clock::time_in::<D>(arch::vvar_page(), arch::timens_page()) else {
        // SAFETY: the kernel checks `t` itself.
        return unsafe { time_fallback(t) };
    };
    if !t.is_null() {
        // SAFETY: non-NULL, and the caller vouches for it.
        unsafe { t.write(now) };
    }
    now
}

/// # Safety
/// `res` must be NULL or valid for a write.
#[inline(always)]
pub unsafe fn clock_getres<D: Design>(clock_id: i32, res: *mut Timespec) -> i32 {
    match clock::clock_getres_in::<D>(arch::vvar_page(), arch::timens_page(), clock_id) {
        Some(r) => {
            if !res.is_null() {
                // SAFETY: non-NULL, and the caller vouches for it.
                unsafe { res.write(r) };
            }
            0
        }
        // SAFETY: the kernel checks `res` itself.
        None => unsafe { fallback(nr::CLOCK_GETRES, clock_id as usize, res as usize, 0) as i32 },
    }
}

/// # Safety
/// `cpu` and `node` must each be NULL or valid for a write.
#[inline(always)]
pub unsafe fn getcpu<D: Design>(cpu: *mut u32, node: *mut u32, _cache: *mut c_void) -> i64 {
    let aux = D::cpu_node();
    if !cpu.is_null() {
        // SAFETY: non-NULL, and the caller vouches for it.
        unsafe { cpu.write(aux & 0xfff) };
    }
    if !node.is_null() {
        // SAFETY: non-NULL, and the caller vouches for it.
        unsafe { node.write(aux >> 12) };
    }
    0
}

/// `time`'s system call, out of line and cold, so that the fast path falls
/// through. `time` keeps nothing live across the call (it is a tail call),
/// so this costs the fast path nothing, unlike in the clock entries below.
///
/// # Safety
/// As for [`syscall3`].
#[cold]
#[inline(never)]
unsafe fn time_fallback(t: *mut i64) -> i64 {
    // SAFETY: forwarded from the caller.
    unsafe { syscall3(nr::TIME, t as usize, 0, 0) as i64 }
}

/// The system call. Inline: `syscall` clobbers only rcx and r11, where a
/// call would clobber every caller-saved register and make the entry save
/// its state on the stack even on the fast path.
///
/// # Safety
/// As for [`syscall3`].
#[inline(always)]
unsafe fn fallback(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    // SAFETY: forwarded from the caller.
    unsafe { syscall3(nr, a0, a1, a2) }
}
