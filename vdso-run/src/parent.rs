//! vdso-run as PROGRAM's parent, in either mode: the signals it takes
//! itself, forwarding, the child subreaper that waits until PROGRAM and
//! everything it left behind have exited, and PROGRAM's exit code.

use std::io;

use harness::Timekeeper;
use harness::timekeeper::Ticker;

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

/// Blocks `set` in this thread (and the threads it starts from now on).
fn block(set: &libc::sigset_t) {
    // SAFETY: a valid sigset pointer.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
}

/// vdso-run as PROGRAM's parent, in either mode, from before PROGRAM
/// starts until it and everything it left behind have exited.
pub(crate) struct Parent {
    /// The signals taken with sigwaitinfo.
    signals: libc::sigset_t,
    /// Keeps the vvar page ticking.
    pub(crate) ticker: Ticker,
}

impl Parent {
    /// Blocks the signals the parent takes with sigwaitinfo before the
    /// ticker thread exists, so that it inherits the mask and never takes
    /// them; starts the ticker; and makes this process a child subreaper.
    pub(crate) fn start(tk: Timekeeper) -> Parent {
        let signals = handled_signals();
        block(&signals);
        let ticker = tk.spawn();
        // Orphans of the namespace come to us, not to init: we reap them,
        // and keep ticking until the last one has gone.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Parent { signals, ticker }
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

/// Waits for PROGRAM and every process left behind, forwarding SIGTERM and
/// SIGHUP; returns PROGRAM's exit code.
pub(crate) fn wait(program: libc::pid_t, parent: &Parent, verbose: bool) -> i32 {
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
