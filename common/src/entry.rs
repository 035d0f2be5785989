//! The C ABI of the entry points, on top of the clock algorithms: the
//! pointers the caller passes, and the system call when the pages cannot
//! answer. The images' exported functions are one call into here each,
//! generic over what the image is compiled for ([`Image`]: its design,
//! its layout, and where its pages are).
//!
//! Like the kernel's vDSO, these write through the caller's pointers without
//! checking them (a bad pointer faults here, where the system call would
//! return -EFAULT); the pointers that may be NULL are checked.

#[cfg(target_arch = "x86_64")]
use core::ffi::c_void;

use crate::arch::{nr, syscall3};
use crate::clock::{self, Timespec, Timeval, Timezone};
use crate::design::Design;
use crate::image::Image;
use crate::layout::Layout;
use crate::pages::Pages;
use crate::route::{Read, Route, SERVED_CLOCKS, route};

/// `clock_gettime`.
///
/// The exported function only routes: each route is a function of its own,
/// reached by a tail call with the caller's arguments in their registers,
/// so that each saves only the registers it uses. The coarse clocks need
/// few and save none; inline, they would pay for the counter paths' pushes
/// on every call.
///
/// # Safety
/// `ts` must be valid for a write of a `Timespec`, and the data pages must be
/// mapped as `docs/abi.md` says for the image's layout.
#[inline(always)]
pub unsafe fn clock_gettime<I: Image>(clock_id: i32, ts: *mut Timespec) -> i32 {
    match route(clock_id).read {
        // SAFETY: forwarded from the caller, on the route it names.
        Read::Hres => unsafe { clock_gettime_counter::<I, false>(clock_id, ts) },
        // SAFETY: as above.
        Read::Raw => unsafe { clock_gettime_counter::<I, true>(clock_id, ts) },
        // SAFETY: as above.
        Read::Coarse => unsafe { clock_gettime_coarse::<I>(clock_id, ts) },
        // SAFETY: as above.
        Read::Aux(n) if <I::Layout as Layout>::INFO.aux_clocks != 0 => unsafe {
            clock_gettime_aux::<I>(clock_id, ts, n)
        },
        // SAFETY: forwarded from the caller.
        Read::Aux(_) | Read::Syscall => unsafe { clock_gettime_unserved::<I>(clock_id, ts) },
    }
}

/// The clocks read from the counter: MONOTONIC_RAW with `RAW`, else
/// REALTIME, MONOTONIC, BOOTTIME and TAI.
///
/// # Safety
/// As for [`clock_gettime`], and `route(clock_id).read` must be `Raw`
/// with `RAW` and `Hres` without.
#[inline(never)]
unsafe fn clock_gettime_counter<I: Image, const RAW: bool>(
    clock_id: i32,
    ts: *mut Timespec,
) -> i32 {
    let r = Route {
        read: if RAW { Read::Raw } else { Read::Hres },
        ..route(clock_id)
    };
    // SAFETY: the caller routed only served ids here; knowing it spares the
    // range check the router made already.
    unsafe { core::hint::assert_unchecked((clock_id as u32) < SERVED_CLOCKS) };
    type P<I> = <I as Image>::Pages;
    match clock::counter_in::<I::Design, _>(P::<I>::vvar(), P::<I>::timens(), clock_id, r) {
        // SAFETY: the caller vouches for `ts`.
        Some(t) => unsafe { answered(ts, t) },
        // SAFETY: forwarded from the caller.
        None => unsafe { clock_gettime_unserved::<I>(clock_id, ts) },
    }
}

/// The coarse clocks (REALTIME_COARSE, MONOTONIC_COARSE).
///
/// # Safety
/// As for [`clock_gettime`], and `route(clock_id).read` must be `Coarse`.
#[inline(never)]
unsafe fn clock_gettime_coarse<I: Image>(clock_id: i32, ts: *mut Timespec) -> i32 {
    let r = Route {
        read: Read::Coarse,
        ..route(clock_id)
    };
    // SAFETY: as in `clock_gettime_counter`.
    unsafe { core::hint::assert_unchecked((clock_id as u32) < SERVED_CLOCKS) };
    type P<I> = <I as Image>::Pages;
    match clock::coarse_in::<I::Design, _>(P::<I>::vvar(), P::<I>::timens(), clock_id, r) {
        // SAFETY: the caller vouches for `ts`.
        Some(t) => unsafe { answered(ts, t) },
        // SAFETY: forwarded from the caller.
        None => unsafe { clock_gettime_unserved::<I>(clock_id, ts) },
    }
}

/// The auxiliary clocks (ids 16 to 23), `n` the aux clock's index.
///
/// # Safety
/// As for [`clock_gettime`].
#[inline(never)]
unsafe fn clock_gettime_aux<I: Image>(clock_id: i32, ts: *mut Timespec, n: u8) -> i32 {
    match clock::aux_in(<I::Pages as Pages>::vvar(), n) {
        // SAFETY: the caller vouches for `ts`.
        Some(t) => unsafe { answered(ts, t) },
        // SAFETY: forwarded from the caller.
        None => unsafe { clock_gettime_unserved::<I>(clock_id, ts) },
    }
}

