//! Starting PROGRAM traced: fork, attach to the child with PTRACE_SEIZE
//! (every option set before it runs anything of its own), let it install
//! the seccomp filter, and exec. The child makes only system calls between
//! fork and exec (vdso-run has threads).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::filter;
use super::sys::{self, Pid};
use crate::cli::Failure;
use crate::fds::pipe;
use crate::{inherited, program};

/// Every ptrace option the tracer relies on. EXITKILL: if vdso-run dies,
/// however it dies, the kernel kills every tracee, rather than let them run
/// on untranslated (and make every stopped call fail with ENOSYS).
pub const OPTIONS: libc::c_ulong = sys::O_TRACESYSGOOD
    | sys::O_TRACEFORK
    | sys::O_TRACEVFORK
    | sys::O_TRACECLONE
    | sys::O_TRACEEXEC
    | sys::O_TRACESECCOMP
    | sys::O_EXITKILL;

/// What the child reports through the error pipe before it dies.
const STAGE_FILTER: u8 = 1;
const STAGE_EXEC: u8 = 2;

pub struct Spawned {
    pub pid: Pid,
    /// Closed by a successful exec; holds the stage and errno otherwise.
    errors: OwnedFd,
}

fn cstring(s: &OsStr) -> Result<CString, Failure> {
    CString::new(s.as_bytes()).map_err(|_| {
        Failure::own(format!(
            "{}: an argument contains a NUL byte",
            s.to_string_lossy()
        ))
    })
}

/// Starts PROGRAM as a tracee, with the signal state vdso-run was given.
pub fn spawn(
    program: &Path,
    argv0: &OsStr,
    args: &[OsString],
    prog: &[libc::sock_filter],
) -> Result<Spawned, Failure> {
    let path = cstring(program.as_os_str())?;
    let mut argv = vec![cstring(argv0)?];
    for a in args {
        argv.push(cstring(a)?);
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // execvp's fallback for a file the kernel cannot run (ENOEXEC): /bin/sh.
    let sh = c"/bin/sh";
    let mut sh_ptrs: Vec<*const libc::c_char> = vec![sh.as_ptr(), path.as_ptr()];
    sh_ptrs.extend(argv.iter().skip(1).map(|a| a.as_ptr()));
    sh_ptrs.push(std::ptr::null());
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).expect("a short filter"),
        filter: prog.as_ptr().cast_mut(),
    };
    let pipe = || {
        pipe().map_err(|e| Failure::own(format!("cannot start {}: pipe: {e}", program.display())))
    };
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: getpid cannot fail.
    let parent = unsafe { libc::getpid() };

    // SAFETY: the child runs only the system calls in `child`, on data
    // prepared above, and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Failure::own(format!(
            "fork: {}",
            io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        child(
            parent,
            go_r.as_raw_fd(),
            go_w.as_raw_fd(),
            err_w.as_raw_fd(),
            &fprog,
            &path,
            &argv_ptrs,
            &sh_ptrs,
        );
    }
    drop(go_r);
    drop(err_w);
    if let Err(e) = sys::seize(pid, OPTIONS) {
        sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait(pid, false);
        let hint = if e.raw_os_error() == Some(libc::EPERM) {
            " (is vdso-run itself being traced, or is ptrace restricted here: \
             kernel.yama.ptrace_scope, a container without CAP_SYS_PTRACE?)"
        } else {
            ""
        };
        return Err(Failure::own(format!(
            "cannot trace {}: ptrace(PTRACE_SEIZE): {e}{hint}",
            program.display()
        )));
    }
    // SAFETY: writing one byte from a local to our pipe.
    unsafe { libc::write(go_w.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    drop(go_w);
    Ok(Spawned { pid, errors: err_r })
}

/// The child, between fork and exec.
#[allow(clippy::too_many_arguments)]
fn child(
    parent: Pid,
    go_r: RawFd,
    go_w: RawFd,
    err_w: RawFd,
    fprog: &libc::sock_fprog,
    path: &CString,
    argv: &[*const libc::c_char],
    sh_argv: &[*const libc::c_char],
) -> ! {
    let report = |stage: u8, errno: i32| -> ! {
        let mut msg = [0u8; 5];
        msg[0] = stage;
        msg[1..].copy_from_slice(&errno.to_le_bytes());
        // SAFETY: write and _exit, async-signal-safe, on a local buffer.
        unsafe {
            libc::write(err_w, msg.as_ptr().cast(), msg.len());
            libc::_exit(if stage == STAGE_EXEC { 127 } else { 125 })
        }
    };
    inherited::restore();
    // SAFETY: only async-signal-safe system calls on data prepared before
    // the fork: the death signal, one read, the filter, execve.
    unsafe {
        // Until the tracer has attached (and EXITKILL covers it), the
        // kernel kills the child if vdso-run dies.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != parent {
            libc::_exit(125);
        }
        libc::close(go_w);
        let mut byte = 0u8;
        if libc::read(go_r, (&raw mut byte).cast(), 1) != 1 {
            libc::_exit(125);
        }
    }
    if let Err((_, errno)) = filter::install(fprog) {
        report(STAGE_FILTER, errno);
    }
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that live
    // until exec.
    unsafe {
        libc::execve(path.as_ptr(), argv.as_ptr(), environ());
        let errno = *libc::__errno_location();
        if errno == libc::ENOEXEC {
            libc::execve(c"/bin/sh".as_ptr(), sh_argv.as_ptr(), environ());
        }
        report(STAGE_EXEC, errno)
    }
}

fn environ() -> *const *const libc::c_char {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading libc's environment pointer.
    unsafe { environ }
}

impl Spawned {
    /// Why PROGRAM ended before its exec succeeded: the child's report.
    pub fn failure(&self, program: &Path) -> Option<Failure> {
        let mut msg = [0u8; 5];
        // SAFETY: reading into a local buffer from our pipe.
        let n = unsafe { libc::read(self.errors.as_raw_fd(), msg.as_mut_ptr().cast(), 5) };
        if n != 5 {
            return None;
        }
        let errno = i32::from_le_bytes(msg[1..].try_into().expect("4 bytes"));
        let e = io::Error::from_raw_os_error(errno);
        Some(match msg[0] {
            STAGE_FILTER => Failure::own(format!(
                "cannot install the seccomp filter for {}: {e} (a kernel without \
                 CONFIG_SECCOMP_FILTER?)",
                program.display()
            )),
            _ => program::exec_failure(program, e),
        })
    }
}
