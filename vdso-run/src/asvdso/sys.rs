//! The tracer's system calls: ptrace requests, waits, and reading and
//! writing a tracee's memory. Each `unsafe` block is one system call whose
//! pointers point at locals of the right size.

use std::io;

pub type Pid = libc::pid_t;
pub type Regs = libc::user_regs_struct;

// ptrace requests and options (linux/ptrace.h).
const PTRACE_SEIZE: libc::c_uint = 0x4206;
const PTRACE_LISTEN: libc::c_uint = 0x4208;
const PTRACE_CONT: libc::c_uint = 7;
const PTRACE_SYSCALL: libc::c_uint = 24;
const PTRACE_GETREGS: libc::c_uint = 12;
const PTRACE_SETREGS: libc::c_uint = 13;
const PTRACE_GETEVENTMSG: libc::c_uint = 0x4201;
const PTRACE_PEEKDATA: libc::c_uint = 2;
const PTRACE_POKEDATA: libc::c_uint = 5;

pub const O_TRACESYSGOOD: libc::c_ulong = 1;
pub const O_TRACEFORK: libc::c_ulong = 1 << 1;
pub const O_TRACEVFORK: libc::c_ulong = 1 << 2;
pub const O_TRACECLONE: libc::c_ulong = 1 << 3;
pub const O_TRACEEXEC: libc::c_ulong = 1 << 4;
pub const O_TRACESECCOMP: libc::c_ulong = 1 << 7;
pub const O_EXITKILL: libc::c_ulong = 1 << 20;

pub const EVENT_EXEC: i32 = 4;
pub const EVENT_SECCOMP: i32 = 7;
pub const EVENT_STOP: i32 = 128;

/// The stop signal of a syscall stop under `PTRACE_O_TRACESYSGOOD`.
pub const SYSCALL_TRAP: i32 = libc::SIGTRAP | 0x80;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn request(req: libc::c_uint, pid: Pid, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: every request made through here takes integers only (or, for
    // GETREGS/SETREGS/GETEVENTMSG, a pointer its caller passes as `data`
    // to a local of the size the request writes or reads).
    check(unsafe { libc::ptrace(req, pid, addr, data) })
}

/// Attaches to `pid` without stopping it, with `options`.
pub fn seize(pid: Pid, options: libc::c_ulong) -> io::Result<()> {
    request(PTRACE_SEIZE, pid, 0, options as usize).map(drop)
}

/// Resumes a stopped tracee, delivering `sig` (0 for none).
pub fn cont(pid: Pid, sig: i32) -> io::Result<()> {
    request(PTRACE_CONT, pid, 0, sig as usize).map(drop)
}

/// Resumes until the next syscall stop (here: the exit of the current call).
pub fn syscall(pid: Pid, sig: i32) -> io::Result<()> {
    request(PTRACE_SYSCALL, pid, 0, sig as usize).map(drop)
}

/// Leaves a tracee in group-stop, to be woken by SIGCONT.
pub fn listen(pid: Pid) -> io::Result<()> {
    request(PTRACE_LISTEN, pid, 0, 0).map(drop)
}

pub fn getregs(pid: Pid) -> io::Result<Regs> {
    // SAFETY: user_regs_struct is plain integers.
    let mut regs: Regs = unsafe { std::mem::zeroed() };
    request(PTRACE_GETREGS, pid, 0, &raw mut regs as usize)?;
    Ok(regs)
}

pub fn setregs(pid: Pid, regs: &Regs) -> io::Result<()> {
    request(PTRACE_SETREGS, pid, 0, regs as *const Regs as usize).map(drop)
}

/// The event message: the new pid at a fork, vfork or clone stop, the former
/// thread id at an exec stop.
pub fn event_msg(pid: Pid) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    request(PTRACE_GETEVENTMSG, pid, 0, &raw mut msg as usize)?;
    Ok(msg)
}

/// Reads one word of the tracee's memory, even of a page it cannot write.
pub fn peek(pid: Pid, addr: u64) -> io::Result<u64> {
    // PEEKDATA returns the word; -1 is a valid word, so errno decides.
    // SAFETY: errno is this thread's.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: an integer-only request.
    let word = unsafe { libc::ptrace(PTRACE_PEEKDATA, pid, addr as usize, 0usize) };
    // SAFETY: as above.
    let errno = unsafe { *libc::__errno_location() };
    if word == -1 && errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(word as u64)
}

/// Writes one word of the tracee's memory, even of a read-only page (the
/// kernel copies it on write): how code is patched.
pub fn poke(pid: Pid, addr: u64, word: u64) -> io::Result<()> {
    request(PTRACE_POKEDATA, pid, addr as usize, word as usize).map(drop)
}

/// Reads the tracee's memory at `addr` into `buf`; fails unless all of it
/// was read.
pub fn read_mem(pid: Pid, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec covers `buf`; the remote one is only an
    // address in the tracee, which the kernel checks.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != buf.len() {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

/// Writes `buf` into the tracee's memory at `addr` (a writable mapping).
pub fn write_mem(pid: Pid, addr: u64, buf: &[u8]) -> io::Result<()> {
    let local = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the kernel only reads through the local iovec, which covers
    // `buf`; the remote address is checked by the kernel.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != buf.len() {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(())
}

/// One `waitpid` for `pid` (-1: any child or tracee) with `__WALL`;
/// `Ok(None)` when `nohang` and nothing is ready.
pub fn wait(pid: Pid, nohang: bool) -> io::Result<Option<(Pid, i32)>> {
    let mut status = 0;
    let flags = libc::__WALL | if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r > 0 {
            return Ok(Some((r, status)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Sends `sig` to one thread.
pub fn tgkill(tgid: Pid, tid: Pid, sig: i32) {
    // SAFETY: a signal to a thread of our own tree.
    unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) };
}

pub fn kill(pid: Pid, sig: i32) {
    // SAFETY: a signal to a process of our own tree.
    unsafe { libc::kill(pid, sig) };
}

/// The thread group (process) of thread `tid`, from /proc.
pub fn tgid_of(tid: Pid) -> Option<Pid> {
    status_field(tid, "Tgid:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A line of /proc/TID/status, after its key.
pub fn status_field(tid: Pid, key: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

/// A tracee's memory as /proc/PID/mem: written with the kernel's
/// FOLL_FORCE, as a debugger writes a breakpoint, so pages the process may
/// only read and execute can be written (it gets its own copy of each).
pub struct Mem(std::fs::File);

impl Mem {
    pub fn open(pid: Pid) -> io::Result<Mem> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/mem"))
            .map(Mem)
    }

    /// Writes all of `buf` at `addr`.
    pub fn write(&self, addr: u64, buf: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, addr)
    }
}
