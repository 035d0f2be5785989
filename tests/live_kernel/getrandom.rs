//! `getrandom` in place of the kernel's: random bytes served from the
//! image, with the kernel's own rng data (`is_ready`, `generation`) deciding
//! when a key is fetched. Runs under the filter of [`crate::pages_only`],
//! which refuses every `getrandom` from the image but a key fetch: an image
//! that read anything but the kernel's rng page would find it not ready
//! and fall back to the system call on every read.

use std::io;

use common::getrandom::{PARAMS, STATE_SIZE, VgetrandomState};
use common::vvar::RngData;
use conformance::time::Failures;
use kernel_side::Vdso;

/// Reads of 16 bytes (Go's size): many batches, many key erasures.
const READS: usize = 20_000;
const READ_LEN: usize = 16;

/// `RNDRESEEDCRNG` (`_IO('R', 0x07)`): the kernel reseeds its generator
/// at once and bumps the generation its vDSO reads.
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

/// A state where Linux's vDSO clients put one: a mapping with the
/// protection and flags the parameter query names, whole pages of it.
struct StatePage(*mut u8);

impl StatePage {
    fn new() -> Result<StatePage, String> {
        // SAFETY: an anonymous mapping the kernel places; no memory of
        // this process is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                PARAMS.mmap_prot as i32,
                PARAMS.mmap_flags as i32,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mapping a state as the parameters say: {}",
                io::Error::last_os_error()
            ));
        }
        Ok(StatePage(p.cast()))
    }

    fn generation(&self) -> u64 {
        // SAFETY: the mapping holds a whole state at its start, written
        // only by the image's calls on this thread, none of them running.
        unsafe { (*self.0.cast::<VgetrandomState>()).generation }
    }
}

impl Drop for StatePage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// The checks. `rng` is the kernel's rng data, found while its vDSO was
/// still in place; `None` if the kernel has none.
pub fn served_from_rng_page(vdso: &Vdso<'_>, rng: Option<&RngData>) -> Failures {
    let mut f = Failures::new();
    let Some(rng) = rng else {
        f.note("rng data", Err("the running kernel has no rng data".into()));
        return f;
    };
    // The oracle's own sanity: Linux's generation is never 0, and this
    // kernel's generator is long initialised.
    if !rng.is_ready() || rng.generation() == 0 {
        f.note(
            "rng data",
            Err(format!(
                "the kernel's rng data reads is_ready {}, generation {}: not Linux's rng data",
                rng.is_ready(),
                rng.generation()
            )),
        );
        return f;
    }
    if vdso.entries.getrandom.is_none() {
        f.note("entry", Err("the image has no getrandom entry".into()));
        return f;
    }
    let state = match StatePage::new() {
        Ok(s) => s,
        Err(e) => {
            f.note("state", Err(e));
            return f;
        }
    };
    let read = |buf: &mut [u8]| {
        // SAFETY: a getrandom entry, a state of the size the image asks
        // for in memory of its own.
        unsafe { vdso.getrandom(buf, 0, state.0, STATE_SIZE) }
    };

    let mut buf = [0u8; READ_LEN];
    let mut wrong = 0;
    let mut first_wrong = 0;
    for _ in 0..READS {
        let ret = read(&mut buf);
        if ret != READ_LEN as isize {
            wrong += 1;
            first_wrong = ret;
        }
    }
    f.expect("16-byte reads", wrong == 0, || {
        format!(
            "{wrong} of {READS} returned other than {READ_LEN} (e.g. {first_wrong}): \
             the image did not serve them from the kernel's rng data"
        )
    });
    // The state's key is of the page's generation (read around the state,
    // in case the kernel reseeded in between).
    let before = rng.generation();
    let theirs = state.generation();
    let after = rng.generation();
    f.expect(
        "the state's generation is the kernel's",
        theirs == before || theirs == after,
        || format!("the state holds {theirs}, the kernel's page {before} then {after}"),
    );

    // A reseed bumps the page's generation: the next read fetches a new
    // key and takes the new generation.
    match reseed() {
        Ok(()) => {
            let now = rng.generation();
            f.expect("a reseed moves the generation", now != after, || {
                format!("still {now} after RNDRESEEDCRNG")
            });
            let ret = read(&mut buf);
            let theirs = state.generation();
            let latest = rng.generation();
            f.expect(
                "after a reseed, the state takes the new generation",
                ret == READ_LEN as isize && (theirs == now || theirs == latest),
                || format!("returned {ret}; the state holds {theirs}, the kernel's page {now}"),
            );
        }
        Err(e) => println!("note: the reseed is not checked: RNDRESEEDCRNG: {e}"),
    }
    f
}

/// Asks the kernel to reseed now (it needs `CAP_SYS_ADMIN`).
fn reseed() -> Result<(), io::Error> {
    let urandom = std::fs::File::open("/dev/urandom")?;
    use std::os::fd::AsRawFd;
    // SAFETY: an ioctl without an argument on a descriptor this function
    // owns.
    if unsafe { libc::ioctl(urandom.as_raw_fd(), RNDRESEEDCRNG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
