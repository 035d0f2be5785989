//! The exec stop: what a kernel does for a new program's vDSO, done from
//! outside. When execve has loaded the program (and before its dynamic
//! loader or static start code runs), the tracer lets execve return, then
//! makes the process run a stub of its own (written over the start of the
//! entry point's page, the namespace file's path below the new stack's red
//! zone), which makes these system calls and stops at an `int3`:
//!
//! ```text
//!   mmap(NULL, 16 KiB + image, R+X, private anonymous) -> R
//!   openat(namespace file)
//!   mmap(R, 16 KiB, PROT_READ, MAP_SHARED|MAP_FIXED, fd, 0)    the data pages
//!   close(fd)
//! ```
//!
//! It puts the code back, writes the image's bytes at B = R + 16 KiB
//! through /proc/PID/mem (as a debugger writes a breakpoint: the pages are
//! read and execute from the start, never writable), reads them back, puts
//! the registers back and rewrites `AT_SYSINFO_EHDR` in the auxiliary
//! vector on the new stack to `B`. The image is copied, not mapped from a
//! file, so a shared-memory folder mounted `noexec` does not matter and the
//! bytes are the ones vdso-run checked. The kernel's own vDSO stays mapped,
//! unused.

use std::io;
use std::time::Instant;

use super::check::{self, Identity};
use super::sys::{self, Pid, Regs};
use super::{DATA_SIZE, POLL, Tracer};

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
    /// The stub's `int3`, which leaves RIP at this address.
    Trap(u64),
}

/// A process being set up: its saved state and the patched instruction.
struct Remote {
    pid: Pid,
    regs: Regs,
    /// The entry point's first word, before the patch.
    code: Option<u64>,
    /// Signals that arrived meanwhile, sent again afterwards.
    stashed: Vec<i32>,
    /// execve has returned (`regs` are the new program's either way), and
    /// system calls can be injected.
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
        // The exec stop has the new program's registers, but it is still
        // inside execve, whose return sets RAX to 0: the stub loads every
        // register it uses, and the program starts with what execve gives.
        p.regs = sys::getregs(p.pid)?;
        p.regs.rax = 0;
        if p.regs.cs != USER_CS_64 {
            return Err(Stop::Refuse(
                "it is a 32-bit program; the images are x86-64 code".to_string(),
            ));
        }
        let exe = std::path::PathBuf::from(format!("/proc/{}/exe", p.pid));
        if let Some(why) = check::identity_change(&exe, || Identity::of(p.pid)) {
            return Err(Stop::Refuse(why));
        }
        let slot = find_auxv_entry(p.pid, p.regs.rsp, AT_SYSINFO_EHDR)?.ok_or_else(|| {
            Stop::Refuse(
                "the kernel gave it no vDSO (no AT_SYSINFO_EHDR) to replace, so it would read \
                 the host's clocks through system calls"
                    .to_string(),
            )
        })?;

        let room = self.image_room();
        let r = self.run_stub(p, DATA_SIZE + room)?;
        let base = r + DATA_SIZE;
        // The image goes into pages mapped read and execute from the start
        // (never writable and then executable), written as a debugger
        // writes a breakpoint.
        let mem = sys::Mem::open(p.pid)?;
        mem.write(base, &self.image)?;
        // The image must read back as the checked bytes.
        let mut back = vec![0u8; self.image.len()];
        sys::read_mem(p.pid, base, &mut back)?;
        if back != self.image {
            return Err(Stop::Refuse(
                "the image did not read back as written".to_string(),
            ));
        }
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

    /// Makes the process map the region: the data pages from the namespace
    /// file, read-only and shared, at its start, and read-and-execute
    /// anonymous pages for the image above them. The calls are run by a
    /// stub (`stub`) written over the start of the page of the program's
    /// entry point (mapped and executable, whatever the entry's offset in
    /// it), which ends in `int3`: one stop for all of them, where calls
    /// injected one by one took a stop each. The code there is put back
    /// before anything else happens. Returns the region's start.
    fn run_stub(&mut self, p: &mut Remote, total: u64) -> Result<u64, Stop> {
        let path = self.ns_path.as_bytes_with_nul().to_vec();
        // Below the red zone of the new program's stack, which is mapped
        // (the kernel maps well over a page below the initial stack
        // pointer) and unused yet.
        let path_at = (p.regs.rsp - 128 - path.len() as u64) & !15;
        sys::write_mem(p.pid, path_at, &path)?;
        let at = p.regs.rip & !0xfff;
        let code = stub(total, path_at);
        let mut saved = vec![0u8; code.len()];
        sys::read_mem(p.pid, at, &mut saved)?;
        let mem = sys::Mem::open(p.pid)?;
        mem.write(at, &code)?;
        let ran = (|| -> Result<Regs, Stop> {
            let mut r = p.regs;
            r.rip = at;
            r.orig_rax = u64::MAX;
            sys::setregs(p.pid, &r)?;
            sys::cont(p.pid, 0)?;
            self.wait_for(p, Want::Trap(at + code.len() as u64))?;
            p.returned = true;
            Ok(sys::getregs(p.pid)?)
        })();
        mem.write(at, &saved)?;
        sys::write_mem(p.pid, path_at, &vec![0u8; path.len()])?;
        let after = ran?;
        if after.r15 != STUB_DONE {
            let what = STUB_STEPS
                .get(after.r15.wrapping_sub(1) as usize)
                .unwrap_or(&"the set-up");
            return Err(Stop::Refuse(format!(
                "{what} failed in it: {}",
                io::Error::from_raw_os_error((after.rax as i64).wrapping_neg() as i32)
            )));
        }
        Ok(after.r12)
    }

