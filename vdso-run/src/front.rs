//! vdso-run as two processes: the front, which the caller started and
//! waits for, and the keeper, its child, which keeps the namespace (the
//! file, the ticking pages and, with `--as-vdso`, the tracer) for as long
//! as a process is in it, and is PROGRAM's parent.
//!
//! A Linux time namespace outlives `unshare --fork`, which returns when its
//! child exits and leaves the child's own children in the namespace. So
//! does this one: the front returns PROGRAM's status as soon as PROGRAM
//! exits (`--no-wait`, the default), while the keeper serves what PROGRAM
//! left behind until the last of it has exited; with `--wait` the front
//! returns only then, or as soon as PROGRAM has exited once it got SIGTERM,
//! SIGINT or another of the signals that end a process.
//!
//! The keeper leaves the caller's session once PROGRAM has started, so
//! that job control and the terminal's signals reach the front and PROGRAM
//! (one process group, as without vdso-run) but never the keeper: Ctrl-Z
//! stops the front, which a shell sees as the job stopping, while the
//! keeper goes on passing the stop to every thread of a traced PROGRAM;
//! and a stopped process PROGRAM left behind is in an orphaned process
//! group once the front has gone, which the kernel wakes with SIGHUP and
//! SIGCONT, as it does after `unshare --fork`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::Plan;
use crate::cli::Failure;
use crate::fds::{self, pipe};
use crate::parent::{self, exit_code};

/// The keeper's end of the pipe to the front: PROGRAM's exit code, once.
pub(crate) struct Release {
    pipe: Option<OwnedFd>,
    /// `--wait`: the front returns when the keeper exits.
    pub(crate) wait: bool,
}

impl Release {
    /// Tells the front PROGRAM's exit code. From now on the keeper outlives
    /// the front: the processes PROGRAM left behind keep their namespace
    /// whatever happens to it.
    pub(crate) fn send(&mut self, code: i32) {
        let Some(pipe) = self.pipe.take() else {
            return;
        };
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
        // SAFETY: four bytes from a local into our pipe (atomic: under
        // PIPE_BUF). A front that has gone does not need them.
        unsafe { libc::write(pipe.as_raw_fd(), code.to_le_bytes().as_ptr().cast(), 4) };
    }

    /// The keeper serves in the background from now on: it gives up the
    /// caller's stderr, so that whoever reads it is not kept waiting by a
    /// process it never started. (stdin and stdout went when PROGRAM
    /// started.)
    pub(crate) fn quiet(&self) {
        if !self.wait {
            fds::to_dev_null(&[libc::STDERR_FILENO]);
        }
    }
}

/// Forks the keeper, which runs `keeper` and exits with its code, and
/// waits as the front; returns the code vdso-run exits with.
pub fn run(
    plan: Plan,
    keeper: impl FnOnce(Plan, Release) -> Result<i32, Failure>,
) -> Result<i32, Failure> {
    let (status_r, status_w) =
        pipe().map_err(|e| Failure::own(format!("cannot start: pipe: {e}")))?;
    let wait = plan.wait;
    // SAFETY: getpid cannot fail.
    let front = unsafe { libc::getpid() };
    // SAFETY: vdso-run has no other thread yet, so the child may go on
    // running Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Failure::own(format!(
            "cannot start: fork: {}",
            io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(status_r);
        // Until PROGRAM has exited, the keeper and with it PROGRAM die
        // with the front, however the front dies.
        // SAFETY: prctl with integer arguments; getppid cannot fail.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != front {
                libc::_exit(crate::cli::EXIT_FAILURE);
            }
        }
        let release = Release {
            pipe: Some(status_w),
            wait,
        };
        let code = match keeper(plan, release) {
            Ok(code) => code,
            Err(failure) => {
                eprintln!("vdso-run: {failure}");
                failure.code
            }
        };
        std::process::exit(code);
    }
    drop(status_w);
    drop(plan);
    wait_for_keeper(pid, &status_r, wait)
}

/// The front's wait: for PROGRAM's exit code (and, with `--wait`, the
/// keeper's exit), passing signals on to the keeper.
fn wait_for_keeper(keeper: libc::pid_t, status: &OwnedFd, wait: bool) -> Result<i32, Failure> {
    let set = parent::taken_signals();
    // SAFETY: a valid sigset pointer.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    // SAFETY: a new descriptor for the blocked set.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(Failure::own(format!(
            "cannot start: signalfd: {}",
            io::Error::last_os_error()
        )));
    }
    let mut code: Option<i32> = None;
    // A signal that ends a process has come: no waiting beyond PROGRAM.
    let mut ending = false;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: status.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            let mut buf = [0u8; 4];
            // SAFETY: reading into a local buffer from our pipe.
            let n = unsafe { libc::read(status.as_raw_fd(), buf.as_mut_ptr().cast(), 4) };
            if n == 4 {
                let c = i32::from_le_bytes(buf);
                if !wait || ending {
                    return Ok(c);
                }
                code = Some(c);
            } else if n == 0 {
                return keeper_gone(keeper, code);
            }
        }
        if fds[1].revents != 0 {
            // SAFETY: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: reading one record into a local of its size.
            let n = unsafe { libc::read(sfd, (&raw mut info).cast(), size) };
            if n as usize != size {
                continue;
            }
            let sig = info.ssi_signo as i32;
            if parent::is_forwarded(sig) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(keeper, sig) };
            }
            // With --wait: SIGINT (the terminal's, which reached the
            // processes in the foreground already) and the forwarded
            // signals end the wait, at once if PROGRAM has exited, else as
            // soon as it does.
            if parent::is_forwarded(sig) || matches!(sig, libc::SIGINT | libc::SIGQUIT) {
                ending = true;
                if let Some(c) = code {
                    return Ok(c);
                }
            }
        }
    }
}

/// The keeper has exited: PROGRAM's code if it said it, else the keeper's
/// own (it said why on stderr), or its death.
fn keeper_gone(keeper: libc::pid_t, code: Option<i32>) -> Result<i32, Failure> {
    let mut status = 0;
    // SAFETY: a valid status pointer; our own child.
    let reaped = unsafe { libc::waitpid(keeper, &mut status, 0) } == keeper;
    if let Some(c) = code {
        return Ok(c);
    }
    if reaped && libc::WIFEXITED(status) {
        return Ok(exit_code(status));
    }
    Err(Failure::own(format!(
        "the process that keeps the namespace (pid {keeper}) was killed{}",
        if reaped && libc::WIFSIGNALED(status) {
            format!(" by signal {}", libc::WTERMSIG(status))
        } else {
            String::new()
        }
    )))
}
