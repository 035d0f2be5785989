//! An image in place of the running kernel's own vDSO: its bytes where the
//! kernel put `[vdso]`, directly above the kernel's live data pages, which
//! the kernel keeps writing. The strongest proof an image can give, and the
//! fairest comparison with the kernel's own code.
//!
//! Only the whole `[vdso]` can be replaced (mapping over part of a special
//! mapping fails with EINVAL), and a kernel that seals its system mappings
//! (`sl` in `/proc/self/smaps`) refuses even that. Once replaced, whatever
//! the process resolved in the kernel's vDSO (libc's clock functions, and
//! so Rust's `Instant::now`) jumps into the new bytes at the kernel's
//! offsets: the process must use system calls and the new entries only.

use std::fs;
use std::io;

use crate::image::Image;
use crate::vdso::{Offsets, Vdso};

/// The room the kernel gives its vDSO, and the most an image may take.
const SLOT_SIZE: usize = common::entries::MAX_IMAGE_SIZE;

/// Where the kernel's vDSO is (or was, under a tool such as valgrind that
/// unmaps it): directly above its data pages.
#[derive(Debug)]
pub struct VdsoSlot {
    base: usize,
    len: usize,
    /// Whether the kernel's `[vdso]` is still mapped there.
    kernel_mapped: bool,
}

#[derive(Debug)]
pub enum InPlaceError {
    /// No `[vvar]` in this process (`vdso=0`).
    NoDataPages,
    /// The kernel sealed `[vdso]`: it cannot be replaced.
    Sealed,
    /// An image larger than the slot.
    TooLarge(usize),
    Map(io::Error),
}

impl std::fmt::Display for InPlaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InPlaceError::NoDataPages => write!(f, "this process has no [vvar] mapping"),
            InPlaceError::Sealed => write!(
                f,
                "the kernel seals its vDSO mappings (sl in /proc/self/smaps): [vdso] cannot be replaced"
            ),
            InPlaceError::TooLarge(n) => {
                write!(
                    f,
                    "{n} bytes do not fit the kernel's {SLOT_SIZE}-byte vDSO slot"
                )
            }
            InPlaceError::Map(e) => write!(f, "mapping over the kernel's vDSO: {e}"),
        }
    }
}

impl std::error::Error for InPlaceError {}

/// One line of `/proc/self/maps` by its name: (start, end).
fn mapping(maps: &str, name: &str) -> Option<(usize, usize)> {
    let line = maps
        .lines()
        .find(|l| l.split_whitespace().nth(5) == Some(name))?;
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

/// Whether the kernel sealed the mapping that starts at `start`.
fn sealed(start: usize) -> bool {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return false;
    };
    let head = format!("{start:x}-");
    let mut in_it = false;
    for line in smaps.lines() {
        // A mapping's first line starts with its range; its fields, with
        // "Name:".
        let first = line.split_whitespace().next().unwrap_or_default();
        if !first.ends_with(':') {
            in_it = line.starts_with(&head);
        } else if in_it && let Some(flags) = line.strip_prefix("VmFlags:") {
            return flags.split_whitespace().any(|f| f == "sl");
        }
    }
    false
}

impl VdsoSlot {
    /// The kernel's `[vdso]`, or where it was: the end of its data pages.
    pub fn find() -> Result<VdsoSlot, InPlaceError> {
        let maps = fs::read_to_string("/proc/self/maps").map_err(InPlaceError::Map)?;
        if let Some((base, end)) = mapping(&maps, "[vdso]") {
            if sealed(base) {
                return Err(InPlaceError::Sealed);
            }
            return Ok(VdsoSlot {
                base,
                len: end - base,
                kernel_mapped: true,
            });
        }
        let (_, end) = mapping(&maps, "[vvar_vclock]")
            .or_else(|| mapping(&maps, "[vvar]"))
            .ok_or(InPlaceError::NoDataPages)?;
        Ok(VdsoSlot {
            base: end,
            len: SLOT_SIZE,
            kernel_mapped: false,
        })
    }

    pub fn base(&self) -> *const u8 {
        self.base as *const u8
    }

    /// Puts `bytes` at the slot, in private pages of our own, read and
    /// execute: the first time over the whole of the kernel's `[vdso]`,
    /// afterwards in place (so that two images can take turns at the
    /// same address).
    pub fn install(&mut self, bytes: &[u8]) -> Result<(), InPlaceError> {
        if bytes.len() > self.len.max(SLOT_SIZE) {
            return Err(InPlaceError::TooLarge(bytes.len()));
        }
        let len = self.len.max(bytes.len().div_ceil(4096) * 4096);
        let flags = if self.kernel_mapped {
            // Replaces the kernel's whole mapping, as it must.
            libc::MAP_FIXED
        } else {
            libc::MAP_FIXED_NOREPLACE
        };
        // SAFETY: a new private anonymous mapping at the slot: over the
        // kernel's [vdso], which this process has agreed to stop using (see
        // the module's documentation), or where nothing is mapped.
        let p = unsafe {
            libc::mmap(
                self.base as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(InPlaceError::Map(io::Error::last_os_error()));
        }
        if p as usize != self.base {
            // SAFETY: the mapping just made, somewhere else.
            unsafe { libc::munmap(p, len) };
            return Err(InPlaceError::Map(io::Error::other("the slot is taken")));
        }
        self.kernel_mapped = false;
        self.len = len;
        self.write(bytes)
    }

    /// Rewrites the slot's bytes with `bytes` (after [`install`](Self::install)).
    pub fn write(&self, bytes: &[u8]) -> Result<(), InPlaceError> {
        if bytes.len() > self.len {
            return Err(InPlaceError::TooLarge(bytes.len()));
        }
        let p = self.base as *mut libc::c_void;
        // SAFETY: our own mapping of `len` bytes (see `install`); no entry
        // runs while it is writable, as this thread is the only caller.
        if unsafe { libc::mprotect(p, self.len, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return Err(InPlaceError::Map(io::Error::last_os_error()));
        }
        // SAFETY: writable, `len >= bytes.len()`, and not overlapping `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast(), bytes.len());
            std::ptr::write_bytes(p.cast::<u8>().add(bytes.len()), 0, self.len - bytes.len());
        }
        // SAFETY: as above.
        if unsafe { libc::mprotect(p, self.len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(InPlaceError::Map(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The entries at `offsets` from the slot.
    ///
    /// # Safety
    /// The slot must hold an image with its entries at `offsets`, whose
    /// data pages are the kernel's below the slot, until the result's
    /// last use.
    pub unsafe fn vdso(&self, offsets: &Offsets) -> Vdso<'static> {
        // SAFETY: forwarded from the caller.
        unsafe { Vdso::from_offsets(self.base(), offsets) }
    }

    /// Installs `image` and resolves its entries.
    ///
    /// # Safety
    /// `image` must read the data layout the kernel below uses, in the
    /// process's kind of namespace, or its answers are wrong (which is what
    /// a test of a wrong image wants to see, so it is not checked here);
    /// the slot must not be rewritten while the result is used.
    pub unsafe fn replace_with(&mut self, image: &Image) -> Result<Vdso<'static>, InPlaceError> {
        self.install(image.bytes())?;
        // SAFETY: the image was just installed; the caller vouches for the rest.
        Ok(unsafe { self.vdso(image.offsets()) })
    }
}
