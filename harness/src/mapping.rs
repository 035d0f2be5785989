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
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::Mutex;

use common::entries::ENTRIES;
use common::note::Variant;
use common::vvar::PAGE_SIZE;

use crate::image::{Image, MAX_IMAGE_SIZE};
use crate::pages::{DATA_SIZE, DataPages};
use crate::vdso::Vdso;

/// Room kept for the image: the largest an image may be, so any image can
/// be swapped in.
const IMAGE_ROOM: usize = MAX_IMAGE_SIZE.div_ceil(PAGE_SIZE) * PAGE_SIZE;

#[derive(Debug)]
pub enum SwapError {
    /// The new image's entry points are not where the old one's were, so
    /// pointers the process resolved would land in the wrong place.
    OffsetsDiffer {
        symbol: &'static str,
        mapped: u64,
        new: u64,
    },
    Io(io::Error),
}

impl fmt::Display for SwapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwapError::OffsetsDiffer {
                symbol,
                mapped,
                new,
            } => write!(
                f,
                "{symbol} is at {mapped:#x} in the mapped image but at {new:#x} in the new one"
            ),
            SwapError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SwapError {}

/// The data pages and an image, mapped as a process sees them. Unmapped on drop.
pub struct Mapping {
    /// Start of the reservation: the vvar page.
    region: NonNull<u8>,
    current: Mutex<Mapped>,
}

#[derive(Clone, Copy)]
struct Mapped {
    variant: Variant,
    offsets: [u64; ENTRIES.len()],
}

// SAFETY: the mapping is read-only memory (data pages, code) that any thread
// may read; the one mutation, `swap`, is unsafe and documents its contract.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `pages` read-only and `image` above them.
    pub fn new(pages: &DataPages, image: &Image) -> io::Result<Mapping> {
        let total = DATA_SIZE + IMAGE_ROOM;
        // Reserve the whole range first so that the data pages and the image
        // are adjacent; the kernel picks where.
        // SAFETY: a new private PROT_NONE mapping aliasing nothing.
        let region = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if region == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let region = NonNull::new(region.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        let mapping = Mapping {
            region,
            current: Mutex::new(Mapped {
                variant: image.variant(),
                offsets: image.entry_offsets(),
            }),
        };
        // SAFETY: replaces the first DATA_SIZE bytes of our own reservation.
        let data = unsafe {
            libc::mmap(
                region.as_ptr().cast(),
                DATA_SIZE,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_FIXED,
                pages.fd().as_raw_fd(),
                0,
            )
        };
        if data == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: nothing has resolved a pointer into the image slot yet.
        unsafe { mapping.place(image)? };
        Ok(mapping)
    }

    /// The image's base address.
    pub fn base(&self) -> *const u8 {
        // SAFETY: DATA_SIZE is inside the reservation.
        unsafe { self.region.as_ptr().add(DATA_SIZE) }
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
        unsafe { Vdso::from_offsets(self.base(), offsets) }
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
        let new = image.entry_offsets();
        for ((e, mapped), new) in ENTRIES.iter().zip(mapped).zip(new) {
            if mapped != new {
                return Err(SwapError::OffsetsDiffer {
                    symbol: e.symbol,
                    mapped,
                    new,
                });
            }
        }
        // SAFETY: the caller guarantees no thread is inside the image.
        unsafe { self.place(image) }.map_err(SwapError::Io)?;
        *self.lock() = Mapped {
            variant: image.variant(),
            offsets: new,
        };
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mapped> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `image` into fresh pages elsewhere, seals them R+X, then moves
    /// them over the image slot in one `mremap`: the slot never holds a
    /// half-written image, and the old pages vanish in the same step.
    ///
    /// # Safety
    /// No thread may be executing in the image slot.
    unsafe fn place(&self, image: &Image) -> io::Result<()> {
        let bytes = image.bytes();
        let len = bytes.len().div_ceil(PAGE_SIZE) * PAGE_SIZE;
        // SAFETY: a new private anonymous mapping aliasing nothing.
        let staging = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if staging == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `staging` is `len >= bytes.len()` writable bytes we own.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), staging.cast(), bytes.len()) };
        // SAFETY: changes protection of our own mapping.
        if unsafe { libc::mprotect(staging, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let target = self.base().cast_mut().cast::<libc::c_void>();
        // SAFETY: moves our staging mapping over the image slot of our own
        // reservation; the caller guarantees no thread runs there.
        let moved = unsafe {
            libc::mremap(
                staging,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target,
            )
        };
        if moved == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Any page of a larger previous image beyond the new one goes back to
        // the inaccessible reservation.
        if len < IMAGE_ROOM {
            // SAFETY: the tail of our own reservation.
            let tail = unsafe {
                libc::mmap(
                    target.cast::<u8>().add(len).cast(),
                    IMAGE_ROOM - len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if tail == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps our own reservation; no `Vdso` borrowed from `self`
        // outlives it.
        unsafe { libc::munmap(self.region.as_ptr().cast(), DATA_SIZE + IMAGE_ROOM) };
    }
}
