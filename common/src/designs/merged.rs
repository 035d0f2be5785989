//! (c) Linux's merged design (v5.6+): one image; a namespaced process gets
//! the namespace page in the vvar slot (`seq = 1`, `clock_mode = INT_MAX`)
//! and the real vvar page one below the image. The readers notice in the
//! odd-`seq` spin (`SeqCount::read_begin_unless`), so a host process pays
//! nothing on the fast path and a namespaced one takes the slow path on
//! every call.

use core::marker::PhantomData;

use crate::arch;
use crate::clock::{Timespec, Timeval, Timezone};
use crate::design::{Design, Host, Timens};
use crate::entry;
use crate::image::Image;
use crate::layout::Layout;
use crate::pages::Pages;
use crate::vvar::{CS_HRES_COARSE, ClockData, RngData, TimeData, TimensSlot, clock_mode};

pub struct Merged;

impl Design for Merged {
    #[inline(always)]
    fn in_namespace<P: TimeData>(_: TimensSlot<'_, P>, _: usize) -> bool {
        false
    }

    /// The real page is behind a namespace page (as Linux's `time()`,
    /// timezone and `clock_getres` read it).
    #[inline(always)]
    fn unlocked_page<'a, P: TimeData>(vvar: &'a P, timens: TimensSlot<'a, P>) -> Option<&'a P> {
        if holds_namespace_page(vvar) {
            return Some(timens.page());
        }
        Some(vvar)
    }

    #[inline(always)]
    unsafe fn clock_gettime_elsewhere<L: Layout>(
        vvar: &L::Page,
        clock: i32,
        ts: *mut Timespec,
    ) -> Option<i32> {
        // SAFETY: forwarded from the caller.
        holds_namespace_page(vvar)
            .then(|| unsafe { clock_gettime_through_namespace_page::<L>(clock, ts) })
    }

    #[inline(always)]
    unsafe fn gettimeofday_elsewhere<L: Layout>(
        vvar: &L::Page,
        tv: *mut Timeval,
        tz: *mut Timezone,
    ) -> Option<i32> {
        // SAFETY: forwarded from the caller.
        holds_namespace_page(vvar)
            .then(|| unsafe { gettimeofday_through_namespace_page::<L>(tv, tz) })
    }
}

/// True if the page in the vvar slot is a time-namespace page, what the
/// slow path tests once a read has given up.
#[inline(always)]
fn holds_namespace_page<P: TimeData>(vvar: &P) -> bool {
    vvar.clock(CS_HRES_COARSE).clock_mode() == clock_mode::TIMENS
}

/// A namespaced process's pages: its namespace page is in the time slot
/// and the real time data in the namespace slot.
struct Swapped<L>(PhantomData<L>);

impl<L: Layout> Pages for Swapped<L> {
    type Page = L::Page;

    #[inline(always)]
    fn vvar() -> &'static L::Page {
        // SAFETY: reached only with a namespace page in the time slot, so
        // the real time data is mapped in the namespace slot (design (c)).
        unsafe { &*arch::namespace_slot().cast::<L::Page>() }
    }

    #[inline(always)]
    fn timens() -> TimensSlot<'static, L::Page> {
        // SAFETY: the namespace page, mapped in the time slot.
        unsafe { TimensSlot::from_ptr(arch::time_slot().cast()) }
    }

    #[inline(always)]
    fn rng() -> Option<&'static RngData> {
        crate::pages::rng_of::<L>(true)
    }
}

/// The timens image's algorithm, or the host image's for `gettimeofday`,
/// over the swapped pages: what a namespaced process runs.
struct Through<D, L>(PhantomData<(D, L)>);

impl<D: Design, L: Layout> Image for Through<D, L> {
    type Design = D;
    type Layout = L;
    type Pages = Swapped<L>;
}

/// A namespaced process's `clock_gettime` (Linux's `do_hres_timens`). Out
/// of line and reached by a tail call: it adds no instruction, and no saved
/// register, to the host path.
///
/// # Safety
/// As for [`entry::clock_gettime`]; reached only with a namespace page in
/// the time slot.
#[inline(never)]
unsafe fn clock_gettime_through_namespace_page<L: Layout>(clock_id: i32, ts: *mut Timespec) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { entry::clock_gettime::<Through<Timens, L>>(clock_id, ts) }
}

/// As [`clock_gettime_through_namespace_page`], for `gettimeofday`.
///
/// # Safety
/// As for [`entry::gettimeofday`], and as above.
#[inline(never)]
unsafe fn gettimeofday_through_namespace_page<L: Layout>(
    tv: *mut Timeval,
    tz: *mut Timezone,
) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { entry::gettimeofday::<Through<Host, L>>(tv, tz) }
}
