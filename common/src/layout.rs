//! Where each layout's data pages sit below the image, and what they hold.
//!
//! "B" is the image's base (`AT_SYSINFO_EHDR`); the data pages lie directly
//! below it, and are counted here as slots from the lowest (slot 0 at
//! `B - data_pages * 4096`).
//!
//! | Layout | Kernels | Slots (from `B - 4096 * pages`) | Time data |
//! |---|---|---|---|
//! | `linux-6.6` | 5.7 to 6.9 | vvar, pvclock, hvclock, namespace | `vdso_data[2]` at vvar+128 |
//! | `linux-6.12` | 6.10 to 6.12 | vvar, pvclock, hvclock, namespace | `vdso_data[2]` (with `max_cycles`) at vvar+128; rng data at vvar+640 |
//! | `linux-6.18` (x86_64) | 6.17 on | time, namespace, rng, arch, pvclock, hvclock | `vdso_time_data` at time+0 |
//! | `linux-6.18` (aarch64) | 6.17 on | time, namespace, rng, arch | `vdso_time_data` (224-byte `vdso_clock`, no `max_cycles`) at time+0 |
//!
//! A namespaced process. `linux-6.6` keeps this project's first arrangement,
//! which its embedders rely on: the real time data stays in the time slot
//! and the namespace page is mapped in the namespace slot. `linux-6.12` and
//! `linux-6.18` take Linux's: the namespace page in the time slot, the real
//! time data in the namespace slot. Either way the host image reads only
//! the time slot and the namespace image reads both without a run-time
//! test, so a kernel keeps its own page handling and only picks the image.

use crate::abi::{Abi, Arch};
use crate::vvar::{
    PAGE_SIZE, PageRefs, TimeData, VdsoClockMaxCycles, VdsoClockNoMaxCycles, VdsoTimeData,
    VvarPage, VvarRngPage,
};

/// A layout's facts, as data (for xtask, the kernel side, `layout.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutInfo {
    pub arch: Arch,
    pub abi: Abi,
    /// Data pages directly below the image.
    pub data_pages: usize,
    /// The slot a host process reads its time from.
    pub time_slot: usize,
    /// The slot of the other page a namespaced process gets.
    pub namespace_slot: usize,
    /// Where the random generator's data is, as (slot, byte offset), for a
    /// host process; `None` before Linux had it.
    pub rng: Option<(usize, usize)>,
    pub pvclock_slot: Option<usize>,
    pub hvclock_slot: Option<usize>,
    /// For a namespaced process: the namespace page in the time slot and
    /// the real time data in the namespace slot (Linux's arrangement), or
    /// the other way round (`linux-6.6`'s).
    pub namespace_page_in_time_slot: bool,
    /// The first clock entry's byte offset in its page, and each entry's size.
    pub clocks_at: usize,
    pub clock_size: usize,
    /// Auxiliary clocks (ids 16 to 23) the time data holds.
    pub aux_clocks: usize,
    /// Byte offsets in the time page of `tz_minuteswest` and `hrtimer_res`.
    pub tz_at: usize,
    pub hrtimer_res_at: usize,
}

impl LayoutInfo {
    /// The offset from `B` of `slot`.
    pub const fn offset(&self, slot: usize) -> isize {
        (slot as isize - self.data_pages as isize) * PAGE_SIZE as isize
    }

    /// Where a namespaced process finds (its time data, its offsets).
    pub const fn namespaced_slots(&self) -> (usize, usize) {
        if self.namespace_page_in_time_slot {
            (self.namespace_slot, self.time_slot)
        } else {
            (self.time_slot, self.namespace_slot)
        }
    }

    /// The page of the data pages' object (slot order, as a kernel keeps
    /// them) that a process maps at `slot`: the same page for a host
    /// process; for a namespaced one under Linux's arrangement, the time
    /// page and the namespace page trade slots.
    pub const fn page_in_slot(&self, slot: usize, namespaced: bool) -> usize {
        let swapped = namespaced && self.namespace_page_in_time_slot;
        if swapped && slot == self.time_slot {
            self.namespace_slot
        } else if swapped && slot == self.namespace_slot {
            self.time_slot
        } else {
            slot
        }
    }

    /// Where a namespaced process finds the random generator's data: it
    /// moves with the time data when it shares its page (`linux-6.12`).
    pub const fn namespaced_rng(&self) -> Option<(usize, usize)> {
        match self.rng {
            Some((slot, at)) if slot == self.time_slot => Some((self.namespaced_slots().0, at)),
            other => other,
        }
    }

