//! The namespace file: one per run, in a shared-memory folder, holding the
//! run's layout's data pages (`kernel_side::DataPages`), the control page
//! and the checked image (shared/layout.rs). vdso-run creates it, writes
//! the namespace's offsets, the image and the control page, sets up the
//! timekeeper of its time data, and removes it when the run ends; a file
//! left by a killed vdso-run is removed by the next.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use std::sync::atomic::Ordering::Relaxed;

use common::abi::Abi;
use common::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC};
use common::timens::{Now, Offsets};
use kernel_side::timekeeper::Config;
use kernel_side::{DataPages, Timekeeper, running};

use crate::cli::Failure;
use crate::fds;
use crate::layout::{CONTROL_SIZE, Control, FLAG_COUNT, FLAG_TIMENS, FileLayout, MAGIC};
use crate::surroundings::{KernelNs, Pair};

/// MONOTONIC and BOOTTIME now, from the kernel (vdso-run's own time
/// namespace's, never an outer vdso-run's: `kernel_side::counter::kernel_clock`).
pub fn kernel_now() -> Now {
    let read = |clock| kernel_side::counter::kernel_clock(clock).1;
    Now {
        monotonic: read(CLOCK_MONOTONIC),
        boottime: read(CLOCK_BOOTTIME),
    }
}

/// The namespace file, removed when dropped, or by its janitor if the
/// keeper dies first.
pub(crate) struct NsFile {
    pub(crate) path: PathBuf,
    pub(crate) pages: Arc<DataPages>,
    pub(crate) file: File,
    pub(crate) layout: FileLayout,
    /// The janitor waits for this pipe's end to close.
    _janitor: Option<OwnedFd>,
}

impl NsFile {
    /// Creates the namespace file, named after the front's pid (the pid
    /// the caller knows vdso-run by), and its janitor. Must run before the
    /// keeper has threads or is a subreaper (see `janitor`). Its data
    /// pages are `abi`'s.
    pub(crate) fn create(front: libc::pid_t, abi: Abi) -> Result<NsFile, Failure> {
        let mut ns = create_ns_file(front, FileLayout::of(abi))?;
        // Every process of the namespace opens it by path, whatever user it
        // becomes and whatever vdso-run's umask: it holds only the clocks
        // (and counters, which only vdso-run's user can add to).
        ns.file
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Failure::own(format!("cannot chmod {}: {e}", ns.path.display())))?;
        let path = CString::new(ns.path.as_os_str().as_bytes())
            .map_err(|_| Failure::own("the namespace file's path contains a NUL byte"))?;
        ns._janitor = Some(janitor(&path).map_err(|e| {
            Failure::own(format!(
                "cannot start the process that removes {} if vdso-run dies: {e}",
                ns.path.display()
            ))
        })?);
        Ok(ns)
    }

    /// Writes the namespace's offsets into its page (Linux's checks first),
    /// then sets up the timekeeper of its time data. Where the layout has
    /// random generator data and the kernel's can be read, the timekeeper
    /// mirrors the kernel's into it at every tick: with `--as-vdso` these
    /// pages replace the kernel's, its rng page included.
    pub(crate) fn timekeeper(&self, offsets: Option<&Offsets>) -> Result<Timekeeper, Failure> {
        if let Some(offsets) = offsets {
            // Before any process can map the page: its readers take no
            // sequence count.
            self.pages
                .write_namespace(offsets, &kernel_now())
                .map_err(|e| Failure::own(format!("bad offset: {e}")))?;
        }
        let mut tk = Timekeeper::new(self.pages.clone(), Config::default())
            .map_err(|e| Failure::own(format!("cannot keep the images' time: {e}")))?;
        if self.pages.rng().is_some()
            && let Some(kernel) = running::kernel_rng()
        {
            tk.mirror_rng(kernel);
        }
        Ok(tk)
    }

    /// Writes the checked image and then the control page (magic last: a
    /// process that finds the magic finds everything else written), before
    /// any process of the namespace starts. Returns the control page.
    pub(crate) fn publish(
        &self,
        image: &[u8],
        timens: bool,
        count: bool,
        front: libc::pid_t,
        kernel: &KernelNs,
        absolute: Pair,
    ) -> Result<ControlMap, Failure> {
        let control = ControlMap::new(&self.file, &self.layout)
            .map_err(|e| Failure::own(format!("cannot map {}: {e}", self.path.display())))?;
        self.file
            .write_all_at(image, self.layout.image_offset as u64)
            .map_err(|e| Failure::own(format!("cannot write {}: {e}", self.path.display())))?;
        let c = control.get();
        let flags = if timens { FLAG_TIMENS } else { 0 } | if count { FLAG_COUNT } else { 0 };
        c.flags.store(flags, Relaxed);
        c.image_len.store(image.len() as u32, Relaxed);
        c.timekeeper_pid.store(front as u32, Relaxed);
        // SAFETY: getpid cannot fail.
        c.keeper_pid
            .store(unsafe { libc::getpid() } as u32, Relaxed);
        c.kernel_ns.store(kernel.id, Relaxed);
        // Offsets Linux accepts fit an i64 of nanoseconds (KTIME_SEC_MAX / 2
        // seconds at most); saturated beyond, never wrapped.
        let ns = |v: i128| v.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
        for (slot, offset) in c.kernel_offsets.iter().zip(kernel.offsets) {
            slot.store(ns(offset), Relaxed);
        }
        for (slot, offset) in c.offsets.iter().zip(absolute) {
            slot.store(ns(offset), Relaxed);
        }
        c.layout.store(FileLayout::code(self.layout.abi), Relaxed);
        c.magic.store(MAGIC, Relaxed);
        Ok(control)
    }
}

