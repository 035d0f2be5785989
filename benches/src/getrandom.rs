//! `getrandom`'s benched reads: 16, 64, 256 and 4096 bytes into a buffer,
//! from each source a program has, called the same way:
//!
//! - a vDSO's entry (an image's, or the kernel's reading the kernel's own
//!   rng page), with a state of its own;
//! - the system call;
//! - a generator in user space: RustCrypto's `ChaCha20Rng` (what
//!   `rand_chacha` became, and rand's generators are built on), seeded
//!   once from the kernel, with no reseeding and no fork safety.

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use common::getrandom::{BATCH_SIZE, STATE_SIZE};
use kernel_side::Vdso;

/// The benched lengths.
pub const SIZES: [usize; 4] = [16, 64, 256, 4096];

/// The bench group and call name of a read of `size` bytes.
pub fn name(size: usize) -> String {
    format!("getrandom-{size}")
}

/// Where random bytes come from.
pub trait Source {
    /// Fills `buf`; the bytes written, or `-errno`.
    fn fill(&mut self, buf: &mut [u8]) -> isize;
}

type Entry = unsafe extern "C" fn(*mut libc::c_void, usize, u32, *mut libc::c_void, usize) -> isize;

/// A vDSO's `getrandom` and a state of its own.
pub struct Vgetrandom {
    entry: Entry,
    state: *mut u8,
}

impl Vgetrandom {
    /// The entry of `vdso` and a state mapped as its parameter query says
    /// (`MAP_DROPPABLE`, as Go and glibc map theirs).
    ///
    /// `vdso` must stay mapped while this is used.
    pub fn new(vdso: &Vdso<'_>) -> Result<Vgetrandom, String> {
        let entry = vdso.entries.getrandom.ok_or("the vDSO has no getrandom")?;
        let mut params = [0u32; 16];
        // SAFETY: the parameter query writes 64 bytes, which `params` has.
        let ret = unsafe {
            entry(
                std::ptr::null_mut(),
                0,
                0,
                params.as_mut_ptr().cast(),
                usize::MAX,
            )
        };
        if ret != 0 || params[0] as usize != STATE_SIZE {
            return Err(format!("the parameter query gave {ret}, {params:?}"));
        }
        Vgetrandom::mapped(entry, params[1] as i32, params[2] as i32)
    }

    /// `vdso`'s entry without asking it anything, and a plain anonymous
    /// state: for the no-op, which answers no query, called as the others.
    pub fn unqueried(vdso: &Vdso<'_>) -> Result<Vgetrandom, String> {
        let entry = vdso.entries.getrandom.ok_or("the vDSO has no getrandom")?;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        Vgetrandom::mapped(entry, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
    }

    fn mapped(entry: Entry, prot: i32, flags: i32) -> Result<Vgetrandom, String> {
        // SAFETY: a new anonymous mapping at an address the kernel picks.
        let map = unsafe { libc::mmap(std::ptr::null_mut(), 4096, prot, flags, -1, 0) };
        if map == libc::MAP_FAILED {
            return Err(format!("a state: {}", std::io::Error::last_os_error()));
        }
        Ok(Vgetrandom {
            entry,
            state: map.cast(),
        })
    }

    /// Empties the state's batch, so that every source's next reads take
    /// the same path (for counting instructions).
    pub fn empty_batch(&mut self) {
        // SAFETY: `pos`, byte 136 of our state.
        unsafe { self.state.add(136).write(BATCH_SIZE as u8) };
    }
}

impl Source for Vgetrandom {
    #[inline(always)]
    fn fill(&mut self, buf: &mut [u8]) -> isize {
        // SAFETY: a vDSO's entry (`new`'s caller keeps it mapped), a
        // writable buffer, our whole state.
        unsafe {
            (self.entry)(
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                self.state.cast(),
                STATE_SIZE,
            )
        }
    }
}

impl Drop for Vgetrandom {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(self.state.cast(), 4096) };
    }
}

/// `getrandom(buf, len, 0)`, the system call, made inline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscall;

impl Source for Syscall {
    #[inline(always)]
    fn fill(&mut self, buf: &mut [u8]) -> isize {
        let ret: isize;
        // SAFETY: a writable buffer of `len` bytes; `syscall` clobbers
        // rcx and r11 only.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") 318isize => ret,
                 in("rdi") buf.as_mut_ptr(), in("rsi") buf.len(), in("rdx") 0usize,
                 lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }
}

/// ChaCha20 in user space, seeded from the kernel once.
pub struct UserChaCha20(ChaCha20Rng);

impl UserChaCha20 {
    pub fn new() -> UserChaCha20 {
        let mut seed = [0u8; 32];
        let got = Syscall.fill(&mut seed);
        assert_eq!(got, 32, "seeding from getrandom(2)");
        UserChaCha20(ChaCha20Rng::from_seed(seed))
    }
}

impl Default for UserChaCha20 {
    fn default() -> Self {
        Self::new()
    }
}

impl Source for UserChaCha20 {
    #[inline(always)]
    fn fill(&mut self, buf: &mut [u8]) -> isize {
        self.0.fill_bytes(buf);
        buf.len() as isize
    }
}
