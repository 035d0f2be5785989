//! A seccomp filter a program installs itself, with a listener of its own
//! (`SECCOMP_FILTER_FLAG_NEW_LISTENER`). When several filters answer a
//! call, the kernel takes the answer of highest precedence, and
//! `SECCOMP_RET_USER_NOTIF` outranks vdso-run's `SECCOMP_RET_TRACE`: a
//! wait such a filter sends to the program's supervisor never stops in
//! vdso-run, and runs (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`) with its deadline
//! untranslated. So the filter stops that `seccomp` call, and vdso-run
//! reads the new filter and runs it over every call it translates, with
//! every argument unknown: if any can come back `SECCOMP_RET_USER_NOTIF`,
//! the call fails with EPERM and vdso-run says why in one line. A filter
//! that sends other calls to its supervisor (a container runtime taking
//! `mount`, say) is installed as asked. (Filters that need no listener
//! cannot take a call from vdso-run: without a listener USER_NOTIF fails the
//! call, and every other answer of higher precedence stops it from running
//! at all.)

use super::filter::AUDIT_ARCH_X86_64;

pub const SECCOMP_SET_MODE_FILTER: u32 = 1;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// The most instructions the kernel takes in one filter (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// Paths through a filter explored before giving up and assuming the worst.
const MAX_STEPS: usize = 1 << 20;

// Classic BPF (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ST: u16 = 0x02;
const BPF_STX: u16 = 0x03;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_MISC: u16 = 0x07;
const BPF_W: u16 = 0x00;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_MEM: u16 = 0x60;
const BPF_LEN: u16 = 0x80;
const BPF_X: u16 = 0x08;
const BPF_A: u16 = 0x10;

/// What a register or scratch word holds, as far as the analysis knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum V {
    Known(u32),
    Unknown,
}

#[derive(Clone, Debug)]
struct State {
    pc: usize,
    a: V,
    x: V,
    mem: [V; 16],
}

/// Whether `prog` can answer `SECCOMP_RET_USER_NOTIF` to one of the
/// x86-64 system calls `nrs`, whatever their arguments and instruction
/// pointer. A program the analysis cannot follow (a malformed one, which
/// the kernel refuses anyway, or one with too many paths) counts as yes.
pub fn may_notify(prog: &[libc::sock_filter], nrs: &[u32]) -> bool {
    nrs.iter().any(|&nr| {
        answers(prog, nr).is_none_or(|actions| {
            actions
                .iter()
                .any(|a| a.is_none_or(|k| k & SECCOMP_RET_ACTION_FULL == SECCOMP_RET_USER_NOTIF))
        })
    })
}

/// Every answer `prog` can give to system call `nr` (`None`: one not
/// known, a `RET A` of an unknown value); `None` if it cannot tell.
fn answers(prog: &[libc::sock_filter], nr: u32) -> Option<Vec<Option<u32>>> {
    let load = |off: u32| -> Option<V> {
        match off {
            0 => Some(V::Known(nr)),
            4 => Some(V::Known(AUDIT_ARCH_X86_64)),
            // instruction_pointer, then the six 64-bit arguments.
            8..=60 if off.is_multiple_of(4) => Some(V::Unknown),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let mut todo = vec![State {
        pc: 0,
        a: V::Known(0),
        x: V::Known(0),
        mem: [V::Known(0); 16],
    }];
    let mut steps = 0;
    while let Some(mut s) = todo.pop() {
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                return None;
            }
            let insn = prog.get(s.pc)?;
            let (code, k) = (insn.code, insn.k);
            s.pc += 1;
            match code & 0x07 {
                BPF_LD => {
                    s.a = match code & 0xe0 {
                        BPF_ABS if code & 0x18 == BPF_W => load(k)?,
                        BPF_IMM => V::Known(k),
                        BPF_MEM => *s.mem.get(k as usize)?,
                        BPF_LEN => V::Known(64),
                        _ => return None,
                    }
                }
                BPF_LDX => {
                    s.x = match code & 0xe0 {
                        BPF_IMM => V::Known(k),
                        BPF_MEM => *s.mem.get(k as usize)?,
                        BPF_LEN => V::Known(64),
                        _ => return None,
                    }
                }
                BPF_ST => *s.mem.get_mut(k as usize)? = s.a,
                BPF_STX => *s.mem.get_mut(k as usize)? = s.x,
                BPF_ALU => {
                    let operand = if code & BPF_X != 0 { s.x } else { V::Known(k) };
                    s.a = alu(code & 0xf0, s.a, operand)?;
                }
                BPF_JMP => {
                    let op = code & 0xf0;
                    if op == 0x00 {
                        // BPF_JA
                        s.pc = s.pc.checked_add(k as usize)?;
                        continue;
                    }
                    let operand = if code & BPF_X != 0 { s.x } else { V::Known(k) };
                    let (t, f) = (
                        s.pc.checked_add(insn.jt as usize)?,
                        s.pc.checked_add(insn.jf as usize)?,
                    );
                    match (s.a, operand) {
                        (V::Known(a), V::Known(b)) => {
                            let taken = match op {
                                0x10 => a == b,
                                0x20 => a > b,
                                0x30 => a >= b,
                                0x40 => a & b != 0,
                                _ => return None,
                            };
                            s.pc = if taken { t } else { f };
                        }
                        _ => {
                            let mut other = s.clone();
                            other.pc = f;
                            todo.push(other);
                            s.pc = t;
                        }
                    }
                }
                BPF_RET => {
                    out.push(match code & 0x18 {
                        BPF_A => match s.a {
                            V::Known(a) => Some(a),
                            V::Unknown => None,
                        },
                        _ => Some(k),
                    });
                    break;
                }
                BPF_MISC => {
                    if code & 0xf8 == 0 {
                        s.x = s.a; // TAX
                    } else {
                        s.a = s.x; // TXA
                    }
                }
                _ => return None,
            }
        }
    }
    Some(out)
}

