//! Joining the namespace: mapping the data pages and the image the way
//! docs/abi.md says, on first use, with raw system calls, without locks or
//! allocation. Threads (or a signal handler) racing to join each map their
//! own copy; one compare-and-swap publishes the winner and the others unmap
//! theirs. A forked child inherits the mappings and the published base.
//!
//! One reservation per process, from its start `R`:
//!
//! ```text
//!   R          data pages (the namespace file's first 16 KiB), PROT_READ, shared
//!   R + 16384  B: the image, copied from the file, PROT_READ|PROT_EXEC
//!   B + 8192   the control page (counters), shared, read-write
//!   B + 12288  `Joined`: what this process resolved, private
//! ```

use core::ffi::c_int;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::abi::Arch;
use common::entries::{ENTRIES, PerEntry, Pointers};
use common::note::Variant;
use common::route::route;
use common::vvar::{CS_HRES_COARSE, ClockData, TimeData, VvarPage as DataPage};
use vdso_elf::{Elf, HashTable};

use crate::env;
use crate::layout::{
    CONTROL_OFFSET, CONTROL_SIZE, Control, DATA_SIZE, FILE_SIZE, FLAG_COUNT, FLAG_TIMENS,
    IMAGE_OFFSET, IMAGE_ROOM, MAGIC, PAGE_SIZE,
};
use crate::sys::{self, Bytes, Msg};

/// What one process resolved from its copy of the image.
#[repr(C)]
pub struct Joined {
    /// The image's entries; joining refuses an image that lacks one the
    /// preload library calls.
    pub entries: Pointers,
    /// `FLAG_TIMENS`, and `FLAG_COUNT` if the control page is writable.
    pub flags: u32,
    /// TSC cycles in a second, for the staleness checks.
    pub second_cycles: u64,
}

const REGION: usize = DATA_SIZE + IMAGE_ROOM + CONTROL_SIZE + PAGE_SIZE;
const _: () = assert!(core::mem::size_of::<Joined>() <= PAGE_SIZE);

/// 0: not joined yet; INACTIVE: not started by vdso-run; else the image's base.
static BASE: AtomicUsize = AtomicUsize::new(0);
const INACTIVE: usize = 1;

/// The namespace as this process mapped it: the image's base address.
#[derive(Clone, Copy)]
pub struct Ns(usize);

