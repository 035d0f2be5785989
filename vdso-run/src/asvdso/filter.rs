//! The seccomp filter PROGRAM and all its descendants inherit: a classic BPF
//! program that stops (SECCOMP_RET_TRACE) only the system calls whose
//! absolute deadline is on a clock the namespace shifts, and lets every
//! other call, clock reads included, run at full speed.
//!
//! | x86_64 call | stopped when |
//! |---|---|
//! | `clock_nanosleep` | `TIMER_ABSTIME`, on a shifted clock (MONOTONIC, BOOTTIME, BOOTTIME_ALARM) |
//! | `timerfd_settime`, `timer_settime` | `TFD_TIMER_ABSTIME` / `TIMER_ABSTIME` (the timer's clock is not in the arguments) |
//! | `futex` | a timeout, and `FUTEX_WAIT_BITSET`, `FUTEX_WAIT_REQUEUE_PI` or `FUTEX_LOCK_PI2` without `FUTEX_CLOCK_REALTIME` |
//! | `futex_waitv` | a timeout on CLOCK_MONOTONIC |
//! | `seccomp` | `SECCOMP_SET_MODE_FILTER` with `SECCOMP_FILTER_FLAG_NEW_LISTENER` (notif.rs) |
//!
//! Calls of the x32 ABI fail with ENOSYS; the same waits made through the
//! i386 ABI (`int 0x80` in a 64-bit program), whose 32-bit layouts are not
//! translated, fail with ENOSYS under the same conditions. A call stopped
//! without a tracer fails with ENOSYS too (the kernel's rule), so the
//! filter is safe only while vdso-run traces every process that has it.

use std::io;

use super::notif::{SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER};
use crate::deadline::FUTEX_ABSOLUTE_OPS;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

pub const RET_ALLOW: u32 = 0x7fff_0000;
/// SECCOMP_RET_TRACE, with vdso-run's mark in SECCOMP_RET_DATA (the event
/// message at the stop), which tells its stops from those of a filter the
/// program installs itself.
pub const RET_TRACE: u32 = 0x7ff0_0000 | MARK;
pub const MARK: u32 = 0x7644; // "vd"
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(test)]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// struct seccomp_data
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const fn arg_hi(i: u32) -> u32 {
    16 + 8 * i + 4
}

/// Which clocks the namespace shifts: only their waits are stopped.
#[derive(Clone, Copy, Debug)]
pub struct Shifted {
    pub monotonic: bool,
    pub boottime: bool,
}

impl Shifted {
    fn any(self) -> bool {
        self.monotonic || self.boottime
    }

    fn clocks(self) -> Vec<u32> {
        let mut c = Vec::new();
        if self.monotonic {
            c.push(libc::CLOCK_MONOTONIC as u32);
        }
        if self.boottime {
            c.extend([
                libc::CLOCK_BOOTTIME as u32,
                libc::CLOCK_BOOTTIME_ALARM as u32,
            ]);
        }
        c
    }
}

#[derive(Clone)]
enum Target {
    Label(String),
    Next,
}

fn to(label: &str) -> Target {
    Target::Label(label.to_string())
}

enum Insn {
    Stmt(u16, u32),
    Jump(u16, u32, Target, Target),
    Label(String),
}

/// A tiny assembler with forward labels.
struct Asm {
    insns: Vec<Insn>,
    /// Each ABI's block names its labels with its own prefix.
    prefix: &'static str,
}

impl Asm {
    fn ld(&mut self, off: u32) {
        self.insns.push(Insn::Stmt(BPF_LD_W_ABS, off));
    }
    fn and(&mut self, k: u32) {
        self.insns.push(Insn::Stmt(BPF_ALU_AND_K, k));
    }
    fn ret(&mut self, k: u32) {
        self.insns.push(Insn::Stmt(BPF_RET_K, k));
    }
    fn jeq(&mut self, k: u32, t: Target, f: Target) {
        self.insns.push(Insn::Jump(BPF_JEQ_K, k, t, f));
    }
    fn jset(&mut self, k: u32, t: Target, f: Target) {
        self.insns.push(Insn::Jump(BPF_JSET_K, k, t, f));
    }
    /// An unconditional jump.
    fn ja(&mut self, t: Target) {
        self.jeq(0, t.clone(), t);
    }
    /// A label of the current block.
    fn l(&self, name: &str) -> Target {
        Target::Label(format!("{}{name}", self.prefix))
    }
    fn here(&mut self, name: &str) {
        self.insns
            .push(Insn::Label(format!("{}{name}", self.prefix)));
    }
    /// Jumps to `null` if 64-bit argument `i` is 0 (a NULL pointer), else
    /// goes on, at a new label `name`.
    fn if_null(&mut self, i: u32, null: Target, name: &str) {
        self.ld(arg_lo(i));
        self.jeq(0, Target::Next, self.l(name));
        self.ld(arg_hi(i));
        self.jeq(0, null, Target::Next);
        self.here(name);
    }

