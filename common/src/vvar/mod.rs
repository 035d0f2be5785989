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
    VdsoClockMaxCycles, VdsoData, VdsoDataMaxCycles, VdsoTimestamp,
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

/// `clock_mode` values.
pub mod clock_mode {
    pub const NONE: i32 = 0;
    /// x86's TSC; arm64's architected timer has the same value.
    pub const TSC: i32 = 1;
    pub const PVCLOCK: i32 = 2;
    pub const HVCLOCK: i32 = 3;
    /// Marks a time-namespace page (Linux's `VDSO_CLOCKMODE_TIMENS`).
    pub const TIMENS: i32 = i32::MAX;
}