/// Writes the time the pages gave.
///
/// # Safety
/// `ts` must be valid for a write of a `Timespec`.
#[inline(always)]
unsafe fn answered(ts: *mut Timespec, t: Timespec) -> i32 {
    // SAFETY: the caller vouches for `ts`.
    unsafe { ts.write(t) };
    0
}

/// A `clock_gettime` the pages did not answer: the design's other source,
/// else the system call. Out of line and reached by tail calls only: one
/// copy that no path shares with another, so that the coarse clocks'
/// path, which saves no registers, need not meet the counter paths'
/// epilogue.
///
/// # Safety
/// As for [`clock_gettime`].
#[cold]
#[inline(never)]
unsafe fn clock_gettime_unserved<I: Image>(clock_id: i32, ts: *mut Timespec) -> i32 {
    let vvar = <I::Pages as Pages>::vvar();
    // SAFETY: forwarded from the caller.
    let elsewhere =
        unsafe { <I::Design as Design>::clock_gettime_elsewhere::<I::Layout>(vvar, clock_id, ts) };
    if let Some(ret) = elsewhere {
        return ret;
    }
    // SAFETY: the kernel checks `ts` itself.
    unsafe { fallback(nr::CLOCK_GETTIME, clock_id as usize, ts as usize, 0) as i32 }
}

/// `gettimeofday`.
///
/// # Safety
/// `tv` and `tz` must each be NULL or valid for a write.
#[inline(always)]
pub unsafe fn gettimeofday<I: Image>(tv: *mut Timeval, tz: *mut Timezone) -> i32 {
    let vvar = <I::Pages as Pages>::vvar();
    if !tv.is_null() {
        match clock::gettimeofday(vvar) {
            // SAFETY: non-NULL, and the caller vouches for it.
            Some(t) => unsafe { tv.write(t) },
            None => {
                // SAFETY: forwarded from the caller.
                if let Some(ret) = unsafe {
                    <I::Design as Design>::gettimeofday_elsewhere::<I::Layout>(vvar, tv, tz)
                } {
                    return ret;
                }
                // SAFETY: the kernel checks both pointers itself.
                return unsafe { fallback(nr::GETTIMEOFDAY, tv as usize, tz as usize, 0) as i32 };
            }
        }
    }
    if !tz.is_null() {
        match clock::timezone_in::<I::Design, _>(vvar, <I::Pages as Pages>::timens()) {
            // SAFETY: non-NULL, and the caller vouches for it.
            Some(zone) => unsafe { tz.write(zone) },
            // SAFETY: the kernel checks `tz` itself; `tv` is done.
            None => return unsafe { fallback(nr::GETTIMEOFDAY, 0, tz as usize, 0) as i32 },
        }
    }
    0
}

/// `time`. Only x86_64 has the entry (the table's `arches`), and only its
/// hooks have the `time` system call.
///
/// # Safety
/// `t` must be NULL or valid for a write.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn time<I: Image>(t: *mut i64) -> i64 {
    type P<I> = <I as Image>::Pages;
    let Some(now) = clock::time_in::<I::Design, _>(P::<I>::vvar(), P::<I>::timens()) else {
        // SAFETY: the kernel checks `t` itself.
        return unsafe { time_fallback(t) };
    };
    if !t.is_null() {
        // SAFETY: non-NULL, and the caller vouches for it.
        unsafe { t.write(now) };
    }
    now
}

/// `clock_getres`.
///
/// # Safety
/// `res` must be NULL or valid for a write.
#[inline(always)]
pub unsafe fn clock_getres<I: Image>(clock_id: i32, res: *mut Timespec) -> i32 {
    type P<I> = <I as Image>::Pages;
    match clock::clock_getres_in::<I::Design, _>(P::<I>::vvar(), P::<I>::timens(), clock_id) {
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

/// `getcpu`. Only x86_64 has the entry (the table's `arches`), and only its
/// hooks have a cpu number.
///
/// # Safety
/// `cpu` and `node` must each be NULL or valid for a write.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn getcpu<I: Image>(
    cpu: *mut u32,
    node: *mut u32,
    _cache: *mut core::ffi::c_void,
) -> i64 {
    let aux = <I::Design as Design>::cpu_node();
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

/// `getrandom` (Linux 6.11+): random bytes from the caller's state,
/// keyed by the system call and refreshed at the kernel's reseeds
/// ([`crate::getrandom`]), over the rng data of the image's layout.
///
/// # Safety
/// As for [`vgetrandom`](crate::getrandom::vgetrandom).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn getrandom<I: Image>(
    buffer: *mut c_void,
    len: usize,
    flags: u32,
    opaque_state: *mut c_void,
    opaque_len: usize,
) -> isize {
    let rng = <I::Pages as Pages>::rng();
    // SAFETY: forwarded from the caller.
    unsafe {
        crate::getrandom::vgetrandom(
            rng,
            buffer.cast(),
            len,
            flags,
            opaque_state.cast(),
            opaque_len,
        )
    }
}

/// `time`'s system call, out of line and cold, so that the fast path falls
/// through. `time` keeps nothing live across the call (it is a tail call),
/// so this costs the fast path nothing.
///
/// # Safety
/// As for [`syscall3`].
#[cfg(target_arch = "x86_64")]
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