fn alu(op: u16, a: V, b: V) -> Option<V> {
    let (V::Known(a), V::Known(b)) = (a, b) else {
        // NEG of an unknown, or anything with one, is unknown.
        return Some(V::Unknown);
    };
    Some(V::Known(match op {
        0x00 => a.wrapping_add(b),
        0x10 => a.wrapping_sub(b),
        0x20 => a.wrapping_mul(b),
        0x30 => a.checked_div(b)?,
        0x40 => a | b,
        0x50 => a & b,
        0x60 => a.checked_shl(b).unwrap_or(0),
        0x70 => a.checked_shr(b).unwrap_or(0),
        0x80 => a.wrapping_neg(),
        0x90 => a.checked_rem(b)?,
        0xa0 => a ^ b,
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: u16, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter { code, jt, jf, k }
    }

    const LD_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
    const JEQ: u16 = BPF_JMP | 0x10;
    const JSET: u16 = BPF_JMP | 0x40;
    const RET: u16 = BPF_RET;
    const ALLOW: u32 = 0x7fff_0000;
    const NANOSLEEP: u32 = libc::SYS_clock_nanosleep as u32;
    const MOUNT: u32 = libc::SYS_mount as u32;

    /// ld nr; jeq `nr`; ret USER_NOTIF; ret ALLOW.
    fn notify(nr: u32) -> Vec<libc::sock_filter> {
        vec![
            stmt(LD_ABS, 0),
            jump(JEQ, nr, 0, 1),
            stmt(RET, SECCOMP_RET_USER_NOTIF),
            stmt(RET, ALLOW),
        ]
    }

    #[test]
    fn a_filter_taking_a_translated_wait_is_caught() {
        assert!(may_notify(&notify(NANOSLEEP), &[NANOSLEEP]));
        assert!(!may_notify(&notify(MOUNT), &[NANOSLEEP]));
    }

    #[test]
    fn a_notification_that_depends_on_an_argument_counts() {
        // Only with TIMER_ABSTIME (arg 1): every argument is unknown.
        let prog = vec![
            stmt(LD_ABS, 0),
            jump(JEQ, NANOSLEEP, 0, 3),
            stmt(LD_ABS, 24),
            jump(JSET, 1, 0, 1),
            stmt(RET, SECCOMP_RET_USER_NOTIF),
            stmt(RET, ALLOW),
        ];
        assert!(may_notify(&prog, &[NANOSLEEP]));
    }

    #[test]
    fn another_architecture_s_branch_does_not_count() {
        // i386 calls notified, x86-64 ones allowed.
        let prog = vec![
            stmt(LD_ABS, 4),
            jump(JEQ, AUDIT_ARCH_X86_64, 1, 0),
            stmt(RET, SECCOMP_RET_USER_NOTIF),
            stmt(RET, ALLOW),
        ];
        assert!(!may_notify(&prog, &[NANOSLEEP]));
    }

    #[test]
    fn an_answer_that_cannot_be_known_counts() {
        // ret A after loading an argument.
        let prog = vec![stmt(LD_ABS, 16), stmt(RET | BPF_A, 0)];
        assert!(may_notify(&prog, &[NANOSLEEP]));
        // A jump out of the program, or a load the kernel refuses.
        assert!(may_notify(&[jump(JEQ, 0, 5, 5)], &[NANOSLEEP]));
        assert!(may_notify(
            &[stmt(LD_ABS, 2), stmt(RET, ALLOW)],
            &[NANOSLEEP]
        ));
    }

    #[test]
    fn arithmetic_and_scratch_memory_are_followed() {
        // nr + 1 stored, loaded back, compared with NANOSLEEP + 1.
        let prog = vec![
            stmt(LD_ABS, 0),
            stmt(BPF_ALU, 1),
            stmt(BPF_ST, 3),
            stmt(BPF_LD | BPF_MEM, 3),
            jump(JEQ, NANOSLEEP + 1, 0, 1),
            stmt(RET, SECCOMP_RET_USER_NOTIF),
            stmt(RET, ALLOW),
        ];
        assert!(may_notify(&prog, &[NANOSLEEP]));
        assert!(!may_notify(&prog, &[MOUNT]));
    }
}
