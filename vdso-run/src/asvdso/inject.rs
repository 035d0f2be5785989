//! The exec stop: what a kernel does for a new program's vDSO, done from
//! outside. When execve has loaded the program (and before its dynamic
//! loader or static start code runs), the tracer lets execve return, then
//! makes the process run a stub of its own (written over the start of the
//! entry point's page, the namespace file's path below the new stack's red
//! zone), which makes these system calls and stops at an `int3`. Where the
//! layout fits the kernel's `[vvar]`...`[vdso]` range (place.rs), at the
//! kernel's own `B` (`AT_SYSINFO_EHDR`):
//!
//! ```text
//!   munmap([vvar] .. the end of [vdso])
//!   openat(namespace file)
//!   mmap(B - D + ..., PROT_READ, MAP_SHARED|MAP_FIXED, fd, ...)   the data pages, one
//!                                                                 call per run
//!   mmap(B, image, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED, fd, image offset)
//!   close(fd)
//! ```
//!
//! Elsewhere, the same after `mmap(NULL, D + image, R+X, private
//! anonymous) -> R` in place of the unmap, `B = R + D`, and then the
//! auxiliary vector's `AT_SYSINFO_EHDR` on the new stack is rewritten to
//! `B`; the kernel's own vDSO stays mapped, unused.
//!
//! The image is mapped from the namespace file read and execute from the
//! start, never writable (so a program under Memory-Deny-Write-Execute
//! runs). If the namespace file's folder is mounted `noexec`, which refuses
//! that, the image goes into anonymous pages mapped read and execute and
//! is written through /proc/PID/mem (as a debugger writes a breakpoint) and
//! read back.

use std::io;
use std::time::Instant;

use super::check::{self, Identity};
use super::place::{KernelRange, NotInPlace};
use super::sys::{self, Pid, Regs};
use super::{POLL, Tracer};

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
    /// Step N (from 1) of the set-up stub failed, for this reason; the
    /// steps before it ran.
    Failed(u64, String),
}

/// Where the stub puts the data pages and the image.
#[derive(Clone, Copy)]
enum Place {
    /// In place of the kernel's mappings, the image at the kernel's `B`.
    Kernel(KernelRange),
    /// In new pages at an address the kernel chooses.
    Elsewhere,
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
            Err(Stop::Refuse(why) | Stop::Failed(_, why)) => self.refuse(&mut remote, &why),
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

