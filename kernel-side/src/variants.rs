//! The design variants (`common::design`, built by `cargo xtask build-vdso
//! --variants`), mapped the way each design's kernel would map them for a
//! host process and for a namespaced one.
//!
//! | Image | vvar slot (`B - 16384`) | timens slot (`B - 4096`), host | timens slot, namespaced |
//! |---|---|---|---|
//! | (a) `vdso.so`, `vdso-timens.so`, (d) `vdso-static*.so` | the vvar page | a zeroed page | the namespace page |
//! | (b) `vdso-branch.so` | the vvar page | a zeroed page (`clock_mode` 0: not in a namespace) | the namespace page |
//! | (c) `vdso-merged.so` | the vvar page for a host process, **the namespace page** for a namespaced one | nothing (`PROT_NONE`, as Linux leaves it unmapped) | **the vvar page** |
//!
//! (The table is `linux-6.6`'s, where the designs are built. For the
//! shipped pairs of later layouts, the namespace image takes Linux's
//! arrangement instead, as `Mapping` does; and where the random
//! generator's page has a slot of its own, `linux-6.18`, every process gets
//! the system's there.)
//!
//! A namespaced process under (a) and (d) gets the other image of the pair
//! (`vdso-timens.so`, `vdso-static-timens.so`); (b) and (c) map the same
//! image for both. [`Process`] does not swap images: that is
//! [`Mapping`](crate::Mapping)'s job, and it works for (d)'s pair as for
//! (a)'s.

use std::io;

use common::layout::LayoutInfo;
use common::note::Variant;
use common::vvar::PAGE_SIZE;
use vdso_elf::Elf;
use vdso_elf::patch::{self, Site, SiteKind};

use crate::image::{Image, ImageError};
use crate::pages::DataPages;
use crate::region::Region;
use crate::vdso::{Offsets, Vdso};

/// Where a process's time comes from: the system's pages, and for a
/// namespaced process the object whose namespace slot holds its
/// namespace's page (written with `DataPages::write_namespace`).
#[derive(Clone, Copy)]
pub struct Clocks<'a> {
    pub system: &'a DataPages,
    pub namespace: Option<&'a DataPages>,
}

