//! The clock algorithms, one place for every image. They read the data pages
//! they are given and never write them; `None` means "ask the kernel" (the
//! caller makes the system call).

use crate::arch;
use crate::design::{Design, Host, TwoImages};
use crate::route::{Read, Route, route};
use crate::vvar::{
    CS_HRES_COARSE, CS_RAW, ClockData, ShiftedNanos, TimeData, TimensSlot, clock_mode,
};

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
pub const CLOCK_REALTIME_COARSE: i32 = 5;
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
pub const CLOCK_BOOTTIME: i32 = 7;
pub const CLOCK_REALTIME_ALARM: i32 = 8;
pub const CLOCK_BOOTTIME_ALARM: i32 = 9;
pub const CLOCK_TAI: i32 = 11;
pub const NSEC_PER_SEC: u64 = 1_000_000_000;
pub const NSEC_PER_USEC: u64 = 1_000;

/// `struct __kernel_timespec` on x86_64 (also the libc `struct timespec`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `struct __kernel_old_timeval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// `struct timezone`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timezone {
    pub tz_minuteswest: i32,
    pub tz_dsttime: i32,
}

/// `clock_gettime` over a page of `linux-6.6` time data. With `TIMENS`, the
/// clocks a time namespace shifts get the offsets of `timens`; without it,
/// `timens` is never touched and the code for it does not exist. (For
/// tests; the images go through [`crate::entry`].)
#[inline(always)]
pub fn clock_gettime<const TIMENS: bool, P: TimeData>(
    vvar: &P,
    timens: &P,
    clock: i32,
) -> Option<Timespec> {
    clock_gettime_in::<TwoImages<TIMENS>, P>(vvar, TimensSlot::from_page(timens), clock)
}

/// `clock_gettime` under design `D` ([`crate::design`]) over time data `P`:
/// the same algorithm for every design and layout; `D` decides only where
/// offsets come from.
#[inline(always)]
pub fn clock_gettime_in<D: Design, P: TimeData>(
    vvar: &P,
    timens: TimensSlot<'_, P>,
    clock: i32,
) -> Option<Timespec> {
    let r = route(clock);
    match r.read {
        Read::Hres | Read::Raw => counter_in::<D, P>(vvar, timens, clock, r),
        Read::Coarse => coarse_in::<D, P>(vvar, timens, clock, r),
        Read::Aux(n) => aux_in(vvar, n),
        Read::Syscall => None,
    }
}

/// A clock read from the counter (`route(clock).read` is `Hres` or `Raw`).
#[inline(always)]
pub(crate) fn counter_in<D: Design, P: TimeData>(
    vvar: &P,
    timens: TimensSlot<'_, P>,
    clock: i32,
    r: Route,
) -> Option<Timespec> {
    // One read per entry, not one read of an entry chosen at run time: each
    // entry's fields are then constant displacements, which spares the
    // common path an address computation and the registers it holds.
    let (sec, nsec) = if r.read == Read::Raw {
        hres(vvar.clock(CS_RAW), clock as usize)?
    } else {
        hres(vvar.clock(CS_HRES_COARSE), clock as usize)?
    };
    let (sec, nsec) = shifted::<D, P>(timens, r, clock, sec, nsec);
    Some(normalize(sec, nsec))
}

/// A coarse clock (`route(clock).read` is `Coarse`): the base as the last
/// update left it, in plain nanoseconds below a second, so only an offset
/// can carry into the seconds.
#[inline(always)]
pub(crate) fn coarse_in<D: Design, P: TimeData>(
    vvar: &P,
    timens: TimensSlot<'_, P>,
    clock: i32,
    r: Route,
) -> Option<Timespec> {
    let (sec, nsec) = coarse(vvar.clock(CS_HRES_COARSE), clock as usize)?;
    if D::in_namespace(timens, CS_HRES_COARSE) && r.shift.is_some() {
        let (sec, nsec) = shifted::<D, P>(timens, r, clock, sec, nsec);
        return Some(normalize(sec, nsec));
    }
    Some(Timespec {
        tv_sec: sec as i64,
        tv_nsec: nsec as i64,
    })
}

/// Auxiliary clock `n`, where the layout holds aux clocks (Linux's
/// `do_aux`): the counter with the aux entry's own scale and its
/// `basetime[0]`, no namespace offset. An aux clock the kernel has not
/// enabled (`clock_mode` NONE) asks the kernel, which says why.
#[inline(always)]
pub(crate) fn aux_in<P: TimeData>(vvar: &P, n: u8) -> Option<Timespec> {
    let (sec, nsec) = hres(vvar.aux(usize::from(n))?, AUX_BASE)?;
    Some(normalize(sec, nsec))
}

