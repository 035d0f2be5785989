//! The data pages: the layout the kernel's timekeeper writes and the images
//! read. For a host process this is exactly Linux x86_64 v5.7 to v6.9
//! (`struct vdso_data` at byte 128 of the vvar page, `vd[CS_HRES_COARSE]`
//! then `vd[CS_RAW]`); `docs/abi.md` is the contract.
//!
//! Every field is an atomic: the page is memory shared between one writer and
//! any number of concurrent readers, so neither side may hold a plain `&mut`
//! or read fields non-atomically (that would be a data race, whatever the
//! hardware does). On x86_64 relaxed atomic loads and stores are plain `mov`s.

use crate::seqlock::SeqCount;
use crate::sync::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

pub const PAGE_SIZE: usize = 4096;

/// Data pages mapped directly below the image, in this order.
pub const DATA_PAGES: usize = 4;
/// Offsets of each data page from the image's base address.
pub const VVAR_PAGE_OFFSET: isize = -4 * PAGE_SIZE as isize;
pub const PVCLOCK_PAGE_OFFSET: isize = -3 * PAGE_SIZE as isize;
pub const HVCLOCK_PAGE_OFFSET: isize = -2 * PAGE_SIZE as isize;
pub const TIMENS_PAGE_OFFSET: isize = -(PAGE_SIZE as isize);

/// Byte offset of `vd[0]` inside the vvar page (and the time-namespace page).
pub const VDSO_DATA_OFFSET: usize = 128;

/// Index of the entry serving REALTIME, MONOTONIC, BOOTTIME, TAI and the coarse clocks.
pub const CS_HRES_COARSE: usize = 0;
/// Index of the entry serving MONOTONIC_RAW.
pub const CS_RAW: usize = 1;
pub const CS_BASES: usize = 2;

/// One `basetime` per clock id up to CLOCK_TAI.
pub const VDSO_BASES: usize = 12;

/// `vdso_data.clock_mode` values.
pub mod clock_mode {
    pub const NONE: i32 = 0;
    pub const TSC: i32 = 1;
    pub const PVCLOCK: i32 = 2;
    pub const HVCLOCK: i32 = 3;
    /// Marks a time-namespace page (Linux's `VDSO_CLOCKMODE_TIMENS`).
    pub const TIMENS: i32 = i32::MAX;
}

/// `struct vdso_timestamp`. In the time-namespace page the same 16 bytes are
/// `struct timens_offset { s64 sec; u64 nsec; }`.
#[repr(C)]
pub struct VdsoTimestamp {
    pub(crate) sec: AtomicU64,
    pub(crate) nsec: AtomicU64,
}

/// `struct vdso_data`, 240 bytes.
#[repr(C)]
pub struct VdsoData {
    pub(crate) seq: SeqCount,
    pub(crate) clock_mode: AtomicI32,
    pub(crate) cycle_last: AtomicU64,
    pub(crate) mask: AtomicU64,
    pub(crate) mult: AtomicU32,
    pub(crate) shift: AtomicU32,
    pub(crate) basetime: [VdsoTimestamp; VDSO_BASES],
    pub(crate) tz_minuteswest: AtomicI32,
    pub(crate) tz_dsttime: AtomicI32,
    pub(crate) hrtimer_res: AtomicU32,
    pub(crate) unused: AtomicU32,
}

/// One data page as the images see it: the vvar page, or the time-namespace
/// page, which Linux lays out identically.
#[repr(C, align(4096))]
pub struct DataPage {
    head: [u8; VDSO_DATA_OFFSET],
    pub(crate) vd: [VdsoData; CS_BASES],
    tail: [u8; PAGE_SIZE - VDSO_DATA_OFFSET - CS_BASES * VDSO_DATA_SIZE],
}

pub const VDSO_DATA_SIZE: usize = 240;

#[cfg(not(loom))]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<VdsoTimestamp>() == 16);
    assert!(offset_of!(VdsoData, seq) == 0);
    assert!(offset_of!(VdsoData, clock_mode) == 4);
    assert!(offset_of!(VdsoData, cycle_last) == 8);
    assert!(offset_of!(VdsoData, mask) == 16);
    assert!(offset_of!(VdsoData, mult) == 24);
    assert!(offset_of!(VdsoData, shift) == 28);
    assert!(offset_of!(VdsoData, basetime) == 32);
    assert!(offset_of!(VdsoData, tz_minuteswest) == 224);
    assert!(offset_of!(VdsoData, tz_dsttime) == 228);
    assert!(offset_of!(VdsoData, hrtimer_res) == 232);
    assert!(offset_of!(VdsoData, unused) == 236);
    assert!(size_of::<VdsoData>() == VDSO_DATA_SIZE);
    assert!(offset_of!(DataPage, vd) == VDSO_DATA_OFFSET);
    assert!(size_of::<DataPage>() == PAGE_SIZE);
};

impl VdsoData {
    #[inline(always)]
    pub fn seq(&self) -> &SeqCount {
        &self.seq
    }

