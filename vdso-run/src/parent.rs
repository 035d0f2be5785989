//! The keeper as PROGRAM's parent, in either mode (front.rs says why there
//! is a keeper): the signals it takes itself and passes on, the child
//! subreaper that waits until PROGRAM and everything it left behind have
//! exited, and PROGRAM's exit code.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kernel_side::Timekeeper;
use kernel_side::timekeeper::Ticker;

use crate::cli::Failure;
use crate::fds;
use crate::front::Release;

/// Signals sent to vdso-run that it passes on, to PROGRAM while it runs and
/// to the processes it left behind afterwards: those whose default action
/// ends a process and that a user or a program sends. Not SIGINT and
/// SIGQUIT, which the terminal sends to the whole process group, PROGRAM
/// included (sending them again would double them), nor the ones the
/// kernel sends about vdso-run itself (faults, SIGPIPE, SIGXCPU, SIGXFSZ).
pub(crate) fn is_forwarded(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGTERM
            | libc::SIGHUP
            | libc::SIGUSR1
            | libc::SIGUSR2
            | libc::SIGALRM
            | libc::SIGVTALRM
            | libc::SIGPROF
            | libc::SIGIO
            | libc::SIGPWR
            | libc::SIGSTKFLT
    ) || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig)
}

/// The signals the front and the keeper take themselves (blocked, taken
/// with signalfd or sigwaitinfo): the forwarded ones, the terminal's
/// SIGINT and SIGQUIT, SIGCHLD, and the job-control stops, which must not
/// stop the keeper (it is not in PROGRAM's process group; only a `kill` of
/// its pid reaches it).
pub(crate) fn taken_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t and the signals exist.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in 1..=libc::SIGRTMAX() {
            if is_forwarded(sig) || matches!(sig, libc::SIGCHLD | libc::SIGINT | libc::SIGQUIT) {
                libc::sigaddset(&mut set, sig);
            }
        }
    }
    set
}

/// The keeper, from before PROGRAM starts until it and everything it left
/// behind have exited.
pub(crate) struct Parent {
    /// The signals taken with sigwaitinfo.
    signals: libc::sigset_t,
    /// Keeps the vvar page ticking.
    pub(crate) ticker: Ticker,
    /// The way to the front.
    pub(crate) release: Release,
}

impl Parent {
    /// Blocks the signals the keeper takes before the ticker thread exists,
    /// so that it inherits the mask and never takes them; starts the
    /// ticker; and makes this process a child subreaper.
    pub(crate) fn start(tk: Timekeeper, release: Release) -> Result<Parent, Failure> {
        let signals = taken_signals();
        // SAFETY: a valid sigset pointer.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) };
        for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            // SAFETY: ignoring a job-control signal (PROGRAM gets back the
            // disposition vdso-run was given: inherited.rs).
            unsafe { libc::signal(sig, libc::SIG_IGN) };
        }
        let ticker = tk.try_spawn().map_err(|e| {
            Failure::own(format!(
                "cannot start the thread that keeps the images' time: {e}"
            ))
        })?;
        // Orphans of the namespace come to us, not to init: we reap them,
        // and keep ticking until the last one has gone.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        Ok(Parent {
            signals,
            ticker,
            release,
        })
    }

    /// PROGRAM has started: the keeper leaves the caller's session and
    /// process group (front.rs) and its terminal.
    pub(crate) fn detach(&self) {
        // SAFETY: setsid takes no arguments; the keeper is not a process
        // group leader (it is the front's child, in the front's group).
        unsafe { libc::setsid() };
        fds::to_dev_null(&[libc::STDIN_FILENO, libc::STDOUT_FILENO]);
    }

    /// The next of the signals it takes (-1 if interrupted).
    pub(crate) fn next_signal(&self) -> i32 {
        // SAFETY: siginfo_t is plain data.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and info pointers.
        unsafe { libc::sigwaitinfo(&self.signals, &mut info) }
    }

    /// Passes signals on from a thread of its own, for a keeper whose own
    /// thread waits in waitpid (the tracer); returns the flag that thread
    /// sets once PROGRAM has exited.
    pub(crate) fn forward_from_a_thread(
        &self,
        program: libc::pid_t,
    ) -> Result<Arc<AtomicBool>, Failure> {
        let exited = Arc::new(AtomicBool::new(false));
        let flag = exited.clone();
        let mut signals = self.signals;
        // SAFETY: a valid set and a signal that exists.
        unsafe { libc::sigdelset(&mut signals, libc::SIGCHLD) };
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                loop {
                    // SAFETY: siginfo_t is plain data.
                    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                    // SAFETY: valid set and info pointers.
                    let sig = unsafe { libc::sigwaitinfo(&signals, &mut info) };
                    if sig > 0 {
                        forward(sig, program, flag.load(Ordering::Relaxed));
                    }
                }
            })
            .map_err(|e| {
                Failure::own(format!(
                    "cannot start the thread that passes signals on: {e}"
                ))
            })?;
        Ok(exited)
    }

    /// PROGRAM has exited with `code`, leaving processes behind: the front
    /// learns the code now and returns it at once (`--no-wait`), after
    /// `report` (so far); with `--wait` it waits for the keeper, and
    /// `report` comes at the end. Returns whether the report was made.
    pub(crate) fn program_left_some(&mut self, code: i32, report: impl FnOnce()) -> bool {
        let now = !self.release.wait;
        if now {
            report();
        }
        self.release.send(code);
        self.release.quiet();
        now
    }
}

/// Passes `sig` on, if it is one to pass on: to PROGRAM while it runs, and
/// afterwards to the processes it left behind (our children as
/// subreaper), waking the stopped ones so that they act on it (as a
/// shell's `kill` of a stopped job does). SIGINT and SIGQUIT sent to the
/// keeper itself go to those too, never to a PROGRAM still running.
pub(crate) fn forward(sig: i32, program: libc::pid_t, program_exited: bool) {
    let terminal = matches!(sig, libc::SIGINT | libc::SIGQUIT);
    if !(is_forwarded(sig) || terminal && program_exited) {
        return;
    }
    if !program_exited {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(program, sig) };
        return;
    }
    for pid in children() {
        // SAFETY: signalling a process we adopted.
        unsafe { libc::kill(pid, sig) };
        if stopped(pid) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
}

/// Whether `pid` is stopped (`T`, or `t` for a tracee in group-stop).
fn stopped(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|c| matches!(c, 'T' | 't'))
    })
}

/// Waits for PROGRAM, passing signals on; returns its wait status and
/// whether it left processes behind.
pub(crate) fn wait_program(program: libc::pid_t, parent: &Parent) -> (i32, bool) {
    loop {
        match parent.next_signal() {
            libc::SIGCHLD => {
                if let (Some(status), none_left) = reap(program) {
                    return (status, !none_left);
                }
            }
            sig => forward(sig, program, false),
        }
    }
}

/// Waits until every process PROGRAM left behind has exited, passing
/// signals on to them.
pub(crate) fn wait_rest(parent: &Parent) {
    loop {
        match parent.next_signal() {
            libc::SIGCHLD => {
                if reap(0).1 {
                    return;
                }
            }
            sig => forward(sig, 0, true),
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
