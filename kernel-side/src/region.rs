//! The address range a process's vDSO occupies, owned: four data slots and
//! room for the largest image above them, reserved where the kernel chooses
//! and filled in place. [`Mapping`](crate::Mapping) and the design
//! variants' [`Process`](crate::variants::Process) are arrangements of it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use common::vvar::PAGE_SIZE;

use crate::image::MAX_IMAGE_SIZE;

/// Room kept for the image: the largest an image may be, so any image can
/// be placed (or swapped in) later.
pub(crate) const IMAGE_ROOM: usize = MAX_IMAGE_SIZE.div_ceil(PAGE_SIZE) * PAGE_SIZE;

/// The reservation. Everything in it starts inaccessible; unmapped on drop.
pub(crate) struct Region {
    start: NonNull<u8>,
    /// Data slots below the image (the layout's data pages).
    slots: usize,
}

impl Region {
    /// A reservation for `slots` data pages and an image above them.
    pub(crate) fn reserve(slots: usize) -> io::Result<Region> {
        let total = slots * PAGE_SIZE + IMAGE_ROOM;
        // SAFETY: a new private PROT_NONE mapping at a kernel-chosen address;
        // it aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Region { start, slots })
    }

    /// The address of data slot `slot` (0 is the vvar slot, 3 the timens slot).
    pub(crate) fn slot(&self, slot: usize) -> *const u8 {
        assert!(slot < self.slots);
        self.start.as_ptr().wrapping_add(slot * PAGE_SIZE)
    }

    /// The image's base `B`.
    pub(crate) fn base(&self) -> *const u8 {
        self.start.as_ptr().wrapping_add(self.slots * PAGE_SIZE)
    }

    /// Maps `count` pages of the object `pages` (which holds `held`), from
    /// its page `first`, read-only and shared, at data slot `slot` onwards.
    pub(crate) fn map_pages(
        &self,
        slot: usize,
        pages: BorrowedFd<'_>,
        held: usize,
        first: usize,
        count: usize,
    ) -> io::Result<()> {
        assert!(slot + count <= self.slots && first + count <= held);
        let offset = (first * PAGE_SIZE) as libc::off_t;
        let fd = pages.as_raw_fd();
        self.map_at(slot, count, libc::MAP_SHARED | libc::MAP_FIXED, fd, offset)
    }

    /// A zeroed read-only page at data slot `slot`.
    pub(crate) fn map_zeroed(&self, slot: usize) -> io::Result<()> {
        self.map_at(
            slot,
            1,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    }

    fn map_at(
        &self,
        slot: usize,
        count: usize,
        flags: i32,
        fd: i32,
        offset: libc::off_t,
    ) -> io::Result<()> {
        let at = self.slot(slot).cast_mut().cast();
        // SAFETY: replaces pages of our own reservation (checked by the
        // callers' asserts) with read-only ones; no Rust reference points
        // into the data slots.
        let p = unsafe { libc::mmap(at, count * PAGE_SIZE, libc::PROT_READ, flags, fd, offset) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes `bytes` into fresh pages elsewhere, seals them R+X (guarded
    /// on a CPU with BTI: `arch::image_protection`), then moves them over
    /// the image slot in one `mremap`: the slot never holds a half-written
    /// image, and the old pages vanish in the same step. The rest of the
    /// room goes back to inaccessible.
    ///
    /// # Safety
    /// No thread may be executing in the image slot.
    pub(crate) unsafe fn place_image(&self, bytes: &[u8]) -> io::Result<()> {
        assert!(bytes.len() <= IMAGE_ROOM);
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
        // On any failure below, the staging pages are ours to unmap.
        let fail = |staging: *mut libc::c_void| {
            let e = io::Error::last_os_error();
            // SAFETY: our own staging mapping, not yet moved.
            unsafe { libc::munmap(staging, len) };
            e
        };
        let prot = crate::arch::image_protection();
        // SAFETY: changes the protection of our own mapping.
        if unsafe { libc::mprotect(staging, len, prot) } != 0 {
            return Err(fail(staging));
        }
        let target = self.base().cast_mut();
        // SAFETY: moves our staging pages over the image slot of our own
        // reservation; the caller guarantees no thread runs there.
        let moved = unsafe {
            libc::mremap(
                staging,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target.cast::<libc::c_void>(),
            )
        };
        if moved == libc::MAP_FAILED {
            return Err(fail(staging));
        }
        if len < IMAGE_ROOM {
            // SAFETY: the tail of our own reservation, beyond the new image.
            let tail = unsafe {
                libc::mmap(
                    target.add(len).cast(),
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

impl Drop for Region {
    fn drop(&mut self) {
        let total = self.slots * PAGE_SIZE + IMAGE_ROOM;
        // SAFETY: unmaps our own reservation; its owners hand out no
        // reference into it that outlives them.
        unsafe { libc::munmap(self.start.as_ptr().cast(), total) };
    }
}
