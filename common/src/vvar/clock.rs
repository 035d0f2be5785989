//! One clock entry of the time data: Linux's `struct vdso_data` (up to
//! 6.14) or `struct vdso_clock` (from 6.15). The layouts differ only in
//! which fields are present, so one generic struct serves them all, with a
//! zero-sized field where a layout has none.

use crate::seqlock::SeqCount;
use crate::sync::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

/// One base of a clock: `struct vdso_timestamp`. In a namespace page the
/// same 16 bytes are `struct timens_offset { s64 sec; u64 nsec; }`.
#[repr(C)]
pub struct VdsoTimestamp {
    pub(crate) sec: AtomicU64,
    pub(crate) nsec: AtomicU64,
}

/// One base per clock id up to CLOCK_TAI.
pub const VDSO_BASES: usize = 12;

/// A field a layout does not have: no bytes, no alignment.
#[repr(C)]
#[derive(Default)]
pub struct Absent;

/// `vdso_data`'s tail up to 6.14: the timezone and `hrtimer_res`, which
/// from 6.15 live in `vdso_time_data` instead.
#[repr(C)]
pub struct TzTail {
    pub(crate) tz_minuteswest: AtomicI32,
    pub(crate) tz_dsttime: AtomicI32,
    pub(crate) hrtimer_res: AtomicU32,
    pub(crate) unused: AtomicU32,
}

/// A clock entry. `M` is `max_cycles` (x86 from 6.10, where Linux selects
/// `GENERIC_VDSO_OVERFLOW_PROTECT`) or [`Absent`]; `T` is [`TzTail`] or
/// [`Absent`].
///
/// Every field is an atomic: the page is memory shared between one writer
/// and any number of concurrent readers, so neither side may hold a plain
/// `&mut` or read fields non-atomically (that would be a data race,
/// whatever the hardware does). On x86_64 relaxed atomic loads and stores
/// are plain `mov`s.
#[repr(C)]
pub struct VdsoClock<M, T> {
    pub(crate) seq: SeqCount,
    pub(crate) clock_mode: AtomicI32,
    pub(crate) cycle_last: AtomicU64,
    pub(crate) max_cycles: M,
    pub(crate) mask: AtomicU64,
    pub(crate) mult: AtomicU32,
    pub(crate) shift: AtomicU32,
    pub(crate) basetime: [VdsoTimestamp; VDSO_BASES],
    pub(crate) tail: T,
}

/// Linux 5.7 to 6.9's `struct vdso_data`, 240 bytes.
pub type VdsoData = VdsoClock<Absent, TzTail>;
/// Linux 6.10 to 6.14's `struct vdso_data` on x86, 248 bytes.
pub type VdsoDataMaxCycles = VdsoClock<AtomicU64, TzTail>;
/// Linux 6.15's `struct vdso_clock` on x86, 232 bytes.
pub type VdsoClockMaxCycles = VdsoClock<AtomicU64, Absent>;
/// Linux 6.15's `struct vdso_clock` where the architecture does not select
/// `GENERIC_VDSO_OVERFLOW_PROTECT` (arm64), 224 bytes.
pub type VdsoClockNoMaxCycles = VdsoClock<Absent, Absent>;

#[cfg(not(loom))]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<VdsoTimestamp>() == 16);
    assert!(size_of::<Absent>() == 0);
    assert!(offset_of!(VdsoData, seq) == 0);
    assert!(offset_of!(VdsoData, clock_mode) == 4);
    assert!(offset_of!(VdsoData, cycle_last) == 8);
    assert!(offset_of!(VdsoData, mask) == 16);
    assert!(offset_of!(VdsoData, mult) == 24);
    assert!(offset_of!(VdsoData, shift) == 28);
    assert!(offset_of!(VdsoData, basetime) == 32);
    assert!(offset_of!(VdsoData, tail) + offset_of!(TzTail, tz_minuteswest) == 224);
    assert!(offset_of!(VdsoData, tail) + offset_of!(TzTail, tz_dsttime) == 228);
    assert!(offset_of!(VdsoData, tail) + offset_of!(TzTail, hrtimer_res) == 232);
    assert!(offset_of!(VdsoData, tail) + offset_of!(TzTail, unused) == 236);
    assert!(size_of::<VdsoData>() == 240);

    assert!(offset_of!(VdsoDataMaxCycles, cycle_last) == 8);
    assert!(offset_of!(VdsoDataMaxCycles, max_cycles) == 16);
    assert!(offset_of!(VdsoDataMaxCycles, mask) == 24);
    assert!(offset_of!(VdsoDataMaxCycles, mult) == 32);
    assert!(offset_of!(VdsoDataMaxCycles, shift) == 36);
    assert!(offset_of!(VdsoDataMaxCycles, basetime) == 40);
    assert!(offset_of!(VdsoDataMaxCycles, tail) + offset_of!(TzTail, tz_minuteswest) == 232);
    assert!(offset_of!(VdsoDataMaxCycles, tail) + offset_of!(TzTail, hrtimer_res) == 240);
    assert!(size_of::<VdsoDataMaxCycles>() == 248);

    assert!(offset_of!(VdsoClockMaxCycles, basetime) == 40);
    assert!(size_of::<VdsoClockMaxCycles>() == 232);

    assert!(offset_of!(VdsoClockNoMaxCycles, cycle_last) == 8);
    assert!(offset_of!(VdsoClockNoMaxCycles, mask) == 16);
    assert!(offset_of!(VdsoClockNoMaxCycles, mult) == 24);
    assert!(offset_of!(VdsoClockNoMaxCycles, shift) == 28);
    assert!(offset_of!(VdsoClockNoMaxCycles, basetime) == 32);
    assert!(size_of::<VdsoClockNoMaxCycles>() == 224);
};

