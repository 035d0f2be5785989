//! Raw system calls. The library defines `syscall`, `clock_gettime` and
//! others, so calling libc's would call itself; and these are safe in signal
//! handlers and `vfork` children. Each returns the kernel's value: `>= 0`,
//! or `-errno`.

use core::arch::asm;
use core::ffi::c_int;

/// # Safety
/// The arguments must be valid for system call `nr`.
#[inline(always)]
pub unsafe fn syscall6(nr: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers only
    // rcx and r11 besides rax.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Opens a NUL-terminated path (`path` must end with a NUL byte),
/// close-on-exec. Every descriptor the library opens is its own, for the
/// length of one call, so a program that has taken every descriptor its
/// limit allows must not stop it: then the soft limit is raised by one
/// for that open and put back at once (the hard one too, where the
/// process may: root), as if the descriptor had been set aside before
/// the program ran. The program's own opens see their own limit.
pub fn open(path: &[u8], flags: c_int) -> Result<c_int, c_int> {
    if path.last() != Some(&0) {
        return Err(libc::EINVAL);
    }
    match openat(path, flags) {
        Err(libc::EMFILE) => {}
        done => return done,
    }
    let Some(limit) = fd_limit(None) else {
        return Err(libc::EMFILE);
    };
    let room = libc::rlimit64 {
        rlim_cur: limit.rlim_cur.saturating_add(1),
        rlim_max: limit.rlim_max.max(limit.rlim_cur.saturating_add(1)),
    };
    if fd_limit(Some(&room)).is_none() {
        return Err(libc::EMFILE);
    }
    let opened = openat(path, flags);
    fd_limit(Some(&limit));
    opened
}

fn openat(path: &[u8], flags: c_int) -> Result<c_int, c_int> {
    // SAFETY: a NUL-terminated path that lives across the call.
    let r = unsafe {
        syscall6(
            libc::SYS_openat as usize,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                (flags | libc::O_CLOEXEC) as usize,
                0,
                0,
                0,
            ],
        )
    };
    check(r).map(|fd| fd as c_int)
}

/// This process's RLIMIT_NOFILE, set to `new` if given; the limit before.
fn fd_limit(new: Option<&libc::rlimit64>) -> Option<libc::rlimit64> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let new = new.map_or(0, |n| core::ptr::from_ref(n) as usize);
    // SAFETY: this process (0), a readable new limit or NULL, a writable
    // old one.
    let r = unsafe {
        syscall6(
            libc::SYS_prlimit64 as usize,
            [
                0,
                libc::RLIMIT_NOFILE as usize,
                new,
                (&raw mut old) as usize,
                0,
                0,
            ],
        )
    };
    check(r).ok().map(|_| old)
}

/// readlink of a NUL-terminated path into `buf`: the length read.
pub fn readlink(path: &[u8], buf: &mut [u8]) -> Option<usize> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: a NUL-terminated path and a writable buffer of its length.
    let r = unsafe {
        syscall6(
            libc::SYS_readlinkat as usize,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                0,
                0,
            ],
        )
    };
    check(r).ok().map(|n| n as usize)
}

/// Removes a NUL-terminated path (best effort).
pub fn unlink(path: &[u8]) {
    if path.last() == Some(&0) {
        // SAFETY: a NUL-terminated path.
        unsafe {
            syscall6(
                libc::SYS_unlinkat as usize,
                [libc::AT_FDCWD as usize, path.as_ptr() as usize, 0, 0, 0, 0],
            )
        };
    }
}

pub fn close(fd: c_int) {
    // SAFETY: closing a descriptor this library opened.
    unsafe { syscall6(libc::SYS_close as usize, [fd as usize, 0, 0, 0, 0, 0]) };
}