/// The base an aux clock keeps its time in (Linux's `VDSO_BASE_AUX`).
const AUX_BASE: usize = 0;

/// `gettimeofday`'s time: REALTIME in microseconds.
#[inline(always)]
pub fn gettimeofday<P: TimeData>(vvar: &P) -> Option<Timeval> {
    let (sec, nsec) = hres(vvar.clock(CS_HRES_COARSE), CLOCK_REALTIME as usize)?;
    let ts = normalize(sec, nsec);
    Some(Timeval {
        tv_sec: ts.tv_sec,
        tv_usec: ts.tv_nsec / NSEC_PER_USEC as i64,
    })
}

#[inline(always)]
pub fn timezone<P: TimeData>(vvar: &P) -> Option<Timezone> {
    timezone_in::<Host, P>(vvar, TimensSlot::from_page(vvar))
}

/// `gettimeofday`'s timezone; `None` (ask the kernel) when the page that
/// would answer is a namespace page, which holds none.
#[inline(always)]
pub fn timezone_in<D: Design, P: TimeData>(
    vvar: &P,
    timens: TimensSlot<'_, P>,
) -> Option<Timezone> {
    let page = D::unlocked_page(vvar, timens)?;
    let (tz_minuteswest, tz_dsttime) = page.timezone();
    Some(Timezone {
        tz_minuteswest,
        tz_dsttime,
    })
}

/// `time()`: the seconds of REALTIME's base. One aligned 64-bit load needs no
/// sequence count, and, as in Linux, it does not depend on the clock mode,
/// except that a namespace page in the vvar slot (see
/// [`Design::unlocked_page`]) holds offsets, not time.
#[inline(always)]
pub fn time<P: TimeData>(vvar: &P) -> Option<i64> {
    time_in::<Host, P>(vvar, TimensSlot::from_page(vvar))
}

#[inline(always)]
pub fn time_in<D: Design, P: TimeData>(vvar: &P, timens: TimensSlot<'_, P>) -> Option<i64> {
    let page = D::unlocked_page(vvar, timens)?;
    Some(page.clock(CS_HRES_COARSE).base_sec(CLOCK_REALTIME as usize) as i64)
}

/// `clock_getres` for the counter-driven clocks; `None` for every other id,
/// whose resolution (the kernel's tick) the image cannot know.
#[inline(always)]
pub fn clock_getres<P: TimeData>(vvar: &P, clock: i32) -> Option<Timespec> {
    clock_getres_in::<Host, P>(vvar, TimensSlot::from_page(vvar), clock)
}

/// The resolution of every aux clock, whatever the page says or the kernel
/// configured: Linux 6.18's vDSO answers this constant for ids 16 to 23
/// (`aux_clock_resolution_ns`), even where its system call says EINVAL.
pub const AUX_RESOLUTION_NS: i64 = 1;

#[inline(always)]
pub fn clock_getres_in<D: Design, P: TimeData>(
    vvar: &P,
    timens: TimensSlot<'_, P>,
    clock: i32,
) -> Option<Timespec> {
    if !crate::route::from_counter(clock) {
        if P::AUX_CLOCKS != 0 && matches!(route(clock).read, Read::Aux(_)) {
            return Some(Timespec {
                tv_sec: 0,
                tv_nsec: AUX_RESOLUTION_NS,
            });
        }
        return None;
    }
    let page = D::unlocked_page(vvar, timens)?;
    Some(Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(page.hrtimer_res()),
    })
}

/// Reads a high-resolution clock: seconds, and nanoseconds that may exceed a
/// second (normalised by the caller, outside the loop: a race inside it could
/// make a division see a huge value on every retry).
#[inline(always)]
fn hres<C: ClockData>(vd: &C, clock: usize) -> Option<(u64, u64)> {
    loop {
        let seq = vd.seq().read_begin_unless(|| is_timens_page(vd))?;
        // The mode can change under us (the clocksource was switched), so it
        // is read inside the loop, like the data it governs.
        if !arch::reads_counter(vd.clock_mode()) {
            return None;
        }
        let cycles = arch::read_counter();
        let (sec, base) = vd.hres_base(clock);
        let nsec = scale(delta(cycles, vd.cycle_last()), vd.mult(), vd.shift(), base);
        if !vd.seq().read_retry(seq) {
            return Some((sec, nsec));
        }
    }
}

/// Cycles since the last update. A counter behind `cycle_last` (read on a
/// CPU whose counter is a little behind the updater's) counts as no time at
/// all, never as a jump back. (arm64 Linux masks the difference with
/// `mask` instead, 56 bits there, which turns such a counter into a jump
/// of years; the kernel's writer never makes one, and here it cannot.)
#[inline(always)]
fn delta(cycles: u64, last: u64) -> u64 {
    cycles.saturating_sub(last)
}

