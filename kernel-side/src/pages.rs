//! The data pages as the kernel side holds them: one shared memory object
//! (an anonymous memfd, or a file in a shared-memory folder that other
//! processes open by path) of one layout's data pages in slot order,
//! mapped read-write here for the timekeeper. Processes map the same object
//! read-only below their image.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;

use common::abi::{Abi, Arch};
use common::layout::{Layout, LayoutInfo, Linux6_12};
use common::seqlock::WriteError;
use common::timens::{self, Now, Offsets, TimensError};
use common::vvar::{PAGE_SIZE, PageRefs, RngData, RngPage, TimeData};
use common::writer::{RngWriter, VvarWriter};

/// Runs `$body` with `$L` the layout type of `$layout` (a
/// [`LayoutInfo`]): the kernel side holds pages of any layout of its
/// architecture, chosen at run time, and reaches them through the typed
/// API of `common`.
macro_rules! per_layout {
    ($layout:expr, |$L:ident| $body:expr) => {{
        use common::abi::{Abi, Arch};
        match ($layout.arch, $layout.abi) {
            (Arch::X86_64, Abi::Linux6_6) => {
                type $L = common::layout::Linux6_6;
                $body
            }
            (Arch::X86_64, Abi::Linux6_12) => {
                type $L = common::layout::Linux6_12;
                $body
            }
            (Arch::X86_64, Abi::Linux6_18) => {
                type $L = common::layout::Linux6_18;
                $body
            }
            (Arch::Aarch64, Abi::Linux6_18) => {
                type $L = common::layout::Aarch64Linux6_18;
                $body
            }
            (arch, abi) => unreachable!("no {abi} layout on {arch}: LayoutInfo::get refuses it"),
        }
    }};
}

pub struct DataPages {
    fd: OwnedFd,
    rw: NonNull<u8>,
    layout: LayoutInfo,
}

// SAFETY: the mapping is shared memory accessed only through atomics (the
// pages' fields), so any thread may hold and use it.
unsafe impl Send for DataPages {}
// SAFETY: as above.
unsafe impl Sync for DataPages {}

impl DataPages {
    /// A fresh, zeroed object of `abi`'s data pages no other process can open.
    pub fn anonymous(abi: Abi) -> io::Result<DataPages> {
        let name = c"vdso-data-pages";
        // SAFETY: a valid C string; the kernel returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we own from here on.
        DataPages::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }, abi)
    }

    /// A fresh, zeroed object at `path` (for example under /dev/shm), which
    /// other processes can open by name. Fails if `path` exists.
    pub fn create_file(path: &Path, abi: Abi) -> io::Result<DataPages> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        DataPages::from_fd(file.into(), abi)
    }

    fn from_fd(fd: OwnedFd, abi: Abi) -> io::Result<DataPages> {
        let layout = LayoutInfo::get(Arch::HOST, abi)
            .ok_or_else(|| io::Error::other(format!("no {abi} data pages on {}", Arch::HOST)))?;
        let size = layout.data_pages * PAGE_SIZE;
        // SAFETY: ftruncate on a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let rw = map(fd.as_fd(), size, libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(DataPages { fd, rw, layout })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn abi(&self) -> Abi {
        self.layout.abi
    }

    pub fn layout(&self) -> &LayoutInfo {
        &self.layout
    }

    /// The object's size: every data page of the layout.
    pub fn size(&self) -> usize {
        self.layout.data_pages * PAGE_SIZE
    }

    /// Page `slot` as layout `L`'s time data.
    ///
    /// # Panics
    /// If the object is not of layout `L`, or `slot` is not one of its pages.
    pub fn page<L: Layout>(&self, slot: usize) -> &L::Page {
        assert_eq!(self.layout, L::INFO, "pages of another layout");
        assert!(slot < self.layout.data_pages);
        // SAFETY: the mapping is `size()` bytes, page-aligned, and lives as
        // long as `self`; a time-data page is valid at any bit pattern, and
        // its only non-atomic bytes are padding nobody writes.
        unsafe { &*self.rw.as_ptr().add(slot * PAGE_SIZE).cast::<L::Page>() }
    }

    /// The time data a host process reads, as its fields.
    pub fn time(&self) -> PageRefs<'_> {
        let slot = self.layout.time_slot;
        per_layout!(self.layout, |L| self.page::<L>(slot).refs())
    }

    /// The page of the namespace slot, as its fields: where a namespaced
    /// process's namespace page is, when this object holds one.
    pub fn namespace(&self) -> PageRefs<'_> {
        let slot = self.layout.namespace_slot;
        per_layout!(self.layout, |L| self.page::<L>(slot).refs())
    }

    /// The time data's writer: the only way the kernel side changes it.
    pub fn writer(&self) -> VvarWriter<'_> {
        let slot = self.layout.time_slot;
        per_layout!(self.layout, |L| VvarWriter::new(self.page::<L>(slot)))
    }

    /// Writes a namespace's page into the namespace slot (Linux's checks
    /// first), before any process maps it.
    pub fn write_namespace(&self, offsets: &Offsets, now: &Now) -> Result<(), TimensError> {
        let slot = self.layout.namespace_slot;
        per_layout!(self.layout, |L| timens::write_page(
            self.page::<L>(slot),
            offsets,
            now
        ))
    }

    /// The random generator's data, where the layout has it.
    pub fn rng(&self) -> Option<&RngData> {
        let (slot, _) = self.layout.rng?;
        match (self.layout.arch, self.abi()) {
            (Arch::X86_64, Abi::Linux6_12) => Some(self.page::<Linux6_12>(slot).rng()),
            // The generic data store's random page, on every architecture.
            (_, Abi::Linux6_18) => {
                // SAFETY: as in `page`: the rng page is one of the object's
                // pages, valid at any bit pattern.
                let page = unsafe { &*self.rw.as_ptr().add(slot * PAGE_SIZE).cast::<RngPage>() };
                Some(page.rng())
            }
            _ => None,
        }
    }

    /// The random generator's writer, where the layout has its data.
    pub fn rng_writer(&self) -> Option<RngWriter<'_>> {
        self.rng().map(RngWriter::new)
    }

    /// Sets clock mode `mode` on the time data (see `common::vvar::clock_mode`).
    pub fn set_clock_mode(&self, mode: i32) -> Result<(), WriteError> {
        self.writer().set_clock_mode(mode)
    }
}

impl Drop for DataPages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `from_fd` made; no reference
        // into it outlives `self`.
        unsafe { libc::munmap(self.rw.as_ptr().cast(), self.size()) };
    }
}

/// Maps the whole object at an address the kernel chooses.
fn map(fd: BorrowedFd<'_>, size: usize, prot: i32) -> io::Result<NonNull<u8>> {
    // SAFETY: a new shared mapping at a kernel-chosen address; it aliases no
    // Rust object.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))
}
