//! The designs the 2019 discussion weighed besides the shipped one (see
//! [`design`](crate::design)), for the comparison in BENCHMARKS.md only.
//! Compiled with the `designs` feature, which only the `variants/` crates
//! enable; the shipped images and a kernel's writer never do.
//!
//! | Design | Type | Images | How a namespaced process gets its offsets |
//! |---|---|---|---|
//! | (b) run-time branch | [`Branch`] | `vdso-branch.so` | `if in_namespace` on every call of a shifted clock |
//! | (c) Linux's merged design | [`Merged`] | `vdso-merged.so` | the namespace page in the vvar slot; detected in the odd-`seq` slow path |
//! | (d) static branch | [`Static`] | `vdso-static.so`, patched into `vdso-static-timens.so` | a 5-byte NOP that xtask patches into a `jmp` |
//!
//! (e), the seed's three-label copy, cannot be written soundly in Rust;
//! BENCHMARKS.md says why.

mod merged;
mod static_branch;

use crate::design::Design;
use crate::vvar::{ClockData, TimeData, TimensSlot, clock_mode};

pub use merged::Merged;

/// (b) One image with a run-time `if in_namespace` branch: the kernel maps a
/// page one below the image for every process, the namespace's page
/// (`clock_mode == INT_MAX`) for a namespaced one and any other page (zeroed)
/// for a host process, and every call served from the pages loads its
/// `clock_mode` and branches on it. The vvar page is one page for the whole
/// system, so it cannot hold a per-process flag: the flag costs a second
/// page and cache line, which is what the 2019 objection was about.
pub struct Branch;

impl Design for Branch {
    #[inline(always)]
    fn in_namespace<P: TimeData>(timens: TimensSlot<'_, P>, cs: usize) -> bool {
        timens.page().clock(cs).clock_mode() == clock_mode::TIMENS
    }
}

/// (d) The seed's static-branch design: one compiled image, the host one,
/// whose offset code sits behind a 5-byte NOP recorded as a patch site
/// (`common::note`); xtask writes the namespace image by turning every NOP
/// into a `jmp` to its label. `getcpu`'s RDTSCP is an alternative site too:
/// a loader on a CPU with RDPID may replace it, as Linux's alternatives do.
pub struct Static;

impl Design for Static {
    #[inline(always)]
    fn in_namespace<P: TimeData>(_: TimensSlot<'_, P>, _: usize) -> bool {
        static_branch::timens_static_branch()
    }

    #[inline(always)]
    fn cpu_node() -> u32 {
        static_branch::cpu_node_alternative()
    }
}
