//! The kernel side of the time data: the only code that writes it, for
//! every layout (one writer over [`PageRefs`], built from any layout's
//! page).
//!
//! A kernel calls one method per timekeeping event. Every method runs the
//! seqlock protocol on both entries, so readers in any process either see
//! the whole update or retry. The page is shared with concurrent readers,
//! so the writer holds shared references to atomics, never a `&mut`.

use crate::seqlock::{SeqCount, WriteError};
use crate::sync::Ordering::{Relaxed, Release};
use crate::vvar::{
    CS_HRES_COARSE, CS_RAW, ClockRefs, PageRefs, RngData, ShiftedNanos, TimeData, clock_mode,
};

const REALTIME: usize = crate::clock::CLOCK_REALTIME as usize;
const MONOTONIC: usize = crate::clock::CLOCK_MONOTONIC as usize;
const MONOTONIC_RAW: usize = crate::clock::CLOCK_MONOTONIC_RAW as usize;
const REALTIME_COARSE: usize = crate::clock::CLOCK_REALTIME_COARSE as usize;
const MONOTONIC_COARSE: usize = crate::clock::CLOCK_MONOTONIC_COARSE as usize;
const BOOTTIME: usize = crate::clock::CLOCK_BOOTTIME as usize;
const TAI: usize = crate::clock::CLOCK_TAI as usize;

/// How counter cycles become nanoseconds: `ns = (cycles * mult) >> shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub mult: u32,
    pub shift: u32,
}

/// A high-resolution clock's value at `cycle_last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HresBase {
    pub sec: u64,
    pub nsec: ShiftedNanos,
}

/// A coarse clock's value at the update: plain nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoarseBase {
    pub sec: u64,
    pub nsec: u64,
}

/// Everything a timekeeping update (Linux's `update_vsyscall`) publishes:
/// the counter value the bases are anchored at and every clock's base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub cycle_last: u64,
    pub mask: u64,
    /// `vd[CS_HRES_COARSE]`: follows the kernel's adjusted (NTP) clocks.
    pub hres: Scale,
    /// `vd[CS_RAW]`: the unadjusted counter rate.
    pub raw: Scale,
    pub realtime: HresBase,
    pub monotonic: HresBase,
    pub boottime: HresBase,
    pub tai: HresBase,
    /// Shifted by `raw.shift`, unlike the others.
    pub monotonic_raw: HresBase,
    pub realtime_coarse: CoarseBase,
    pub monotonic_coarse: CoarseBase,
}

/// Writes one page of time data. Any number may exist, but only one update
/// runs at a time: an update that finds another in progress fails with
/// [`WriteError`] instead of corrupting it.
pub struct VvarWriter<'a> {
    page: PageRefs<'a>,
}

impl<'a> VvarWriter<'a> {
    /// A writer for `page`, of any layout.
    pub fn new<P: TimeData>(page: &'a P) -> Self {
        Self { page: page.refs() }
    }