/// What fills one data slot.
#[derive(Clone, Copy)]
enum SlotSource<'a> {
    /// The system's time page.
    Time(&'a DataPages),
    /// A namespace's page.
    Namespace(&'a DataPages),
    Zeroed,
    Nothing,
}

/// An image and its data slots, mapped read-only as the image's design
/// arranges them (see the module's table). Unmapped on drop.
pub struct Process {
    region: Region,
    /// The layout's time and namespace slots.
    slots: (usize, usize),
    image_len: usize,
    offsets: Offsets,
    variant: Variant,
    /// False when the design leaves the timens slot empty.
    timens_mapped: bool,
}

// SAFETY: read-only memory any thread may read; nothing mutates it.
unsafe impl Send for Process {}
// SAFETY: as above.
unsafe impl Sync for Process {}

impl Process {
    /// Maps `image` for a process whose time is `clocks`.
    pub fn new(image: &Image, clocks: Clocks<'_>) -> io::Result<Process> {
        let layout = *clocks.system.layout();
        if image.abi() != layout.abi {
            return Err(io::Error::other(format!(
                "the image reads {}'s data pages, these are {}'s",
                image.abi(),
                layout.abi
            )));
        }
        let (time, namespace) = arrangement(image.variant(), &layout, clocks);
        let region = Region::reserve(layout.data_pages)?;
        let slots = (layout.time_slot, layout.namespace_slot);
        fill_slot(&region, slots.0, time)?;
        fill_slot(&region, slots.1, namespace)?;
        // The random generator's page, where the layout gives it a slot of
        // its own (linux-6.18): the system's, whatever the process.
        if let Some((rng, _)) = layout.rng
            && rng != slots.0
            && rng != slots.1
        {
            let pages = clocks.system;
            region.map_pages(rng, pages.fd(), layout.data_pages, rng, 1)?;
        }
        // SAFETY: nothing runs in the image slot of a new reservation.
        unsafe { region.place_image(image.bytes())? };
        Ok(Process {
            region,
            slots,
            image_len: image.bytes().len(),
            offsets: *image.offsets(),
            variant: image.variant(),
            timens_mapped: !matches!(namespace, SlotSource::Nothing),
        })
    }

    /// The image's base address `B`.
    pub fn base(&self) -> *const u8 {
        self.region.base()
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The entry points, resolved from the image's dynamic table.
    pub fn vdso(&self) -> Vdso<'_> {
        // SAFETY: the offsets were resolved from the mapped image and lie
        // inside it; it stays mapped, with its data slots, while `self` lives.
        unsafe { Vdso::from_offsets(self.base(), &self.offsets) }
    }

    /// The mapped image's bytes (for flushing it from the caches).
    pub fn image(&self) -> &[u8] {
        // SAFETY: `image_len` bytes from the base are mapped readable for
        // the life of `self`.
        unsafe { std::slice::from_raw_parts(self.base(), self.image_len) }
    }

    /// The data slots the image may read (vvar and timens), for flushing.
    /// A slot left unmapped is not included.
    pub fn data_slots(&self) -> Vec<&[u8]> {
        let slot = |i: usize| {
            // SAFETY: inside the reservation, and mapped readable: the vvar
            // slot always, the timens slot unless `timens_mapped` is false.
            unsafe { std::slice::from_raw_parts(self.region.slot(i), PAGE_SIZE) }
        };
        let mut out = vec![slot(self.slots.0)];
        if self.timens_mapped {
            out.push(slot(self.slots.1));
        }
        out
    }
}

fn fill_slot(region: &Region, slot: usize, source: SlotSource<'_>) -> io::Result<()> {
    let page = |pages: &DataPages, index: usize| {
        region.map_pages(slot, pages.fd(), pages.layout().data_pages, index, 1)
    };
    match source {
        SlotSource::Time(pages) => page(pages, pages.layout().time_slot),
        SlotSource::Namespace(pages) => page(pages, pages.layout().namespace_slot),
        SlotSource::Zeroed => region.map_zeroed(slot),
        SlotSource::Nothing => Ok(()),
    }
}

/// What goes in the time and namespace slots for `variant` (the module's
/// table). The namespace image of a layout with Linux's arrangement, and
/// design (c) in a namespace, get the namespace page in the time slot and
/// the time page in the namespace slot.
fn arrangement<'a>(
    variant: Variant,
    layout: &LayoutInfo,
    clocks: Clocks<'a>,
) -> (SlotSource<'a>, SlotSource<'a>) {
    let time = SlotSource::Time(clocks.system);
    let linux =
        variant == Variant::Merged || (variant.is_timens() && layout.namespace_page_in_time_slot);
    match (clocks.namespace, linux) {
        (None, _) if variant == Variant::Merged => (time, SlotSource::Nothing),
        (None, _) => (time, SlotSource::Zeroed),
        (Some(ns), true) => (SlotSource::Namespace(ns), time),
        (Some(ns), false) => (time, SlotSource::Namespace(ns)),
    }
}

/// True if this CPU has RDPID (`crate::arch`: never on another
/// architecture than x86_64).
pub fn cpu_has_rdpid() -> bool {
    crate::arch::has_rdpid()
}

/// The image's patch sites, read from its `PT_NOTE` notes (as a loader
/// would: no section headers).
pub fn patch_sites(image: &Image) -> Result<Vec<Site>, ImageError> {
    Ok(Elf::parse(image.bytes())?
        .notes()
        .patch_sites()
        .collect::<Result<_, _>>()?)
}

/// `image` with its RDPID alternatives applied (`rdtscp; nop` becomes
/// `rdpid rcx`), as a loader on a CPU with RDPID maps it, like Linux applying
/// alternatives to its vDSO. An image without such sites comes back as it
/// was. The caller decides whether the CPU has RDPID ([`cpu_has_rdpid`]).
pub fn with_rdpid(image: &Image) -> Result<Image, String> {
    let sites = patch_sites(image).map_err(|e| e.to_string())?;
    let mut bytes = image.bytes().to_vec();
    for site in sites.iter().filter(|s| s.kind == SiteKind::Rdpid) {
        patch::apply(&mut bytes, site).map_err(|e| e.to_string())?;
    }
    Image::parse(bytes).map_err(|e| e.to_string())
}
