//! A process's view, made the way a kernel makes it: the layout's data
//! pages read-only, directly below the image, at an address the kernel
//! chooses. For `linux-6.6`:
//!
//! ```text
//!   base-16384  vvar page      ┐
//!   base-12288  pvclock page   │ the shared object, PROT_READ, MAP_SHARED
//!   base-8192   hvclock page   │
//!   base-4096   timens page    ┘
//!   base        the image      PROT_READ|PROT_EXEC, the whole file padded to pages
//! ```
//!
//! With a namespace image on a layout that takes Linux's arrangement
//! (`linux-6.12`, `linux-6.18`), the object's time page and namespace page
//! trade slots, as Linux maps them for a namespaced process; a swap between
//! the host and the namespace image trades them back (`common::layout`).

use std::fmt;
use std::io;
use std::sync::Mutex;

use common::note::Variant;
use std::os::fd::{AsFd, OwnedFd};

use common::layout::LayoutInfo;

use crate::image::Image;
use crate::pages::DataPages;
use crate::region::Region;
use crate::vdso::{Offsets, Vdso};

#[derive(Debug)]
pub enum SwapError {
    /// The new image's entry points are not where the old one's were, so
    /// pointers the process resolved would land in the wrong place.
    OffsetsDiffer {
        entry: &'static str,
        mapped: Option<u64>,
        new: Option<u64>,
    },
    Io(io::Error),
}

impl fmt::Display for SwapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwapError::OffsetsDiffer { entry, mapped, new } => {
                let at = |o: &Option<u64>| o.map_or("nowhere".to_string(), |o| format!("{o:#x}"));
                write!(
                    f,
                    "entry {entry} is at {} in the mapped image but at {} in the new one",
                    at(mapped),
                    at(new)
                )
            }
            SwapError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SwapError {}

/// The data pages and an image, mapped as a process sees them. Unmapped on drop.
pub struct Mapping {
    region: Region,
    /// The data pages' object and layout, for rearranging them on a swap.
    pages: OwnedFd,
    layout: LayoutInfo,
    current: Mutex<Mapped>,
}

#[derive(Clone, Copy)]
struct Mapped {
    variant: Variant,
    offsets: Offsets,
}

// SAFETY: the mapping is read-only memory (data pages, code) that any thread
// may read; the one mutation, `swap`, is unsafe and documents its contract.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `pages` read-only and `image` above them, at an address the
    /// kernel chooses. Refuses an image of another layout than the pages'.
    pub fn new(pages: &DataPages, image: &Image) -> io::Result<Mapping> {
        if image.arch() != common::abi::Arch::HOST {
            return Err(io::Error::other(format!(
                "the image is {} code; this machine runs {}",
                image.arch(),
                common::abi::Arch::HOST
            )));
        }
        if image.abi() != pages.abi() {
            return Err(io::Error::other(format!(
                "the image reads {}'s data pages, these are {}'s",
                image.abi(),
                pages.abi()
            )));
        }
        let layout = *pages.layout();
        let region = Region::reserve(layout.data_pages)?;
        let fd = pages.fd().try_clone_to_owned()?;
        arrange(&region, &fd, &layout, image.variant().is_timens())?;
        // SAFETY: nothing has resolved a pointer into the image slot yet.
        unsafe { region.place_image(image.bytes())? };
        let current = Mutex::new(Mapped {
            variant: image.variant(),
            offsets: *image.offsets(),
        });
        Ok(Mapping {
            region,
            pages: fd,
            layout,
            current,
        })
    }

    /// The image's base address.
    pub fn base(&self) -> *const u8 {
        self.region.base()
    }

    /// The variant currently mapped.
    pub fn variant(&self) -> Variant {
        self.lock().variant
    }

    /// The entry points, resolved against the image as mapped now. They stay
    /// valid across [`swap`](Self::swap): that is the point of pinned offsets.
    pub fn vdso(&self) -> Vdso<'_> {
        let offsets = self.lock().offsets;
        // SAFETY: each offset was resolved from the mapped image's dynamic
        // table and checked to lie inside it; the image stays mapped (at the
        // same offsets) as long as `self` does.
        unsafe { Vdso::from_offsets(self.base(), &offsets) }
    }

    /// Replaces the image with `image`, at the same address, as a kernel does
    /// on `setns(CLONE_NEWTIME)`. Refuses an image whose entry points are
    /// elsewhere.
    ///
    /// # Safety
    /// No thread may be executing inside the image while it is replaced (its
    /// code changes under it). Linux likewise lets only a single-threaded
    /// process `setns` into a time namespace. Calls made through [`Vdso`]s
    /// before and after are fine.
    pub unsafe fn swap(&self, image: &Image) -> Result<(), SwapError> {
        if image.abi() != self.layout.abi {
            return Err(SwapError::Io(io::Error::other(format!(
                "the image reads {}'s data pages, these are {}'s",
                image.abi(),
                self.layout.abi
            ))));
        }
        let mapped = self.lock().offsets;
        let new = *image.offsets();
        if let Some(((entry, mapped), (_, new))) = mapped
            .each()
            .zip(new.each())
            .find(|((_, a), (_, b))| a != b)
        {
            return Err(SwapError::OffsetsDiffer {
                entry,
                mapped: *mapped,
                new: *new,
            });
        }
        // As Linux on setns: the data pages rearranged for the new image
        // (where the layout moves them for a namespaced process), then the
        // image replaced.
        arrange(
            &self.region,
            &self.pages,
            &self.layout,
            image.variant().is_timens(),
        )
        .map_err(SwapError::Io)?;
        // SAFETY: the caller guarantees no thread is inside the image.
        unsafe { self.region.place_image(image.bytes()) }.map_err(SwapError::Io)?;
        *self.lock() = Mapped {
            variant: image.variant(),
            offsets: new,
        };
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mapped> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Maps the object's pages into the data slots: in order for a host
/// process, and for a namespaced one as `layout` arranges them (the time
/// page and the namespace page trade slots under Linux's arrangement).
fn arrange(
    region: &Region,
    pages: &OwnedFd,
    layout: &LayoutInfo,
    namespaced: bool,
) -> io::Result<()> {
    for slot in 0..layout.data_pages {
        let page = layout.page_in_slot(slot, namespaced);
        region.map_pages(slot, pages.as_fd(), layout.data_pages, page, 1)?;
    }
    Ok(())
}
