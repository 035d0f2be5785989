//! The designs the 2019 discussion weighed for time namespaces
//! (`/work/shared/seed/timens-vdso-email.txt`), as policies over the one set
//! of algorithms in [`clock`](crate::clock). A design decides only the few
//! things the designs disagree on:
//!
//! - whether a call adds a namespace's offsets, and from which page
//!   ([`Design::in_namespace`]);
//! - what a reader does when it finds a namespace page where the vvar page
//!   should be ([`Design::FOLLOWS_NAMESPACE_PAGE`]);
//! - how `getcpu` reads TSC_AUX ([`Design::cpu_node`]).
//!
//! | Design | Type | Images | How a namespaced process gets its offsets |
//! |---|---|---|---|
//! | (a) two images | [`Host`], [`Timens`] | `vdso.so`, `vdso-timens.so` | a different image, swapped in |
//! | (b) run-time branch | [`Branch`] | `vdso-branch.so` | `if in_namespace` on every call of a shifted clock |
//! | (c) Linux's merged design | [`Merged`] | `vdso-merged.so` | the namespace page in the vvar slot; detected in the odd-`seq` slow path |
//! | (d) static branch | [`Static`] | `vdso-static.so`, patched into `vdso-static-timens.so` | a 5-byte NOP that xtask patches into a `jmp` |
//!
//! Every function here is `#[inline(always)]` and, for the shipped designs,
//! a constant: (a)'s images compile to the same bytes as when `clock.rs`
//! took a `const TIMENS: bool`.

use crate::arch;
use crate::vvar::{TimensSlot, clock_mode};

/// One design's answer to the points where the designs differ.
pub trait Design {
    /// Whether this call adds the offsets of `timens`, the page one below
    /// the image (`B - 4096`), entry `cs`, to the clocks a namespace shifts.
    fn in_namespace(timens: TimensSlot<'_>, cs: usize) -> bool;

    /// A namespace page in the vvar slot (`clock_mode == INT_MAX`, `seq`
    /// stuck at 1), as Linux maps it for a namespaced process: `true` reads
    /// the real vvar page one slot below the image instead and adds the
    /// namespace page's offsets (Linux's `do_hres_timens`); `false` makes the
    /// system call, which such a kernel answers in the namespace.
    const FOLLOWS_NAMESPACE_PAGE: bool = false;

    /// `(node << 12) | cpu` from TSC_AUX, for `getcpu`.
    #[inline(always)]
    fn cpu_node() -> u32 {
        arch::cpu_node()
    }
}

/// (a) The two images of one source: `TwoImages<false>` never reads a
/// namespace page (not one instruction for it exists), `TwoImages<true>`
/// always adds the page one below the image.
pub struct TwoImages<const TIMENS: bool>;

/// (a), the host image (`vdso.so`).
pub type Host = TwoImages<false>;
/// (a), the time-namespace image (`vdso-timens.so`).
pub type Timens = TwoImages<true>;

impl<const TIMENS: bool> Design for TwoImages<TIMENS> {
    #[inline(always)]
    fn in_namespace(_: TimensSlot<'_>, _: usize) -> bool {
        TIMENS
    }
}

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
    fn in_namespace(timens: TimensSlot<'_>, cs: usize) -> bool {
        timens.page().data(cs).clock_mode() == clock_mode::TIMENS
    }
}

/// (c) Linux's merged design (v5.6+): one image; a namespaced process gets
/// the namespace page in the vvar slot (`seq = 1`, `clock_mode = INT_MAX`)
/// and the real vvar page one below the image. The readers notice in the
/// odd-`seq` spin (`SeqCount::read_begin_unless`), so a host process pays
/// nothing on the fast path and a namespaced one takes the slow path on
/// every call.
pub struct Merged;

impl Design for Merged {
    #[inline(always)]
    fn in_namespace(_: TimensSlot<'_>, _: usize) -> bool {
        false
    }

    const FOLLOWS_NAMESPACE_PAGE: bool = true;
}

/// (d) The seed's static-branch design: one compiled image, the host one,
/// whose offset code sits behind a 5-byte NOP recorded as a patch site
/// ([`patch`](crate::patch)); xtask writes the namespace image by turning
/// every NOP into a `jmp` to its label. `getcpu`'s RDTSCP is an alternative
/// site too: a loader on a CPU with RDPID may replace it, as Linux's
/// alternatives do.
pub struct Static;

impl Design for Static {
    #[inline(always)]
    fn in_namespace(_: TimensSlot<'_>, _: usize) -> bool {
        crate::patch::timens_static_branch()
    }

    #[inline(always)]
    fn cpu_node() -> u32 {
        crate::patch::cpu_node_alternative()
    }
}
