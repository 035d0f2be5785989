//! The parent: owns the namespace file (data pages, control page, image),
//! keeps the vvar page ticking like the kernel's timekeeper, starts PROGRAM
//! with the preload library, forwards SIGTERM and SIGHUP, and waits until
//! PROGRAM and everything it started have exited. The namespace file, the
//! timekeeper, the signals and the reports are the same for `--as-vdso`
//! (asvdso/), which uses them from here.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use common::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, Timespec};
use common::timens::{Now, Offsets};
use kernel_side::timekeeper::{Config, Ticker};
use kernel_side::{DataPages, Image, Timekeeper};

use crate::cli::Failure;
use crate::layout::{
    CONTROL_OFFSET, CONTROL_SIZE, Control, ENV_NAMESPACE, FILE_SIZE, FLAG_COUNT, FLAG_TIMENS,
    IMAGE_OFFSET, MAGIC, TRANSLATED,
};
use crate::{offset, program};

/// Everything decided before PROGRAM starts, in either mode.
pub struct Plan {
    pub program: PathBuf,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    pub image_path: PathBuf,
    pub image: Image,
    /// `Some` with the time-namespace image.
    pub offsets: Option<Offsets>,
    pub verbose: bool,
}

/// The host's MONOTONIC and BOOTTIME now, from the kernel.
pub fn kernel_now() -> Now {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and a writable timespec. This binary is
        // never preloaded, so this is the kernel's clock.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        Timespec {
            tv_sec: ts.tv_sec,
            tv_nsec: ts.tv_nsec,
        }
    };
    Now {
        monotonic: read(CLOCK_MONOTONIC),
        boottime: read(CLOCK_BOOTTIME),
    }
}

/// The namespace file, removed when dropped.
pub(crate) struct NsFile {
    pub(crate) path: PathBuf,
    pub(crate) pages: Arc<DataPages>,
    pub(crate) file: File,
}

impl NsFile {
    /// Writes the namespace's offsets into its page (Linux's checks first),
    /// then sets up the timekeeper of its vvar page.
    pub(crate) fn timekeeper(&self, offsets: Option<&Offsets>) -> Result<Timekeeper, Failure> {
        if let Some(offsets) = offsets {
            // Before any process can map the page: its readers take no
            // sequence count.
            self.pages
                .write_namespace(offsets, &kernel_now())
                .map_err(|e| Failure::own(format!("bad offset: {e}")))?;
        }
        Timekeeper::new(self.pages.clone(), Config::default())
            .map_err(|e| Failure::own(format!("cannot keep the images' time: {e}")))
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

/// Removes namespace files a killed vdso-run left behind: no process holds
/// their lock any more, and they are older than a minute (a file only just
/// created may not be locked yet). The processes of a namespace remove the
/// file themselves when they notice vdso-run is gone; this catches the rest.
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
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // SAFETY: flock on a descriptor we own.
        let unlocked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if old && unlocked {
            let _ = std::fs::remove_file(&path);
        }
    }
}

