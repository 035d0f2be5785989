//! Routing: where a clock id's time comes from, and whether a time
//! namespace moves it. One answer for everyone who needs it: the images'
//! entries, the namespace page builder, `vdso-run`'s preload library and
//! `--as-vdso` tracer, and the benches.
//!
//! Every function here is `const` and, called with a constant, folds away;
//! called with a run-time id (the images), it is the same bit tests the
//! entries always made.

use crate::clock::{
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW, CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI,
};
use crate::vvar::{CS_HRES_COARSE, CS_RAW, VDSO_BASES};

/// How a clock is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Read {
    /// From the counter, with `vd[CS_HRES_COARSE]`'s scale and the clock's
    /// base: REALTIME, MONOTONIC, BOOTTIME, TAI.
    Hres,
    /// From the counter with `vd[CS_RAW]`'s scale: MONOTONIC_RAW.
    Raw,
    /// The base `vd[CS_HRES_COARSE]` holds, as the last tick left it:
    /// REALTIME_COARSE, MONOTONIC_COARSE.
    Coarse,
    /// Auxiliary clock `n` (id `CLOCK_AUX + n`, Linux 6.17 on): from the
    /// counter, with the aux entry's own scale and its `basetime[0]`, where
    /// the layout holds aux clocks; else the system call. Never moved by a
    /// namespace.
    Aux(u8),
    /// Not in the pages: the system call answers (the CPU-time clocks, the
    /// alarm clocks, invalid ids).
    Syscall,
}

/// Which of a time namespace's two offsets moves a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shift {
    Monotonic,
    Boottime,
}

/// Where a clock's time comes from, and how a namespace moves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub read: Read,
    /// The offset a time namespace adds to what the clock reads; `None`
    /// for the clocks it leaves alone (REALTIME above all).
    pub shift: Option<Shift>,
}

impl Route {
    /// The `vdso_data` entry a read from the pages uses.
    pub const fn cs(self) -> usize {
        match self.read {
            Read::Raw => CS_RAW,
            _ => CS_HRES_COARSE,
        }
    }
}

const fn bit(clock: i32) -> u32 {
    1 << clock
}

/// Clocks computed from the counter with `vd[CS_HRES_COARSE]`.
pub const HRES_CLOCKS: u32 =
    bit(CLOCK_REALTIME) | bit(CLOCK_MONOTONIC) | bit(CLOCK_BOOTTIME) | bit(CLOCK_TAI);
/// Clocks copied from `vd[CS_HRES_COARSE]` as they stand.
pub const COARSE_CLOCKS: u32 = bit(CLOCK_REALTIME_COARSE) | bit(CLOCK_MONOTONIC_COARSE);
/// Clocks computed from the counter with `vd[CS_RAW]`.
pub const RAW_CLOCKS: u32 = bit(CLOCK_MONOTONIC_RAW);
/// Clocks moved by the namespace's monotonic offset.
pub const MONOTONIC_SHIFTED: u32 =
    bit(CLOCK_MONOTONIC) | bit(CLOCK_MONOTONIC_RAW) | bit(CLOCK_MONOTONIC_COARSE);
/// Clocks moved by its boottime offset.
pub const BOOTTIME_SHIFTED: u32 = bit(CLOCK_BOOTTIME) | bit(CLOCK_BOOTTIME_ALARM);

/// Ids at or above this are never served from the pages. Linux tests against
/// `MAX_CLOCKS` (16), but no id from 12 to 15 is in any mask above, so
/// testing against the number of bases falls back for exactly the same ids
/// and also proves every `basetime[clock]` index in range.
pub const SERVED_CLOCKS: u32 = VDSO_BASES as u32;

/// The first auxiliary clock's id (Linux's `CLOCK_AUX`, `MAX_CLOCKS`).
pub const CLOCK_AUX: i32 = 16;
/// How many there are (`MAX_AUX_CLOCKS`): ids 16 to 23.
pub const AUX_CLOCKS: u32 = 8;

