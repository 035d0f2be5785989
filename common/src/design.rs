//! How an image gets a time namespace's offsets, as a policy over the one
//! set of algorithms in [`clock`](crate::clock). The shipped images use
//! design (a), two images of one source: [`Host`] never reads a namespace
//! page (not one instruction for it exists), [`Timens`] always adds the
//! offsets of the page its layout gives it.
//!
//! The 2019 discussion on the CRIU list (Andrei Vagin, "x86/vdso: Generate
//! vdso{,32}-timens.lds", March 2019; `../shared/seed/timens-vdso-email.txt`
//! beside this repository) weighed other designs (one image with a run-time
//! branch, Linux's merged image, a static branch patched at build time);
//! they implement this trait in [`designs`](crate::designs), compiled only
//! with the `designs` feature, for the comparison in BENCHMARKS.md. A
//! kernel embedding `common` compiles none of them.
//!
//! Every function here is `#[inline(always)]` and, for the shipped designs,
//! a constant, so the trait costs the images nothing.

use crate::clock::{Timespec, Timeval, Timezone};
use crate::layout::Layout;
use crate::vvar::{CS_HRES_COARSE, ClockData, TimeData, TimensSlot, clock_mode};

/// One design's answer to the points where the designs differ.
pub trait Design {
    /// True for the image a namespaced process gets in a two-image design:
    /// its layout's namespaced arrangement says where its pages are
    /// ([`crate::pages::Mapped`]).
    const NAMESPACE_IMAGE: bool = false;

    /// Whether this call adds the offsets of `timens`, entry `cs`, to the
    /// clocks a namespace shifts.
    fn in_namespace<P: TimeData>(timens: TimensSlot<'_, P>, cs: usize) -> bool;

    /// The page the reads without a sequence count use (`time`, the
    /// timezone, `hrtimer_res`), or `None` to ask the kernel. A namespace
    /// page where the time data should be (`clock_mode == INT_MAX`: a
    /// kernel that maps Linux's namespace arrangement under the host image)
    /// holds offsets, not time, so the shipped images ask the kernel, whose
    /// system call answers in the namespace.
    #[inline(always)]
    fn unlocked_page<'a, P: TimeData>(vvar: &'a P, _timens: TimensSlot<'a, P>) -> Option<&'a P> {
        (vvar.clock(CS_HRES_COARSE).clock_mode() != clock_mode::TIMENS).then_some(vvar)
    }

    /// A `clock_gettime` the time data could not serve: `None` makes the
    /// system call; a design that reads elsewhere answers here.
    ///
    /// # Safety
    /// As for [`entry::clock_gettime`](crate::entry::clock_gettime).
    #[inline(always)]
    unsafe fn clock_gettime_elsewhere<L: Layout>(
        _vvar: &L::Page,
        _clock: i32,
        _ts: *mut Timespec,
    ) -> Option<i32> {
        None
    }

    /// As [`clock_gettime_elsewhere`](Self::clock_gettime_elsewhere), for
    /// `gettimeofday`.
    ///
    /// # Safety
    /// As for [`entry::gettimeofday`](crate::entry::gettimeofday).
    #[inline(always)]
    unsafe fn gettimeofday_elsewhere<L: Layout>(
        _vvar: &L::Page,
        _tv: *mut Timeval,
        _tz: *mut Timezone,
    ) -> Option<i32> {
        None
    }

    /// `(node << 12) | cpu` from TSC_AUX, for `getcpu` (an x86_64 entry:
    /// the table gives it no other architecture, whose hooks have no cpu
    /// number).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn cpu_node() -> u32 {
        crate::arch::cpu_node()
    }
}

/// (a) The two images of one source: `TwoImages<false>` never reads a
/// namespace page, `TwoImages<true>` always adds its offsets.
pub struct TwoImages<const TIMENS: bool>;

/// (a), the host image (`vdso.so`).
pub type Host = TwoImages<false>;
/// (a), the time-namespace image (`vdso-timens.so`).
pub type Timens = TwoImages<true>;

impl<const TIMENS: bool> Design for TwoImages<TIMENS> {
    const NAMESPACE_IMAGE: bool = TIMENS;

    #[inline(always)]
    fn in_namespace<P: TimeData>(_: TimensSlot<'_, P>, _: usize) -> bool {
        TIMENS
    }
}
