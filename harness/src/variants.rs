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
//! A namespaced process under (a) and (d) gets the other image of the pair
//! (`vdso-timens.so`, `vdso-static-timens.so`); (b) and (c) map the same
//! image for both. [`Process`] does not swap images: that is
//! [`Mapping`](crate::Mapping)'s job, and it works for (d)'s pair as for
//! (a)'s.

use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

use common::note::{NOTE_OWNER, Variant};
use common::patch::{self, NT_VDSO_PATCH_SITE, Site, SiteKind};
use common::vvar::PAGE_SIZE;
use object::LittleEndian as LE;
use object::elf;

use crate::dynsym;
use crate::image::{Image, ImageError, MAX_IMAGE_SIZE};
use crate::pages::{DATA_SIZE, DataPages, TIMENS_PAGE, VVAR_PAGE};
use crate::vdso::Vdso;

const IMAGE_ROOM: usize = MAX_IMAGE_SIZE.div_ceil(PAGE_SIZE) * PAGE_SIZE;
/// Slot indices below the image, in mapping order.
const VVAR_SLOT: usize = 0;
const TIMENS_SLOT: usize = 3;

/// Where a process's time comes from: the system's pages, and for a
/// namespaced process the object whose [`TIMENS_PAGE`] holds its
/// namespace's page (written with `common::timens::write_page`).
#[derive(Clone, Copy)]
pub struct Clocks<'a> {
    pub system: &'a DataPages,
    pub namespace: Option<&'a DataPages>,
}

/// What fills one data slot.
#[derive(Clone, Copy)]
enum SlotSource<'a> {
    Page(&'a DataPages, usize),
    Zeroed,
    Nothing,
}

/// An image and its data slots, mapped read-only as the image's design
/// arranges them (see the module's table). Unmapped on drop.
pub struct Process {
    region: NonNull<u8>,
    image_len: usize,
    offsets: [u64; common::entries::ENTRIES.len()],
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
        let (vvar, timens) = arrangement(image.variant(), clocks);
        let total = DATA_SIZE + IMAGE_ROOM;
        // SAFETY: a new private PROT_NONE reservation aliasing nothing.
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
        let process = Process {
            region,
            image_len: image.bytes().len(),
            offsets: image.entry_offsets(),
            variant: image.variant(),
            timens_mapped: !matches!(timens, SlotSource::Nothing),
        };
        process.fill_slot(VVAR_SLOT, vvar)?;
        process.fill_slot(TIMENS_SLOT, timens)?;
        process.place(image.bytes())?;
        Ok(process)
    }

    /// The image's base address `B`.
    pub fn base(&self) -> *const u8 {
        // SAFETY: DATA_SIZE is inside the reservation.
        unsafe { self.region.as_ptr().add(DATA_SIZE) }
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The entry points, resolved from the image's dynamic table.
    pub fn vdso(&self) -> Vdso<'_> {
        // SAFETY: the offsets were resolved from the mapped image and lie
        // inside it; it stays mapped, with its data slots, while `self` lives.
        unsafe { Vdso::from_offsets(self.base(), self.offsets) }
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
            unsafe {
                std::slice::from_raw_parts(self.region.as_ptr().add(i * PAGE_SIZE), PAGE_SIZE)
            }
        };
        let mut out = vec![slot(VVAR_SLOT)];
        if self.timens_mapped {
            out.push(slot(TIMENS_SLOT));
        }
        out
    }

    fn fill_slot(&self, slot: usize, source: SlotSource<'_>) -> io::Result<()> {
        // SAFETY: inside our own reservation.
        let at = unsafe { self.region.as_ptr().add(slot * PAGE_SIZE) }.cast::<libc::c_void>();
        let (flags, fd, offset) = match source {
            SlotSource::Page(pages, index) => (
                libc::MAP_SHARED | libc::MAP_FIXED,
                pages.fd().as_raw_fd(),
                (index * PAGE_SIZE) as libc::off_t,
            ),
            SlotSource::Zeroed => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            ),
            SlotSource::Nothing => return Ok(()),
        };
        // SAFETY: replaces one page of our own reservation, read-only.
        let p = unsafe { libc::mmap(at, PAGE_SIZE, libc::PROT_READ, flags, fd, offset) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn place(&self, bytes: &[u8]) -> io::Result<()> {
        let len = bytes.len().div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let at = self.base().cast_mut().cast::<libc::c_void>();
        // SAFETY: replaces the image slot of our own reservation with fresh
        // writable pages; nothing runs there yet.
        let p = unsafe {
            libc::mmap(
                at,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `len >= bytes.len()` writable bytes we just mapped.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at.cast(), bytes.len()) };
        // SAFETY: our own mapping, sealed R+X as a kernel maps an image.
        if unsafe { libc::mprotect(at, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: unmaps our own reservation; no `Vdso` borrowed from `self`
        // outlives it.
        unsafe { libc::munmap(self.region.as_ptr().cast(), DATA_SIZE + IMAGE_ROOM) };
    }
}

/// What goes in the vvar and timens slots for `variant` (the module's table).
fn arrangement(variant: Variant, clocks: Clocks<'_>) -> (SlotSource<'_>, SlotSource<'_>) {
    let vvar = SlotSource::Page(clocks.system, VVAR_PAGE);
    match (variant, clocks.namespace) {
        (Variant::Merged, None) => (vvar, SlotSource::Nothing),
        (Variant::Merged, Some(ns)) => (SlotSource::Page(ns, TIMENS_PAGE), vvar),
        (_, Some(ns)) => (vvar, SlotSource::Page(ns, TIMENS_PAGE)),
        (_, None) => (vvar, SlotSource::Zeroed),
    }
}

/// True if this CPU has RDPID (CPUID.(EAX=7,ECX=0):ECX bit 22).
pub fn cpu_has_rdpid() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 22) != 0
}

/// The image's patch sites, read from its `PT_NOTE` notes (as a loader
/// would: no section headers).
pub fn patch_sites(image: &Image) -> Result<Vec<Site>, ImageError> {
    let bytes = image.bytes();
    let (_, phdrs) = dynsym::program_headers(bytes)?;
    let mut sites = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type.get(LE) == elf::PT_NOTE) {
        let start = usize::try_from(p.p_offset.get(LE)).unwrap_or(usize::MAX);
        let len = usize::try_from(p.p_filesz.get(LE)).unwrap_or(usize::MAX);
        let end = start.checked_add(len).filter(|&e| e <= bytes.len());
        let Some(end) = end else {
            return Err(dynsym::ElfError::Truncated("PT_NOTE").into());
        };
        let mut at = start;
        // Each note: namesz, descsz, type, then name and desc, each padded to 4.
        while at + 12 <= end {
            let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap_or([0; 4]));
            let (namesz, descsz, kind) = (word(at) as usize, word(at + 4) as usize, word(at + 8));
            let name_at = at + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let next = desc_at + descsz.div_ceil(4) * 4;
            if next > end {
                return Err(dynsym::ElfError::Truncated("a note").into());
            }
            if bytes[name_at..name_at + namesz] == NOTE_OWNER[..]
                && kind == NT_VDSO_PATCH_SITE
                && let Some(site) = Site::parse(&bytes[desc_at..desc_at + descsz], desc_at as u64)
            {
                sites.push(site);
            }
            at = next;
        }
    }
    Ok(sites)
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