        let kernel_base = sys::peek(p.pid, slot)?;
        let (data, room) = (self.layout.data_size as u64, self.image_room());
        let in_place = if self.keep_kernel_vdso {
            Err(NotInPlace::Kept)
        } else {
            KernelRange::of(p.pid, kernel_base)
                .and_then(|range| range.fits(data, room).map(|()| range))
        };
        let base = match in_place {
            Ok(range) => match self.run_stub(p, Place::Kernel(range)) {
                Ok(_) => range.base,
                // Sealed system mappings refuse the unmap (its first step).
                Err(Stop::Failed(1, _)) => {
                    self.not_in_place(&NotInPlace::Sealed);
                    self.run_stub(p, Place::Elsewhere)?
                }
                Err(e) => return Err(e),
            },
            Err(why) => {
                self.not_in_place(&why);
                self.run_stub(p, Place::Elsewhere)?
            }
        };
        if !self.image_from_file {
            // The image goes into pages mapped read and execute from the
            // start (never writable and then executable), written as a
            // debugger writes a breakpoint, and must read back as the
            // checked bytes.
            let mem = sys::Mem::open(p.pid)?;
            mem.write(base, &self.image)?;
            let mut back = vec![0u8; self.image.len()];
            sys::read_mem(p.pid, base, &mut back)?;
            if back != self.image {
                return Err(Stop::Refuse(
                    "the image did not read back as written".to_string(),
                ));
            }
        }
        let mut regs = p.regs;
        regs.orig_rax = u64::MAX;
        sys::setregs(p.pid, &regs)?;
        if base == kernel_base {
            self.in_place += 1;
        } else {
            sys::write_mem(p.pid, slot, &base.to_le_bytes())?;
        }
        Ok(())
    }

    /// Says once per reason, under `--verbose`, why an exec's image went
    /// elsewhere than the kernel's vDSO.
    fn not_in_place(&mut self, why: &NotInPlace) {
        if self.verbose && !self.not_in_place.contains(why) {
            eprintln!(
                "vdso-run: the image does not take the kernel's vDSO's place ({why}); it is \
                 mapped elsewhere and AT_SYSINFO_EHDR rewritten in the program's auxiliary \
                 vector (/proc/PID/auxv keeps the kernel's value)"
            );
            self.not_in_place.push(why.clone());
        }
    }

    /// Writes a two-byte instruction over the one at the saved RIP.
    fn patch(&mut self, p: &mut Remote, insn: u64) -> io::Result<()> {
        let word = sys::peek(p.pid, p.regs.rip)?;
        p.code = Some(word);
        sys::poke(p.pid, p.regs.rip, (word & !0xffff) | insn)
    }

    /// Makes the process map the data pages and the image (the module's
    /// doc), by a stub (`stub`) written over the start of the page of the
    /// program's entry point (mapped and executable, whatever the entry's
    /// offset in it), which ends in `int3`: one stop for all the calls,
    /// where calls injected one by one took a stop each. The code there is
    /// put back before anything else happens. Returns the image's base.
    fn run_stub(&mut self, p: &mut Remote, place: Place) -> Result<u64, Stop> {
        let path = self.ns_path.as_bytes_with_nul().to_vec();
        // Below the red zone of the new program's stack, which is mapped
        // (the kernel maps well over a page below the initial stack
        // pointer) and unused yet.
        let path_at = (p.regs.rsp - 128 - path.len() as u64) & !15;
        sys::write_mem(p.pid, path_at, &path)?;
        let at = p.regs.rip & !0xfff;
        let (code, steps) = self.stub(place, path_at);
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
            let what = steps
                .get(after.r15.wrapping_sub(1) as usize)
                .copied()
                .unwrap_or("the set-up");
            return Err(Stop::Failed(
                after.r15,
                format!(
                    "{what} failed in it: {}",
                    io::Error::from_raw_os_error((after.rax as i64).wrapping_neg() as i32)
                ),
            ));
        }
        Ok(after.r12 + self.layout.data_size as u64)
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
/// number of the call it is at (1 = the first step), RAX its result.
const STUB_DONE: u64 = 0x0076_646f_6e65; // "vdone"

impl Tracer {
    /// The stub (see the module's doc), x86-64 machine code: each call's
    /// registers loaded as 64-bit immediates (addresses in the region as
    /// R12 plus a displacement), its number in R15 for the message, and on
    /// an error (RAX in -4095..-1) a jump to the final `int3`. R12 holds
    /// the region's start (`B - D`) at the end. Returns the code and each
    /// step's name.
    fn stub(&self, place: Place, path_at: u64) -> (Vec<u8>, Vec<&'static str>) {
        let layout = &self.layout;
        let (data, room) = (layout.data_size as u64, self.image_room());
        let mut s = Stub::default();
        let prot_rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        let anonymous = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        match place {
            Place::Kernel(range) => {
                s.call(
                    "munmap (the kernel's [vvar] and [vdso])",
                    libc::SYS_munmap,
                    |c| {
                        mov(c, RDI, range.low);
                        mov(c, RSI, range.high - range.low);
                    },
                );
                mov(&mut s.code, R12, range.base - data);
            }
            Place::Elsewhere => {
                s.call("mmap (the region)", libc::SYS_mmap, |c| {
                    mov(c, RDI, 0);
                    mov(c, RSI, data + room);
                    mov(c, RDX, prot_rx);
                    mov(c, R10, anonymous);
                    mov(c, R8, u64::MAX);
                    mov(c, R9, 0);
                });
                s.code.extend_from_slice(&MOV_R12_RAX);
            }
        }
        s.call("open (the namespace file)", libc::SYS_openat, |c| {
            mov(c, RDI, libc::AT_FDCWD as u64);
            mov(c, RSI, path_at);
            mov(c, RDX, (libc::O_RDONLY | libc::O_CLOEXEC) as u64);
        });
        s.code.extend_from_slice(&MOV_R13_RAX);
        for (slot, page, pages) in layout.runs(self.timens) {
            s.call("mmap (the data pages)", libc::SYS_mmap, |c| {
                lea_rdi_r12(c, slot as u64 * 4096);
                mov(c, RSI, pages as u64 * 4096);
                mov(c, RDX, libc::PROT_READ as u64);
                mov(c, R10, (libc::MAP_SHARED | libc::MAP_FIXED) as u64);
                c.extend_from_slice(&MOV_R8_R13);
                mov(c, R9, page as u64 * 4096);
            });
        }
        let fixed = libc::MAP_FIXED as u64;
        if self.image_from_file {
            s.call("mmap (the image)", libc::SYS_mmap, |c| {
                lea_rdi_r12(c, data);
                mov(c, RSI, room);
                mov(c, RDX, prot_rx);
                mov(c, R10, libc::MAP_PRIVATE as u64 | fixed);
                c.extend_from_slice(&MOV_R8_R13);
                mov(c, R9, layout.image_offset as u64);
            });
        } else if let Place::Kernel(_) = place {
            // Elsewhere, the region is read-and-execute pages already.
            s.call("mmap (the image's pages)", libc::SYS_mmap, |c| {
                lea_rdi_r12(c, data);
                mov(c, RSI, room);
                mov(c, RDX, prot_rx);
                mov(c, R10, anonymous | fixed);
                mov(c, R8, u64::MAX);
                mov(c, R9, 0);
            });
        }
        s.call("close", libc::SYS_close, |c| {
            c.extend_from_slice(&MOV_RDI_R13)
        });
        s.finish()
    }
}

