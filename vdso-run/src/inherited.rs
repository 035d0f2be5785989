//! The signal state vdso-run was started with, given back to PROGRAM.
//!
//! A program inherits its parent's ignored signals and signal mask across
//! fork and exec (caught signals go back to their default at exec). vdso-run
//! changes both for itself: Rust's runtime ignores SIGPIPE before `main`,
//! glibc installs a handler for one of its internal real-time signals when
//! the first thread starts, vdso-run blocks the signals it takes with
//! sigwaitinfo, and it takes SIGCHLD back from SIG_IGN (with SIGCHLD
//! ignored the kernel reaps children itself and sends no SIGCHLD, so
//! vdso-run could never learn PROGRAM's status). So the state is recorded
//! by a constructor, before Rust's runtime or anything else runs, and put
//! back in the child between fork and exec, for every signal glibc's
//! wrappers would refuse too (raw `rt_sigaction`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bit `n - 1`: signal `n` was ignored.
static IGNORED: AtomicU64 = AtomicU64::new(0);
/// The kernel's 64-bit signal mask.
static MASK: AtomicU64 = AtomicU64::new(0);

/// Linux's `struct sigaction` for `rt_sigaction` on x86_64.
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
/// The size of the kernel's sigset, as `rt_sigaction` and
/// `rt_sigprocmask` require.
const SIGSET_SIZE: usize = 8;

/// Every signal whose disposition can be set (not SIGKILL or SIGSTOP).
fn settable() -> impl Iterator<Item = i32> {
    (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
}

fn disposition(sig: i32) -> Option<usize> {
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a query (no new action) into a local of the kernel's layout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<KernelSigaction>(),
            &raw mut old,
            SIGSET_SIZE,
        )
    };
    (r == 0).then_some(old.handler)
}

fn set_disposition(sig: i32, handler: usize) {
    let new = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: SIG_DFL or SIG_IGN, which need no restorer, from a local of
    // the kernel's layout.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &raw const new,
            std::ptr::null_mut::<KernelSigaction>(),
            SIGSET_SIZE,
        )
    };
}

fn set_mask(mask: u64) {
    // SAFETY: a mask from a local; the old one is not asked for.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const mask,
            std::ptr::null_mut::<u64>(),
            SIGSET_SIZE,
        )
    };
}

/// Runs before `main` (from `.init_array`, as the loader runs a
/// constructor), while the state is still the one vdso-run was given.
extern "C" fn record() {
    let mut ignored = 0u64;
    for sig in settable() {
        if disposition(sig) == Some(SIG_IGN) {
            ignored |= 1 << (sig - 1);
        }
    }
    IGNORED.store(ignored, Ordering::Relaxed);
    let mut mask = 0u64;
    // SAFETY: a query of this thread's mask into a local.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &raw mut mask,
            SIGSET_SIZE,
        )
    };
    MASK.store(mask, Ordering::Relaxed);
}

#[used]
#[unsafe(link_section = ".init_array")]
static RECORD: extern "C" fn() = record;

/// vdso-run's own state: SIGCHLD at its default, so that the kernel tells
/// vdso-run about its children and keeps their statuses for it.
pub fn take_sigchld() {
    if disposition(libc::SIGCHLD) == Some(SIG_IGN) {
        set_disposition(libc::SIGCHLD, SIG_DFL);
    }
}

/// Gives the calling process (a child between fork and exec) the ignored
/// signals and the mask vdso-run was started with. Only system calls, so
/// safe after fork in a process with threads.
pub fn restore() {
    let ignored = IGNORED.load(Ordering::Relaxed);
    for sig in settable() {
        let want = if ignored & (1 << (sig - 1)) != 0 {
            SIG_IGN
        } else {
            SIG_DFL
        };
        // A handler becomes SIG_DFL at exec by itself; only SIG_IGN stays.
        let is_ignored = disposition(sig) == Some(SIG_IGN);
        if is_ignored != (want == SIG_IGN) {
            set_disposition(sig, want);
        }
    }
    set_mask(MASK.load(Ordering::Relaxed));
}