/// The fields only some layouts have, read and written through a type
/// that says whether they are there.
pub trait MaybeMaxCycles: Sync {
    fn max_cycles(&self) -> Option<&AtomicU64>;
    fn new() -> Self;
}

impl MaybeMaxCycles for Absent {
    fn max_cycles(&self) -> Option<&AtomicU64> {
        None
    }
    fn new() -> Self {
        Absent
    }
}

impl MaybeMaxCycles for AtomicU64 {
    fn max_cycles(&self) -> Option<&AtomicU64> {
        Some(self)
    }
    fn new() -> Self {
        AtomicU64::new(0)
    }
}

/// A clock entry's tail: the timezone and `hrtimer_res` up to 6.14.
pub trait MaybeTzTail: Sync {
    fn tz(&self) -> Option<&TzTail>;
    fn new() -> Self;
}

impl MaybeTzTail for Absent {
    fn tz(&self) -> Option<&TzTail> {
        None
    }
    fn new() -> Self {
        Absent
    }
}

impl MaybeTzTail for TzTail {
    fn tz(&self) -> Option<&TzTail> {
        Some(self)
    }
    fn new() -> Self {
        TzTail {
            tz_minuteswest: AtomicI32::new(0),
            tz_dsttime: AtomicI32::new(0),
            hrtimer_res: AtomicU32::new(0),
            unused: AtomicU32::new(0),
        }
    }
}

/// Nanoseconds scaled by `2^shift`, as the hres `basetime` entries hold them
/// (the kernel keeps the sub-nanosecond bits so that repeated re-anchoring
/// does not accumulate rounding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShiftedNanos(pub u64);

/// A time-namespace offset (`struct timens_offset`): `nsec` is in `[0, 1e9)`,
/// the sign lives in `sec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimensOffset {
    pub sec: i64,
    pub nsec: u64,
}

/// The read side of a clock entry, whatever its layout: what the clock
/// algorithms (`crate::clock`) are written against. Every method is a
/// relaxed atomic load at a constant offset.
pub trait ClockData: Sync {
    fn seq(&self) -> &SeqCount;
    fn clock_mode(&self) -> i32;
    fn cycle_last(&self) -> u64;
    fn mult(&self) -> u32;
    fn shift(&self) -> u32;
    /// The base of a high-resolution clock: seconds and nanoseconds `<< shift`.
    ///
    /// # Panics
    /// If `clock` is not below [`VDSO_BASES`] (the images prove their ids in range).
    fn hres_base(&self, clock: usize) -> (u64, ShiftedNanos);
    /// The base of a coarse clock (and of `time()`): plain nanoseconds.
    fn coarse_base(&self, clock: usize) -> (u64, u64);
    /// Only the seconds of a base (all `time()` needs).
    fn base_sec(&self, clock: usize) -> u64;
    /// In a time-namespace page, the offset of a clock.
    fn timens_offset(&self, clock: usize) -> TimensOffset;
    /// `max_cycles`, where the layout has it.
    fn max_cycles(&self) -> Option<u64>;
    /// Every field, by reference: what writers write through.
    fn refs(&self) -> ClockRefs<'_>;
}

impl<M: MaybeMaxCycles, T: MaybeTzTail> ClockData for VdsoClock<M, T> {
    #[inline(always)]
    fn seq(&self) -> &SeqCount {
        &self.seq
    }

    #[inline(always)]
    fn clock_mode(&self) -> i32 {
        self.clock_mode.load(Relaxed)
    }

    #[inline(always)]
    fn cycle_last(&self) -> u64 {
        self.cycle_last.load(Relaxed)
    }

    #[inline(always)]
    fn mult(&self) -> u32 {
        self.mult.load(Relaxed)
    }

    #[inline(always)]
    fn shift(&self) -> u32 {
        self.shift.load(Relaxed)
    }

