//! The pages of time data, one type per layout: the vvar page up to 6.14
//! (`struct vdso_data vd[2]` at byte 128, then, from 6.11, the random
//! generator's data at byte 640) and the time page of Linux's generic data
//! store from 6.15 (`struct vdso_time_data`). A namespace page has the same
//! layout as the time page it stands in for.

use crate::sync::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use crate::vvar::clock::{
    ClockData, ClockRefs, MaybeMaxCycles, MaybeTzTail, VdsoClock, VdsoData, VdsoDataMaxCycles,
};
use crate::vvar::{CS_BASES, CS_HRES_COARSE};

/// The number of auxiliary clocks (`CLOCK_AUX` to `CLOCK_AUX_LAST`, ids 16
/// to 23) of Linux's time data from 6.17.
pub const MAX_AUX_CLOCKS: usize = 8;

/// A page of time data, whatever its layout: what the clock algorithms
/// read, and what writers write through ([`PageRefs`]).
pub trait TimeData: Sync + 'static {
    type Clock: ClockData;
    /// The byte offset of the first clock entry in the page.
    const CLOCKS_AT: usize;
    /// How many auxiliary clocks the page holds (0 before 6.17).
    const AUX_CLOCKS: usize;

    /// Clock entry `cs` ([`CS_HRES_COARSE`](crate::vvar::CS_HRES_COARSE) or
    /// [`CS_RAW`](crate::vvar::CS_RAW)).
    ///
    /// # Panics
    /// If `cs` is not below `CS_BASES` (the images pass constants).
    fn clock(&self, cs: usize) -> &Self::Clock;

    /// Auxiliary clock `i` (id `16 + i`), where the page holds one.
    fn aux(&self, i: usize) -> Option<&Self::Clock>;

    /// The timezone `gettimeofday` reports.
    fn timezone(&self) -> (i32, i32);

    /// The resolution `clock_getres` reports for the high-resolution clocks.
    fn hrtimer_res(&self) -> u32;

    /// Every field by reference, whatever the layout.
    fn refs(&self) -> PageRefs<'_>;

    /// A zeroed page (clock mode NONE: every read falls back), for a kernel
    /// to fill before mapping it, and for tests.
    fn new() -> Self;
}

/// A page's fields by reference, whatever its layout: what the writer
/// ([`crate::writer`]) and the namespace page builder ([`crate::timens`])
/// write through.
pub struct PageRefs<'a> {
    pub(crate) clocks: [ClockRefs<'a>; CS_BASES],
    pub(crate) aux: [Option<ClockRefs<'a>>; MAX_AUX_CLOCKS],
    pub(crate) tz_minuteswest: &'a AtomicI32,
    pub(crate) tz_dsttime: &'a AtomicI32,
    pub(crate) hrtimer_res: &'a AtomicU32,
}

impl<'a> PageRefs<'a> {
    /// Clock entry `cs`.
    ///
    /// # Panics
    /// If `cs` is not below `CS_BASES`.
    pub fn clock(&self, cs: usize) -> ClockRefs<'a> {
        self.clocks[cs]
    }

    /// Auxiliary clock `i`, where the page holds one.
    pub fn aux(&self, i: usize) -> Option<ClockRefs<'a>> {
        self.aux.get(i).copied().flatten()
    }

    pub fn timezone(&self) -> (i32, i32) {
        (
            self.tz_minuteswest.load(Relaxed),
            self.tz_dsttime.load(Relaxed),
        )
    }

    pub fn hrtimer_res(&self) -> u32 {
        self.hrtimer_res.load(Relaxed)
    }
}

/// Where the vvar page keeps its clock entries (Linux's `DECLARE_VVAR(128,
/// struct vdso_data, _vdso_data)`, up to 6.12).
pub const VDSO_DATA_OFFSET: usize = 128;

/// The vvar page of Linux 5.7 to 6.9: two 240-byte `vdso_data` at byte 128.
#[repr(C, align(4096))]
pub struct VvarPage {
    head: [u8; VDSO_DATA_OFFSET],
    pub(crate) vd: [VdsoData; CS_BASES],
}

/// The random generator's data (`struct vdso_rng_data`): the kernel bumps
/// `generation` at every reseed and sets `is_ready` once it is initialised.
#[repr(C)]
pub struct RngData {
    pub(crate) generation: AtomicU64,
    pub(crate) is_ready: AtomicU8,
    pad: [u8; 7],
}

impl RngData {
    pub fn new() -> RngData {
        RngData {
            generation: AtomicU64::new(0),
            is_ready: AtomicU8::new(0),
            pad: [0; 7],
        }
    }

    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    #[inline(always)]
    pub fn is_ready(&self) -> bool {
        self.is_ready.load(Relaxed) != 0
    }
}