    /// Waits for the next stop of the process being set up; any other
    /// signal it gets meanwhile is kept for later, so that nothing but the
    /// injected calls runs until it is set up.
    fn wait_for(&mut self, p: &mut Remote, want: Want) -> Result<(), Stop> {
        let asked = Instant::now();
        loop {
            // A step or an injected call takes microseconds: poll for it
            // (`POLL`) rather than sleep and wait to be woken.
            let nohang = self.poll && asked.elapsed() < POLL;
            let Some((_, status)) = sys::wait(p.pid, nohang)? else {
                continue;
            };
            if !libc::WIFSTOPPED(status) {
                self.on_gone(p.pid, status);
                return Err(Stop::Gone);
            }
            let (sig, event) = (libc::WSTOPSIG(status), status >> 16);
            match want {
                Want::SyscallExit if sig == sys::SYSCALL_TRAP => return Ok(()),
                Want::Trap(end)
                    if sig == libc::SIGTRAP && event == 0 && sys::getregs(p.pid)?.rip == end =>
                {
                    return Ok(());
                }
                _ => {}
            }
            if event == 0 && sig != sys::SYSCALL_TRAP {
                p.stashed.push(sig);
            }
            match want {
                Want::SyscallExit => sys::syscall(p.pid, 0)?,
                Want::Trap(_) => sys::cont(p.pid, 0)?,
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
        if !p.returned {
            // Still inside execve, which would overwrite RAX on return: let
            // it return first.
            let returned =
                sys::syscall(p.pid, 0).is_ok() && self.wait_for(p, Want::SyscallExit).is_ok();
            p.returned = returned;
        }
        let done = (|| -> io::Result<()> {
            if !p.returned {
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

/// R15 at the stub's `int3` when every call succeeded; before that, the
/// number of the call it is at (1 = `STUB_STEPS[0]`), RAX its result.
const STUB_DONE: u64 = 0x0076_646f_6e65; // "vdone"
const STUB_STEPS: [&str; 4] = [
    "mmap (the region)",
    "open (the namespace file)",
    "mmap (the data pages)",
    "close",
];

/// The stub (see the module's doc), x86-64 machine code: each call's
/// registers loaded as 64-bit immediates, its number in R15 for the
/// message, and on an error (RAX in -4095..-1) a jump to the final `int3`.
/// The region's start is left in R12.
fn stub(total: u64, path_at: u64) -> Vec<u8> {
    // mov reg, imm64: REX.W (+B for r8..r15), B8+reg.
    fn mov(code: &mut Vec<u8>, reg: u8, value: u64) {
        code.push(if reg >= 8 { 0x49 } else { 0x48 });
        code.push(0xb8 + (reg & 7));
        code.extend_from_slice(&value.to_le_bytes());
    }
    const RAX: u8 = 0;
    const RDX: u8 = 2;
    const RSI: u8 = 6;
    const RDI: u8 = 7;
    const R8: u8 = 8;
    const R9: u8 = 9;
    const R10: u8 = 10;
    const R15: u8 = 15;
    const SYSCALL: [u8; 2] = [0x0f, 0x05];
    const MOV_R12_RAX: [u8; 3] = [0x49, 0x89, 0xc4];
    const MOV_R13_RAX: [u8; 3] = [0x49, 0x89, 0xc5];
    const MOV_RDI_R12: [u8; 3] = [0x4c, 0x89, 0xe7];
    const MOV_RDI_R13: [u8; 3] = [0x4c, 0x89, 0xef];
    const MOV_R8_R13: [u8; 3] = [0x4d, 0x89, 0xe8];
    // cmp rax, -4095 (sign-extended imm32); jae rel32 (to the end).
    const CMP_RAX_ERR: [u8; 6] = [0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff];
    const JAE: [u8; 2] = [0x0f, 0x83];

    let mut code = Vec::new();
    let mut exits = Vec::new();
    let mut call = |code: &mut Vec<u8>, step: u64, nr: i64, set: &dyn Fn(&mut Vec<u8>)| {
        mov(code, R15, step);
        mov(code, RAX, nr as u64);
        set(code);
        code.extend_from_slice(&SYSCALL);
        code.extend_from_slice(&CMP_RAX_ERR);
        code.extend_from_slice(&JAE);
        exits.push(code.len());
        code.extend_from_slice(&[0; 4]);
    };
    call(&mut code, 1, libc::SYS_mmap, &|c| {
        mov(c, RDI, 0);
        mov(c, RSI, total);
        mov(c, RDX, (libc::PROT_READ | libc::PROT_EXEC) as u64);
        mov(c, R10, (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64);
        mov(c, R8, u64::MAX);
        mov(c, R9, 0);
    });
    code.extend_from_slice(&MOV_R12_RAX);
    call(&mut code, 2, libc::SYS_openat, &|c| {
        mov(c, RDI, libc::AT_FDCWD as u64);
        mov(c, RSI, path_at);
        mov(c, RDX, (libc::O_RDONLY | libc::O_CLOEXEC) as u64);
    });
    code.extend_from_slice(&MOV_R13_RAX);
    call(&mut code, 3, libc::SYS_mmap, &|c| {
        c.extend_from_slice(&MOV_RDI_R12);
        mov(c, RSI, DATA_SIZE);
        mov(c, RDX, libc::PROT_READ as u64);
        mov(c, R10, (libc::MAP_SHARED | libc::MAP_FIXED) as u64);
        c.extend_from_slice(&MOV_R8_R13);
        mov(c, R9, 0);
    });
    call(&mut code, 4, libc::SYS_close, &|c| {
        c.extend_from_slice(&MOV_RDI_R13)
    });
    mov(&mut code, R15, STUB_DONE);
    let end = code.len();
    code.push(0xcc); // int3
    for at in exits {
        let rel = (end - (at + 4)) as i32;
        code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
    }
    code
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
