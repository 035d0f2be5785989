//! A process's view, made the way a kernel makes it: the four data pages
//! read-only, directly below the image, at an address the kernel chooses.
//!
//! ```text
//!   base-16384  vvar page      ┐
//!   base-12288  pvclock page   │ the shared object, PROT_READ, MAP_SHARED
//!   base-8192   hvclock page   │
//!   base-4096   timens page    ┘
//!   base        the image      PROT_READ|PROT_EXEC, the whole file padded to pages
//! ```

use std::fmt;
use std::io;
use std::sync::Mutex;

use common::note::Variant;
use common::vvar::DATA_PAGES;

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
    /// kernel chooses.
    pub fn new(pages: &DataPages, image: &Image) -> io::Result<Mapping> {
        let region = Region::reserve()?;
        region.map_pages(0, pages, 0, DATA_PAGES)?;
        // SAFETY: nothing has resolved a pointer into the image slot yet.
        unsafe { region.place_image(image.bytes())? };
        let current = Mutex::new(Mapped {
            variant: image.variant(),
            offsets: *image.offsets(),
        });
        Ok(Mapping { region, current })
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