/// Reads up to `buf.len()` bytes at `offset`, retrying short reads.
pub fn pread(fd: c_int, buf: &mut [u8], offset: u64) -> usize {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: `buf[done..]` is writable memory of that length.
        let r = unsafe {
            syscall6(
                libc::SYS_pread64 as usize,
                [
                    fd as usize,
                    buf.as_mut_ptr() as usize + done,
                    buf.len() - done,
                    offset as usize + done,
                    0,
                    0,
                ],
            )
        };
        if r == -(libc::EINTR as isize) {
            continue;
        }
        if r <= 0 {
            break;
        }
        done += r as usize;
    }
    done
}

/// Writes all of `buf` to `fd` (best effort: for messages).
pub fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable memory of that length.
        let r = unsafe {
            syscall6(
                libc::SYS_write as usize,
                [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0],
            )
        };
        if r == -(libc::EINTR as isize) {
            continue;
        }
        if r <= 0 {
            return;
        }
        buf = &buf[r as usize..];
    }
}

pub fn file_size(fd: c_int) -> Result<u64, c_int> {
    // SAFETY: lseek takes integers only.
    let r = unsafe {
        syscall6(
            libc::SYS_lseek as usize,
            [fd as usize, 0, libc::SEEK_END as usize, 0, 0, 0],
        )
    };
    check(r).map(|n| n as u64)
}

/// # Safety
/// As mmap(2): with `MAP_FIXED`, `addr` must be a range this library owns.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: usize,
) -> Result<usize, c_int> {
    // SAFETY: forwarded from the caller.
    let r = unsafe {
        syscall6(
            libc::SYS_mmap as usize,
            [
                addr,
                len,
                prot as usize,
                flags as usize,
                fd as isize as usize,
                offset,
            ],
        )
    };
    check(r).map(|a| a as usize)
}

/// # Safety
/// The range must be a mapping this library owns and nothing may use it.
pub unsafe fn munmap(addr: usize, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { syscall6(libc::SYS_munmap as usize, [addr, len, 0, 0, 0, 0]) };
}

/// # Safety
/// The range must be a mapping this library owns.
pub unsafe fn mprotect(addr: usize, len: usize, prot: c_int) -> Result<(), c_int> {
    // SAFETY: forwarded from the caller.
    let r = unsafe {
        syscall6(
            libc::SYS_mprotect as usize,
            [addr, len, prot as usize, 0, 0, 0],
        )
    };
    check(r).map(|_| ())
}

pub fn flock(fd: c_int, op: c_int) -> Result<(), c_int> {
    // SAFETY: integers only.
    let r = unsafe {
        syscall6(
            libc::SYS_flock as usize,
            [fd as usize, op as usize, 0, 0, 0, 0],
        )
    };
    check(r).map(|_| ())
}

pub fn getpid() -> c_int {
    // SAFETY: no arguments.
    unsafe { syscall6(libc::SYS_getpid as usize, [0; 6]) as c_int }
}

pub fn getppid() -> c_int {
    // SAFETY: no arguments.
    unsafe { syscall6(libc::SYS_getppid as usize, [0; 6]) as c_int }
}

pub fn kill_self(sig: c_int) {
    // SAFETY: signalling our own process.
    unsafe {
        syscall6(
            libc::SYS_kill as usize,
            [getpid() as usize, sig as usize, 0, 0, 0, 0],
        )
    };
}

pub fn exit_group(code: c_int) -> ! {
    loop {
        // SAFETY: ends the process.
        unsafe {
            syscall6(
                libc::SYS_exit_group as usize,
                [code as usize, 0, 0, 0, 0, 0],
            )
        };
    }
}

/// A file named for the system calls that describe it.
#[derive(Clone, Copy)]
pub enum FileRef<'a> {
    /// An open descriptor (fexecve, or a file opened to be read).
    Fd(c_int),
    /// A NUL-terminated path, followed as exec follows it (a file that
    /// may be executed but not read: set-user-ID programs often are).
    Path(&'a [u8]),
}

