//! Absolute-time waits on shifted clocks, translated where the system call
//! is made. At the seccomp stop the tracer reads the caller's deadline,
//! moves it to host time as Linux's `timens_ktime_to_host` does (the rule the
//! preload library follows too, in shared/deadline.rs), writes the result
//! on the calling thread's stack, below the 128-byte red zone under its
//! stack pointer, and points the argument register there. Below the red
//! zone nothing of the caller's lives: the x86-64 ABI lets a signal frame
//! land there at any moment (the kernel writes its own there, and PRoot its
//! rewritten paths). Every thread has its own stack and makes one call at a
//! time, so no table of slots is needed and there is no limit on how many
//! translated calls are in progress; and the kernel copies the deadline in
//! as the call starts, before anything could land there. The caller's own
//! memory is never written, so a deadline in read-only memory, one shared
//! by several threads, or one the call overwrites (`old == new`) are all
//! right. At the syscall-exit stop the register is restored: the kernel
//! preserves argument registers, so the caller may rely on them, and a call
//! the kernel restarts (after a signal) enters the filter again with the
//! caller's pointer and is translated again, once.
//!
//! The page below the stack pointer may not be mapped yet: the main
//! thread's stack grows on a fault of its own, which a write from the
//! tracer does not cause. Then the thread is first made to fault it in
//! itself: the call is turned into a `clock_gettime` writing there, and at
//! its exit stop the registers are put back one instruction earlier, so
//! that the thread makes its call again and is translated then.

use common::route::{Shift, deadline_shift};

use super::Tracer;
use super::notif;
use super::sys::{self, Pid, Regs};
use crate::deadline::{self, futex_waits_on_monotonic};

/// Below the stack pointer, the bytes a function may use without moving it
/// (x86-64 psABI 3.2.2).
const RED_ZONE: u64 = 128;
/// The size of the `syscall` instruction, which a call made again is run
/// from.
const SYSCALL_INSN_LEN: u64 = 2;

/// The calls counted by `--verbose`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    ClockNanosleep,
    TimerfdSettime,
    TimerSettime,
    Futex,
    FutexWaitv,
}

impl Call {
    pub const ALL: [Call; 5] = [
        Call::ClockNanosleep,
        Call::TimerfdSettime,
        Call::TimerSettime,
        Call::Futex,
        Call::FutexWaitv,
    ];

    /// Its x86-64 system call.
    pub fn number(self) -> u32 {
        (match self {
            Call::ClockNanosleep => libc::SYS_clock_nanosleep,
            Call::TimerfdSettime => libc::SYS_timerfd_settime,
            Call::TimerSettime => libc::SYS_timer_settime,
            Call::Futex => libc::SYS_futex,
            Call::FutexWaitv => libc::SYS_futex_waitv,
        }) as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            Call::ClockNanosleep => "clock_nanosleep",
            Call::TimerfdSettime => "timerfd_settime",
            Call::TimerSettime => "timer_settime",
            Call::Futex => "futex",
            Call::FutexWaitv => "futex_waitv",
        }
    }
}

/// The argument register holding the deadline's address.
#[derive(Clone, Copy, Debug)]
pub enum Reg {
    Rdx,
    R10,
}

impl Reg {
    fn get(self, r: &Regs) -> u64 {
        match self {
            Reg::Rdx => r.rdx,
            Reg::R10 => r.r10,
        }
    }
    fn set(self, r: &mut Regs, v: u64) {
        match self {
            Reg::Rdx => r.rdx = v,
            Reg::R10 => r.r10 = v,
        }
    }
}

/// What a thread stopped in a system call waits for at its exit stop.
#[derive(Debug)]
pub enum Pending {
    /// Put the register back.
    Restore { reg: Reg, value: u64 },
    /// The call was turned into a `clock_gettime` that faults the stack in
    /// (see the module's doc): put these registers back and make it again.
    Again { regs: Box<Regs> },
}

fn timespec(b: &[u8]) -> (i64, i64) {
    let w = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    (w(0), w(8))
}

fn put_timespec(b: &mut [u8], (sec, nsec): (i64, i64)) {
    b[0..8].copy_from_slice(&sec.to_le_bytes());
    b[8..16].copy_from_slice(&nsec.to_le_bytes());
}

