//! ChaCha20 blocks for `getrandom`, in SSE2 (baseline on x86_64, so no
//! CPU dispatch), as assembly of our own: D. J. Bernstein's original
//! ChaCha20 (20 rounds, a 64-bit block counter in state words 12 and 13, a
//! 64-bit nonce in words 14 and 15, here always 0).
//!
//! Why assembly and not intrinsics: the key must never leave the caller's
//! state and this function's registers. The state is `MAP_DROPPABLE`
//! memory (not in core dumps, wiped on fork); the stack is neither. LLVM
//! may spill vector registers to the stack as it likes, and deletes the
//! clearing of registers it considers dead. Written out, the function
//! provably touches no stack (no push, no call, no `rsp` operand), stores
//! only through `dst` and `counter`, and clears every vector register it
//! wrote before it returns; xtask's verifier checks all three on the
//! linked image, where the function is found by its symbol,
//! [`CHACHA20_BLOCKS_SYMBOL`](crate::abi::CHACHA20_BLOCKS_SYMBOL).
//!
//! Registers: `xmm0`..`xmm3` the working state's four rows, `xmm4`..`xmm7`
//! the input rows (constant, key, key, counter and nonce), `xmm8` the
//! scratch of the rotations. One block at a time, each row a vector: a
//! round is four quarter-rounds at once, one per column, and the diagonal
//! round rotates rows 1 to 3 so that the diagonals line up as columns.

/// Four quarter-rounds at once, one per lane, on the rows a = `xmm0`,
/// b = `xmm1`, c = `xmm2`, d = `xmm3`: `a += b; d ^= a; d <<<= 16; c += d;
/// b ^= c; b <<<= 12; a += b; d ^= a; d <<<= 8; c += d; b ^= c; b <<<= 7`.
/// A rotation by 16 swaps each word's halves (two shuffles); the others
/// shift both ways through `xmm8`.
macro_rules! quarter_rounds {
    () => {
        concat!(
            "paddd xmm0, xmm1\n",
            "pxor xmm3, xmm0\n",
            "pshuflw xmm3, xmm3, 0xb1\n",
            "pshufhw xmm3, xmm3, 0xb1\n",
            "paddd xmm2, xmm3\n",
            "pxor xmm1, xmm2\n",
            "movdqa xmm8, xmm1\n",
            "pslld xmm1, 12\n",
            "psrld xmm8, 20\n",
            "por xmm1, xmm8\n",
            "paddd xmm0, xmm1\n",
            "pxor xmm3, xmm0\n",
            "movdqa xmm8, xmm3\n",
            "pslld xmm3, 8\n",
            "psrld xmm8, 24\n",
            "por xmm3, xmm8\n",
            "paddd xmm2, xmm3\n",
            "pxor xmm1, xmm2\n",
            "movdqa xmm8, xmm1\n",
            "pslld xmm1, 7\n",
            "psrld xmm8, 25\n",
            "por xmm1, xmm8",
        )
    };
}

/// Calls [`chacha20_blocks_nostack`] declaring exactly the registers it
/// writes (rax, rcx, rdi, xmm0 to xmm8, the flags), where a C call would
/// declare every caller-saved one: the caller keeps its values in the
/// others across the call and saves fewer registers on its every call.
/// The list is this file's contract with the assembly below (a test
/// checks the other registers come back unchanged).
///
/// # Safety
/// As for [`chacha20_blocks_nostack`].
#[inline(always)]
pub unsafe fn chacha20_blocks(
    dst: *mut u8,
    key: *const [u8; 32],
    counter: *mut u64,
    nblocks: usize,
) {
    // SAFETY: the caller's contract; the call's return address is the only
    // stack the asm block uses (no `nostack`: the compiler keeps nothing
    // below the stack pointer across it).
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = sym chacha20_blocks_nostack,
            inout("rdi") dst => _,
            in("rsi") key,
            in("rdx") counter,
            inout("rcx") nblocks => _,
            out("rax") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
            out("xmm5") _, out("xmm6") _, out("xmm7") _, out("xmm8") _,
        );
    }
}

