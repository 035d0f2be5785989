//! How an image gets a time namespace's offsets, as a policy over the one
//! set of algorithms in [`clock`](crate::clock). The shipped images use
//! design (a), two images of one source: [`Host`] never reads a namespace
//! page (not one instruction for it exists), [`Timens`] always adds the
//! page one below the image.
//!
//! The 2019 discussion on the CRIU list (Andrei Vagin, "x86/vdso: Generate
//! vdso{,32}-timens.lds", March 2019; `../shared/seed/timens-vdso-email.txt`
//! beside this repository) weighed other designs (one image with a run-time
//! branch, Linux's merged image, a static branch patched at build time);
//! they
//! implement this trait in [`designs`](crate::designs), compiled only with
//! the `designs` feature, for the comparison in BENCHMARKS.md. A kernel
//! embedding `common` compiles none of them.
//!
//! Every function here is `#[inline(always)]` and, for the shipped designs,
//! a constant, so the trait costs the images nothing.

use crate::arch;
use crate::clock::Timespec;
use crate::vvar::{CS_HRES_COARSE, DataPage, TimensSlot, VdsoData, clock_mode};

/// One design's answer to the points where the designs differ.
pub trait Design {
    /// Whether this call adds the offsets of `timens`, the page one below
    /// the image (`B - 4096`), entry `cs`, to the clocks a namespace shifts.
    fn in_namespace(timens: TimensSlot<'_>, cs: usize) -> bool;

    /// The entry the reads without a sequence count use (`time`, the
    /// timezone, `hrtimer_res`), or `None` to ask the kernel. A namespace
    /// page in the vvar slot (`clock_mode == INT_MAX`: a kernel that maps
    /// Linux's namespace arrangement under this image) holds offsets, not
    /// time, so the shipped images ask the kernel, whose system call
    /// answers in the namespace.
    #[inline(always)]
    fn unlocked_entry<'a>(vvar: &'a DataPage, _timens: TimensSlot<'a>) -> Option<&'a VdsoData> {
        let vd = vvar.data(CS_HRES_COARSE);
        (vd.clock_mode() != clock_mode::TIMENS).then_some(vd)
    }

    /// A `clock_gettime` the pages in the vvar slot could not serve: `None`
    /// makes the system call; a design that reads elsewhere answers here.
    ///
    /// # Safety
    /// As for [`entry::clock_gettime`](crate::entry::clock_gettime).
    #[inline(always)]
    unsafe fn clock_gettime_elsewhere(_vvar: &DataPage, _clock: i32, _ts: *mut Timespec) -> Option<i32> {
        None
    }

    /// As [`clock_gettime_elsewhere`](Self::clock_gettime_elsewhere), for
    /// `gettimeofday`.
    ///
    /// # Safety
    /// As for [`entry::gettimeofday`](crate::entry::gettimeofday).
    #[inline(always)]
    unsafe fn gettimeofday_elsewhere(
        _vvar: &DataPage,
        _tv: *mut crate::clock::Timeval,
        _tz: *mut crate::clock::Timezone,
    ) -> Option<i32> {
        None
    }

    /// `(node << 12) | cpu` from TSC_AUX, for `getcpu`.
    #[inline(always)]
    fn cpu_node() -> u32 {
        arch::cpu_node()
    }
}

/// (a) The two images of one source: `TwoImages<false>` never reads a
/// namespace page, `TwoImages<true>` always adds the page one below the
/// image.
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
