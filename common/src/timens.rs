//! The time-namespace page: what a kernel writes once per namespace, and the
//! checks Linux applies to the offsets before it does.
//!
//! The page is a `vdso_data` pair laid out like the vvar page whose
//! `basetime[clock]` slots hold `{s64 sec; u64 nsec}` offsets, with
//! `seq = 1` and `clock_mode = INT_MAX`, exactly as Linux's
//! `timens_setup_vdso_data` fills it. It is written before any process of
//! the namespace runs and never changes afterwards, so readers need no
//! sequence count for it.

use core::fmt;

use crate::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, NSEC_PER_SEC, Timespec};
use crate::route::{Shift, route};
use crate::sync::Ordering::Relaxed;
use crate::vvar::{CS_BASES, MAX_AUX_CLOCKS, TimeData, TimensOffset, clock_mode};

/// Linux's `KTIME_SEC_MAX`: the largest second count a `ktime_t` holds.
pub const KTIME_SEC_MAX: i64 = i64::MAX / NSEC_PER_SEC as i64;

impl TimensOffset {
    /// An offset of `nanos` nanoseconds (negative allowed), normalised so
    /// that `nsec` is in `[0, 1e9)`. Seconds beyond `i64` saturate (and
    /// [`validate`] then refuses them) rather than wrap into a small offset.
    pub const fn from_nanos(nanos: i128) -> Self {
        let sec = nanos.div_euclid(NSEC_PER_SEC as i128);
        let nsec = nanos.rem_euclid(NSEC_PER_SEC as i128);
        let sec = if sec > i64::MAX as i128 {
            i64::MAX
        } else if sec < i64::MIN as i128 {
            i64::MIN
        } else {
            sec as i64
        };
        TimensOffset {
            sec,
            nsec: nsec as u64,
        }
    }

    pub const ZERO: TimensOffset = TimensOffset { sec: 0, nsec: 0 };

    pub const fn as_nanos(&self) -> i128 {
        self.sec as i128 * NSEC_PER_SEC as i128 + self.nsec as i128
    }
}

/// A namespace's offsets (what `/proc/PID/timens_offsets` holds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub monotonic: TimensOffset,
    pub boottime: TimensOffset,
}

impl Default for TimensOffset {
    fn default() -> Self {
        Self::ZERO
    }
}

/// Why Linux (and this builder) refuses an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimensError {
    /// `nsec` not in `[0, 1e9)`.
    Unnormalised { clock: i32, nsec: u64 },
    /// Beyond `±KTIME_SEC_MAX` seconds.
    OutOfRange { clock: i32, sec: i64 },
    /// The clock would read negative in the namespace.
    Negative {
        clock: i32,
        now: Timespec,
        offset: TimensOffset,
    },
    /// The clock would read more than `KTIME_SEC_MAX / 2` seconds.
    TooLarge {
        clock: i32,
        now: Timespec,
        offset: TimensOffset,
    },
}

fn clock_name(clock: i32) -> &'static str {
    if clock == CLOCK_BOOTTIME {
        "boottime"
    } else {
        "monotonic"
    }
}

impl fmt::Display for TimensError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TimensError::Unnormalised { clock, nsec } => write!(
                f,
                "{} offset has {nsec} nanoseconds; it must be below one second",
                clock_name(clock)
            ),
            TimensError::OutOfRange { clock, sec } => write!(
                f,
                "{} offset of {sec} s is beyond the ±{KTIME_SEC_MAX} s Linux allows",
                clock_name(clock)
            ),
            TimensError::Negative { clock, now, offset } => write!(
                f,
                "{} offset of {} s would make the clock negative (it reads {}.{:09} s now)",
                clock_name(clock),
                Seconds(offset.as_nanos()),
                now.tv_sec,
                now.tv_nsec
            ),
            TimensError::TooLarge { clock, now, offset } => write!(
                f,
                "{} offset of {} s would take the clock past {} s, the most Linux allows (it reads {}.{:09} s now)",
                clock_name(clock),
                Seconds(offset.as_nanos()),
                KTIME_SEC_MAX / 2,
                now.tv_sec,
                now.tv_nsec
            ),
        }
    }
}

