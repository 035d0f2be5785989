//! The clock entry points, sent to the image. The image returns what the
//! kernel's vDSO returns (`0` or `-errno`); libc's contract is `-1` and
//! errno, so the wrappers convert, as glibc does around the vDSO.

use core::ffi::{c_int, c_void};

use common::clock::Timespec;
use common::route::{Read, route};
use libc::{clockid_t, timespec};

use crate::layout::{T_SYSCALL_OFFSET, T_SYSINFO};
use crate::next;
use crate::ns::{self, Ns};
use crate::sys;

/// A reading more than this many whole seconds past the vvar page's last
/// update means the timekeeper has not ticked for a second or more.
const STALE_SECS: i64 = 1;
const NSEC_PER_SEC: i64 = 1_000_000_000;

fn ret_errno(ret: i32) -> c_int {
    if ret < 0 {
        sys::set_errno(-ret);
        -1
    } else {
        ret
    }
}

/// `clock_gettime` through the image.
///
/// # Safety
/// `ts` must be valid for a write of a timespec.
#[inline(always)]
pub unsafe fn gettime(ns: Ns, clock: clockid_t, ts: *mut timespec) -> c_int {
    // SAFETY: the image's entry, with the caller's pointer.
    let ret = unsafe { ns::entry(ns.joined().entries.clock_gettime)(clock, ts.cast::<Timespec>()) };
    ns.count_served(|s| &s.clock_gettime);
    if ret != 0 {
        return ret_errno(ret);
    }
    let r = route(clock);
    match r.read {
        Read::Hres | Read::Raw => {
            // SAFETY: the image just wrote it.
            let mut sec = unsafe { (*ts).tv_sec };
            if r.shift.is_some() && ns.timens() {
                let offset = ns.joined().offsets[r.cs()].timens_offset(clock as usize);
                sec = sec.wrapping_sub(offset.sec);
            }
            let (base, _) = ns.joined().time[r.cs()].base(clock as usize);
            if sec.wrapping_sub(base as i64) > STALE_SECS {
                ns::stale(ns);
            }
        }
        Read::Coarse => ns.check_counter(),
        // The image asked the kernel, which knows nothing of this
        // namespace (BOOTTIME_ALARM): add the offset as a namespaced
        // kernel would.
        Read::Syscall if r.shift.is_some() && ns.timens() => {
            // SAFETY: the kernel just wrote it.
            unsafe { add(ts, ns.offset_ns(clock)) };
            ns.count_translated(T_SYSCALL_OFFSET);
        }
        Read::Aux(_) | Read::Syscall => {}
    }
    0
}

/// # Safety
/// `ts` must point to a valid timespec.
unsafe fn add(ts: *mut timespec, nanos: i128) {
    // SAFETY: the caller vouches for `ts`.
    let t = unsafe { &mut *ts };
    let total = t.tv_sec as i128 * NSEC_PER_SEC as i128 + t.tv_nsec as i128 + nanos;
    t.tv_sec = total.div_euclid(NSEC_PER_SEC as i128) as i64;
    t.tv_nsec = total.rem_euclid(NSEC_PER_SEC as i128) as i64;
}

/// # Safety
/// As clock_gettime(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_gettime(clock: clockid_t, ts: *mut timespec) -> c_int {
    match ns::get() {
        // SAFETY: forwarded from the caller.
        Some(ns) => unsafe { gettime(ns, clock, ts) },
        // SAFETY: forwarded from the caller.
        None => unsafe { passthrough_gettime(clock, ts) },
    }
}

/// glibc's alias.
///
/// # Safety
/// As clock_gettime(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __clock_gettime(clock: clockid_t, ts: *mut timespec) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { clock_gettime(clock, ts) }
}

#[cold]
unsafe fn passthrough_gettime(clock: clockid_t, ts: *mut timespec) -> c_int {
    match next::clock_gettime() {
        // SAFETY: libc's own function with the caller's arguments.
        Some(real) => unsafe { real(clock, ts) },
        None => {
            // SAFETY: the kernel checks the pointer.
            let r = unsafe {
                sys::syscall6(
                    libc::SYS_clock_gettime as usize,
                    [clock as usize, ts as usize, 0, 0, 0, 0],
                )
            };
            ret_errno(r as i32)
        }
    }
}

