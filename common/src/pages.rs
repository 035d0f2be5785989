//! Where an image finds its data pages. A type, not a value: each entry
//! computes the address where it uses it (one PC-relative `lea`), so none
//! is passed between the entry's pieces or held in a register across them.

use core::marker::PhantomData;

use crate::arch;
use crate::layout::Layout;
use crate::vvar::{RngData, TimeData, TimensSlot};

/// The pages an image reads: the time data (`vvar`), the page that may
/// hold a namespace's offsets (`timens`), and the random generator's data
/// (`rng`), where the layout has it.
pub trait Pages {
    type Page: TimeData;
    fn vvar() -> &'static Self::Page;
    fn timens() -> TimensSlot<'static, Self::Page>;
    fn rng() -> Option<&'static RngData>;
}

/// The random generator's data of layout `L`, for a namespaced process or
/// a host one (`linux-6.12` keeps it in the time data's page, which moves
/// for a namespaced process; later layouts give it a page of its own,
/// which does not). `None` for a layout without it; the test is of
/// constants, so it costs nothing.
#[inline(always)]
pub(crate) fn rng_of<L: Layout>(namespaced: bool) -> Option<&'static RngData> {
    let (slot, at) = if namespaced {
        L::INFO.namespaced_rng()?
    } else {
        L::INFO.rng?
    };
    let page = match slot {
        s if s == L::INFO.time_slot => arch::time_slot(),
        s if s == L::INFO.namespace_slot => arch::namespace_slot(),
        // The rng's own slot, which the linker script names.
        _ => arch::rng_slot(),
    };
    // SAFETY: the kernel maps the rng data where `L` says for this kind of
    // process, before the image runs and for as long as it is mapped
    // (docs/abi.md); its fields are atomics, so a shared reference is
    // sound; `at` is inside the page.
    Some(unsafe { &*page.add(at).cast::<RngData>() })
}

/// The pages where layout `L` maps them (docs/abi.md): for the host image
/// (`NAMESPACED` false) the time slot; for the namespace image the time
/// data and the offsets where `L`'s namespaced arrangement puts them, with
/// no run-time test.
pub struct Mapped<L, const NAMESPACED: bool>(PhantomData<L>);

impl<L: Layout, const NAMESPACED: bool> Mapped<L, NAMESPACED> {
    /// The slots (time data, offsets) as this image reads them.
    const SWAPPED: bool = NAMESPACED && L::INFO.namespace_page_in_time_slot;
}

impl<L: Layout, const NAMESPACED: bool> Pages for Mapped<L, NAMESPACED> {
    type Page = L::Page;

    #[inline(always)]
    fn vvar() -> &'static L::Page {
        let page = if Self::SWAPPED {
            arch::namespace_slot()
        } else {
            arch::time_slot()
        };
        // SAFETY: the kernel maps the time data there before the image can
        // run (docs/abi.md; for a namespaced process, in the slot `L` says)
        // and never unmaps it while the image is mapped; every field anyone
        // writes is an atomic (the padding is never written), so a shared
        // reference to it is sound.
        unsafe { &*page.cast::<L::Page>() }
    }

    #[inline(always)]
    fn timens() -> TimensSlot<'static, L::Page> {
        let page = if Self::SWAPPED {
            arch::time_slot()
        } else {
            arch::namespace_slot()
        };
        // SAFETY: the kernel maps a namespace page there for every process
        // the namespace image runs in (docs/abi.md), and only that image
        // reads it.
        unsafe { TimensSlot::from_ptr(page.cast()) }
    }

    #[inline(always)]
    fn rng() -> Option<&'static RngData> {
        rng_of::<L>(NAMESPACED)
    }
}
