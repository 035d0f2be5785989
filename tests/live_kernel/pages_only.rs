//! A seccomp filter that refuses the time system calls made from one range
//! of addresses (the image's) and lets every other through: with it, an
//! image can answer only from the pages, and whatever it sends to the
//! kernel comes back as [`REFUSED`]. The checks' own system calls, made
//! from elsewhere, still reach the kernel.
//!
//! `getrandom` from the image is refused too, except a key fetch
//! (`getrandom(key, 32, 0)`), which only the kernel can answer: Linux's
//! vDSO makes one per state and generation.

use std::io;

/// The errno a refused call returns: one no time call returns by itself.
pub const REFUSED: i32 = libc::EHWPOISON;

/// `struct seccomp_data`: the system call number, the architecture, the
/// instruction pointer, then the arguments (little-endian: low words
/// first).
const NR: u32 = 0;
const ARCH: u32 = 4;
const IP_LOW: u32 = 8;
const IP_HIGH: u32 = 12;
const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}
const fn arg_high(i: u32) -> u32 {
    arg_low(i) + 4
}

/// The key a getrandom state holds, in bytes.
const KEY_FETCH_LEN: u32 = 32;

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

/// The program: allow unless the call is a time call, or a getrandom other
/// than a key fetch, made from `[base, base + len)`.
fn program(base: u64, len: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_ABS, BPF_ALU, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_SUB, BPF_W,
        SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
    };
    // Where the jumps land: after the number tests, the "allow" the other
    // calls take; then the key-fetch test, which getrandom takes; then
    // the address test. Jumps only go forward, and their offsets count
    // from the next instruction.
    let calls = TIME_CALLS.len();
    let allow = 4 + calls;
    let key_fetch_test = allow + 1;
    let address_test = key_fetch_test + 7;
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
    p.push(jump(
        BPF_JMP | BPF_JEQ | BPF_K,
        libc::SYS_getrandom as u32,
        to(3 + calls, key_fetch_test),
        0,
    ));
    p.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    debug_assert_eq!(p.len(), key_fetch_test);
    // A key fetch: a 64-bit length of 32 and (32-bit) flags 0; anything
    // else goes on to the address test.
    let at = key_fetch_test;
    p.extend([
        stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(1)),
        jump(
            BPF_JMP | BPF_JEQ | BPF_K,
            KEY_FETCH_LEN,
            0,
            to(at + 1, address_test),
        ),
        stmt(BPF_LD | BPF_W | BPF_ABS, arg_high(1)),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, to(at + 3, address_test)),
        stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(2)),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, to(at + 5, address_test)),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ]);
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