impl Default for RngData {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the vvar page keeps the random generator's data from 6.11
/// (`DECLARE_VVAR_SINGLE(640, struct vdso_rng_data, _vdso_rng_data)`).
pub const VVAR_RNG_OFFSET: usize = 640;

/// The vvar page of Linux 6.10 to 6.12: two 248-byte `vdso_data` (with
/// `max_cycles`) at byte 128 and the random generator's data at byte 640.
#[repr(C, align(4096))]
pub struct VvarRngPage {
    head: [u8; VDSO_DATA_OFFSET],
    pub(crate) vd: [VdsoDataMaxCycles; CS_BASES],
    gap: [u8; VVAR_RNG_OFFSET - VDSO_DATA_OFFSET - CS_BASES * 248],
    pub(crate) rng: RngData,
}

/// The time page of Linux's generic data store from 6.17
/// (`struct vdso_time_data`): the two clock entries, the auxiliary clocks,
/// then the timezone and `hrtimer_res`. `C` is the architecture's
/// `vdso_clock` (x86 has `max_cycles`, arm64 does not).
#[repr(C, align(4096))]
pub struct VdsoTimeData<C> {
    pub(crate) clock_data: [C; CS_BASES],
    pub(crate) aux_clock_data: [C; MAX_AUX_CLOCKS],
    pub(crate) tz_minuteswest: AtomicI32,
    pub(crate) tz_dsttime: AtomicI32,
    pub(crate) hrtimer_res: AtomicU32,
    pub(crate) unused: AtomicU32,
}

/// The random generator's page of the generic data store (6.15+).
#[repr(C, align(4096))]
pub struct RngPage {
    pub(crate) rng: RngData,
}

impl RngPage {
    pub fn new() -> RngPage {
        RngPage {
            rng: RngData::new(),
        }
    }