/// Nanoseconds shown as signed seconds with a fractional part.
struct Seconds(i128);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let ns = NSEC_PER_SEC as u128;
        write!(f, "{sign}{}.{:09}", abs / ns, abs % ns)
    }
}

/// The host's MONOTONIC and BOOTTIME when the namespace is created: Linux
/// checks offsets against the clocks' current values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub monotonic: Timespec,
    pub boottime: Timespec,
}

/// Linux's checks (`proc_timens_set_offset`): offsets within
/// `±KTIME_SEC_MAX` s, and each clock, offset applied, between 0 and
/// `KTIME_SEC_MAX / 2` s at the time of the check.
pub fn validate(offsets: &Offsets, now: &Now) -> Result<(), TimensError> {
    for (clock, offset, now) in [
        (CLOCK_MONOTONIC, offsets.monotonic, now.monotonic),
        (CLOCK_BOOTTIME, offsets.boottime, now.boottime),
    ] {
        if offset.nsec >= NSEC_PER_SEC {
            return Err(TimensError::Unnormalised {
                clock,
                nsec: offset.nsec,
            });
        }
        if !(-KTIME_SEC_MAX..=KTIME_SEC_MAX).contains(&offset.sec) {
            return Err(TimensError::OutOfRange {
                clock,
                sec: offset.sec,
            });
        }
        let shifted =
            now.tv_sec as i128 * NSEC_PER_SEC as i128 + now.tv_nsec as i128 + offset.as_nanos();
        if shifted < 0 {
            return Err(TimensError::Negative { clock, now, offset });
        }
        if shifted / NSEC_PER_SEC as i128 > (KTIME_SEC_MAX / 2) as i128 {
            return Err(TimensError::TooLarge { clock, now, offset });
        }
    }
    Ok(())
}

/// Validates `offsets` and writes the namespace page as Linux does, for
/// any layout: the MONOTONIC offset for MONOTONIC, MONOTONIC_RAW and
/// MONOTONIC_COARSE, the BOOTTIME offset for BOOTTIME and BOOTTIME_ALARM,
/// in both clock entries; `seq = 1`, `clock_mode = INT_MAX`; every other
/// field zero, whatever the page held before. The aux clocks' entries
/// (layouts from 6.17) are marked the same way with zero offsets, as a
/// kernel with aux clocks (`CONFIG_POSIX_AUX_CLOCKS`) marks them: a reader
/// that follows them finds the real page, and no namespace moves an aux
/// clock. (A kernel without aux clocks leaves them zero, which readers
/// take for "ask the kernel".)
///
/// Call it before any process can map `page` (the readers take no sequence
/// count for it).
pub fn write_page<P: TimeData>(page: &P, offsets: &Offsets, now: &Now) -> Result<(), TimensError> {
    validate(offsets, now)?;
    let refs = page.refs();
    let aux = (0..MAX_AUX_CLOCKS).filter_map(|n| refs.aux(n));
    for (i, vd) in refs.clocks.into_iter().chain(aux).enumerate() {
        let is_aux = i >= CS_BASES;
        vd.seq.0.store(1, Relaxed);
        vd.clock_mode.store(clock_mode::TIMENS, Relaxed);
        for field in [vd.cycle_last, vd.mask].into_iter().chain(vd.max_cycles) {
            field.store(0, Relaxed);
        }
        vd.mult.store(0, Relaxed);
        vd.shift.store(0, Relaxed);
        if let Some(tail) = vd.tail {
            tail.tz_minuteswest.store(0, Relaxed);
            tail.tz_dsttime.store(0, Relaxed);
            tail.hrtimer_res.store(0, Relaxed);
            tail.unused.store(0, Relaxed);
        }
        for (clock, slot) in vd.basetime.iter().enumerate() {
            let off = match route(clock as i32).shift {
                Some(Shift::Monotonic) if !is_aux => offsets.monotonic,
                Some(Shift::Boottime) if !is_aux => offsets.boottime,
                _ => TimensOffset::ZERO,
            };
            slot.sec.store(off.sec as u64, Relaxed);
            slot.nsec.store(off.nsec, Relaxed);
        }
    }
    refs.tz_minuteswest.store(0, Relaxed);
    refs.tz_dsttime.store(0, Relaxed);
    refs.hrtimer_res.store(0, Relaxed);
    Ok(())
}