/// A timer's `itimerspec` (interval, then value) with its expiry
/// translated (`deadline::expiry_to_host`; the interval is relative).
pub fn itimerspec_to_host(offset: i128, spec: &[u8; 32]) -> Option<[u8; 32]> {
    let (sec, nsec) = timespec(&spec[16..32]);
    let host = deadline::expiry_to_host(offset, sec, nsec)?;
    let mut out = *spec;
    put_timespec(&mut out[16..32], host);
    Some(out)
}

/// The clock of a timerfd, from /proc/TID/fdinfo/FD (`clockid:`): right
/// for descriptors inherited across exec, duplicated, or received over a
/// socket, which watching timerfd_create could not know.
fn timerfd_clock(tid: Pid, fd: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("clockid:"))?
        .trim()
        .parse()
        .ok()
}

/// How a stopped thread is resumed.
pub enum Resume {
    /// To the next event (PTRACE_CONT).
    Cont,
    /// To the exit of this call (PTRACE_SYSCALL).
    Exit,
    /// Not at all: it is gone, or was killed.
    None,
}

impl Tracer {
    /// What Linux moves an absolute deadline on `clock` by, in ns (0 if
    /// the namespace does not move it).
    pub fn offset_of(&self, clock: i32) -> i128 {
        match deadline_shift(clock) {
            Some(Shift::Monotonic) => self.offsets.0,
            Some(Shift::Boottime) => self.offsets.1,
            None => 0,
        }
    }

    /// A seccomp stop: a wait the filter picked out (see filter.rs), or a
    /// stop asked for by a filter the program installed itself.
    pub fn on_seccomp(&mut self, tid: Pid) -> Resume {
        let Ok(mut regs) = sys::getregs(tid) else {
            return Resume::None;
        };
        if sys::event_msg(tid).ok() != Some(u64::from(super::filter::MARK)) {
            // The program's own SECCOMP_RET_TRACE: no tracer of its own can
            // attach, so the call fails with ENOSYS, as the kernel fails it
            // for a process nobody traces.
            regs.orig_rax = u64::MAX;
            regs.rax = (-libc::ENOSYS) as u64;
            return match sys::setregs(tid, &regs) {
                Ok(()) => Resume::Cont,
                Err(_) => Resume::None,
            };
        }
        let (a0, a1) = (regs.rdi, regs.rsi as i32);
        match regs.orig_rax as i64 {
            libc::SYS_clock_nanosleep if a1 & libc::TIMER_ABSTIME != 0 => {
                let offset = self.offset_of(a0 as i32);
                self.translate(tid, &regs, Reg::Rdx, 16, offset, Call::ClockNanosleep)
            }
            libc::SYS_futex => {
                if !futex_waits_on_monotonic(a1) || regs.r10 == 0 {
                    return Resume::Cont;
                }
                let offset = self.offset_of(libc::CLOCK_MONOTONIC);
                self.translate(tid, &regs, Reg::R10, 16, offset, Call::Futex)
            }
            libc::SYS_futex_waitv if regs.r8 as i32 == libc::CLOCK_MONOTONIC && regs.r10 != 0 => {
                let offset = self.offset_of(libc::CLOCK_MONOTONIC);
                self.translate(tid, &regs, Reg::R10, 16, offset, Call::FutexWaitv)
            }
            libc::SYS_timerfd_settime if a1 & libc::TFD_TIMER_ABSTIME != 0 => {
                let offset = timerfd_clock(tid, a0 as i32).map_or(0, |c| self.offset_of(c));
                self.translate(tid, &regs, Reg::Rdx, 32, offset, Call::TimerfdSettime)
            }
            libc::SYS_timer_settime if a1 & libc::TIMER_ABSTIME != 0 => {
                let Some(tgid) = self.tgid(tid) else {
                    return Resume::None;
                };
                let clock = match self.timers.clock(tgid, tid, a0 as i32) {
                    Ok(clock) => clock,
                    Err(e) => {
                        return self.cannot_translate(
                            tid,
                            Call::TimerSettime,
                            &format!("finding its timer's clock: {e}"),
                        );
                    }
                };
                let offset = clock.map_or(0, |c| self.offset_of(c));
                self.translate(tid, &regs, Reg::Rdx, 32, offset, Call::TimerSettime)
            }
            libc::SYS_seccomp => self.on_own_filter(tid, &regs),
            _ => Resume::Cont,
        }
    }