/// # Safety
/// As gettimeofday(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gettimeofday(tv: *mut libc::timeval, tz: *mut c_void) -> c_int {
    let Some(ns) = ns::get() else {
        return match next::gettimeofday() {
            // SAFETY: libc's own function with the caller's arguments.
            Some(real) => unsafe { real(tv, tz) },
            None => -1,
        };
    };
    // SAFETY: the image's entry with the caller's pointers (each may be NULL).
    let ret = unsafe { ns::entry(ns.joined().entries.gettimeofday)(tv.cast(), tz.cast()) };
    ns.count_served(|s| &s.gettimeofday);
    if ret == 0 && !tv.is_null() {
        // SAFETY: the image just wrote it.
        let sec = unsafe { (*tv).tv_sec };
        let (base, _) = ns.joined().time[0].base(0);
        if sec.wrapping_sub(base as i64) > STALE_SECS {
            ns::stale(ns);
        }
    }
    ret_errno(ret)
}

/// glibc's alias.
///
/// # Safety
/// As gettimeofday(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __gettimeofday(tv: *mut libc::timeval, tz: *mut c_void) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { gettimeofday(tv, tz) }
}

/// # Safety
/// As time(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn time(t: *mut libc::time_t) -> libc::time_t {
    let Some(ns) = ns::get() else {
        return match next::time() {
            // SAFETY: libc's own function with the caller's argument.
            Some(real) => unsafe { real(t) },
            None => -1,
        };
    };
    ns.check_counter();
    ns.count_served(|s| &s.time);
    // SAFETY: the image's entry with the caller's pointer (may be NULL).
    unsafe { ns::entry(ns.joined().entries.time)(t) }
}

/// # Safety
/// As clock_getres(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_getres(clock: clockid_t, res: *mut timespec) -> c_int {
    let Some(ns) = ns::get() else {
        return match next::clock_getres() {
            // SAFETY: libc's own function with the caller's arguments.
            Some(real) => unsafe { real(clock, res) },
            None => -1,
        };
    };
    ns.count_served(|s| &s.clock_getres);
    // SAFETY: the image's entry with the caller's pointer (may be NULL).
    ret_errno(unsafe { ns::entry(ns.joined().entries.clock_getres)(clock, res.cast()) })
}

/// # Safety
/// As getcpu(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getcpu(cpu: *mut u32, node: *mut u32) -> c_int {
    let Some(ns) = ns::get() else {
        return match next::getcpu() {
            // SAFETY: libc's own function with the caller's arguments.
            Some(real) => unsafe { real(cpu, node) },
            None => -1,
        };
    };
    ns.count_served(|s| &s.getcpu);
    // SAFETY: the image's entry with the caller's pointers (each may be NULL).
    unsafe { ns::entry(ns.joined().entries.getcpu)(cpu, node, core::ptr::null_mut()) as c_int }
}

/// sysinfo(2): `uptime` is BOOTTIME in the namespace, rounded up as Linux
/// rounds it.
///
/// # Safety
/// As sysinfo(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysinfo(info: *mut libc::sysinfo) -> c_int {
    let ret = match next::sysinfo() {
        // SAFETY: libc's own function with the caller's argument.
        Some(real) => unsafe { real(info) },
        None => -1,
    };
    if ret == 0
        && let Some(ns) = ns::get()
        && ns.timens()
    {
        let mut boot = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a local timespec.
        if unsafe { gettime(ns, libc::CLOCK_BOOTTIME, &mut boot) } == 0 {
            // SAFETY: the kernel just filled `info`.
            unsafe { (*info).uptime = boot.tv_sec + i64::from(boot.tv_nsec != 0) };
            ns.count_translated(T_SYSINFO);
        }
    }
    ret
}
