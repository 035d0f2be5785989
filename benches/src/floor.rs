//! The hardware floor and a function that does nothing.
//!
//! Every high-resolution read ends in an ordered TSC read; what an image
//! adds on top of [`lfence_rdtsc`] is its own work. A no-op in a page of our
//! own, called through a pointer like every entry, is the call's own cost
//! and the cold-cache method's calibration.

use std::io;
use std::ptr::NonNull;

use kernel_side::Vdso;
use kernel_side::vdso::Offsets;

/// `lfence; rdtsc`: the floor the targets subtract (the images read the
/// counter with `rdtscp`, Linux's choice where the CPU has it).
#[inline(always)]
pub fn lfence_rdtsc() -> u64 {
    // SAFETY: LFENCE and RDTSC touch no memory and exist on every x86_64.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// `rdtscp`: how Linux reads it on a CPU that has RDTSCP (`rdtsc_ordered`).
#[inline(always)]
pub fn rdtscp() -> u64 {
    let mut aux = 0u32;
    // SAFETY: RDTSCP writes only the counter and `aux`.
    unsafe { core::arch::x86_64::__rdtscp(&mut aux) }
}

/// `rdpid`: TSC_AUX alone, what Linux's `getcpu` uses where the CPU has it.
/// Only call it if [`kernel_side::variants::cpu_has_rdpid`] says so.
#[inline(always)]
pub fn rdpid() -> u64 {
    let aux: u64;
    // SAFETY: RDPID reads TSC_AUX into a register; the caller checked the
    // CPU has it.
    unsafe {
        core::arch::asm!("rdpid {}", out(reg) aux, options(nomem, nostack, preserves_flags));
    }
    aux
}

/// `xor eax, eax; ret`: a function that matches every entry's signature
/// (it returns 0 and writes nothing).
const NOOP_CODE: [u8; 3] = [0x31, 0xc0, 0xc3];

/// A no-op function in an R+X page of its own. Unmapped on drop.
pub struct Noop {
    page: NonNull<u8>,
}

// SAFETY: read-only code any thread may call.
unsafe impl Send for Noop {}
// SAFETY: as above.
unsafe impl Sync for Noop {}

impl Noop {
    pub fn new() -> io::Result<Noop> {
        // SAFETY: a new private anonymous page aliasing nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the page is ours and writable.
        unsafe { std::ptr::copy_nonoverlapping(NOOP_CODE.as_ptr(), p.cast(), NOOP_CODE.len()) };
        // SAFETY: our own page, sealed R+X.
        if unsafe { libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Noop { page })
    }

    /// Five "entry points", all the no-op: called like a vDSO, doing nothing.
    pub fn vdso(&self) -> Vdso<'_> {
        // SAFETY: every offset is the no-op, which is valid for every
        // entry's signature; the page lives as long as `self`.
        unsafe { Vdso::from_offsets(self.page.as_ptr(), &Offsets::from_fn(|_| Some(0))) }
    }

    /// The page's bytes.
    pub fn code(&self) -> &[u8] {
        // SAFETY: the page is mapped readable while `self` lives.
        unsafe { std::slice::from_raw_parts(self.page.as_ptr(), NOOP_CODE.len()) }
    }
}

impl Drop for Noop {
    fn drop(&mut self) {
        // SAFETY: unmaps our own page; no `Vdso` borrowed from it outlives `self`.
        unsafe { libc::munmap(self.page.as_ptr().cast(), 4096) };
    }
}