const RAX: u8 = 0;
const RDX: u8 = 2;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;
const R12: u8 = 12;
const R15: u8 = 15;
const SYSCALL: [u8; 2] = [0x0f, 0x05];
const MOV_R12_RAX: [u8; 3] = [0x49, 0x89, 0xc4];
const MOV_R13_RAX: [u8; 3] = [0x49, 0x89, 0xc5];
const MOV_RDI_R13: [u8; 3] = [0x4c, 0x89, 0xef];
const MOV_R8_R13: [u8; 3] = [0x4d, 0x89, 0xe8];
// cmp rax, -4095 (sign-extended imm32); jae rel32 (to the end).
const CMP_RAX_ERR: [u8; 6] = [0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff];
const JAE: [u8; 2] = [0x0f, 0x83];

/// mov reg, imm64: REX.W (+B for r8..r15), B8+reg.
fn mov(code: &mut Vec<u8>, reg: u8, value: u64) {
    code.push(if reg >= 8 { 0x49 } else { 0x48 });
    code.push(0xb8 + (reg & 7));
    code.extend_from_slice(&value.to_le_bytes());
}

/// lea rdi, [r12 + disp32]: REX.W+B, 8D, ModRM (disp32, rdi, SIB), SIB
/// (no index, base r12).
fn lea_rdi_r12(code: &mut Vec<u8>, disp: u64) {
    let disp = u32::try_from(disp).expect("a displacement within the region");
    code.extend_from_slice(&[0x49, 0x8d, 0xbc, 0x24]);
    code.extend_from_slice(&disp.to_le_bytes());
}

/// The stub being assembled.
#[derive(Default)]
struct Stub {
    code: Vec<u8>,
    steps: Vec<&'static str>,
    /// Where each jump to the end keeps its displacement.
    exits: Vec<usize>,
}

impl Stub {
    /// One system call: its step number in R15, `nr` in RAX, the
    /// arguments `set` loads, and a jump to the end on an error.
    fn call(&mut self, name: &'static str, nr: i64, set: impl FnOnce(&mut Vec<u8>)) {
        self.steps.push(name);
        mov(&mut self.code, R15, self.steps.len() as u64);
        mov(&mut self.code, RAX, nr as u64);
        set(&mut self.code);
        self.code.extend_from_slice(&SYSCALL);
        self.code.extend_from_slice(&CMP_RAX_ERR);
        self.code.extend_from_slice(&JAE);
        self.exits.push(self.code.len());
        self.code.extend_from_slice(&[0; 4]);
    }

    fn finish(mut self) -> (Vec<u8>, Vec<&'static str>) {
        mov(&mut self.code, R15, STUB_DONE);
        let end = self.code.len();
        self.code.push(0xcc); // int3
        for at in self.exits {
            let rel = (end - (at + 4)) as i32;
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        (self.code, self.steps)
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
