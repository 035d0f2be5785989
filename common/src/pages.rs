//! Where an entry finds its data pages. A type, not a value: each entry
//! computes the address where it uses it (one PC-relative `lea`), so none
//! is passed between the entry's pieces or held in a register across them.

use crate::arch;
use crate::vvar::{DataPage, TimensSlot};

/// The pages an entry reads: the page it reads time from (`vvar`), and the
/// page that may hold a namespace's offsets (`timens`).
pub trait Pages {
    fn vvar() -> &'static DataPage;
    fn timens() -> TimensSlot<'static>;
}

/// The pages where `docs/abi.md` maps them: the vvar page at `B - 16384`,
/// the namespace slot at `B - 4096`.
pub struct Mapped;

impl Pages for Mapped {
    #[inline(always)]
    fn vvar() -> &'static DataPage {
        arch::vvar_page()
    }

    #[inline(always)]
    fn timens() -> TimensSlot<'static> {
        arch::timens_page()
    }
}
