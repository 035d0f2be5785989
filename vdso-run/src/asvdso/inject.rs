//! The exec stop: what a kernel does for a new program's vDSO, done from
//! outside. When execve has loaded the program (and before its dynamic
//! loader or static start code runs), the tracer lets execve return, then
//! makes the process run system calls it chooses (a `syscall` instruction
//! written over the first one of the entry point, registers set, one
//! single step each):
//!
//! ```text
//!   mmap(NULL, 16 KiB + image, RW, private anonymous) -> R
//!   openat(namespace file)                       (path written where the image goes)
//!   mmap(R, 16 KiB, PROT_READ, MAP_SHARED|MAP_FIXED, fd, 0)    the data pages
//!   close(fd)
//!   (the image's bytes written at B = R + 16 KiB)
//!   mprotect(B, image pages, PROT_READ|PROT_EXEC)              the image
//! ```
//!
//! then puts the code and the registers back and rewrites `AT_SYSINFO_EHDR`
//! in the auxiliary vector on the new stack to `B`. The image is copied, not
//! mapped from a file, so a shared-memory folder mounted `noexec` does not
//! matter and the bytes are the ones vdso-run checked. The kernel's own
//! vDSO stays mapped, unused.

use std::io;

use super::check::{self, Identity};
use super::sys::{self, Pid, Regs};
use super::{DATA_SIZE, Tracer};

const AT_NULL: u64 = 0;
const AT_SYSINFO_EHDR: u64 = 33;
const SYSCALL_INSN: u64 = 0x050f; // 0f 05
const INT80_INSN: u64 = 0x80cd; // cd 80
const USER_CS_64: u64 = 0x33;

/// exit_group through `int 0x80` (libc has only the x86-64 numbers).
const SYS_EXIT_GROUP_I386: u64 = 252;

/// Why an exec could not be handled.
enum Stop {
    /// The process has gone (its status was handled).
    Gone,
    /// It must not run: this is why.
    Refuse(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        if e.raw_os_error() == Some(libc::ESRCH) {
            Stop::Gone
        } else {
            Stop::Refuse(format!("cannot set it up: {e}"))
        }
    }
}

/// What to wait for in a stop of the process being set up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    SyscallExit,
    Step,
}

/// A process being set up: its saved state and the patched instruction.
struct Remote {
    pid: Pid,
    regs: Regs,
    /// The entry point's first word, before the patch.
    code: Option<u64>,
    /// Signals that arrived meanwhile, sent again afterwards.
    stashed: Vec<i32>,
    /// execve has returned: `regs` are the new program's, and system calls
    /// can be injected.
    returned: bool,
}

impl Tracer {
    /// The exec stop of `pid` (the thread group leader now).
    pub fn on_exec(&mut self, pid: Pid) {
        if let Ok(former) = sys::event_msg(pid) {
            self.forget_thread(former as Pid);
        }
        self.forget_thread(pid);
        self.forget_process(pid, None);
        if pid == self.program {
            self.program_execed = true;
        }
        let mut remote = Remote {
            pid,
            regs: zeroed_regs(),
            code: None,
            stashed: Vec::new(),
            returned: false,
        };
        match self.set_up(&mut remote) {
            Ok(()) => {
                self.installed += 1;
                for sig in remote.stashed.drain(..) {
                    sys::tgkill(pid, pid, sig);
                }
                let _ = sys::cont(pid, 0);
            }
            Err(Stop::Gone) => {}
            Err(Stop::Refuse(why)) => self.refuse(&mut remote, &why),
        }
    }