    /// A filter of the program's own, with a listener (notif.rs): refused
    /// if it can take a call vdso-run translates.
    fn on_own_filter(&mut self, tid: Pid, regs: &Regs) -> Resume {
        let mut fprog = [0u8; 16];
        match sys::read_mem(tid, regs.rdx, &mut fprog) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Resume::None,
            // A bad pointer: the kernel answers EFAULT itself.
            Err(_) => return Resume::Cont,
        }
        let len = usize::from(u16::from_le_bytes([fprog[0], fprog[1]]));
        let at = u64::from_le_bytes(fprog[8..16].try_into().expect("8 bytes"));
        if len == 0 || len > notif::MAX_INSNS {
            // The kernel refuses it.
            return Resume::Cont;
        }
        let mut raw = vec![0u8; len * 8];
        match sys::read_mem(tid, at, &mut raw) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Resume::None,
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => return Resume::Cont,
            Err(e) => return self.refuse_filter(tid, regs, &format!("cannot read it: {e}")),
        }
        let prog: Vec<libc::sock_filter> = raw
            .chunks_exact(8)
            .map(|i| libc::sock_filter {
                code: u16::from_le_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_le_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect();
        let taken = Call::ALL
            .iter()
            .find(|c| notif::may_notify(&prog, &[c.number()]));
        match taken {
            Some(call) => self.refuse_filter(
                tid,
                regs,
                &format!(
                    "it may send {} to the program's own supervisor (SECCOMP_RET_USER_NOTIF), \
                     which takes the call before vdso-run could translate an absolute deadline on \
                     the namespace's clocks",
                    call.name()
                ),
            ),
            None => Resume::Cont,
        }
    }

    /// Fails the `seccomp` call at `regs` with EPERM, saying why in one line.
    fn refuse_filter(&mut self, tid: Pid, regs: &Regs, why: &str) -> Resume {
        let tgid = self.tgid(tid).unwrap_or(tid);
        eprintln!(
            "vdso-run: refusing a seccomp filter with a listener in process {tgid}: {why}; its \
             seccomp() call fails with EPERM"
        );
        let mut r = *regs;
        r.orig_rax = u64::MAX;
        r.rax = (-libc::EPERM) as u64;
        match sys::setregs(tid, &r) {
            Ok(()) => Resume::Cont,
            Err(_) => Resume::None,
        }
    }

    /// Translates the `size`-byte deadline (a timespec, or an itimerspec
    /// for the timers) the register points to.
    fn translate(
        &mut self,
        tid: Pid,
        regs: &Regs,
        reg: Reg,
        size: usize,
        offset: i128,
        call: Call,
    ) -> Resume {
        if offset == 0 {
            return Resume::Cont;
        }
        let at = reg.get(regs);
        let mut theirs = [0u8; 32];
        match sys::read_mem(tid, at, &mut theirs[..size]) {
            Ok(()) => {}
            // A bad pointer: the kernel answers EFAULT itself.
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => return Resume::Cont,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Resume::None,
            Err(e) => return self.cannot_translate(tid, call, &format!("reading it: {e}")),
        }
        let host = if size == 16 {
            let (sec, nsec) = timespec(&theirs);
            deadline::to_host(offset, sec, nsec).map(|t| {
                let mut b = [0u8; 32];
                put_timespec(&mut b, t);
                b
            })
        } else {
            itimerspec_to_host(offset, &theirs)
        };
        let Some(host) = host else {
            return Resume::Cont;
        };
        let below = regs.rsp.wrapping_sub(RED_ZONE + size as u64) & !15;
        match sys::write_mem(tid, below, &host[..size]) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Resume::None,
            Err(e)
                if e.raw_os_error() == Some(libc::EFAULT)
                    && self.thread(tid).faulted_in != Some(below) =>
            {
                return self.fault_in(tid, regs, below);
            }
            Err(e) => {
                return self.cannot_translate(
                    tid,
                    call,
                    &format!("writing it below the stack pointer {:#x}: {e}", regs.rsp),
                );
            }
        }
        let mut moved = *regs;
        reg.set(&mut moved, below);
        if sys::setregs(tid, &moved).is_err() {
            return Resume::None;
        }
        let thread = self.thread(tid);
        thread.faulted_in = None;
        thread.pending = Some(Pending::Restore { reg, value: at });
        self.count(call);
        Resume::Exit
    }

    /// Makes the thread fault in the stack page at `at` itself, by turning
    /// its call into `clock_gettime(CLOCK_MONOTONIC, at)`; the call is made
    /// again from its exit stop.
    fn fault_in(&mut self, tid: Pid, regs: &Regs, at: u64) -> Resume {
        let mut touch = *regs;
        touch.orig_rax = libc::SYS_clock_gettime as u64;
        touch.rdi = libc::CLOCK_MONOTONIC as u64;
        touch.rsi = at;
        if sys::setregs(tid, &touch).is_err() {
            return Resume::None;
        }
        let thread = self.thread(tid);
        thread.faulted_in = Some(at);
        thread.pending = Some(Pending::Again {
            regs: Box::new(*regs),
        });
        Resume::Exit
    }

    /// The syscall-exit stop after a seccomp stop that asked for it.
    pub fn on_syscall_exit(&mut self, tid: Pid) -> Resume {
        let pending = self.threads.get_mut(&tid).and_then(|t| t.pending.take());
        match pending {
            Some(Pending::Again { regs }) => {
                let mut again = *regs;
                again.rip -= SYSCALL_INSN_LEN;
                again.rax = regs.orig_rax;
                if sys::setregs(tid, &again).is_err() {
                    return Resume::None;
                }
            }
            Some(Pending::Restore { reg, value }) => {
                let Ok(mut regs) = sys::getregs(tid) else {
                    return Resume::None;
                };
                reg.set(&mut regs, value);
                if sys::setregs(tid, &regs).is_err() {
                    return Resume::None;
                }
            }
            None => {}
        }
        Resume::Cont
    }

    /// A wait that must be translated and cannot be: the process is killed
    /// rather than left to wait on the wrong clock.
    fn cannot_translate(&mut self, tid: Pid, call: Call, why: &str) -> Resume {
        let tgid = self.tgid(tid).unwrap_or(tid);
        eprintln!(
            "vdso-run: killing process {tgid}: cannot translate its {} deadline: {why}",
            call.name()
        );
        self.refused += 1;
        sys::kill(tgid, libc::SIGKILL);
        Resume::Cont
    }

    fn count(&mut self, call: Call) {
        let i = Call::ALL.iter().position(|c| *c == call).unwrap_or(0);
        self.translated[i] += 1;
    }

    /// Forgets a thread that has gone.
    pub fn forget_thread(&mut self, tid: Pid) {
        self.threads.remove(&tid);
    }

    /// Forgets a process (exec'd or gone): its timers, and
    /// every thread of it but `keep`.
    pub fn forget_process(&mut self, tgid: Pid, keep: Option<Pid>) {
        self.timers.forget(tgid);
        let gone: Vec<Pid> = self
            .threads
            .iter()
            .filter(|(tid, t)| t.tgid == Some(tgid) && Some(**tid) != keep)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in gone {
            self.forget_thread(tid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn timers_keep_their_interval_and_still_fire() {
        let mut spec = [0u8; 32];
        put_timespec(&mut spec[0..16], (1, 2));
        put_timespec(&mut spec[16..32], (100, 0));
        let host = itimerspec_to_host(10 * S, &spec).expect("translated");
        assert_eq!(timespec(&host[0..16]), (1, 2));
        assert_eq!(timespec(&host[16..32]), (90, 0));
        // Landing at 0 fires at once instead of disarming.
        let host = itimerspec_to_host(1000 * S, &spec).expect("translated");
        assert_eq!(timespec(&host[16..32]), (0, 1));
        // A zero value disarms, whatever the clock.
        put_timespec(&mut spec[16..32], (0, 0));
        assert!(itimerspec_to_host(10 * S, &spec).is_none());
    }
}