/// The kernel's `struct statfs` on x86-64 (libc's hides `f_flags`).
#[repr(C)]
struct KernelStatfs {
    words: [i64; 7],
    fsid: [i32; 2],
    namelen: i64,
    frsize: i64,
    flags: i64,
    spare: [i64; 4],
}
const _: () = assert!(size_of::<KernelStatfs>() == 120);

/// What the kernel reads in a file to change privileges at exec: its
/// mode and owners, its capabilities attribute and its mount's `nosuid`.
pub fn file_ids(file: FileRef<'_>) -> Option<crate::privilege::FileIds> {
    let name = b"security.capability\0";
    let (stat_nr, xattr_nr, statfs_nr, arg) = match file {
        FileRef::Fd(fd) => (
            libc::SYS_fstat,
            libc::SYS_fgetxattr,
            libc::SYS_fstatfs,
            fd as usize,
        ),
        FileRef::Path(path) if path.last() == Some(&0) => (
            libc::SYS_stat,
            libc::SYS_getxattr,
            libc::SYS_statfs,
            path.as_ptr() as usize,
        ),
        FileRef::Path(_) => return None,
    };
    // SAFETY: stat and statfs are plain data.
    let (mut st, mut fs): (libc::stat, KernelStatfs) = unsafe { core::mem::zeroed() };
    // SAFETY: a descriptor or NUL-terminated path, and a writable buffer
    // of the kernel's struct.
    let r = unsafe { syscall6(stat_nr as usize, [arg, (&raw mut st) as usize, 0, 0, 0, 0]) };
    check(r).ok()?;
    let mut xattr = [0u8; 24];
    // SAFETY: as above, a NUL-terminated name and a writable buffer of
    // its length.
    let n = unsafe {
        syscall6(
            xattr_nr as usize,
            [
                arg,
                name.as_ptr() as usize,
                xattr.as_mut_ptr() as usize,
                xattr.len(),
                0,
                0,
            ],
        )
    };
    // SAFETY: as for stat.
    let r = unsafe {
        syscall6(
            statfs_nr as usize,
            [arg, (&raw mut fs) as usize, 0, 0, 0, 0],
        )
    };
    let nosuid = r == 0 && fs.flags & libc::ST_NOSUID as i64 != 0;
    let attr = if n > 0 { &xattr[..n as usize] } else { &[][..] };
    Some(crate::privilege::FileIds {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        capabilities: crate::privilege::capabilities_grant(attr),
        nosuid,
    })
}

/// This process's effective ids.
pub fn who() -> crate::privilege::Who {
    // SAFETY: no arguments; they cannot fail.
    unsafe {
        crate::privilege::Who {
            euid: syscall6(libc::SYS_geteuid as usize, [0; 6]) as u32,
            egid: syscall6(libc::SYS_getegid as usize, [0; 6]) as u32,
        }
    }
}

/// `access(path, X_OK)` for a NUL-terminated path.
pub fn executable(path: &[u8]) -> bool {
    if path.last() != Some(&0) {
        return false;
    }
    // SAFETY: a NUL-terminated path.
    let r = unsafe {
        syscall6(
            libc::SYS_faccessat as usize,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                libc::X_OK as usize,
                0,
                0,
                0,
            ],
        )
    };
    r == 0
}

fn check(r: isize) -> Result<isize, c_int> {
    if (-4095..0).contains(&r) {
        Err(-r as c_int)
    } else {
        Ok(r)
    }
}

/// The TSC, unordered: only for coarse staleness checks.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no memory effects and exists on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Sets errno (libc's thread-local one, which every caller reads).
pub fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// A message in a fixed buffer, written to stderr in one write.
pub struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    pub fn new() -> Msg {
        Msg {
            buf: [0; 1024],
            len: 0,
        }
    }

    pub fn send(&mut self) {
        if self.len == self.buf.len() {
            self.buf[self.len - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        write_all(2, &self.buf[..self.len]);
    }
}

impl core::fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Bytes shown as text.
pub struct Bytes<'a>(pub &'a [u8]);

impl core::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
        }
        Ok(())
    }
}