pub(crate) fn create_ns_file() -> Result<NsFile, Failure> {
    let dir = shm_dir();
    remove_abandoned(&dir);
    let pid = std::process::id();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    for attempt in 0..64u64 {
        let path = dir.join(format!(
            "vdso-run.{pid}.{:016x}",
            seed.wrapping_add(attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        ));
        match DataPages::create_file(&path, crate::layout::ABI) {
            Ok(pages) => {
                let file = pages
                    .fd()
                    .try_clone_to_owned()
                    .map(File::from)
                    .map_err(|e| Failure::own(format!("{}: {e}", path.display())))?;
                // Liveness: the preload library in any process of the
                // namespace can tell whether vdso-run still holds this lock
                // (flock locks go with the open file, which dies with
                // vdso-run however it dies).
                // SAFETY: flock on our own descriptor.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                    let e = io::Error::last_os_error();
                    let _ = std::fs::remove_file(&path);
                    return Err(Failure::own(format!("cannot lock {}: {e}", path.display())));
                }
                let ns = NsFile {
                    path,
                    pages: Arc::new(pages),
                    file,
                };
                ns.file
                    .set_len(FILE_SIZE as u64)
                    .map_err(|e| Failure::own(format!("cannot size {}: {e}", ns.path.display())))?;
                return Ok(ns);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
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

/// The control page, mapped read-write in vdso-run.
struct ControlMap(NonNull<Control>);

impl ControlMap {
    fn new(file: &File) -> io::Result<ControlMap> {
        // SAFETY: a new shared mapping of our own file at a kernel-chosen
        // address; it aliases no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CONTROL_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                CONTROL_OFFSET as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast())
            .map(ControlMap)
            .ok_or_else(|| io::Error::other("mmap returned NULL"))
    }

    fn get(&self) -> &Control {
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

/// The signals the parent handles itself (blocked, taken with sigwaitinfo).
fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t and the signals exist.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
        ] {
            libc::sigaddset(&mut set, sig);
        }
    }
    set
}

/// Blocks `set` in this thread (and the threads it starts from now on);
/// returns the mask before.
fn block(set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, &mut old) };
    old
}

/// vdso-run as PROGRAM's parent, in either mode, from before PROGRAM
/// starts until it and everything it left behind have exited.
pub(crate) struct Parent {
    /// The signals taken with sigwaitinfo.
    signals: libc::sigset_t,
    /// The mask before, PROGRAM's.
    pub(crate) program_mask: libc::sigset_t,
    /// Keeps the vvar page ticking.
    pub(crate) ticker: Ticker,
}

impl Parent {
    /// Blocks the signals the parent takes with sigwaitinfo before the
    /// ticker thread exists, so that it inherits the mask and never takes
    /// them; starts the ticker; and makes this process a child subreaper.
    pub(crate) fn start(tk: Timekeeper) -> Parent {
        let signals = handled_signals();
        let program_mask = block(&signals);
        let ticker = tk.spawn();
        // Orphans of the namespace come to us, not to init: we reap them,
        // and keep ticking until the last one has gone.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Parent {
            signals,
            program_mask,
            ticker,
        }
    }

    /// The next of the signals it handles (-1 if interrupted).
    pub(crate) fn next_signal(&self) -> i32 {
        // SAFETY: siginfo_t is plain data.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and info pointers.
        unsafe { libc::sigwaitinfo(&self.signals, &mut info) }
    }
}

/// SIGTERM and SIGHUP go to PROGRAM while it runs, and afterwards to the
/// processes it left behind (our children as subreaper). SIGINT and SIGQUIT
/// came from the terminal to the whole process group, PROGRAM included:
/// sending them again would double them.
pub(crate) fn forward(sig: i32, program: libc::pid_t, program_exited: bool) {
    if !matches!(sig, libc::SIGTERM | libc::SIGHUP) {
        return;
    }
    let pids = if program_exited {
        children()
    } else {
        vec![program]
    };
    for pid in pids {
        // SAFETY: signalling our own child, or a process we adopted.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Runs PROGRAM under the plan with the preload library at `preload`;
/// returns its exit code (128 + N for signal N).
pub fn run(plan: Plan, preload: PathBuf) -> Result<i32, Failure> {
    let ns = create_ns_file()?;
    let control = ControlMap::new(&ns.file)
        .map_err(|e| Failure::own(format!("cannot map {}: {e}", ns.path.display())))?;
    ns.file
        .write_all_at(plan.image.bytes(), IMAGE_OFFSET as u64)
        .map_err(|e| Failure::own(format!("cannot write {}: {e}", ns.path.display())))?;
    let tk = ns.timekeeper(plan.offsets.as_ref())?;

    let c = control.get();
    let mut flags = 0;
    if plan.offsets.is_some() {
        flags |= FLAG_TIMENS;
    }
    if plan.verbose {
        flags |= FLAG_COUNT;
    }
    c.flags.store(flags, Relaxed);
    c.image_len.store(plan.image.bytes().len() as u32, Relaxed);
    c.timekeeper_pid.store(std::process::id(), Relaxed);
    c.magic.store(MAGIC, Relaxed);

    let parent = Parent::start(tk);
    let old_mask = parent.program_mask;

    let mut preload_var = preload.clone().into_os_string();
    if let Some(theirs) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload_var.push(":");
        preload_var.push(theirs);
    }
    if plan.verbose {
        eprintln!(
            "vdso-run: {} on {} ({}); data pages {}; preload {}",
            plan.program.display(),
            plan.image_path.display(),
            offset::describe(plan.offsets.as_ref()),
            ns.path.display(),
            preload.display()
        );
    }

    let parent_pid = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(&plan.program);
    cmd.arg0(&plan.argv0)
        .args(&plan.args)
        .env("LD_PRELOAD", &preload_var)
        .env(ENV_NAMESPACE, &ns.path);
    // SAFETY: the closure makes only async-signal-safe calls (sigprocmask,
    // prctl, getppid, kill), as required between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
            // If vdso-run dies, however it dies, the kernel kills PROGRAM:
            // it must not run on data pages that no longer tick.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent_pid {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        })
    };
    let child = cmd
        .spawn()
        .map_err(|e| program::exec_failure(&plan.program, e))?;
    let program = child.id() as libc::pid_t;
    drop(child);

    let status = wait(program, &parent, plan.verbose);

    drop(parent.ticker.stop());
    if plan.verbose {
        report(c);
    }
    drop(control);
    drop(ns);
    Ok(status)
}