    pub fn rng(&self) -> &RngData {
        &self.rng
    }
}

impl Default for RngPage {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
const _: () = {
    use crate::vvar::PAGE_SIZE;
    use crate::vvar::clock::VdsoClockMaxCycles;
    use core::mem::{offset_of, size_of};
    assert!(size_of::<RngData>() == 16);
    assert!(offset_of!(RngData, is_ready) == 8);
    assert!(offset_of!(VvarPage, vd) == VDSO_DATA_OFFSET);
    assert!(size_of::<VvarPage>() == PAGE_SIZE);
    assert!(offset_of!(VvarRngPage, vd) == VDSO_DATA_OFFSET);
    assert!(offset_of!(VvarRngPage, rng) == VVAR_RNG_OFFSET);
    assert!(size_of::<VvarRngPage>() == PAGE_SIZE);
    type X86 = VdsoTimeData<VdsoClockMaxCycles>;
    assert!(offset_of!(X86, clock_data) == 0);
    assert!(offset_of!(X86, aux_clock_data) == 464);
    assert!(offset_of!(X86, tz_minuteswest) == 2320);
    assert!(offset_of!(X86, tz_dsttime) == 2324);
    assert!(offset_of!(X86, hrtimer_res) == 2328);
    assert!(size_of::<X86>() == PAGE_SIZE);
    // arm64's, read from Linux 6.18's machine code (docs/abi.md).
    type Arm64 = VdsoTimeData<crate::vvar::clock::VdsoClockNoMaxCycles>;
    assert!(offset_of!(Arm64, clock_data) == 0);
    assert!(offset_of!(Arm64, aux_clock_data) == 448);
    assert!(offset_of!(Arm64, tz_minuteswest) == 2240);
    assert!(offset_of!(Arm64, tz_dsttime) == 2244);
    assert!(offset_of!(Arm64, hrtimer_res) == 2248);
    assert!(size_of::<Arm64>() == PAGE_SIZE);
    assert!(size_of::<RngPage>() == PAGE_SIZE);
};

macro_rules! vvar_page {
    ($page:ident, $clock:ty) => {
        impl TimeData for $page {
            type Clock = $clock;
            const CLOCKS_AT: usize = VDSO_DATA_OFFSET;
            const AUX_CLOCKS: usize = 0;

            #[inline(always)]
            fn clock(&self, cs: usize) -> &$clock {
                &self.vd[cs]
            }

            #[inline(always)]
            fn aux(&self, _: usize) -> Option<&$clock> {
                None
            }

            // Up to 6.14 the timezone and `hrtimer_res` are fields of every
            // entry; Linux reads and writes `vd[CS_HRES_COARSE]`'s.
            #[inline(always)]
            fn timezone(&self) -> (i32, i32) {
                let tail = &self.vd[CS_HRES_COARSE].tail;
                (
                    tail.tz_minuteswest.load(Relaxed),
                    tail.tz_dsttime.load(Relaxed),
                )
            }

            #[inline(always)]
            fn hrtimer_res(&self) -> u32 {
                self.vd[CS_HRES_COARSE].tail.hrtimer_res.load(Relaxed)
            }

            fn refs(&self) -> PageRefs<'_> {
                let tail = &self.vd[CS_HRES_COARSE].tail;
                PageRefs {
                    clocks: [self.vd[0].refs(), self.vd[1].refs()],
                    aux: [None; MAX_AUX_CLOCKS],
                    tz_minuteswest: &tail.tz_minuteswest,
                    tz_dsttime: &tail.tz_dsttime,
                    hrtimer_res: &tail.hrtimer_res,
                }
            }

            fn new() -> Self {
                vvar_page!(@new $page)
            }
        }
    };
    (@new VvarPage) => {
        VvarPage {
            head: [0; VDSO_DATA_OFFSET],
            vd: [VdsoClock::new(), VdsoClock::new()],
        }
    };
    (@new VvarRngPage) => {
        VvarRngPage {
            head: [0; VDSO_DATA_OFFSET],
            vd: [VdsoClock::new(), VdsoClock::new()],
            gap: [0; VVAR_RNG_OFFSET - VDSO_DATA_OFFSET - CS_BASES * 248],
            rng: RngData::new(),
        }
    };
}

vvar_page!(VvarPage, VdsoData);
vvar_page!(VvarRngPage, VdsoDataMaxCycles);

impl VvarRngPage {
    /// The random generator's data at byte 640.
    pub fn rng(&self) -> &RngData {
        &self.rng
    }
}

impl<M, T> TimeData for VdsoTimeData<VdsoClock<M, T>>
where
    M: MaybeMaxCycles + 'static,
    T: MaybeTzTail + 'static,
{
    type Clock = VdsoClock<M, T>;
    const CLOCKS_AT: usize = 0;
    const AUX_CLOCKS: usize = MAX_AUX_CLOCKS;

    #[inline(always)]
    fn clock(&self, cs: usize) -> &Self::Clock {
        &self.clock_data[cs]
    }

    #[inline(always)]
    fn aux(&self, i: usize) -> Option<&Self::Clock> {
        self.aux_clock_data.get(i)
    }

    #[inline(always)]
    fn timezone(&self) -> (i32, i32) {
        (
            self.tz_minuteswest.load(Relaxed),
            self.tz_dsttime.load(Relaxed),
        )
    }

    #[inline(always)]
    fn hrtimer_res(&self) -> u32 {
        self.hrtimer_res.load(Relaxed)
    }

    fn refs(&self) -> PageRefs<'_> {
        PageRefs {
            clocks: [self.clock_data[0].refs(), self.clock_data[1].refs()],
            aux: core::array::from_fn(|i| Some(self.aux_clock_data[i].refs())),
            tz_minuteswest: &self.tz_minuteswest,
            tz_dsttime: &self.tz_dsttime,
            hrtimer_res: &self.hrtimer_res,
        }
    }

    fn new() -> Self {
        VdsoTimeData {
            clock_data: [VdsoClock::new(), VdsoClock::new()],
            aux_clock_data: core::array::from_fn(|_| VdsoClock::new()),
            tz_minuteswest: AtomicI32::new(0),
            tz_dsttime: AtomicI32::new(0),
            hrtimer_res: AtomicU32::new(0),
            unused: AtomicU32::new(0),
        }
    }
}

/// A namespace's page of offsets for the time-namespace image, in the slot
/// the layout gives it for a namespaced process (docs/abi.md). Not every process has one mapped
/// (a host process need not), so it travels as a pointer and becomes a
/// reference only where an image reads the page: a reference to unmapped
/// memory would be undefined behaviour even if never read.
pub struct TimensSlot<'a, P> {
    page: *const P,
    life: core::marker::PhantomData<&'a P>,
}

impl<P> Clone for TimensSlot<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for TimensSlot<'_, P> {}

impl<'a, P> TimensSlot<'a, P> {
    /// A page that is there (tests, the kernel side).
    pub fn from_page(page: &'a P) -> Self {
        TimensSlot {
            page,
            life: core::marker::PhantomData,
        }
    }

    /// # Safety
    /// Whenever [`page`](Self::page) is called, `page` must point to a
    /// readable `P` that stays mapped for `'a`. docs/abi.md makes that the
    /// kernel's duty exactly for the processes whose image reads the slot.
    pub unsafe fn from_ptr(page: *const P) -> Self {
        TimensSlot {
            page,
            life: core::marker::PhantomData,
        }
    }

    /// The page. Call it only on paths where the image reads the slot.
    #[inline(always)]
    pub fn page(self) -> &'a P {
        // SAFETY: the constructor's contract.
        unsafe { &*self.page }
    }
}