    /// The facts of `abi` for `arch`, if images are built for the pair
    /// ([`Arch::abis`]).
    pub const fn get(arch: Arch, abi: Abi) -> Option<LayoutInfo> {
        match (arch, abi) {
            (Arch::X86_64, Abi::Linux6_6) => Some(Linux6_6::INFO),
            (Arch::X86_64, Abi::Linux6_12) => Some(Linux6_12::INFO),
            (Arch::X86_64, Abi::Linux6_18) => Some(Linux6_18::INFO),
            (Arch::Aarch64, Abi::Linux6_18) => Some(Aarch64Linux6_18::INFO),
            (Arch::Aarch64, Abi::Linux6_6 | Abi::Linux6_12) => None,
        }
    }

    /// The facts of `abi` for `arch`.
    ///
    /// # Panics
    /// If no images are built for the pair ([`get`](Self::get) says which
    /// are): aarch64 has only `linux-6.18`.
    pub const fn of(arch: Arch, abi: Abi) -> LayoutInfo {
        match LayoutInfo::get(arch, abi) {
            Some(info) => info,
            None => panic!("no images are built for this architecture and layout"),
        }
    }
}

/// One layout, at compile time: its facts and its time page's type.
pub trait Layout: 'static {
    const INFO: LayoutInfo;
    type Page: TimeData;
}

/// Linux v5.7 to v6.9.
pub struct Linux6_6;
/// Linux v6.10 to v6.12.
pub struct Linux6_12;
/// Linux v6.17 and later.
pub struct Linux6_18;
/// Linux v6.17 and later on arm64 (4 KiB pages).
pub struct Aarch64Linux6_18;

impl Layout for Linux6_6 {
    type Page = VvarPage;
    const INFO: LayoutInfo = LayoutInfo {
        arch: Arch::X86_64,
        abi: Abi::Linux6_6,
        data_pages: 4,
        time_slot: 0,
        namespace_slot: 3,
        rng: None,
        pvclock_slot: Some(1),
        hvclock_slot: Some(2),
        namespace_page_in_time_slot: false,
        clocks_at: 128,
        clock_size: 240,
        aux_clocks: 0,
        tz_at: 128 + 224,
        hrtimer_res_at: 128 + 232,
    };
}

impl Layout for Linux6_12 {
    type Page = VvarRngPage;
    const INFO: LayoutInfo = LayoutInfo {
        arch: Arch::X86_64,
        abi: Abi::Linux6_12,
        data_pages: 4,
        time_slot: 0,
        namespace_slot: 3,
        rng: Some((0, 640)),
        pvclock_slot: Some(1),
        hvclock_slot: Some(2),
        namespace_page_in_time_slot: true,
        clocks_at: 128,
        clock_size: 248,
        aux_clocks: 0,
        tz_at: 128 + 232,
        hrtimer_res_at: 128 + 240,
    };
}

impl Layout for Linux6_18 {
    type Page = VdsoTimeData<VdsoClockMaxCycles>;
    const INFO: LayoutInfo = LayoutInfo {
        arch: Arch::X86_64,
        abi: Abi::Linux6_18,
        data_pages: 6,
        time_slot: 0,
        namespace_slot: 1,
        rng: Some((2, 0)),
        pvclock_slot: Some(4),
        hvclock_slot: Some(5),
        namespace_page_in_time_slot: true,
        clocks_at: 0,
        clock_size: 232,
        aux_clocks: 8,
        tz_at: 2320,
        hrtimer_res_at: 2328,
    };
}

/// arm64's generic data store (`include/vdso/datapage.h`, `VDSO_NR_PAGES`
/// = `__VDSO_PAGES` = 4): no vclock pages, and an arch page arm64 leaves
/// unused. The clock entries lack `max_cycles`, which only x86 selects.
impl Layout for Aarch64Linux6_18 {
    type Page = VdsoTimeData<VdsoClockNoMaxCycles>;
    const INFO: LayoutInfo = LayoutInfo {
        arch: Arch::Aarch64,
        abi: Abi::Linux6_18,
        data_pages: 4,
        time_slot: 0,
        namespace_slot: 1,
        rng: Some((2, 0)),
        pvclock_slot: None,
        hvclock_slot: None,
        namespace_page_in_time_slot: true,
        clocks_at: 0,
        clock_size: 224,
        aux_clocks: 8,
        tz_at: 2240,
        hrtimer_res_at: 2248,
    };
}