/// Waits for PROGRAM and every process left behind, forwarding SIGTERM and
/// SIGHUP; returns PROGRAM's exit code.
fn wait(program: libc::pid_t, parent: &Parent, verbose: bool) -> i32 {
    let mut program_status: Option<i32> = None;
    loop {
        let sig = parent.next_signal();
        match sig {
            libc::SIGCHLD => {
                let (exited, none_left) = reap(program);
                if let Some(status) = exited {
                    program_status = Some(status);
                    if !none_left && verbose {
                        eprintln!(
                            "vdso-run: PROGRAM has exited; waiting for the processes it left \
                             behind (the namespace lives as long as they do)"
                        );
                    }
                }
                if let Some(status) = program_status
                    && none_left
                {
                    return exit_code(status);
                }
            }
            _ => forward(sig, program, program_status.is_some()),
        }
    }
}

/// Reaps every child that has exited: PROGRAM's status if it was among
/// them, and whether no child is left.
fn reap(program: libc::pid_t) -> (Option<i32>, bool) {
    let mut exited = None;
    loop {
        let mut status = 0;
        // SAFETY: a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if pid == program {
                exited = Some(status);
            }
            continue;
        }
        if pid == 0 {
            return (exited, false);
        }
        if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return (exited, true);
    }
}

/// Our children (processes of the namespace adopted as subreaper).
pub(crate) fn children() -> Vec<libc::pid_t> {
    let mut pids = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<libc::pid_t>().ok()),
            );
        }
    }
    pids
}

pub(crate) fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// `--verbose` at exit: the calls each entry served, and the translations.
fn report(c: &Control) {
    let served: Vec<String> = c
        .served
        .each()
        .map(|(name, n)| format!("{name} {}", n.load(Relaxed)))
        .collect();
    eprintln!("vdso-run: served by the image: {}", served.join(", "));
    report_translated(
        TRANSLATED
            .into_iter()
            .zip(c.translated.iter().map(|n| n.load(Relaxed))),
    );
    let (reinjected, refused) = (c.reinjected.load(Relaxed), c.refused.load(Relaxed));
    if reinjected != 0 || refused != 0 {
        eprintln!(
            "vdso-run: execs whose environment was repaired: {reinjected}; execs refused: {refused}"
        );
    }
}

/// `--verbose` at exit, in either mode: the calls whose deadline was
/// translated, those that were (`name count, ...`), or `none`.
pub(crate) fn report_translated(counts: impl IntoIterator<Item = (&'static str, u64)>) {
    let translated: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    eprintln!(
        "vdso-run: translated: {}",
        if translated.is_empty() {
            "none".to_string()
        } else {
            translated.join(", ")
        }
    );
}
