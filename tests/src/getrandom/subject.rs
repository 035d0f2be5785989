//! A target's `getrandom`, ready to call: its entry, the address range its
//! code occupies (to tell its system calls from others), a way to reseed
//! the generator it reads, and states mapped as callers map them.

use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;

use common::getrandom::{OpaqueParams, STATE_SIZE};
use common::vvar::RngData;
use common::writer::RngWriter;
use kernel_side::{DataPages, kernel_vdso};

use super::model::StateBytes;
use super::observe::AtKeyFetch;
use crate::live::Live;
use crate::target::Target;

/// `getrandom`'s C signature.
pub type Entry =
    unsafe extern "C" fn(*mut libc::c_void, usize, u32, *mut libc::c_void, usize) -> isize;

/// Linux's `RNDRESEEDCRNG` ioctl (`_IO('R', 0x07)`): reseeds the kernel's
/// generator now, which moves the vDSO's generation (root only).
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

pub struct Subject {
    live: Live,
    entry: Entry,
    code: Range<usize>,
    /// For the kernel's vDSO: `/dev/urandom`, for the reseed ioctl.
    urandom: Option<File>,
}

impl Subject {
    pub fn start(target: Target) -> Result<Subject, String> {
        let live = Live::start(target)?;
        let entry = live
            .vdso()
            .entries
            .getrandom
            .ok_or_else(|| format!("the {target} has no getrandom entry"))?;
        let (code, urandom) = match live.image() {
            Ok(image) => {
                let base = image.mapping.base() as usize;
                (base..base + target.image()?.bytes().len(), None)
            }
            Err(_) => {
                let image = kernel_vdso::image().ok_or("the kernel's vDSO is not mapped")?;
                let base = image.as_ptr() as usize;
                let urandom =
                    File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?;
                (base..base + image.len(), Some(urandom))
            }
        };
        Ok(Subject {
            live,
            entry,
            code,
            urandom,
        })
    }

    /// Where the vDSO's code is: its system calls come from there.
    pub fn code(&self) -> &Range<usize> {
        &self.code
    }

    /// The entry itself.
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// Our data pages, for an image (`None` for the kernel's vDSO).
    pub fn pages(&self) -> Option<&DataPages> {
        self.live.image().ok().map(|i| &*i.pages)
    }

    /// `getrandom(buf, len, flags, state, opaque_len)`, arguments as given.
    ///
    /// # Safety
    /// The arguments must be ones the entry may be given: `buf` writable
    /// for `len` bytes where the call writes, `state` readable and
    /// writable for what `opaque_len` says (or the query's 64 bytes).
    pub unsafe fn call(
        &self,
        buf: *mut u8,
        len: usize,
        flags: u32,
        state: *mut u8,
        opaque_len: usize,
    ) -> isize {
        // SAFETY: the caller's contract.
        unsafe { (self.entry)(buf.cast(), len, flags, state.cast(), opaque_len) }
    }

    /// A read into `buf` through `state`, flags 0.
    pub fn read(&self, buf: &mut [u8], state: &State) -> isize {
        // SAFETY: `buf` is writable for its length, `state` is a whole state.
        unsafe { self.call(buf.as_mut_ptr(), buf.len(), 0, state.ptr(), STATE_SIZE) }
    }

    /// The parameter query: its return value and what it wrote.
    pub fn params(&self) -> (isize, OpaqueParams) {
        let mut params = [0xa5u8; 64];
        // SAFETY: the query writes 64 bytes, which `params` has.
        let ret = unsafe { self.call(std::ptr::null_mut(), 0, 0, params.as_mut_ptr(), usize::MAX) };
        // SAFETY: 64 plain bytes read as the 64-byte struct of u32s.
        (ret, unsafe {
            std::ptr::read_unaligned(params.as_ptr().cast())
        })
    }

    /// Moves the generator's generation on now, as a kernel's reseed does.
    pub fn reseed(&self) -> Result<(), String> {
        match self.at_key_fetch_reseed() {
            AtKeyFetch::Run(f, arg) => {
                f(arg);
                Ok(())
            }
            _ => Err("no way to reseed".into()),
        }
    }

    /// A reseed for the observer to make at a key fetch: what
    /// [`reseed`](Self::reseed) does, as a plain function and argument
    /// (it runs in a signal handler).
    pub fn at_key_fetch_reseed(&self) -> AtKeyFetch {
        match (self.pages().and_then(DataPages::rng), &self.urandom) {
            (Some(rng), _) => AtKeyFetch::Run(reseed_ours, rng as *const RngData as usize),
            (None, Some(urandom)) => AtKeyFetch::Run(reseed_kernel, urandom.as_raw_fd() as usize),
            (None, None) => AtKeyFetch::Make,
        }
    }
}

fn reseed_ours(rng: usize) {
    // SAFETY: the address of our pages' rng data, which outlive the check.
    RngWriter::new(unsafe { &*(rng as *const RngData) }).reseed();
}

fn reseed_kernel(urandom: usize) {
    // SAFETY: an ioctl without arguments on our open /dev/urandom. Its
    // failure shows as a generation that did not move.
    unsafe { libc::ioctl(urandom as libc::c_int, RNDRESEEDCRNG) };
}

/// A state as callers map them (what the parameter query says: Linux's
/// `MAP_DROPPABLE` anonymous memory), `at` bytes into a mapping of two
/// pages (a state may be put across the page boundary on purpose).
pub struct State {
    map: *mut u8,
    at: usize,
}

const MAPPED: usize = 2 * 4096;

impl State {
    /// A zeroed state at the start of its mapping, as the subject's
    /// parameters ask.
    pub fn new(subject: &Subject) -> Result<State, String> {
        State::at(subject, 0)
    }

    pub fn at(subject: &Subject, at: usize) -> Result<State, String> {
        assert!(at + STATE_SIZE <= MAPPED);
        let (ret, params) = subject.params();
        if ret != 0 {
            return Err(format!("the parameter query returned {ret}"));
        }
        // SAFETY: a new anonymous mapping at an address the kernel picks.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAPPED,
                params.mmap_prot as i32,
                params.mmap_flags as i32,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(format!(
                "mapping a state as the query says (prot {:#x}, flags {:#x}): {}",
                params.mmap_prot,
                params.mmap_flags,
                std::io::Error::last_os_error()
            ));
        }
        Ok(State {
            map: map.cast(),
            at,
        })
    }

    pub fn ptr(&self) -> *mut u8 {
        // SAFETY: `at` is inside the mapping.
        unsafe { self.map.add(self.at) }
    }

    pub fn bytes(&self) -> StateBytes {
        // SAFETY: the state's bytes, inside our mapping.
        StateBytes(unsafe { std::ptr::read_unaligned(self.ptr().cast()) })
    }

    pub fn set(&self, bytes: &StateBytes) {
        // SAFETY: as above.
        unsafe { std::ptr::write_unaligned(self.ptr().cast(), bytes.0) }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(self.map.cast(), MAPPED) };
    }
}

// SAFETY: a state is plain memory; each check hands one to one thread.
unsafe impl Send for State {}
