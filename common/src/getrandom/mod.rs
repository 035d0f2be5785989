//! `getrandom` in the vDSO, as Linux 6.11+ gives it (`lib/vdso/getrandom.c`):
//! random bytes from ChaCha20 keystream, keyed per thread by a key the
//! caller's state holds, which the system call provides and the kernel's
//! reseeds invalidate. The algorithm is the same for every layout and
//! architecture; [`vgetrandom`] takes the rng data the layout has (or
//! none) and the architecture gives the ChaCha20 blocks.
//!
//! Per call, in Linux's order (docs/abi.md has the table):
//!
//! 1. the parameter query (`buffer` NULL, `len` 0, `flags` 0, `opaque_len`
//!    `~0`): the parameters, 0;
//! 2. a state that straddles a page: `-EFAULT`;
//! 3. flags beyond `GRND_NONBLOCK|GRND_RANDOM|GRND_INSECURE`, an
//!    `opaque_len` that is not the state's size, an rng not ready, a state
//!    a signal handler re-entered: the system call;
//! 4. `len` 0: 0;
//! 5. otherwise keystream: what is left of the batch first, then whole
//!    blocks straight into the buffer, then a refill of the batch and the
//!    key from the same key (fast key erasure: the key that produced the
//!    output is gone when the call returns).
//!
//! A generation that differs from the rng data's makes the call fetch a new
//! key with the system call first; one that changes during the call makes
//! it start over once, then give up for the system call.

mod state;

pub use state::{
    BATCH_SIZE, BLOCK_SIZE, KEY_SIZE, MAP_ANONYMOUS, MAP_DROPPABLE, OpaqueParams, PARAMS,
    PROT_READ, PROT_WRITE, STATE_SIZE, VgetrandomState,
};

use core::sync::atomic::{Ordering, compiler_fence};

use crate::arch::{self, nr, syscall3};
use crate::clock::opaque;
use crate::vvar::{PAGE_SIZE, RngData};
use state::State;

pub const GRND_NONBLOCK: u32 = 0x1;
pub const GRND_RANDOM: u32 = 0x2;
pub const GRND_INSECURE: u32 = 0x4;

/// The most one call returns: Linux's `MAX_RW_COUNT` (`INT_MAX &
/// PAGE_MASK`), which the system call caps at too.
pub const MAX_RW_COUNT: usize = i32::MAX as usize & !(PAGE_SIZE - 1);

const EFAULT: isize = 14;

/// `getrandom(buffer, len, flags, opaque_state, opaque_len)` over the rng
/// data `rng` (`None`: the layout has none, so every call not answered by
/// the first checks is the system call).
///
/// # Safety
/// As for the vDSO's `getrandom`: for the query, `opaque_state` valid for a
/// write of [`OpaqueParams`]; otherwise, when `opaque_len` is
/// [`STATE_SIZE`], `opaque_state` valid for reads and writes of that many
/// bytes and used by one call at a time (a signal handler's call is told
/// apart by the state's `in_use`), and `buffer` valid for writes of
/// `len` bytes (capped at [`MAX_RW_COUNT`]). Like Linux's, this writes
/// without checking; a bad pointer faults where the system call would say
/// `-EFAULT`.
#[inline(always)]
pub unsafe fn vgetrandom(
    rng: Option<&RngData>,
    buffer: *mut u8,
    len: usize,
    flags: u32,
    opaque_state: *mut u8,
    opaque_len: usize,
) -> isize {
    if opaque_len == usize::MAX && buffer.is_null() && len == 0 && flags == 0 {
        // SAFETY: the caller's contract for the query.
        unsafe { opaque_state.cast::<OpaqueParams>().write_unaligned(PARAMS) };
        return 0;
    }
    // Judged on the state's size whatever `opaque_len` says, before any
    // other check, as Linux (from 6.11) does.
    if (opaque_state as usize & (PAGE_SIZE - 1)) + STATE_SIZE > PAGE_SIZE {
        return -EFAULT;
    }
    let Some(rng) = rng else {
        // SAFETY: the kernel checks the arguments itself.
        return unsafe { fallback(buffer, len, flags) };
    };
    // Unknown flags are the system call's to refuse; an rng not yet ready
    // is the system call's to wait for (or refuse, with GRND_NONBLOCK),
    // even for 0 bytes.
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || opaque_len != STATE_SIZE
        || !rng.is_ready()
    {
        // SAFETY: as above.
        return unsafe { fallback(buffer, len, flags) };
    }
    if len == 0 {
        return 0;
    }
    // SAFETY: `opaque_len` is the state's size, so the caller vouches for
    // the state; and for `buffer`.
    unsafe { serve(rng, buffer, len, flags, State::at(opaque_state)) }
}