// The facts agree with the types.
#[cfg(not(loom))]
const _: () = {
    use crate::vvar::{VdsoData, VdsoDataMaxCycles};
    use core::mem::size_of;
    assert!(Linux6_6::INFO.clocks_at == <VvarPage as TimeData>::CLOCKS_AT);
    assert!(Linux6_6::INFO.clock_size == size_of::<VdsoData>());
    assert!(Linux6_12::INFO.clocks_at == <VvarRngPage as TimeData>::CLOCKS_AT);
    assert!(Linux6_12::INFO.clock_size == size_of::<VdsoDataMaxCycles>());
    assert!(Linux6_18::INFO.clock_size == size_of::<VdsoClockMaxCycles>());
    assert!(Linux6_18::INFO.aux_clocks == <<Linux6_18 as Layout>::Page as TimeData>::AUX_CLOCKS);
    assert!(Linux6_6::INFO.offset(0) == -16384 && Linux6_6::INFO.offset(3) == -4096);
    assert!(Linux6_18::INFO.offset(0) == -24576 && Linux6_18::INFO.offset(1) == -20480);
    assert!(Linux6_18::INFO.offset(2) == -16384);
    // Linux's arrangement trades the time and namespace pages; linux-6.6's
    // maps every page in its own slot.
    assert!(
        Linux6_18::INFO.page_in_slot(0, true) == 1 && Linux6_18::INFO.page_in_slot(1, true) == 0
    );
    assert!(
        Linux6_12::INFO.page_in_slot(0, true) == 3 && Linux6_12::INFO.page_in_slot(3, true) == 0
    );
    assert!(
        Linux6_6::INFO.page_in_slot(0, true) == 0 && Linux6_18::INFO.page_in_slot(0, false) == 0
    );
    type Arm64 = <Aarch64Linux6_18 as Layout>::Page;
    assert!(Aarch64Linux6_18::INFO.clock_size == size_of::<VdsoClockNoMaxCycles>());
    assert!(Aarch64Linux6_18::INFO.aux_clocks == <Arm64 as TimeData>::AUX_CLOCKS);
    assert!(Aarch64Linux6_18::INFO.offset(0) == -16384);
    assert!(Aarch64Linux6_18::INFO.offset(1) == -12288);
    assert!(Aarch64Linux6_18::INFO.offset(2) == -8192);
};

/// A page of `abi`'s time data (or a namespace page, which has the same
/// layout), as its fields: for code that learns the layout at run time and
/// reads pages another process maps.
///
/// # Safety
/// `page` must point to a page-aligned, readable page that stays mapped
/// for `'a` (time data is valid at any bit pattern).
pub unsafe fn page_refs<'a>(abi: Abi, page: *const u8) -> PageRefs<'a> {
    /// # Safety
    /// As `page_refs`.
    unsafe fn typed<'a, L: Layout>(page: *const u8) -> PageRefs<'a> {
        // SAFETY: the caller's page, read as the layout's time-data type,
        // which is atomics and padding only.
        unsafe { &*page.cast::<L::Page>() }.refs()
    }
    // SAFETY: the caller's contract, passed on.
    unsafe {
        match abi {
            Abi::Linux6_6 => typed::<Linux6_6>(page),
            Abi::Linux6_12 => typed::<Linux6_12>(page),
            Abi::Linux6_18 => typed::<Linux6_18>(page),
        }
    }
}

/// The layout the image being compiled is for: xtask builds each image
/// crate once per layout with `--cfg vdso_abi="..."`; without it (a plain
/// `cargo build`), `linux-6.6` on x86_64 and `linux-6.18`, its one layout,
/// on aarch64.
#[cfg(all(
    target_arch = "x86_64",
    not(any(vdso_abi = "linux-6.12", vdso_abi = "linux-6.18"))
))]
pub type Configured = Linux6_6;
#[cfg(all(target_arch = "x86_64", vdso_abi = "linux-6.12"))]
pub type Configured = Linux6_12;
#[cfg(all(target_arch = "x86_64", vdso_abi = "linux-6.18"))]
pub type Configured = Linux6_18;
#[cfg(all(
    target_arch = "aarch64",
    not(any(vdso_abi = "linux-6.6", vdso_abi = "linux-6.12"))
))]
pub type Configured = Aarch64Linux6_18;
#[cfg(all(
    target_arch = "aarch64",
    any(vdso_abi = "linux-6.6", vdso_abi = "linux-6.12")
))]
compile_error!("aarch64 images are built for linux-6.18 only (common::abi::Arch::abis)");