/// Writes `nblocks` blocks of ChaCha20 keystream for `key` (read as eight
/// little-endian words), nonce 0, from block `*counter` on, to `dst`, and
/// advances `*counter` by `nblocks` (mod 2^64). `dst` may overlap `key`:
/// the key is read into registers before anything is stored.
///
/// # Safety
/// `nblocks` must be at least 1 (0 would run 2^64 blocks). `dst` must be
/// valid for `64 * nblocks` bytes of writes, `key` for 32 bytes of reads,
/// `counter` for a read and write of a `u64`, not overlapping `dst`.
//
// Not exported under its name: an exported symbol could be preempted, so
// callers would reach it through the GOT. The fixed name the verifier
// finds is a local label at its first byte, with its size.
#[unsafe(naked)]
#[unsafe(link_section = ".text.vdso_chacha20_blocks_nostack")]
pub unsafe extern "C" fn chacha20_blocks_nostack(
    dst: *mut u8,
    key: *const [u8; 32],
    counter: *mut u64,
    nblocks: usize,
) {
    // Arguments (SysV): rdi = dst, rsi = key, rdx = counter, rcx = nblocks.
    core::arch::naked_asm!(
        ".type vdso_chacha20_blocks_nostack, @function",
        "vdso_chacha20_blocks_nostack:",
        ".cfi_startproc",
        "movdqa xmm4, xmmword ptr [rip + {sigma}]",
        "movdqu xmm5, xmmword ptr [rsi]",
        "movdqu xmm6, xmmword ptr [rsi + 16]",
        // Words 12, 13 the counter; 14, 15 (the nonce) zeroed by movq.
        "movq xmm7, qword ptr [rdx]",
        "2:",
        "movdqa xmm0, xmm4",
        "movdqa xmm1, xmm5",
        "movdqa xmm2, xmm6",
        "movdqa xmm3, xmm7",
        "mov eax, 10",
        "3:",
        quarter_rounds!(),
        // Row b by one lane, c by two, d by three: lane i now holds the
        // i-th diagonal (0 5 10 15, 1 6 11 12, 2 7 8 13, 3 4 9 14).
        "pshufd xmm1, xmm1, 0x39",
        "pshufd xmm2, xmm2, 0x4e",
        "pshufd xmm3, xmm3, 0x93",
        quarter_rounds!(),
        "pshufd xmm1, xmm1, 0x93",
        "pshufd xmm2, xmm2, 0x4e",
        "pshufd xmm3, xmm3, 0x39",
        "dec eax",
        "jnz 3b",
        "paddd xmm0, xmm4",
        "paddd xmm1, xmm5",
        "paddd xmm2, xmm6",
        "paddd xmm3, xmm7",
        "movdqu xmmword ptr [rdi], xmm0",
        "movdqu xmmword ptr [rdi + 16], xmm1",
        "movdqu xmmword ptr [rdi + 32], xmm2",
        "movdqu xmmword ptr [rdi + 48], xmm3",
        // A 64-bit add: the counter carries from word 12 into word 13.
        "paddq xmm7, xmmword ptr [rip + {one}]",
        "add rdi, 64",
        "dec rcx",
        "jnz 2b",
        "movq qword ptr [rdx], xmm7",
        // Nothing of the key or the keystream stays behind.
        "pxor xmm0, xmm0",
        "pxor xmm1, xmm1",
        "pxor xmm2, xmm2",
        "pxor xmm3, xmm3",
        "pxor xmm4, xmm4",
        "pxor xmm5, xmm5",
        "pxor xmm6, xmm6",
        "pxor xmm7, xmm7",
        "pxor xmm8, xmm8",
        "ret",
        ".cfi_endproc",
        ".size vdso_chacha20_blocks_nostack, . - vdso_chacha20_blocks_nostack",
        sigma = sym SIGMA,
        one = sym ONE,
    )
}

/// Sixteen bytes that `movdqa` and `paddq` may read from memory (SSE wants
/// them aligned).
#[repr(C, align(16))]
struct Row([u32; 4]);

/// "expand 32-byte k", the first row.
static SIGMA: Row = Row([0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);

/// 1 in the counter's 64 bits, 0 in the nonce's.
static ONE: Row = Row([1, 0, 0, 0]);