/// The keystream path: everything after the checks.
///
/// # Safety
/// As for [`vgetrandom`], with `len` not 0 and `state` the caller's.
#[inline(always)]
unsafe fn serve(rng: &RngData, buffer: *mut u8, len: usize, flags: u32, state: State) -> isize {
    if state.in_use() {
        // SAFETY: the kernel checks the arguments itself.
        return unsafe { fallback(buffer, len, flags) };
    }
    state.set_in_use(true);
    let ret = len.min(MAX_RW_COUNT);
    // The blocks' counter, from 0 each call (each call's key is fresh).
    // It lives in this frame: the block function's only store outside the
    // buffers. Not reset by a retry, as in Linux; the retry has a new key.
    let mut counter = 0u64;
    let mut retried = false;
    'generation: loop {
        let generation = rng.generation();
        // SAFETY: the caller's state.
        if state.generation() != generation && !unsafe { fetch_key(state, generation) } {
            // SAFETY: as above.
            return unsafe { fallback(buffer, len, flags) };
        }
        let (mut out, mut left) = (buffer, ret);
        loop {
            let pos = state.pos();
            // A `pos` past the batch (a corrupt state) reads as an empty
            // batch; Linux would read past it, into the key.
            let n = BATCH_SIZE.saturating_sub(pos).min(left);
            if n != 0 {
                // SAFETY: `pos + n <= BATCH_SIZE`, and `left` bytes of
                // `out` remain in the caller's buffer.
                unsafe { copy_and_zero(out, state.batch().add(pos), n) };
                state.set_pos(pos + n);
                // SAFETY: still inside the buffer, or one past its end.
                out = unsafe { out.add(n) };
                left -= n;
            }
            if left == 0 {
                // The output is written before the generations are read
                // again: a reseed (or a fork's wipe of the state) during
                // the call shows here.
                compiler_fence(Ordering::SeqCst);
                if state.generation() == rng.generation() {
                    state.set_in_use(false);
                    return ret as isize;
                }
                if retried {
                    state.set_in_use(false);
                    // SAFETY: as above; the caller's whole request.
                    return unsafe { fallback(buffer, len, flags) };
                }
                retried = true;
                continue 'generation;
            }
            let blocks = left / BLOCK_SIZE;
            if blocks != 0 {
                // SAFETY: `blocks` whole blocks fit in what is left of
                // the buffer; the key is the state's.
                unsafe { arch::chacha20_blocks(out, state.key(), &mut counter, blocks) };
                // SAFETY: inside the buffer, or one past its end.
                out = unsafe { out.add(blocks * BLOCK_SIZE) };
                left -= blocks * BLOCK_SIZE;
            }
            // Two blocks over the batch and the key: the key that made
            // this call's output is overwritten by keystream no one sees.
            // SAFETY: batch and key are the state's first 128 bytes; the
            // block function reads the key before it writes.
            unsafe { arch::chacha20_blocks(state.batch(), state.key(), &mut counter, 2) };
            state.set_pos(0);
        }
    }
}