    #[inline(always)]
    pub fn clock_mode(&self) -> i32 {
        self.clock_mode.load(Relaxed)
    }

    #[inline(always)]
    pub fn cycle_last(&self) -> u64 {
        self.cycle_last.load(Relaxed)
    }

    #[inline(always)]
    pub fn mult(&self) -> u32 {
        self.mult.load(Relaxed)
    }

    #[inline(always)]
    pub fn shift(&self) -> u32 {
        self.shift.load(Relaxed)
    }

    /// The base of a high-resolution clock: seconds and nanoseconds `<< shift`.
    #[inline(always)]
    pub fn hres_base(&self, clock: usize) -> (u64, ShiftedNanos) {
        let ts = &self.basetime[clock];
        (ts.sec.load(Relaxed), ShiftedNanos(ts.nsec.load(Relaxed)))
    }

    /// The base of a coarse clock (and of `time()`): plain nanoseconds.
    #[inline(always)]
    pub fn coarse_base(&self, clock: usize) -> (u64, u64) {
        let ts = &self.basetime[clock];
        (ts.sec.load(Relaxed), ts.nsec.load(Relaxed))
    }

    /// Only the seconds of a base (all `time()` needs).
    #[inline(always)]
    pub fn base_sec(&self, clock: usize) -> u64 {
        self.basetime[clock].sec.load(Relaxed)
    }

    /// In a time-namespace page, the offset of a clock.
    #[inline(always)]
    pub fn timens_offset(&self, clock: usize) -> TimensOffset {
        let ts = &self.basetime[clock];
        TimensOffset {
            sec: ts.sec.load(Relaxed) as i64,
            nsec: ts.nsec.load(Relaxed),
        }
    }

    #[inline(always)]
    pub fn timezone(&self) -> (i32, i32) {
        (
            self.tz_minuteswest.load(Relaxed),
            self.tz_dsttime.load(Relaxed),
        )
    }

    #[inline(always)]
    pub fn hrtimer_res(&self) -> u32 {
        self.hrtimer_res.load(Relaxed)
    }
}

impl VdsoTimestamp {
    fn new() -> Self {
        VdsoTimestamp {
            sec: AtomicU64::new(0),
            nsec: AtomicU64::new(0),
        }
    }
}

impl VdsoData {
    fn new() -> Self {
        VdsoData {
            seq: SeqCount::new(0),
            clock_mode: AtomicI32::new(clock_mode::NONE),
            cycle_last: AtomicU64::new(0),
            mask: AtomicU64::new(0),
            mult: AtomicU32::new(0),
            shift: AtomicU32::new(0),
            basetime: core::array::from_fn(|_| VdsoTimestamp::new()),
            tz_minuteswest: AtomicI32::new(0),
            tz_dsttime: AtomicI32::new(0),
            hrtimer_res: AtomicU32::new(0),
            unused: AtomicU32::new(0),
        }
    }
}

impl DataPage {
    /// A zeroed page (clock mode NONE: every high-resolution read falls
    /// back), for a kernel to fill before mapping it, and for tests.
    pub fn new() -> Self {
        DataPage {
            head: [0; VDSO_DATA_OFFSET],
            vd: [VdsoData::new(), VdsoData::new()],
            tail: [0; PAGE_SIZE - VDSO_DATA_OFFSET - CS_BASES * VDSO_DATA_SIZE],
        }
    }

    /// Entry `cs` (`CS_HRES_COARSE` or `CS_RAW`).
    ///
    /// # Panics
    /// If `cs` is not below `CS_BASES` (a caller's bug; the images pass
    /// constants).
    #[inline(always)]
    pub fn data(&self, cs: usize) -> &VdsoData {
        &self.vd[cs]
    }
}

impl Default for DataPage {
    fn default() -> Self {
        Self::new()
    }
}

/// The page one slot below the image (`B - 4096`). Not every process has
/// one mapped (a host process under the two-image design need not), so it
/// travels as a pointer and becomes a reference only where a design reads
/// the page: a reference to unmapped memory would be undefined behaviour
/// even if never read.
#[derive(Clone, Copy)]
pub struct TimensSlot<'a> {
    page: *const DataPage,
    life: core::marker::PhantomData<&'a DataPage>,
}

impl<'a> TimensSlot<'a> {
    /// A page that is there (tests, the kernel side).
    pub fn from_page(page: &'a DataPage) -> Self {
        TimensSlot {
            page,
            life: core::marker::PhantomData,
        }
    }

    /// # Safety
    /// Whenever [`page`](Self::page) is called, `page` must point to a
    /// readable `DataPage` that stays mapped for `'a`. docs/abi.md makes
    /// that the kernel's duty exactly for the processes whose image reads
    /// the slot.
    pub unsafe fn from_ptr(page: *const DataPage) -> Self {
        TimensSlot {
            page,
            life: core::marker::PhantomData,
        }
    }

    /// The page. Call it only on paths where the design reads the slot.
    #[inline(always)]
    pub fn page(self) -> &'a DataPage {
        // SAFETY: the constructor's contract.
        unsafe { &*self.page }
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