impl Drop for NsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A shared-memory folder: /dev/shm, else $XDG_RUNTIME_DIR, else the
/// temporary folder.
fn shm_dir() -> PathBuf {
    let writable = |p: &Path| {
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        // SAFETY: a valid NUL-terminated path.
        p.is_dir() && unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0
    };
    let shm = Path::new("/dev/shm");
    if writable(shm) {
        return shm.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && writable(&dir)
    {
        return dir;
    }
    std::env::temp_dir()
}

/// Removes namespace files a killed vdso-run left behind: older than a
/// minute, and no process holds their lock any more. The processes of a
/// namespace remove the file themselves when they notice vdso-run is gone;
/// this catches the rest. A younger file is not even locked to test it:
/// its maker, another vdso-run starting at this moment, may not have
/// locked it yet, and would find the lock taken.
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("vdso-run.") {
            continue;
        }
        let path = entry.path();
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        if !old {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // SAFETY: flock on a descriptor we own.
        let unlocked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if unlocked {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn create_ns_file(pid: libc::pid_t, layout: FileLayout) -> Result<NsFile, Failure> {
    let dir = shm_dir();
    remove_abandoned(&dir);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    for attempt in 0..64u64 {
        let path = dir.join(format!(
            "vdso-run.{pid}.{:016x}",
            seed.wrapping_add(attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        ));
        match DataPages::create_file(&path, layout.abi) {
            Ok(pages) => {
                return set_up(pages, layout, &path, &dir).inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                // Made, then not mapped (ENOMEM): the error is not about
                // the name, which is ours.
                let _ = std::fs::remove_file(&path);
                return Err(Failure::own(format!(
                    "cannot create the namespace file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(Failure::own(format!(
        "cannot create a namespace file in {}: every name taken",
        dir.display()
    )))
}

/// A new namespace file's room and lock; the caller removes the file if
/// this fails.
fn set_up(
    pages: DataPages,
    layout: FileLayout,
    path: &Path,
    dir: &Path,
) -> Result<NsFile, Failure> {
    let file = pages
        .fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| Failure::own(format!("cannot hold {} open: {e}", path.display())))?;
    // Before anything is written through a mapping: a page of a sparse file
    // that a full tmpfs cannot back is a SIGBUS at the write, where a
    // failed allocation here is a message.
    allocate(&file, layout.file_size).map_err(|e| {
        Failure::own(format!(
            "cannot make room for the namespace file {}: {e}; it needs {} KiB in {}",
            path.display(),
            layout.file_size / 1024,
            dir.display()
        ))
    })?;
    // Liveness: the preload library in any process of the namespace can
    // tell whether vdso-run still holds this lock (flock locks go with the
    // open file, which dies with vdso-run however it dies).
    // SAFETY: flock on our own descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(Failure::own(format!("cannot lock {}: {e}", path.display())));
    }
    Ok(NsFile {
        path: path.to_path_buf(),
        pages: Arc::new(pages),
        file,
        layout,
        _janitor: None,
    })
}

/// Gives the whole file real blocks: fallocate, or on a filesystem
/// without it, zeros written.
fn allocate(file: &File, size: usize) -> io::Result<()> {
    // SAFETY: fallocate on our own descriptor, mode 0 (allocate and extend).
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
        return Err(e);
    }
    file.write_all_at(&vec![0u8; size], 0)
}

/// The control page, mapped read-write in vdso-run.
pub(crate) struct ControlMap(NonNull<Control>);

impl ControlMap {
    pub(crate) fn new(file: &File, layout: &FileLayout) -> io::Result<ControlMap> {
        // SAFETY: a new shared mapping of our own file at a kernel-chosen
        // address; it aliases no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CONTROL_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                layout.control_offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast())
            .map(ControlMap)
            .ok_or_else(|| io::Error::other("mmap returned NULL"))
    }

    pub(crate) fn get(&self) -> &Control {
        // SAFETY: a live, page-aligned mapping of CONTROL_SIZE bytes holding
        // only atomics (valid at any bit pattern, zero at first).
        unsafe { self.0.as_ref() }
    }
}

impl Drop for ControlMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no reference from `get` outlives self.
        unsafe { libc::munmap(self.0.as_ptr().cast(), CONTROL_SIZE) };
    }
}

/// Removes the namespace file if the keeper dies without removing it
/// (SIGKILL, or with the front: PR_SET_PDEATHSIG): a detached process that
/// waits for the end of a pipe only the keeper holds, then unlinks the
/// file. It is started with a double fork, so that it is nobody's child
/// here (the keeper waits for all its children) and survives the keeper.
/// Returns the pipe's write end, to hold until the file is removed.
fn janitor(path: &CString) -> io::Result<OwnedFd> {
    let (r, w) = fds::pipe()?;
    // SAFETY: a valid path; a new descriptor or -1.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    // SAFETY: the keeper has no other thread yet; the children make only
    // system calls on data prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above: async-signal-safe calls, then _exit.
        unsafe {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            libc::setsid();
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            libc::close(w.as_raw_fd());
            let mut byte = 0u8;
            while libc::read(r.as_raw_fd(), (&raw mut byte).cast(), 1) != 0
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::unlink(path.as_ptr());
            libc::_exit(0);
        }
    }
    if null >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(null) };
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    drop(r);
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// Another vdso-run's clean-up must never hold the lock of a file
    /// only just made: its maker takes that lock next, and would fail
    /// ("cannot lock ...: Resource temporarily unavailable"). A thread
    /// stands in for the maker, taking and dropping the lock as fast as it
    /// can, while the clean-up runs again and again beside it.
    #[test]
    fn the_clean_up_leaves_a_new_file_s_lock_alone() {
        let dir = std::env::temp_dir().join(format!("vdso-run-janitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vdso-run.1.0000000000000000");
        File::create(&path).unwrap();
        let done = AtomicBool::new(false);
        let refused = AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let maker = File::open(&path).unwrap();
                while !done.load(Relaxed) {
                    // SAFETY: flock on a descriptor this thread owns.
                    if unsafe { libc::flock(maker.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0
                    {
                        refused.fetch_add(1, Relaxed);
                        continue;
                    }
                    // SAFETY: as above.
                    unsafe { libc::flock(maker.as_raw_fd(), libc::LOCK_UN) };
                }
            });
            for _ in 0..20_000 {
                remove_abandoned(&dir);
            }
            done.store(true, Relaxed);
        });
        let exists = path.exists();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(exists, "the clean-up removed a file made a moment ago");
        assert_eq!(
            refused.load(Relaxed),
            0,
            "the clean-up held a new file's lock while its maker wanted it"
        );
    }
}
