//! A seccomp filter that refuses the time system calls made from one range
//! of addresses (the image's) and lets every other through: with it, an
//! image can answer only from the pages, and whatever it sends to the
//! kernel comes back as [`REFUSED`]. The checks' own system calls, made
//! from elsewhere, still reach the kernel.

use std::io;

/// The errno a refused call returns: one no time call returns by itself.
pub const REFUSED: i32 = libc::EHWPOISON;

/// `struct seccomp_data`: the system call number, the architecture, then
/// the instruction pointer (little-endian: its low word first).
const NR: u32 = 0;
const ARCH: u32 = 4;
const IP_LOW: u32 = 8;
const IP_HIGH: u32 = 12;

/// `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE` (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// The calls a vDSO answers or falls back to.
const TIME_CALLS: [libc::c_long; 5] = [
    libc::SYS_clock_gettime,
    libc::SYS_gettimeofday,
    libc::SYS_time,
    libc::SYS_clock_getres,
    libc::SYS_getcpu,
];

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The program: allow unless the call is a time call made from
/// `[base, base + len)`.
fn program(base: u64, len: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_ABS, BPF_ALU, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_SUB, BPF_W,
        SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
    };
    // Where the jumps land: the "allow" after the number tests, and the
    // address test after it. Offsets count from the next instruction.
    let calls = TIME_CALLS.len();
    let allow = 3 + calls;
    let address_test = allow + 1;
    let to = |from: usize, target: usize| (target - from - 1) as u8;
    let mut p = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        // Another architecture's calls (x32, i386) are not the image's.
        jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            to(1, allow),
        ),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
    ];
    for (i, &nr) in TIME_CALLS.iter().enumerate() {
        p.push(jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            nr as u32,
            to(3 + i, address_test),
            0,
        ));
    }
    p.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    debug_assert_eq!(p.len(), address_test);
    p.extend([
        stmt(BPF_LD | BPF_W | BPF_ABS, IP_HIGH),
        // Another high word: elsewhere, allowed.
        jump(BPF_JMP | BPF_JEQ | BPF_K, (base >> 32) as u32, 0, 4),
        stmt(BPF_LD | BPF_W | BPF_ABS, IP_LOW),
        stmt(BPF_ALU | BPF_SUB | BPF_K, base as u32),
        // Unsigned: an address below `base` wraps to a large value.
        jump(BPF_JMP | BPF_JGE | BPF_K, len, 1, 0),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | REFUSED as u32),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ]);
    p
}

/// Installs the filter for this process (threads started later inherit
/// it), for good.
pub fn refuse_calls_from(base: usize, len: usize) -> Result<(), String> {
    let program = program(base as u64, len as u32);
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: `fprog` points at `program`, alive across the call, which
    // copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(format!("seccomp: {}", io::Error::last_os_error()));
    }
    Ok(())
}