    fn assemble(self) -> Vec<libc::sock_filter> {
        let mut at = std::collections::HashMap::new();
        let mut pc = 0usize;
        for insn in &self.insns {
            match insn {
                Insn::Label(name) => {
                    at.insert(name.clone(), pc);
                }
                _ => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for insn in &self.insns {
            let here = out.len();
            let rel = |t: &Target| -> u8 {
                match t {
                    Target::Next => 0,
                    Target::Label(name) => {
                        let to = *at.get(name).unwrap_or_else(|| panic!("no label {name}"));
                        u8::try_from(to - here - 1).expect("a forward jump within 255 instructions")
                    }
                }
            };
            match insn {
                Insn::Label(_) => {}
                Insn::Stmt(code, k) => out.push(libc::sock_filter {
                    code: *code,
                    jt: 0,
                    jf: 0,
                    k: *k,
                }),
                Insn::Jump(code, k, t, f) => out.push(libc::sock_filter {
                    code: *code,
                    jt: rel(t),
                    jf: rel(f),
                    k: *k,
                }),
            }
        }
        out
    }
}

/// The system-call numbers of one ABI.
struct Numbers {
    clock_nanosleep: &'static [u32],
    settime: &'static [u32],
    futex: &'static [u32],
    futex_waitv: &'static [u32],
    seccomp: &'static [u32],
}

const X86_64: Numbers = Numbers {
    clock_nanosleep: &[libc::SYS_clock_nanosleep as u32],
    settime: &[
        libc::SYS_timer_settime as u32,
        libc::SYS_timerfd_settime as u32,
    ],
    futex: &[libc::SYS_futex as u32],
    futex_waitv: &[libc::SYS_futex_waitv as u32],
    seccomp: &[libc::SYS_seccomp as u32],
};

/// i386: clock_nanosleep(_time64), timer_settime(64), timerfd_settime(64),
/// futex(_time64), futex_waitv, seccomp.
const I386: Numbers = Numbers {
    clock_nanosleep: &[267, 407],
    settime: &[260, 409, 325, 411],
    futex: &[240, 422],
    futex_waitv: &[449],
    seccomp: &[354],
};

/// One ABI's checks, ending in `allow`; waits that need translating go to
/// `action`.
fn block(a: &mut Asm, numbers: &Numbers, shifted: Shifted, action: &Target, allow: &Target) {
    let (action, allow) = (action.clone(), allow.clone());
    a.ld(OFF_NR);
    if shifted.any() {
        for &n in numbers.clock_nanosleep {
            a.jeq(n, a.l("cns"), Target::Next);
        }
        for &n in numbers.settime {
            a.jeq(n, a.l("abs"), Target::Next);
        }
        for &n in numbers.seccomp {
            a.jeq(n, a.l("seccomp"), Target::Next);
        }
    }
    if shifted.monotonic {
        for &n in numbers.futex {
            a.jeq(n, a.l("futex"), Target::Next);
        }
        for &n in numbers.futex_waitv {
            a.jeq(n, a.l("waitv"), Target::Next);
        }
    }
    a.ja(allow.clone());

    if shifted.any() {
        // clock_nanosleep(clock, flags, ...): TIMER_ABSTIME on a shifted clock.
        a.here("cns");
        a.ld(arg_lo(1));
        a.jset(libc::TIMER_ABSTIME as u32, Target::Next, allow.clone());
        a.ld(arg_lo(0));
        for c in shifted.clocks() {
            a.jeq(c, action.clone(), Target::Next);
        }
        a.ja(allow.clone());
        // timer_settime / timerfd_settime (id, flags, ...): an absolute expiry.
        a.here("abs");
        a.ld(arg_lo(1));
        a.jset(1, action.clone(), allow.clone());
        // seccomp(SECCOMP_SET_MODE_FILTER, flags, ...): a filter with a
        // listener of its own (notif.rs).
        a.here("seccomp");
        a.ld(arg_lo(0));
        a.jeq(SECCOMP_SET_MODE_FILTER, Target::Next, allow.clone());
        a.ld(arg_lo(1));
        a.jset(
            SECCOMP_FILTER_FLAG_NEW_LISTENER,
            action.clone(),
            allow.clone(),
        );
    }
    if shifted.monotonic {
        // futex(uaddr, op, val, timeout, ...): a timeout, and an operation
        // whose timeout is absolute on CLOCK_MONOTONIC (with
        // FUTEX_CLOCK_REALTIME set, the value matches none of them).
        a.here("futex");
        a.if_null(3, allow.clone(), "fop");
        a.ld(arg_lo(1));
        a.and(!(libc::FUTEX_PRIVATE_FLAG as u32));
        for op in FUTEX_ABSOLUTE_OPS {
            a.jeq(op as u32, action.clone(), Target::Next);
        }
        a.ja(allow.clone());
        // futex_waitv(waiters, n, flags, timeout, clockid).
        a.here("waitv");
        a.if_null(3, allow.clone(), "wclock");
        a.ld(arg_lo(4));
        a.jeq(libc::CLOCK_MONOTONIC as u32, action, allow);
    }
}

/// The filter for a namespace shifting `shifted`.
pub fn program(shifted: Shifted) -> Vec<libc::sock_filter> {
    let mut a = Asm {
        insns: Vec::new(),
        prefix: "",
    };
    let (allow, trace, enosys) = (to("allow"), to("trace"), to("enosys"));
    a.ld(OFF_ARCH);
    a.jeq(AUDIT_ARCH_X86_64, Target::Next, to("i386"));
    a.ld(OFF_NR);
    a.jset(X32_SYSCALL_BIT, enosys.clone(), Target::Next);
    a.prefix = "x86_64.";
    block(&mut a, &X86_64, shifted, &trace, &allow);
    a.prefix = "";
    a.here("i386");
    a.prefix = "i386.";
    block(&mut a, &I386, shifted, &enosys, &allow);
    a.prefix = "";
    a.here("allow");
    a.ret(RET_ALLOW);
    a.here("trace");
    a.ret(RET_TRACE);
    a.here("enosys");
    a.ret(RET_ERRNO | libc::ENOSYS as u32);
    a.assemble()
}

/// Installs `filter` on the calling thread: no_new_privs, then the filter.
/// Runs in the forked child, so it only makes system calls.
pub fn install(filter: &libc::sock_fprog) -> Result<(), (&'static str, i32)> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(("PR_SET_NO_NEW_PRIVS", errno()));
    }
    // SAFETY: `filter` points to a valid program that outlives the call
    // (the kernel copies it).
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            filter as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(("seccomp(SECCOMP_SET_MODE_FILTER)", errno()));
    }
    Ok(())
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over a `seccomp_data`, as the kernel does
    /// for the subset the filter uses.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                BPF_ALU_AND_K => acc &= i.k,
                BPF_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JSET_K => pc += usize::from(if acc & i.k != 0 { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    const ALL: Shifted = Shifted {
        monotonic: true,
        boottime: true,
    };

    /// Asserts the filter's verdict on each call of `arch`: (system-call
    /// number, arguments, expected return).
    fn expect(prog: &[libc::sock_filter], arch: u32, calls: &[(i64, [u64; 6], u32)]) {
        for &(nr, args, verdict) in calls {
            assert_eq!(
                run(prog, arch, nr as u32, args),
                verdict,
                "system call {nr} {args:x?}"
            );
        }
    }

    const X64: u32 = AUDIT_ARCH_X86_64;

    #[test]
    fn clock_nanosleep_stops_only_absolute_shifted_waits() {
        let cns = libc::SYS_clock_nanosleep;
        expect(
            &program(ALL),
            X64,
            &[
                (cns, [1, 1, 0x1000, 0, 0, 0], RET_TRACE),
                (cns, [7, 1, 0x1000, 0, 0, 0], RET_TRACE),
                (cns, [9, 1, 0x1000, 0, 0, 0], RET_TRACE),
                // Relative, or on REALTIME: the kernel's own semantics are right.
                (cns, [1, 0, 0x1000, 0, 0, 0], RET_ALLOW),
                (cns, [0, 1, 0x1000, 0, 0, 0], RET_ALLOW),
            ],
        );
        // Only boottime shifted: MONOTONIC sleeps run.
        let b = program(Shifted {
            monotonic: false,
            boottime: true,
        });
        expect(
            &b,
            X64,
            &[
                (cns, [1, 1, 0x1000, 0, 0, 0], RET_ALLOW),
                (cns, [7, 1, 0x1000, 0, 0, 0], RET_TRACE),
                (libc::SYS_futex, [0x10, 9, 0, 0x1000, 0, 0], RET_ALLOW),
            ],
        );
    }

    #[test]
    fn futex_stops_only_absolute_monotonic_timeouts() {
        let p = program(ALL);
        let futex = libc::SYS_futex;
        for op in [9u64, 9 | 128, 11, 13 | 128] {
            expect(
                &p,
                X64,
                &[
                    (futex, [0x10, op, 0, 0x1000, 0, 0], RET_TRACE),
                    // A timeout pointer above 4 GiB.
                    (futex, [0x10, op, 0, 0x7fff_0000_0000, 0, 0], RET_TRACE),
                    // No timeout: nothing to translate.
                    (futex, [0x10, op, 0, 0, 0, 0], RET_ALLOW),
                    // FUTEX_CLOCK_REALTIME.
                    (futex, [0x10, op | 256, 0, 0x1000, 0, 0], RET_ALLOW),
                ],
            );
        }
        // FUTEX_WAIT (relative), FUTEX_LOCK_PI (realtime), FUTEX_WAKE.
        for op in [0u64, 128, 6, 1] {
            expect(&p, X64, &[(futex, [0x10, op, 0, 0x1000, 0, 0], RET_ALLOW)]);
        }
        let waitv = libc::SYS_futex_waitv;
        expect(
            &p,
            X64,
            &[
                (waitv, [0x10, 1, 0, 0x1000, 1, 0], RET_TRACE),
                (waitv, [0x10, 1, 0, 0x1000, 0, 0], RET_ALLOW),
                (waitv, [0x10, 1, 0, 0, 1, 0], RET_ALLOW),
            ],
        );
    }

    #[test]
    fn timers_and_everything_else() {
        let p = program(ALL);
        expect(
            &p,
            X64,
            &[
                // A timer's clock is found at timer_settime (timers.rs).
                (libc::SYS_timer_create, [1, 0, 0x1000, 0, 0, 0], RET_ALLOW),
                // A filter with a listener of its own; one without; strict mode.
                (libc::SYS_seccomp, [1, 8, 0x1000, 0, 0, 0], RET_TRACE),
                (libc::SYS_seccomp, [1, 9, 0x1000, 0, 0, 0], RET_TRACE),
                (libc::SYS_seccomp, [1, 1, 0x1000, 0, 0, 0], RET_ALLOW),
                (libc::SYS_seccomp, [0, 8, 0, 0, 0, 0], RET_ALLOW),
                (libc::SYS_timer_settime, [3, 1, 0x1000, 0, 0, 0], RET_TRACE),
                (libc::SYS_timer_settime, [3, 0, 0x1000, 0, 0, 0], RET_ALLOW),
                (
                    libc::SYS_timerfd_settime,
                    [3, 1, 0x1000, 0, 0, 0],
                    RET_TRACE,
                ),
                (
                    libc::SYS_timerfd_settime,
                    [3, 2, 0x1000, 0, 0, 0],
                    RET_ALLOW,
                ),
                // Clock reads never stop.
                (228, [1, 0x1000, 0, 0, 0, 0], RET_ALLOW),
                (0, [0; 6], RET_ALLOW),
            ],
        );
        // x32 calls are refused; i386 waits that would need translating too.
        let enosys = RET_ERRNO | libc::ENOSYS as u32;
        expect(&p, X64, &[(0x4000_0000 | 230, [1, 1, 0, 0, 0, 0], enosys)]);
        expect(
            &p,
            AUDIT_ARCH_I386,
            &[
                (267, [1, 1, 0x1000, 0, 0, 0], enosys),
                (267, [1, 0, 0x1000, 0, 0, 0], RET_ALLOW),
                (354, [1, 8, 0x1000, 0, 0, 0], enosys),
                (240, [0x10, 9, 0, 0x1000, 0, 0], enosys),
                (4, [1, 0x1000, 1, 0, 0, 0], RET_ALLOW),
            ],
        );
        // Without offsets nothing stops.
        let none = program(Shifted {
            monotonic: false,
            boottime: false,
        });
        for n in [
            libc::SYS_clock_nanosleep,
            libc::SYS_futex,
            libc::SYS_timer_create,
            libc::SYS_timer_settime,
        ] {
            expect(&none, X64, &[(n, [1, 9, 0, 0x1000, 1, 0], RET_ALLOW)]);
        }
    }
}