impl Ns {
    #[inline(always)]
    pub fn joined(self) -> &'static Joined {
        // SAFETY: written before the base was published, never unmapped.
        unsafe { &*((self.0 + IMAGE_ROOM + CONTROL_SIZE) as *const Joined) }
    }

    #[inline(always)]
    pub fn vvar(self) -> &'static DataPage {
        // SAFETY: the data pages stay mapped read-only below the image; a
        // DataPage is atomics only.
        unsafe { &*((self.0 - DATA_SIZE) as *const DataPage) }
    }

    /// The time-namespace page (offsets), at B - 4096.
    #[inline(always)]
    pub fn timens_page(self) -> &'static DataPage {
        // SAFETY: as for `vvar`.
        unsafe { &*((self.0 - PAGE_SIZE) as *const DataPage) }
    }

    #[inline(always)]
    pub fn control(self) -> &'static Control {
        // SAFETY: the control page stays mapped; atomics only.
        unsafe { &*((self.0 + IMAGE_ROOM) as *const Control) }
    }

    #[inline(always)]
    pub fn timens(self) -> bool {
        self.joined().flags & FLAG_TIMENS != 0
    }

    /// Counts a call served by the image (`--verbose`).
    #[inline(always)]
    pub fn count_served(self, entry: impl FnOnce(&PerEntry<AtomicU64>) -> &AtomicU64) {
        if self.joined().flags & FLAG_COUNT != 0 {
            entry(&self.control().served).fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count_translated(self, what: usize) {
        if self.joined().flags & FLAG_COUNT != 0 {
            self.control().translated[what].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count(self, counter: &AtomicU64) {
        if self.joined().flags & FLAG_COUNT != 0 {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The namespace's offset of `clock` in nanoseconds (0 for clocks it
    /// does not shift, and with the host image), as its page holds it.
    pub fn offset_ns(self, clock: i32) -> i128 {
        let r = route(clock);
        if !self.timens() || r.shift.is_none() {
            return 0;
        }
        self.timens_page()
            .clock(r.cs())
            .timens_offset(clock as usize)
            .as_nanos()
    }

    /// Has the timekeeper stopped updating the vvar page for a second or
    /// more? Measured with the TSC against `cycle_last`.
    #[inline(always)]
    pub fn check_counter(self) {
        let last = self.vvar().clock(CS_HRES_COARSE).cycle_last();
        let now = sys::rdtsc();
        if now > last && now - last > self.joined().second_cycles {
            stale(self);
        }
    }
}

/// The namespace, joined on first use; `None` if this process was not
/// started by vdso-run.
#[inline(always)]
pub fn get() -> Option<Ns> {
    let b = BASE.load(Ordering::Acquire);
    if b > INACTIVE {
        return Some(Ns(b));
    }
    if b == INACTIVE {
        return None;
    }
    join()
}

#[cold]
#[inline(never)]
fn join() -> Option<Ns> {
    let Some(path) = env::namespace() else {
        let _ = BASE.compare_exchange(0, INACTIVE, Ordering::AcqRel, Ordering::Acquire);
        return (BASE.load(Ordering::Acquire) > INACTIVE).then(|| Ns(BASE.load(Ordering::Acquire)));
    };
    match map(path) {
        Ok(start) => {
            let base = start + DATA_SIZE;
            match BASE.compare_exchange(0, base, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Some(Ns(base)),
                Err(winner) => {
                    // SAFETY: our own reservation, never published.
                    unsafe { sys::munmap(start, REGION) };
                    (winner > INACTIVE).then_some(Ns(winner))
                }
            }
        }
        Err(why) => fatal(path, why),
    }
}

/// Why joining failed.
#[derive(Clone, Copy)]
enum Why {
    Open(c_int),
    NotNamespace,
    Map(c_int),
    Image(&'static str),
    Variant,
    Gone,
}

impl core::fmt::Display for Why {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Why::Open(e) => write!(f, "cannot open it (errno {e})"),
            Why::NotNamespace => write!(f, "it is not a vdso-run namespace file"),
            Why::Map(e) => write!(f, "cannot map it (errno {e})"),
            Why::Image(what) => write!(f, "its image is unusable: {what}"),
            Why::Variant => write!(f, "its image's variant note does not match the namespace"),
            Why::Gone => write!(f, "vdso-run, which keeps its clocks ticking, has exited"),
        }
    }
}

/// One line, then exit 125: never run on the host's clocks while the
/// namespace says otherwise.
fn fatal(path: &[u8], why: Why) -> ! {
    let mut m = Msg::new();
    let _ = write!(
        m,
        "vdso-run: cannot join the time namespace {}: {why}; stopping pid {} rather than run it on the host's clocks",
        Bytes(path.strip_suffix(b"\0").unwrap_or(path)),
        sys::getpid()
    );
    m.send();
    sys::exit_group(125)
}

/// Maps everything; returns the reservation's start.
fn map(path: &[u8]) -> Result<usize, Why> {
    let (fd, writable) = match sys::open(path, libc::O_RDWR) {
        Ok(fd) => (fd, true),
        Err(libc::EACCES | libc::EROFS) => {
            (sys::open(path, libc::O_RDONLY).map_err(Why::Open)?, false)
        }
        Err(e) => return Err(Why::Open(e)),
    };
    let result = map_fd(fd, writable);
    sys::close(fd);
    let start = result?;
    if !timekeeper_alive(path) {
        // SAFETY: our own reservation, never published.
        unsafe { sys::munmap(start, REGION) };
        sys::unlink(path);
        return Err(Why::Gone);
    }
    Ok(start)
}

fn map_fd(fd: c_int, writable: bool) -> Result<usize, Why> {
    if sys::file_size(fd).map_err(Why::Map)? < FILE_SIZE as u64 {
        return Err(Why::NotNamespace);
    }
    let prot_rw = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a new private PROT_NONE reservation aliasing nothing.
    let start = unsafe {
        sys::mmap(
            0,
            REGION,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .map_err(Why::Map)?;
    let result = fill(start, fd, writable, prot_rw);
    if result.is_err() {
        // SAFETY: our own reservation, never published.
        unsafe { sys::munmap(start, REGION) };
    }
    result.map(|()| start)
}

fn fill(start: usize, fd: c_int, writable: bool, prot_rw: c_int) -> Result<(), Why> {
    let base = start + DATA_SIZE;
    let fixed_shared = libc::MAP_SHARED | libc::MAP_FIXED;
    let fixed_private = libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_ANONYMOUS;
    // SAFETY: each of the four mmaps replaces part of our own reservation.
    unsafe {
        sys::mmap(start, DATA_SIZE, libc::PROT_READ, fixed_shared, fd, 0).map_err(Why::Map)?;
        let control_prot = if writable { prot_rw } else { libc::PROT_READ };
        sys::mmap(
            base + IMAGE_ROOM,
            CONTROL_SIZE,
            control_prot,
            fixed_shared,
            fd,
            CONTROL_OFFSET,
        )
        .map_err(Why::Map)?;
        sys::mmap(base, IMAGE_ROOM, prot_rw, fixed_private, -1, 0).map_err(Why::Map)?;
        sys::mmap(
            base + IMAGE_ROOM + CONTROL_SIZE,
            PAGE_SIZE,
            prot_rw,
            fixed_private,
            -1,
            0,
        )
        .map_err(Why::Map)?;
    }
    let ns = Ns(base);
    let control = ns.control();
    if control.magic.load(Ordering::Relaxed) != MAGIC {
        return Err(Why::NotNamespace);
    }
    let flags = control.flags.load(Ordering::Relaxed);
    let len = control.image_len.load(Ordering::Relaxed) as usize;
    if len == 0 || len > IMAGE_ROOM {
        return Err(Why::Image("its length is out of range"));
    }
    // SAFETY: [base, base + IMAGE_ROOM) is our private writable mapping.
    let image = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len) };
    if sys::pread(fd, image, IMAGE_OFFSET as u64) != len {
        return Err(Why::Image("cannot read it"));
    }
    let expected = if flags & FLAG_TIMENS != 0 {
        Variant::Timens
    } else {
        Variant::Host
    };
    if variant(image) != Some(expected) {
        return Err(Why::Variant);
    }
    let offsets = entries(image)?;
    // SAFETY: our own mapping; nothing runs in it yet.
    unsafe { sys::mprotect(base, IMAGE_ROOM, libc::PROT_READ | libc::PROT_EXEC) }
        .map_err(Why::Map)?;
    let hres = ns.vvar().clock(CS_HRES_COARSE);
    let (mult, shift) = (u128::from(hres.mult()), hres.shift().min(64));
    let second_cycles = (1_000_000_000u128 << shift)
        .checked_div(mult)
        .map_or(u64::MAX, |c| c.min(u64::MAX as u128) as u64);
    let mut joined_flags = flags & FLAG_TIMENS;
    if writable {
        joined_flags |= flags & FLAG_COUNT;
    }
    // SAFETY: each address is the start of that entry in the image we just
    // checked and mapped R+X, with its data pages below it.
    let entries = unsafe {
        Pointers::resolve(|name| {
            let offset = (*offsets.get(name)?)?;
            Some(base + offset as usize)
        })
    };
    // SAFETY: the Joined page is our private writable mapping, not yet
    // published.
    unsafe {
        ((base + IMAGE_ROOM + CONTROL_SIZE) as *mut Joined).write(Joined {
            entries,
            flags: joined_flags,
            second_cycles,
        });
    }
    Ok(())
}

/// The variant the image's note names (program headers only, as a loader
/// reads them).
fn variant(image: &[u8]) -> Option<Variant> {
    Elf::parse(image).ok()?.notes().variant().ok()
}

/// Each entry's offset, through the image's DT_GNU_HASH at the
/// architecture's version, as glibc resolves the kernel's vDSO. Every entry
/// the table gives this architecture must be there: the library interposes
/// on each, and an entry it could not serve would be the host's clock.
fn entries(image: &[u8]) -> Result<PerEntry<Option<u64>>, Why> {
    let arch = Arch::HOST;
    let table = Elf::parse(image)
        .and_then(|elf| elf.dynamic())
        .map_err(|_| Why::Image("no dynamic table"))?;
    let mut out = PerEntry::<Option<u64>>::default();
    for (name, slot) in out.each_mut() {
        let entry = ENTRIES
            .iter()
            .find(|e| e.name == name)
            .ok_or(Why::Image("an entry point is missing"))?;
        let sym = table
            .lookup(HashTable::Gnu, entry.symbol(arch), arch.symbol_version())
            .map_err(|_| Why::Image("an entry point is missing"))?;
        if sym.offset.saturating_add(sym.size) > image.len() as u64 {
            return Err(Why::Image("an entry point lies outside it"));
        }
        *slot = Some(sym.offset);
    }
    Ok(out)
}

/// The function of an entry joining found (it refuses an image without
/// one): a `None` here is a bug, stopped rather than served by the host.
#[inline(always)]
pub fn entry<F>(f: Option<F>) -> F {
    match f {
        Some(f) => f,
        None => missing_entry(),
    }
}

#[cold]
#[inline(never)]
fn missing_entry() -> ! {
    let mut m = Msg::new();
    let _ = write!(
        m,
        "vdso-run: internal error: an entry of the joined image is missing; stopping pid {}",
        sys::getpid()
    );
    m.send();
    sys::exit_group(125)
}

/// Is vdso-run alive? It holds an exclusive flock on the namespace file
/// for as long as it lives; the lock goes when its process does, however it
/// dies. Only a clear answer counts as dead: the file is gone, or a shared
/// lock was granted. Any other failure (out of descriptors, say) counts as
/// alive.
fn timekeeper_alive(path: &[u8]) -> bool {
    match sys::open(path, libc::O_RDONLY) {
        Err(e) => e != libc::ENOENT,
        Ok(fd) => {
            let r = sys::flock(fd, libc::LOCK_SH | libc::LOCK_NB);
            sys::close(fd);
            r.is_err()
        }
    }
}

/// The vvar page has not been updated for a second or more. Rate-limited to
/// one check a second per process: if vdso-run is merely slow or stopped
/// (Ctrl-Z stops it with PROGRAM), nothing happens; if it is gone, this
/// process is killed, so that no process runs on clocks that no longer
/// tick.
#[cold]
#[inline(never)]
pub fn stale(ns: Ns) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = sys::rdtsc();
    let last = LAST.load(Ordering::Relaxed);
    if last != 0 && now.wrapping_sub(last) < ns.joined().second_cycles {
        return;
    }
    if LAST
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let Some(path) = env::namespace() else {
        return;
    };
    if timekeeper_alive(path) {
        return;
    }
    // vdso-run could not remove its file: the first process to notice does.
    sys::unlink(path);
    let mut m = Msg::new();
    let _ = write!(
        m,
        "vdso-run: vdso-run (pid {}), which kept this time namespace's clocks ticking, has gone; \
         killing pid {} rather than let it read clocks that no longer tick",
        ns.control().timekeeper_pid.load(Ordering::Relaxed),
        sys::getpid()
    );
    m.send();
    sys::kill_self(libc::SIGKILL);
}
