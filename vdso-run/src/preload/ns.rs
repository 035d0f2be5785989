//! Joining the namespace: mapping the data pages and the image the way
//! docs/abi.md says, on first use, with raw system calls, without locks or
//! allocation. Threads (or a signal handler) racing to join each map their
//! own copy; one compare-and-swap publishes the winner and the others unmap
//! theirs. A forked child inherits the mappings and the published base.
//!
//! One reservation per process, from its start `R`, for a file whose
//! layout has `D` bytes of data pages (shared/layout.rs):
//!
//! ```text
//!   R          the data pages, PROT_READ, shared, arranged for the image
//!   R + D      B: the image, PROT_READ|PROT_EXEC from the start, mapped
//!              from the file (so Memory-Deny-Write-Execute allows it)
//!   B + 8192   the control page (counters), shared, read-write
//!   B + 12288  `Joined`: what this process resolved, private
//! ```

use core::ffi::c_int;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::abi::Arch;
use common::entries::{ENTRIES, PerEntry, Pointers};
use common::layout::page_refs;
use common::note::Variant;
use common::route::route;
use common::vvar::{CS_BASES, CS_HRES_COARSE, ClockRefs};
use vdso_elf::{Elf, HashTable};

use crate::env;
use crate::layout::{
    CONTROL_SIZE, Control, FLAG_COUNT, FLAG_TIMENS, FileLayout, IMAGE_ROOM, PAGE_SIZE,
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
    /// The time data's clock entries, and those of the page of offsets (a
    /// namespaced process's), wherever the layout puts them.
    pub time: [ClockRefs<'static>; CS_BASES],
    pub offsets: [ClockRefs<'static>; CS_BASES],
    /// The reservation's size (the data pages depend on the layout).
    pub region: usize,
}

/// The reservation for a file of `layout`.
const fn region(layout: &FileLayout) -> usize {
    layout.data_size + IMAGE_ROOM + CONTROL_SIZE + PAGE_SIZE
}
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
        self.joined().offsets[r.cs()]
            .timens_offset(clock as usize)
            .as_nanos()
    }

    /// Has the timekeeper stopped updating the time data for a second or
    /// more? Measured with the TSC against `cycle_last`.
    #[inline(always)]
    pub fn check_counter(self) {
        let last = self.joined().time[CS_HRES_COARSE].cycle_last();
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
        Ok((start, data_size, region)) => {
            let base = start + data_size;
            match BASE.compare_exchange(0, base, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Some(Ns(base)),
                Err(winner) => {
                    // SAFETY: our own reservation, never published.
                    unsafe { sys::munmap(start, region) };
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
    Layout,
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
            Why::Layout => write!(f, "its image's layout note is not its data pages' layout"),
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

/// Maps everything; returns the reservation's start, the size of its data
/// pages and its size.
fn map(path: &[u8]) -> Result<(usize, usize, usize), Why> {
    let (fd, writable) = match sys::open(path, libc::O_RDWR) {
        Ok(fd) => (fd, true),
        Err(libc::EACCES | libc::EROFS) => {
            (sys::open(path, libc::O_RDONLY).map_err(Why::Open)?, false)
        }
        Err(e) => return Err(Why::Open(e)),
    };
    let result = map_fd(fd, writable);
    sys::close(fd);
    let (start, layout) = result?;
    if !timekeeper_alive(path) {
        // SAFETY: our own reservation, never published.
        unsafe { sys::munmap(start, region(&layout)) };
        sys::unlink(path);
        return Err(Why::Gone);
    }
    Ok((start, layout.data_size, region(&layout)))
}

/// The file's layout, from its control page: vdso-run writes the layout's
/// code beside the magic, at the offset that layout puts the page.
fn file_layout(fd: c_int) -> Result<FileLayout, Why> {
    let size = sys::file_size(fd).map_err(Why::Map)?;
    FileLayout::find(size, |at| {
        let mut magic = [0u8; 8];
        let mut code = [0u8; 4];
        let read = sys::pread(fd, &mut magic, at as u64) == magic.len()
            && sys::pread(fd, &mut code, at as u64 + 8) == code.len();
        read.then(|| (u64::from_le_bytes(magic), u32::from_le_bytes(code)))
    })
    .ok_or(Why::NotNamespace)
}

fn map_fd(fd: c_int, writable: bool) -> Result<(usize, FileLayout), Why> {
    let layout = file_layout(fd)?;
    // SAFETY: a new private PROT_NONE reservation aliasing nothing.
    let start = unsafe {
        sys::mmap(
            0,
            region(&layout),
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .map_err(Why::Map)?;
    let result = fill(start, fd, writable, &layout);
    if result.is_err() {
        // SAFETY: our own reservation, never published.
        unsafe { sys::munmap(start, region(&layout)) };
    }
    result.map(|()| (start, layout))
}

fn fill(start: usize, fd: c_int, writable: bool, layout: &FileLayout) -> Result<(), Why> {
    let base = start + layout.data_size;
    let prot_rw = libc::PROT_READ | libc::PROT_WRITE;
    let fixed_shared = libc::MAP_SHARED | libc::MAP_FIXED;
    let fixed_private = libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_ANONYMOUS;
    // SAFETY: each mmap replaces part of our own reservation.
    unsafe {
        let control_prot = if writable { prot_rw } else { libc::PROT_READ };
        sys::mmap(
            base + IMAGE_ROOM,
            CONTROL_SIZE,
            control_prot,
            fixed_shared,
            fd,
            layout.control_offset,
        )
        .map_err(Why::Map)?;
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
    let flags = control.flags.load(Ordering::Relaxed);
    let timens = flags & FLAG_TIMENS != 0;
    for (slot, page, pages) in layout.runs(timens) {
        // SAFETY: replaces part of our own reservation's data pages.
        unsafe {
            sys::mmap(
                start + slot * PAGE_SIZE,
                pages * PAGE_SIZE,
                libc::PROT_READ,
                fixed_shared,
                fd,
                page * PAGE_SIZE,
            )
        }
        .map_err(Why::Map)?;
    }
    let len = control.image_len.load(Ordering::Relaxed) as usize;
    if len == 0 || len > IMAGE_ROOM {
        return Err(Why::Image("its length is out of range"));
    }
    map_image(base, fd, layout.image_offset, len)?;
    // SAFETY: [base, base + len) is mapped readable.
    let image = unsafe { core::slice::from_raw_parts(base as *const u8, len) };
    let expected = if timens {
        Variant::Timens
    } else {
        Variant::Host
    };
    let notes = || Elf::parse(image).ok().map(|elf| elf.notes());
    if notes().and_then(|n| n.variant().ok()) != Some(expected) {
        return Err(Why::Variant);
    }
    if notes().and_then(|n| n.abi().ok()) != Some(layout.abi) {
        return Err(Why::Layout);
    }
    let offsets = entries(image)?;
    let info = &layout.info;
    let (time_slot, offsets_slot) = if timens {
        info.namespaced_slots()
    } else {
        (info.time_slot, info.namespace_slot)
    };
    let refs = |slot: usize| {
        // SAFETY: a data page of the layout, mapped read-only for the life
        // of the process (never unmapped once published).
        let page = unsafe { page_refs(layout.abi, (start + slot * PAGE_SIZE) as *const u8) };
        [page.clock(0), page.clock(1)]
    };
    let (time, offsets_page) = (refs(time_slot), refs(offsets_slot));
    let hres = time[CS_HRES_COARSE];
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
            time,
            offsets: offsets_page,
            region: region(layout),
        });
    }
    Ok(())
}

/// Maps the image at `base`, read and execute from the start: the file's
/// pages, mapped privately, so that no page is ever writable and then
/// executable (Memory-Deny-Write-Execute, `prctl(PR_SET_MDWE)` or a
/// seccomp filter refusing `mprotect(PROT_EXEC)`, allows that; it refuses
/// the copy below). A file in a folder mounted `noexec` cannot be mapped
/// executable (EPERM): then the image is copied into private pages made
/// executable afterwards, which such a process refuses.
fn map_image(base: usize, fd: c_int, offset: usize, len: usize) -> Result<(), Why> {
    let rx = libc::PROT_READ | libc::PROT_EXEC;
    // SAFETY: replaces the image's part of our own reservation.
    let mapped = unsafe {
        sys::mmap(
            base,
            IMAGE_ROOM,
            rx,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            fd,
            offset,
        )
    };
    match mapped {
        Ok(_) => return Ok(()),
        Err(libc::EPERM | libc::EACCES) => {}
        Err(e) => return Err(Why::Map(e)),
    }
    let anonymous = libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_ANONYMOUS;
    // SAFETY: as above.
    unsafe {
        sys::mmap(
            base,
            IMAGE_ROOM,
            libc::PROT_READ | libc::PROT_WRITE,
            anonymous,
            -1,
            0,
        )
    }
    .map_err(Why::Map)?;
    // SAFETY: [base, base + IMAGE_ROOM) is our private writable mapping.
    let image = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len) };
    if sys::pread(fd, image, offset as u64) != len {
        return Err(Why::Image("cannot read it"));
    }
    // SAFETY: our own mapping; nothing runs in it yet.
    unsafe { sys::mprotect(base, IMAGE_ROOM, rx) }.map_err(Why::Map)
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