    /// The page's fields, as they stand.
    pub fn page(&self) -> &PageRefs<'a> {
        &self.page
    }

    /// Re-anchors every clock (a timekeeping update).
    pub fn anchor(&self, a: &Anchor) -> Result<(), WriteError> {
        self.update(|[hres, raw]| {
            for (e, scale) in [(&hres, a.hres), (&raw, a.raw)] {
                e.set_counter(a.cycle_last, a.mask, scale);
            }
            hres.set_hres_base(REALTIME, a.realtime);
            hres.set_hres_base(MONOTONIC, a.monotonic);
            hres.set_hres_base(BOOTTIME, a.boottime);
            hres.set_hres_base(TAI, a.tai);
            hres.set_coarse_base(REALTIME_COARSE, a.realtime_coarse);
            hres.set_coarse_base(MONOTONIC_COARSE, a.monotonic_coarse);
            raw.set_hres_base(MONOTONIC_RAW, a.monotonic_raw);
        })
    }

    /// Sets the timezone `gettimeofday` reports (`settimeofday`'s second argument).
    pub fn set_timezone(&self, minuteswest: i32, dsttime: i32) -> Result<(), WriteError> {
        self.update(|_| {
            self.page.tz_minuteswest.store(minuteswest, Relaxed);
            self.page.tz_dsttime.store(dsttime, Relaxed);
        })
    }

    /// Sets the resolution `clock_getres` reports for the high-resolution clocks.
    pub fn set_hrtimer_res(&self, nsec: u32) -> Result<(), WriteError> {
        self.update(|_| self.page.hrtimer_res.store(nsec, Relaxed))
    }

    /// Publishes auxiliary clock `n` (id `CLOCK_AUX + n`, layouts from
    /// 6.17), or turns it off (`None`: its readers ask the kernel), with the
    /// sequence count of its own entry, as Linux's `vdso_time_update_aux`.
    /// Fails with [`WriteError::NoSuchClock`] where the layout has no aux
    /// clock `n`.
    pub fn set_aux(&self, n: usize, aux: Option<&AuxAnchor>) -> Result<(), WriteError> {
        let entry = self.page.aux(n).ok_or(WriteError::NoSuchClock { aux: n })?;
        let mut open = Open::default();
        open.begin(0, entry.seq)?;
        let f = Fields(entry);
        match aux {
            Some(a) => {
                f.set_counter(a.cycle_last, a.mask, a.scale);
                f.set_hres_base(0, a.base);
                f.set_clock_mode(clock_mode::COUNTER);
            }
            None => f.set_clock_mode(clock_mode::NONE),
        }
        open.close()
    }

    /// Switches the clock mode (see [`crate::vvar::clock_mode`]), as when the
    /// kernel changes clocksource: any mode but the architecture's counter
    /// modes (`Arch::counter_modes`) sends the high-resolution clocks to
    /// the system call.
    pub fn set_clock_mode(&self, mode: i32) -> Result<(), WriteError> {
        self.update(|[hres, raw]| {
            hres.set_clock_mode(mode);
            raw.set_clock_mode(mode);
        })
    }

    /// Runs `write` as one update: both entries' counts odd before, even
    /// after. The handles `write` gets are the only way to store into the
    /// page, and they exist only inside an update. Kernel events are the
    /// methods above; this is public for events they do not cover (and for
    /// tests that write torn data on purpose while the count is odd).
    pub fn update(&self, write: impl FnOnce([Fields<'a>; 2])) -> Result<(), WriteError> {
        let vd = &self.page.clocks;
        // An update abandoned in either entry is refused before either
        // count moves.
        for d in vd {
            let seq = d.seq.load();
            if seq & 1 != 0 {
                return Err(WriteError::Busy { seq });
            }
        }
        let mut open = Open::default();
        open.begin(CS_HRES_COARSE, vd[CS_HRES_COARSE].seq)?;
        // A second writer racing us here: `open` closes the first entry
        // again when it is dropped.
        open.begin(CS_RAW, vd[CS_RAW].seq)?;
        write([Fields(vd[CS_HRES_COARSE]), Fields(vd[CS_RAW])]);
        open.close()
    }
}

/// The counts an update has made odd. Closed explicitly on success, and on
/// drop otherwise (an early return, or a panic unwinding out of the
/// caller's closure), so that no path leaves a count odd and readers
/// spinning.
#[derive(Default)]
struct Open<'a> {
    ends: [Option<(&'a SeqCount, u32)>; 2],
}

impl<'a> Open<'a> {
    fn begin(&mut self, cs: usize, seq: &'a SeqCount) -> Result<(), WriteError> {
        self.ends[cs] = Some((seq, seq.write_begin()?));
        Ok(())
    }

    /// Ends every open count, the last opened first, even after one fails,
    /// and reports the first failure.
    fn close(&mut self) -> Result<(), WriteError> {
        let mut result = Ok(());
        for end in self.ends.iter_mut().rev() {
            if let Some((seq, odd)) = end.take() {
                let r = seq.write_end(odd);
                result = result.and(r);
            }
        }
        result
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Write access to one clock entry during an update.
pub struct Fields<'a>(ClockRefs<'a>);

impl Fields<'_> {
    /// The counter's anchor and scale. Where the layout has `max_cycles`
    /// (x86 from 6.10), it is written as Linux computes it for the
    /// clocksource (`clocks_calc_max_nsecs`): the largest delta whose
    /// product with `mult` plus 11% (the most NTP may add) fits 64 bits,
    /// at most `mask`. Linux derives it from the clocksource's base `mult`;
    /// this takes the one being published, within 500 ppm of it.
    pub fn set_counter(&self, cycle_last: u64, mask: u64, scale: Scale) {
        self.0.cycle_last.store(cycle_last, Relaxed);
        if let Some(max_cycles) = self.0.max_cycles {
            max_cycles.store(max_cycles_for(scale.mult, mask), Relaxed);
        }
        self.0.mask.store(mask, Relaxed);
        self.0.mult.store(scale.mult, Relaxed);
        self.0.shift.store(scale.shift, Relaxed);
    }

    pub fn set_hres_base(&self, clock: usize, base: HresBase) {
        self.set_basetime(clock, base.sec, base.nsec.0);
    }

    pub fn set_coarse_base(&self, clock: usize, base: CoarseBase) {
        self.set_basetime(clock, base.sec, base.nsec);
    }

    /// Raw access to `basetime[clock]`, whatever its interpretation.
    ///
    /// # Panics
    /// If `clock` is not below `VDSO_BASES` (12).
    pub fn set_basetime(&self, clock: usize, sec: u64, nsec: u64) {
        self.0.basetime[clock].sec.store(sec, Relaxed);
        self.0.basetime[clock].nsec.store(nsec, Relaxed);
    }

    pub fn set_clock_mode(&self, mode: i32) {
        self.0.clock_mode.store(mode, Relaxed);
    }

    /// The entry as it stands (for reading back inside an update).
    pub fn data(&self) -> ClockRefs<'_> {
        self.0
    }
}

/// `max_cycles` as Linux computes it (`clocks_calc_max_nsecs` with
/// `clocksource_max_adjustment`'s 11%).
pub const fn max_cycles_for(mult: u32, mask: u64) -> u64 {
    let limit = mult as u64 + mult as u64 * 11 / 100;
    let max = match u64::MAX.checked_div(limit) {
        Some(max) => max,
        None => u64::MAX,
    };
    if max < mask { max } else { mask }
}

/// An auxiliary clock's line: its own anchor and scale, and its time at
/// `cycle_last` (in its `basetime[0]`, nanoseconds `<< shift`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxAnchor {
    pub cycle_last: u64,
    pub mask: u64,
    pub scale: Scale,
    pub base: HresBase,
}

/// Writes the random generator's data (`struct vdso_rng_data`, layouts from
/// 6.11): the only code that does.
pub struct RngWriter<'a> {
    rng: &'a RngData,
}

impl<'a> RngWriter<'a> {
    pub fn new(rng: &'a RngData) -> Self {
        Self { rng }
    }

    /// A reseed: `generation` takes a new value (never 0, which readers
    /// take for "no key yet"). Release, as Linux's `smp_store_release`: a
    /// reader that sees it sees everything the kernel did before the reseed.
    pub fn set_generation(&self, generation: u64) {
        self.rng.generation.store(generation.max(1), Release);
    }

    /// A reseed to the next generation (skipping 0); returns it.
    pub fn reseed(&self) -> u64 {
        let next = self.rng.generation().wrapping_add(1).max(1);
        self.set_generation(next);
        next
    }

    /// The generation as it stands.
    pub fn generation(&self) -> u64 {
        self.rng.generation()
    }

    /// Whether the generator is initialised (Linux's `WRITE_ONCE(is_ready)`).
    pub fn set_ready(&self, ready: bool) {
        self.rng.is_ready.store(u8::from(ready), Relaxed);
    }
}