    #[inline(always)]
    fn hres_base(&self, clock: usize) -> (u64, ShiftedNanos) {
        let ts = &self.basetime[clock];
        (ts.sec.load(Relaxed), ShiftedNanos(ts.nsec.load(Relaxed)))
    }

    #[inline(always)]
    fn coarse_base(&self, clock: usize) -> (u64, u64) {
        let ts = &self.basetime[clock];
        (ts.sec.load(Relaxed), ts.nsec.load(Relaxed))
    }

    #[inline(always)]
    fn base_sec(&self, clock: usize) -> u64 {
        self.basetime[clock].sec.load(Relaxed)
    }

    #[inline(always)]
    fn timens_offset(&self, clock: usize) -> TimensOffset {
        let ts = &self.basetime[clock];
        TimensOffset {
            sec: ts.sec.load(Relaxed) as i64,
            nsec: ts.nsec.load(Relaxed),
        }
    }

    fn max_cycles(&self) -> Option<u64> {
        self.max_cycles.max_cycles().map(|m| m.load(Relaxed))
    }

    fn refs(&self) -> ClockRefs<'_> {
        ClockRefs {
            seq: &self.seq,
            clock_mode: &self.clock_mode,
            cycle_last: &self.cycle_last,
            max_cycles: self.max_cycles.max_cycles(),
            mask: &self.mask,
            mult: &self.mult,
            shift: &self.shift,
            basetime: &self.basetime,
            tail: self.tail.tz(),
        }
    }
}

impl<M: MaybeMaxCycles, T: MaybeTzTail> VdsoClock<M, T> {
    /// A zeroed entry (clock mode NONE).
    pub fn new() -> Self {
        VdsoClock {
            seq: SeqCount::new(0),
            clock_mode: AtomicI32::new(0),
            cycle_last: AtomicU64::new(0),
            max_cycles: M::new(),
            mask: AtomicU64::new(0),
            mult: AtomicU32::new(0),
            shift: AtomicU32::new(0),
            basetime: core::array::from_fn(|_| VdsoTimestamp {
                sec: AtomicU64::new(0),
                nsec: AtomicU64::new(0),
            }),
            tail: T::new(),
        }
    }
}

impl<M: MaybeMaxCycles, T: MaybeTzTail> Default for VdsoClock<M, T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A clock entry's fields by reference, whatever its layout.
#[derive(Clone, Copy)]
pub struct ClockRefs<'a> {
    pub(crate) seq: &'a SeqCount,
    pub(crate) clock_mode: &'a AtomicI32,
    pub(crate) cycle_last: &'a AtomicU64,
    pub(crate) max_cycles: Option<&'a AtomicU64>,
    pub(crate) mask: &'a AtomicU64,
    pub(crate) mult: &'a AtomicU32,
    pub(crate) shift: &'a AtomicU32,
    pub(crate) basetime: &'a [VdsoTimestamp; VDSO_BASES],
    /// The timezone and `hrtimer_res` fields, where the entry has them.
    pub(crate) tail: Option<&'a TzTail>,
}

impl<'a> ClockRefs<'a> {
    pub fn seq(&self) -> &'a SeqCount {
        self.seq
    }

    pub fn clock_mode(&self) -> i32 {
        self.clock_mode.load(Relaxed)
    }

    pub fn cycle_last(&self) -> u64 {
        self.cycle_last.load(Relaxed)
    }

    pub fn max_cycles(&self) -> Option<u64> {
        self.max_cycles.map(|m| m.load(Relaxed))
    }

    pub fn mult(&self) -> u32 {
        self.mult.load(Relaxed)
    }

    pub fn shift(&self) -> u32 {
        self.shift.load(Relaxed)
    }

    /// `basetime[clock]` as stored: seconds and the raw nanosecond word.
    pub fn base(&self, clock: usize) -> (u64, u64) {
        let ts = &self.basetime[clock];
        (ts.sec.load(Relaxed), ts.nsec.load(Relaxed))
    }

    pub fn mask(&self) -> u64 {
        self.mask.load(Relaxed)
    }

    /// The entry's own `tz_minuteswest`, `tz_dsttime`, `hrtimer_res` and
    /// `__unused`, where the layout has them there (up to 6.14).
    pub fn tail(&self) -> Option<(i32, i32, u32, u32)> {
        self.tail.map(|t| {
            (
                t.tz_minuteswest.load(Relaxed),
                t.tz_dsttime.load(Relaxed),
                t.hrtimer_res.load(Relaxed),
                t.unused.load(Relaxed),
            )
        })
    }

    /// In a time-namespace page, the offset of a clock.
    pub fn timens_offset(&self, clock: usize) -> TimensOffset {
        let (sec, nsec) = self.base(clock);
        TimensOffset {
            sec: sec as i64,
            nsec,
        }
    }
}
