//! Callgrind's client requests (`valgrind/callgrind.h`), for counting the
//! instructions of one batch of calls. Outside valgrind each request is a
//! few rotates of a register and a no-op `xchg`, and does nothing.

const CALLGRIND_BASE: u64 = ((b'C' as u64) << 24) | ((b'T' as u64) << 16);
const ZERO_STATS: u64 = CALLGRIND_BASE + 1;
const DUMP_STATS_AT: u64 = CALLGRIND_BASE + 3;

/// Valgrind's "special instruction preamble" then `xchg rbx, rbx`: the
/// request is `args[0]`, its arguments follow.
fn request(args: &[u64; 6]) -> u64 {
    let result: u64;
    // SAFETY: on a real CPU the rotates leave rdi as it was (3+13+61+51 =
    // 128 bits) and `xchg rbx, rbx` changes nothing; under valgrind the
    // sequence is a request that reads `args`.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0u64 => result,
            in("rax") args.as_ptr(),
            inout("rdi") 0u64 => _,
            options(nostack)
        );
    }
    result
}

/// Zeroes callgrind's counters.
pub fn zero_stats() {
    request(&[ZERO_STATS, 0, 0, 0, 0, 0]);
}

/// Writes callgrind's counters to a dump whose description ends in `name`,
/// then zeroes them.
pub fn dump_stats_at(name: &std::ffi::CStr) {
    request(&[DUMP_STATS_AT, name.as_ptr() as u64, 0, 0, 0, 0]);
}
