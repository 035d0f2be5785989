//! The data pages as the kernel side holds them: one shared memory object
//! (an anonymous memfd, or a file in a shared-memory folder that other
//! processes open by path), mapped read-write here for the timekeeper.
//! Processes map the same object read-only below their image.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;

use common::abi::Abi;
use common::vvar::{DATA_PAGES, DataPage, PAGE_SIZE};
use common::writer::VvarWriter;

/// The data layout the pages are written in (`common::vvar`, through
/// `common::writer`): an image built for another layout would misread them.
pub const ABI: Abi = Abi::Linux6_6;

pub const DATA_SIZE: usize = DATA_PAGES * PAGE_SIZE;

/// Page indices inside the object, in mapping order.
pub const VVAR_PAGE: usize = 0;
pub const PVCLOCK_PAGE: usize = 1;
pub const HVCLOCK_PAGE: usize = 2;
pub const TIMENS_PAGE: usize = 3;

pub struct DataPages {
    fd: OwnedFd,
    rw: NonNull<u8>,
}

// SAFETY: the mapping is shared memory accessed only through atomics (the
// `DataPage` fields), so any thread may hold and use it.
unsafe impl Send for DataPages {}
// SAFETY: as above.
unsafe impl Sync for DataPages {}

impl DataPages {
    /// A fresh, zeroed object no other process can open.
    pub fn anonymous() -> io::Result<DataPages> {
        let name = c"vdso-data-pages";
        // SAFETY: a valid C string; the kernel returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we own from here on.
        DataPages::from_fd(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// A fresh, zeroed object at `path` (for example under /dev/shm), which
    /// other processes can open by name. Fails if `path` exists.
    pub fn create_file(path: &Path) -> io::Result<DataPages> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        DataPages::from_fd(file.into())
    }

    fn from_fd(fd: OwnedFd) -> io::Result<DataPages> {
        // SAFETY: ftruncate on a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), DATA_SIZE as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let rw = map(fd.as_fd(), libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(DataPages { fd, rw })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The vvar page, read-write.
    pub fn vvar(&self) -> &DataPage {
        self.page(VVAR_PAGE)
    }

    /// The time-namespace page, read-write.
    pub fn timens(&self) -> &DataPage {
        self.page(TIMENS_PAGE)
    }

    /// The vvar page's writer: the only way the kernel side changes it.
    pub fn writer(&self) -> VvarWriter<'_> {
        VvarWriter::new(self.vvar())
    }

    pub fn page(&self, index: usize) -> &DataPage {
        assert!(index < DATA_PAGES);
        // SAFETY: the mapping is DATA_SIZE bytes, page-aligned and lives as
        // long as `self`; `DataPage` is valid at any bit pattern, and its
        // only non-atomic bytes are padding nobody writes.
        unsafe { &*self.rw.as_ptr().add(index * PAGE_SIZE).cast::<DataPage>() }
    }
}

impl Drop for DataPages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `from_fd` made; no reference
        // into it outlives `self`.
        unsafe { libc::munmap(self.rw.as_ptr().cast(), DATA_SIZE) };
    }
}

/// Maps the whole object at an address the kernel chooses.
fn map(fd: BorrowedFd<'_>, prot: i32) -> io::Result<NonNull<u8>> {
    // SAFETY: a new shared mapping at a kernel-chosen address; it aliases no
    // Rust object.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            DATA_SIZE,
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
