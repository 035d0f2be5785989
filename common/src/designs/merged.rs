//! (c) Linux's merged design (v5.6+): one image; a namespaced process gets
//! the namespace page in the vvar slot (`seq = 1`, `clock_mode = INT_MAX`)
//! and the real vvar page one below the image. The readers notice in the
//! odd-`seq` spin (`SeqCount::read_begin_unless`), so a host process pays
//! nothing on the fast path and a namespaced one takes the slow path on
//! every call.

use crate::arch;
use crate::clock::{Timespec, Timeval, Timezone};
use crate::design::{Design, Host, Timens};
use crate::entry;
use crate::pages::Pages;
use crate::vvar::{CS_HRES_COARSE, DataPage, TimensSlot, VdsoData, clock_mode};

pub struct Merged;

impl Design for Merged {
    #[inline(always)]
    fn in_namespace(_: TimensSlot<'_>, _: usize) -> bool {
        false
    }

    /// The real page is behind a namespace page (as Linux's `time()`,
    /// timezone and `clock_getres` read it).
    #[inline(always)]
    fn unlocked_entry<'a>(vvar: &'a DataPage, timens: TimensSlot<'a>) -> Option<&'a VdsoData> {
        if holds_namespace_page(vvar) {
            return Some(timens.page().data(CS_HRES_COARSE));
        }
        Some(vvar.data(CS_HRES_COARSE))
    }

    #[inline(always)]
    unsafe fn clock_gettime_elsewhere(vvar: &DataPage, clock: i32, ts: *mut Timespec) -> Option<i32> {
        // SAFETY: forwarded from the caller.
        holds_namespace_page(vvar).then(|| unsafe { clock_gettime_through_namespace_page(clock, ts) })
    }

    #[inline(always)]
    unsafe fn gettimeofday_elsewhere(
        vvar: &DataPage,
        tv: *mut Timeval,
        tz: *mut Timezone,
    ) -> Option<i32> {
        // SAFETY: forwarded from the caller.
        holds_namespace_page(vvar).then(|| unsafe { gettimeofday_through_namespace_page(tv, tz) })
    }
}

/// True if the page in the vvar slot is a time-namespace page, what the
/// slow path tests once a read has given up.
#[inline(always)]
fn holds_namespace_page(vvar: &DataPage) -> bool {
    vvar.data(CS_HRES_COARSE).clock_mode() == clock_mode::TIMENS
}

/// A namespaced process's pages: its namespace page is in the vvar slot
/// and the real vvar page one below the image.
struct Swapped;

impl Pages for Swapped {
    #[inline(always)]
    fn vvar() -> &'static DataPage {
        arch::timens_page().page()
    }

    #[inline(always)]
    fn timens() -> TimensSlot<'static> {
        TimensSlot::from_page(arch::vvar_page())
    }
}

/// A namespaced process's `clock_gettime`: the timens image's algorithm
/// with the two pages' places swapped (Linux's `do_hres_timens`). Out of
/// line and reached by a tail call: it adds no instruction, and no saved
/// register, to the host path.
///
/// # Safety
/// As for [`entry::clock_gettime`]; reached only with a namespace page in
/// the vvar slot, so the real vvar page is mapped in the timens slot.
#[inline(never)]
unsafe fn clock_gettime_through_namespace_page(clock_id: i32, ts: *mut Timespec) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { entry::clock_gettime_on::<Timens, Swapped>(clock_id, ts) }
}

/// As [`clock_gettime_through_namespace_page`], for `gettimeofday`.
///
/// # Safety
/// As for [`entry::gettimeofday`], and as above.
#[inline(never)]
unsafe fn gettimeofday_through_namespace_page(tv: *mut Timeval, tz: *mut Timezone) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { entry::gettimeofday_on::<Host, Swapped>(tv, tz) }
}
