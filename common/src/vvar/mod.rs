//! The data pages' ABI: the types the kernel's timekeeper writes and the
//! images read, one per Linux layout ([`crate::layout`] says which pages
//! sit where). `docs/abi.md` is the contract.
//!
//! - [`clock`]: one clock entry (`vdso_data`, later `vdso_clock`).
//! - [`page`]: the pages of time data (the vvar page, later the generic
//!   store's time page), the random generator's data, and the namespace
//!   slot.

pub mod clock;
pub mod page;

pub use clock::{
    Absent, ClockData, ClockRefs, ShiftedNanos, TimensOffset, TzTail, VDSO_BASES, VdsoClock,
    VdsoClockMaxCycles, VdsoClockNoMaxCycles, VdsoData, VdsoDataMaxCycles, VdsoTimestamp,
};
pub use page::{
    MAX_AUX_CLOCKS, PageRefs, RngData, RngPage, TimeData, TimensSlot, VDSO_DATA_OFFSET,
    VVAR_RNG_OFFSET, VdsoTimeData, VvarPage, VvarRngPage,
};

pub const PAGE_SIZE: usize = 4096;

/// Index of the entry serving REALTIME, MONOTONIC, BOOTTIME, TAI and the coarse clocks.
pub const CS_HRES_COARSE: usize = 0;
/// Index of the entry serving MONOTONIC_RAW.
pub const CS_RAW: usize = 1;
pub const CS_BASES: usize = 2;

/// `clock_mode` values. The architectures number their counter modes from
/// 1 up (`VDSO_ARCH_CLOCKMODES`); which of them the images compute from the
/// counter is the architecture's (`Arch::counter_modes`).
pub mod clock_mode {
    pub const NONE: i32 = 0;
    /// The mode a writer publishes when the images may read the counter:
    /// 1 on every architecture (x86's TSC, arm64's ARCHTIMER).
    pub const COUNTER: i32 = 1;
    /// x86: the TSC.
    pub const TSC: i32 = 1;
    /// x86: the paravirtual clock page.
    pub const PVCLOCK: i32 = 2;
    /// x86: the Hyper-V clock page.
    pub const HVCLOCK: i32 = 3;
    /// arm64: the architected timer's virtual counter.
    pub const ARCHTIMER: i32 = 1;
    /// arm64: the same counter, which 32-bit processes must not read.
    pub const ARCHTIMER_NOCOMPAT: i32 = 2;
    /// Marks a time-namespace page (Linux's `VDSO_CLOCKMODE_TIMENS`).
    pub const TIMENS: i32 = i32::MAX;
}