/// `(base + delta * mult) >> shift`, exact for any delta: the 128-bit sum
/// only when the 64-bit one overflows (data not updated for minutes at a fine
/// shift), so the usual case costs one multiply. Inline, not a call: a call
/// inside the seqlock loop would make every register live across it a
/// callee-saved one, and the fast path would pay for the pushes.
#[inline(always)]
fn scale(delta: u64, mult: u32, shift: u32, base: ShiftedNanos) -> u64 {
    match delta
        .checked_mul(u64::from(mult))
        .and_then(|p| p.checked_add(base.0))
    {
        // The shift is taken modulo 64 on both paths (as `shr` does): a
        // kernel never writes more than 32, and a page that says otherwise
        // must still give one answer, not one per path.
        Some(ns) => ns >> (shift & 63),
        None => {
            ((u128::from(delta) * u128::from(mult) + u128::from(base.0)) >> (shift & 63)) as u64
        }
    }
}

#[inline(always)]
fn coarse<C: ClockData>(vd: &C, clock: usize) -> Option<(u64, u64)> {
    loop {
        let seq = vd.seq().read_begin_unless(|| is_timens_page(vd))?;
        let base = vd.coarse_base(clock);
        if !vd.seq().read_retry(seq) {
            return Some(base);
        }
    }
}

/// A Linux time-namespace page where the vvar page should be: a kernel
/// using Linux's own arrangement (the namespace page in the vvar slot) with
/// this image. Its `seq` stays odd forever, so the readers ask the kernel,
/// whose system call already answers in the namespace, instead of spinning.
#[inline(always)]
fn is_timens_page<C: ClockData>(vd: &C) -> bool {
    vd.clock_mode() == clock_mode::TIMENS
}

/// Adds the namespace offset, if the design says this call has one.
#[inline(always)]
fn shifted<D: Design, P: TimeData>(
    timens: TimensSlot<'_, P>,
    r: Route,
    clock: i32,
    sec: u64,
    nsec: u64,
) -> (u64, u64) {
    // The design's test first: in this order the shipped images compile to
    // the same bytes as before designs existed (LLVM lays the blocks out
    // differently the other way round).
    if D::in_namespace(timens, r.cs()) && r.shift.is_some() {
        // Offsets are frozen before a process can use the page, so they need
        // no sequence count (as in Linux).
        let off = timens.page().clock(r.cs()).timens_offset(clock as usize);
        return (
            sec.wrapping_add(off.sec as u64),
            nsec.wrapping_add(off.nsec),
        );
    }
    (sec, nsec)
}

#[inline(always)]
fn normalize(sec: u64, nsec: u64) -> Timespec {
    if nsec < NSEC_PER_SEC {
        return Timespec {
            tv_sec: sec as i64,
            tv_nsec: nsec as i64,
        };
    }
    normalize_slow(sec, nsec)
}

/// Seconds carried out of a count of a second or more. A page a few
/// seconds old (a CPU idle past its tick) carries a few seconds, which a
/// few subtractions handle at the cost of a compare each, as Linux's loop
/// does; a count of [`SUBTRACTED_SECONDS`] or more (a stall) takes a real
/// division (a multiply by the reciprocal), never a loop run 10^4 times.
/// Inline: a call here, even off the fast path, would cost the fast path a
/// stack adjustment for the callee's alignment.
#[inline(always)]
fn normalize_slow(sec: u64, nsec: u64) -> Timespec {
    if nsec < SUBTRACTED_SECONDS * NSEC_PER_SEC {
        let (mut sec, mut nsec) = (sec, nsec);
        while nsec >= NSEC_PER_SEC {
            // Kept a loop: unrolled, or turned into the division it
            // computes, it would be larger or slower than its few turns.
            nsec = opaque(nsec) - NSEC_PER_SEC;
            sec = sec.wrapping_add(1);
        }
        return Timespec {
            tv_sec: sec as i64,
            tv_nsec: nsec as i64,
        };
    }
    Timespec {
        tv_sec: sec.wrapping_add(nsec / NSEC_PER_SEC) as i64,
        tv_nsec: (nsec % NSEC_PER_SEC) as i64,
    }
}

/// How many seconds [`normalize_slow`] carries by subtraction before it
/// divides: a page stale by less reads at almost the fresh page's cost
/// (BENCHMARKS.md).
const SUBTRACTED_SECONDS: u64 = 4;

/// `x`, hidden from the optimiser (Linux's `__iter_div_u64_rem` does the
/// same with an empty `asm`), in a register: no stack is touched.
#[inline(always)]
pub(crate) fn opaque(mut x: u64) -> u64 {
    // SAFETY: the asm is a comment: it reads and writes only `x`'s
    // register, touches no memory, no stack and no flags.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    x
}