    fn set_up(&mut self, p: &mut Remote) -> Result<(), Stop> {
        // Let execve return: its exit stop has the new program's registers.
        sys::syscall(p.pid, 0)?;
        self.wait_for(p, Want::SyscallExit)?;
        p.regs = sys::getregs(p.pid)?;
        p.returned = true;
        if p.regs.cs != USER_CS_64 {
            return Err(Stop::Refuse(
                "it is a 32-bit program; the images are x86-64 code".to_string(),
            ));
        }
        let exe = std::path::PathBuf::from(format!("/proc/{}/exe", p.pid));
        let who = Identity::of(p.pid).ok_or(Stop::Gone)?;
        if let Some(why) = check::identity_change(&exe, who) {
            return Err(Stop::Refuse(why));
        }
        let slot = find_auxv_entry(p.pid, p.regs.rsp, AT_SYSINFO_EHDR)?.ok_or_else(|| {
            Stop::Refuse(
                "the kernel gave it no vDSO (no AT_SYSINFO_EHDR) to replace, so it would read \
                 the host's clocks through system calls"
                    .to_string(),
            )
        })?;

        self.patch(p, SYSCALL_INSN)?;
        let room = self.image_room();
        let total = DATA_SIZE + room;
        let r = self.remote(
            p,
            libc::SYS_mmap,
            [
                0,
                total,
                (libc::PROT_READ | libc::PROT_WRITE) as u64,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
            "mmap (the region)",
        )?;
        let base = r + DATA_SIZE;
        // The image's pages are still writable: the path goes there, and
        // the image over it.
        let path = self.ns_path.as_bytes_with_nul().to_vec();
        sys::write_mem(p.pid, base, &path)?;
        let fd = self.remote(
            p,
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                base,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                0,
                0,
                0,
            ],
            "open (the namespace file)",
        )?;
        self.remote(
            p,
            libc::SYS_mmap,
            [
                r,
                DATA_SIZE,
                libc::PROT_READ as u64,
                (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
                fd,
                0,
            ],
            "mmap (the data pages)",
        )?;
        self.remote(p, libc::SYS_close, [fd, 0, 0, 0, 0, 0], "close")?;
        sys::write_mem(p.pid, base, &vec![0u8; path.len()])?;
        sys::write_mem(p.pid, base, &self.image)?;
        self.remote(
            p,
            libc::SYS_mprotect,
            [
                base,
                room,
                (libc::PROT_READ | libc::PROT_EXEC) as u64,
                0,
                0,
                0,
            ],
            "mprotect (the image)",
        )?;

        // The image must read back as the checked bytes.
        let mut back = vec![0u8; self.image.len()];
        sys::read_mem(p.pid, base, &mut back)?;
        if back != self.image {
            return Err(Stop::Refuse(
                "the image did not read back as written".to_string(),
            ));
        }
        self.unpatch(p)?;
        let mut regs = p.regs;
        regs.orig_rax = u64::MAX;
        sys::setregs(p.pid, &regs)?;
        sys::write_mem(p.pid, slot, &base.to_le_bytes())?;
        Ok(())
    }

    /// Writes a two-byte instruction over the one at the saved RIP.
    fn patch(&mut self, p: &mut Remote, insn: u64) -> io::Result<()> {
        let word = sys::peek(p.pid, p.regs.rip)?;
        p.code = Some(word);
        sys::poke(p.pid, p.regs.rip, (word & !0xffff) | insn)
    }

    fn unpatch(&mut self, p: &mut Remote) -> io::Result<()> {
        match p.code.take() {
            Some(word) => sys::poke(p.pid, p.regs.rip, word),
            None => Ok(()),
        }
    }

    /// Runs one system call in the process (at its patched entry point) and
    /// returns its result, or refuses the process if it failed.
    fn remote(
        &mut self,
        p: &mut Remote,
        nr: libc::c_long,
        args: [u64; 6],
        what: &str,
    ) -> Result<u64, Stop> {
        let mut r = p.regs;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        r.rdi = args[0];
        r.rsi = args[1];
        r.rdx = args[2];
        r.r10 = args[3];
        r.r8 = args[4];
        r.r9 = args[5];
        sys::setregs(p.pid, &r)?;
        sys::singlestep(p.pid)?;
        self.wait_for(p, Want::Step)?;
        let after = sys::getregs(p.pid)?;
        if after.rip != p.regs.rip + 2 {
            return Err(Stop::Refuse(format!(
                "{what}: the injected system call did not run (stopped at {:#x})",
                after.rip
            )));
        }
        let ret = after.rax as i64;
        if (-4095..0).contains(&ret) {
            return Err(Stop::Refuse(format!(
                "{what} failed in it: {}",
                io::Error::from_raw_os_error(-ret as i32)
            )));
        }
        Ok(after.rax)
    }

    /// Waits for the next stop of the process being set up; any other
    /// signal it gets meanwhile is kept for later, so that nothing but the
    /// injected calls runs until it is set up.
    fn wait_for(&mut self, p: &mut Remote, want: Want) -> Result<(), Stop> {
        loop {
            let Some((_, status)) = sys::wait(p.pid, false)? else {
                continue;
            };
            if !libc::WIFSTOPPED(status) {
                self.on_gone(p.pid, status);
                return Err(Stop::Gone);
            }
            let (sig, event) = (libc::WSTOPSIG(status), status >> 16);
            match want {
                Want::SyscallExit if sig == sys::SYSCALL_TRAP => return Ok(()),
                Want::Step if sig == libc::SIGTRAP && event == 0 => return Ok(()),
                _ => {}
            }
            if event == 0 && sig != sys::SYSCALL_TRAP {
                p.stashed.push(sig);
            }
            match want {
                Want::SyscallExit => sys::syscall(p.pid, 0)?,
                Want::Step => sys::singlestep(p.pid)?,
            }
        }
    }

    /// Ends a process that cannot be handled before any of its code runs:
    /// it exits with 126, as a shell's "cannot execute" does, after one
    /// line on stderr.
    fn refuse(&mut self, p: &mut Remote, why: &str) {
        let exe = std::fs::read_link(format!("/proc/{}/exe", p.pid))
            .map(|e| e.display().to_string())
            .unwrap_or_else(|_| "a program".to_string());
        eprintln!(
            "vdso-run: refusing to run {exe} (pid {}): {why}; it exits with 126",
            p.pid
        );
        self.refused += 1;
        if p.pid == self.program {
            self.program_refused = true;
        }
        let compat = p.regs.cs != USER_CS_64;
        let done = (|| -> io::Result<()> {
            if !p.returned {
                // Still inside execve, which would overwrite RAX on return.
                return Err(io::Error::other("not at the program's entry"));
            }
            if p.code.is_none() {
                self.patch(p, if compat { INT80_INSN } else { SYSCALL_INSN })?;
            }
            let mut r = p.regs;
            r.orig_rax = u64::MAX;
            if compat {
                r.rax = SYS_EXIT_GROUP_I386;
                r.rbx = 126;
            } else {
                r.rax = libc::SYS_exit_group as u64;
                r.rdi = 126;
            }
            sys::setregs(p.pid, &r)?;
            sys::cont(p.pid, 0)
        })();
        if done.is_err() {
            sys::kill(p.pid, libc::SIGKILL);
            let _ = sys::cont(p.pid, 0);
        }
    }
}

fn zeroed_regs() -> Regs {
    // SAFETY: user_regs_struct is plain integers.
    unsafe { std::mem::zeroed() }
}

/// The address of the value of auxiliary-vector entry `key` on a new
/// program's stack (`sp` points to argc, then argv, NULL, envp, NULL, auxv).
fn find_auxv_entry(pid: Pid, sp: u64, key: u64) -> io::Result<Option<u64>> {
    let mut words = Words::new(pid, sp);
    let argc = words.next()?;
    for _ in 0..=argc {
        words.next()?;
    }
    while words.next()? != 0 {}
    loop {
        let (k, at) = (words.next()?, words.at());
        words.next()?;
        if k == key {
            return Ok(Some(at));
        }
        if k == AT_NULL {
            return Ok(None);
        }
    }
}

/// Reads a tracee's words one after another, a page at a time.
struct Words {
    pid: Pid,
    addr: u64,
    buf: Vec<u8>,
    start: u64,
}

impl Words {
    fn new(pid: Pid, addr: u64) -> Words {
        Words {
            pid,
            addr,
            buf: Vec::new(),
            start: addr,
        }
    }

    /// The address of the next word.
    fn at(&self) -> u64 {
        self.addr
    }

    fn next(&mut self) -> io::Result<u64> {
        let end = self.start + self.buf.len() as u64;
        if self.addr + 8 > end {
            let len = 4096 - (self.addr % 4096) as usize;
            let len = if len < 8 { len + 4096 } else { len };
            self.buf = vec![0; len];
            self.start = self.addr;
            sys::read_mem(self.pid, self.addr, &mut self.buf)?;
        }
        let i = (self.addr - self.start) as usize;
        self.addr += 8;
        Ok(u64::from_le_bytes(
            self.buf[i..i + 8].try_into().expect("8 bytes"),
        ))
    }
}