/// The route of `clock`. Negative ids (the CPU-time clocks of other
/// processes and threads) become large and go to the system call, like ids
/// the pages do not hold.
#[inline(always)]
pub const fn route(clock: i32) -> Route {
    if clock as u32 >= SERVED_CLOCKS {
        let aux = (clock as u32).wrapping_sub(CLOCK_AUX as u32);
        return Route {
            read: if aux < AUX_CLOCKS {
                Read::Aux(aux as u8)
            } else {
                Read::Syscall
            },
            shift: None,
        };
    }
    let msk = bit(clock);
    let read = if msk & HRES_CLOCKS != 0 {
        Read::Hres
    } else if msk & COARSE_CLOCKS != 0 {
        Read::Coarse
    } else if msk & RAW_CLOCKS != 0 {
        Read::Raw
    } else {
        Read::Syscall
    };
    Route {
        read,
        shift: shift_of(msk),
    }
}

#[inline(always)]
const fn shift_of(msk: u32) -> Option<Shift> {
    if msk & MONOTONIC_SHIFTED != 0 {
        Some(Shift::Monotonic)
    } else if msk & BOOTTIME_SHIFTED != 0 {
        Some(Shift::Boottime)
    } else {
        None
    }
}

/// True if `clock` is read from the counter (`Hres` or `Raw`): the clocks
/// whose resolution is `hrtimer_res`. The same bit tests as [`route`],
/// without building a `Route`.
#[inline(always)]
pub const fn from_counter(clock: i32) -> bool {
    (clock as u32) < SERVED_CLOCKS && bit(clock) & (HRES_CLOCKS | RAW_CLOCKS) != 0
}

/// The offset Linux moves an absolute deadline on `clock` by, from the
/// namespace's time to the host's (`timens_ktime_to_host`): only timers and
/// sleeps on MONOTONIC and BOOTTIME(_ALARM); MONOTONIC_RAW and the coarse
/// clocks cannot arm a timer at all.
pub const fn deadline_shift(clock: i32) -> Option<Shift> {
    match clock {
        CLOCK_MONOTONIC => Some(Shift::Monotonic),
        CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => Some(Shift::Boottime),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME_ALARM, CLOCK_THREAD_CPUTIME_ID};

    #[test]
    fn every_clock_id_has_linuxs_route() {
        use Read::*;
        use Shift::*;
        let expected = [
            (CLOCK_REALTIME, Hres, None),
            (CLOCK_MONOTONIC, Hres, Some(Monotonic)),
            (CLOCK_PROCESS_CPUTIME_ID, Syscall, None),
            (CLOCK_THREAD_CPUTIME_ID, Syscall, None),
            (CLOCK_MONOTONIC_RAW, Raw, Some(Monotonic)),
            (CLOCK_REALTIME_COARSE, Coarse, None),
            (CLOCK_MONOTONIC_COARSE, Coarse, Some(Monotonic)),
            (CLOCK_BOOTTIME, Hres, Some(Boottime)),
            (CLOCK_REALTIME_ALARM, Syscall, None),
            (CLOCK_BOOTTIME_ALARM, Syscall, Some(Boottime)),
            (10, Syscall, None),
            (CLOCK_TAI, Hres, None),
        ];
        for (clock, read, shift) in expected {
            assert_eq!(route(clock), Route { read, shift }, "clock {clock}");
        }
        for clock in [12, 15, 24, i32::MAX, -1, -6, i32::MIN] {
            assert_eq!(route(clock).read, Syscall, "clock {clock}");
            assert_eq!(route(clock).shift, None, "clock {clock}");
        }
        for n in 0..8u8 {
            let clock = 16 + i32::from(n);
            assert_eq!(
                route(clock),
                Route {
                    read: Aux(n),
                    shift: None
                },
                "clock {clock}"
            );
        }
        assert_eq!(route(CLOCK_MONOTONIC_RAW).cs(), CS_RAW);
        assert_eq!(route(CLOCK_MONOTONIC).cs(), CS_HRES_COARSE);
    }

    #[test]
    fn only_timer_clocks_have_their_deadlines_moved() {
        let moved = [
            (CLOCK_MONOTONIC, Shift::Monotonic),
            (CLOCK_BOOTTIME, Shift::Boottime),
            (CLOCK_BOOTTIME_ALARM, Shift::Boottime),
        ];
        for clock in -8..24 {
            let expected = moved.iter().find(|(c, _)| *c == clock).map(|(_, s)| *s);
            assert_eq!(deadline_shift(clock), expected, "clock {clock}");
        }
        // A deadline moves by the offset the clock's reads move by.
        for (clock, shift) in moved {
            assert_eq!(route(clock).shift, Some(shift), "clock {clock}");
        }
    }
}