/// Fetches a new key for `generation` with the system call and empties the
/// batch; on failure leaves the state with no generation and not in use,
/// and returns false (the caller then makes the system call). Inline: the
/// `syscall` clobbers two registers, where a call of a function would
/// make the entry save its values on every call, fetch or not.
///
/// # Safety
/// `state` must be the caller's, in use by this call.
#[inline(always)]
unsafe fn fetch_key(state: State, generation: u64) -> bool {
    // Recorded first: a fork between here and the system call leaves the
    // child a wiped state, whose generation 0 no rng data has.
    state.set_generation(generation);
    compiler_fence(Ordering::SeqCst);
    // SAFETY: the key is 32 writable bytes of the state.
    let got = unsafe { syscall3(nr::GETRANDOM, state.key() as usize, KEY_SIZE, 0) };
    if got != KEY_SIZE as isize {
        state.set_generation(0);
        state.set_in_use(false);
        return false;
    }
    state.set_pos(BATCH_SIZE);
    true
}

/// The system call, with the caller's arguments as they came (the length
/// not capped): its return value is the call's.
///
/// # Safety
/// As for [`syscall3`].
#[cold]
#[inline(never)]
unsafe fn fallback(buffer: *mut u8, len: usize, flags: u32) -> isize {
    // SAFETY: forwarded from the caller; the kernel checks the buffer.
    unsafe { syscall3(nr::GETRANDOM, buffer as usize, len, flags as usize) }
}

/// Copies `n` bytes of the batch out and zeroes them behind it, eight at a
/// time and then what is left, as Linux's `memcpy_and_zero_src`. Each word
/// passes through [`opaque`]: without it LLVM vectorises and unrolls the
/// loop (two kilobytes for at most 96 bytes) or makes it calls of `memcpy`
/// and `memset`, symbols an image does not have.
///
/// # Safety
/// `src` valid for reads and writes and `dst` for writes of `n` bytes,
/// not overlapping.
#[inline(always)]
unsafe fn copy_and_zero(dst: *mut u8, src: *mut u8, n: usize) {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`, inside both ranges.
        unsafe {
            let word = opaque(src.add(i).cast::<u64>().read_unaligned());
            dst.add(i).cast::<u64>().write_unaligned(word);
            src.add(i).cast::<u64>().write_unaligned(0);
        }
        i += 8;
    }
    // SAFETY: each piece lies below `n`: `i` is `n` rounded down to 8,
    // and the pieces are the bits of `n % 8`.
    unsafe {
        if n & 4 != 0 {
            let word = opaque(u64::from(src.add(i).cast::<u32>().read_unaligned())) as u32;
            dst.add(i).cast::<u32>().write_unaligned(word);
            src.add(i).cast::<u32>().write_unaligned(0);
            i += 4;
        }
        if n & 2 != 0 {
            let half = src.add(i).cast::<u16>().read_unaligned();
            dst.add(i).cast::<u16>().write_unaligned(half);
            src.add(i).cast::<u16>().write_unaligned(0);
            i += 2;
        }
        if n & 1 != 0 {
            dst.add(i).write(src.add(i).read());
            src.add(i).write(0);
        }
    }
}

/// The architecture's block function itself, with the C ABI (see `arch`):
/// for tests of its registers and of a refill over its own key.
pub use crate::arch::chacha20_blocks_nostack as blocks_nostack;

/// `nblocks = out.len() / 64` blocks of ChaCha20 keystream for `key`,
/// nonce 0, from block `*counter` on, with the image's block function;
/// `*counter` advances by as many. For tests and benches on the host (the
/// images call the block function directly).
///
/// # Panics
/// If `out` is not a whole, non-zero number of blocks.
pub fn chacha20_blocks(key: &[u8; KEY_SIZE], counter: &mut u64, out: &mut [u8]) {
    assert!(
        !out.is_empty() && out.len().is_multiple_of(BLOCK_SIZE),
        "{} bytes is not a whole number of blocks",
        out.len()
    );
    // SAFETY: at least one block; `out` is writable for all of them, the
    // key and the counter are ours, and none of them overlap.
    unsafe { arch::chacha20_blocks(out.as_mut_ptr(), key, counter, out.len() / BLOCK_SIZE) }
}
