//! The bytes `getrandom` gives and the state it leaves, against the model
//! (`model::read`, RustCrypto's ChaCha20): from a state whose key, batch
//! and position the check chose, so every byte is predictable.

use common::getrandom::{BATCH_SIZE, KEY_SIZE, STATE_SIZE};

use super::model::{self, StateBytes, find};
use super::observe;
use super::subject::{State, Subject};
use crate::check::Verdict;
use crate::register;
use crate::target::Target;
use crate::time::Failures;

/// A key, a batch and a position for case `seed`, on a state whose
/// generation is the generator's: a first read fetched its key, whose
/// generation it keeps.
fn prepared(s: &Subject, state: &State, seed: u64, pos: usize) -> StateBytes {
    s.read(&mut [0u8; 1], state);
    let mut bytes = state.bytes();
    let stream = model::keystream(&[seed as u8; KEY_SIZE], seed, 3);
    bytes.set_key(stream[..KEY_SIZE].try_into().unwrap());
    bytes.set_batch(&stream[KEY_SIZE..KEY_SIZE + BATCH_SIZE]);
    bytes.set_pos(pos);
    bytes.set_in_use(0);
    state.set(&bytes);
    bytes
}

/// Reads `len` bytes from a state prepared for `seed` and `pos`: the state
/// before, the output and the state after. The kernel's generator may
/// reseed in between (about once a minute); the key fetch that follows
/// shows, and the read is made again.
fn read_prepared(
    s: &Subject,
    state: &State,
    seed: u64,
    pos: usize,
    len: usize,
) -> Result<(StateBytes, Vec<u8>, isize, StateBytes), String> {
    for _ in 0..3 {
        let before = prepared(s, state, seed, pos);
        observe::take()?;
        let mut out = vec![0u8; len];
        let ret = s.read(&mut out, state);
        if observe::take_from(s.code())?.is_empty() {
            return Ok((before, out, ret, state.bytes()));
        }
    }
    Err("the generation moved under three reads in a row".into())
}

/// The lengths the issue names, and where in the batch they start.
const LENGTHS: [usize; 10] = [1, 15, 16, 31, 32, 95, 96, 97, 4096, 1 << 20];
const POSITIONS: [usize; 4] = [0, 10, 95, 96];

register!(getrandom_output_is_chacha20_of_the_states_key, Getrandom, needs: [Getrandom]);
/// Reads of 1, 15, 16, 31, 32, 95, 96, 97, 4096 bytes and 1 MiB, each from
/// the start of a full batch, from inside it, from its last byte and from
/// an empty one, give exactly the model's bytes and leave exactly its
/// state: the batch's bytes out first and zeroed, whole blocks straight
/// into the buffer, the refill's two blocks over batch and key, the
/// position, not in use, the generation kept; with no system call.
fn getrandom_output_is_chacha20_of_the_states_key(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let state = State::new(&s)?;
    let mut f = Failures::new();
    for (i, len) in LENGTHS.into_iter().enumerate() {
        for (j, pos) in POSITIONS.into_iter().enumerate() {
            let case = format!("{len} bytes from position {pos}");
            let seed = (i * POSITIONS.len() + j) as u64 + 1;
            let (before, out, ret, after) = read_prepared(&s, &state, seed, pos, len)?;
            let (expected, expected_state) = model::read(&before, len);
            f.expect(&case, ret == len as isize, || format!("returned {ret}"));
            f.expect(&case, out == expected, || {
                let at = out.iter().zip(&expected).position(|(a, b)| a != b);
                format!("the bytes differ from the model's, first at byte {at:?}")
            });
            f.expect(&case, after == expected_state, || {
                format!("left {after:?}, the model {expected_state:?}")
            });
        }
    }
    f.verdict()
}

register!(getrandom_state_keeps_neither_the_used_key_nor_the_returned_bytes, Getrandom, needs: [Getrandom]);
/// Fast key erasure: after a read that needed keystream, the state holds
/// no eighth of the key that made the output, and no 16 bytes the read
/// returned (nor does the state after a read served from the batch alone
/// hold the bytes it returned).
fn getrandom_state_keeps_neither_the_used_key_nor_the_returned_bytes(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let state = State::new(&s)?;
    let mut f = Failures::new();
    for (n, (len, pos)) in [(16, 96), (64, 96), (97, 0), (200, 50), (4096, 96), (32, 10)]
        .into_iter()
        .enumerate()
    {
        let case = format!("{len} bytes from position {pos}");
        let (before, out, _, after) = read_prepared(&s, &state, 100 + n as u64, pos, len)?;
        let refilled = len > BATCH_SIZE - pos;
        if refilled {
            let old = before.key();
            for piece in old.chunks(KEY_SIZE / 4) {
                f.expect(&case, find(&after.0, piece).is_none(), || {
                    "the state still holds part of the key that made the output".into()
                });
            }
        }
        for window in out.windows(16) {
            if let Some(at) = find(&after.0, window) {
                f.note(
                    &case,
                    Err(format!("the state holds returned bytes at its byte {at}")),
                );
                break;
            }
        }
    }
    f.verdict()
}

/// `entry(buf, len, 0, state, STATE_SIZE)` run with its stack pointer at
/// the top of `stack`, so that whatever it leaves below its frame is in
/// memory the check can read afterwards.
fn call_on_stack(
    entry: super::subject::Entry,
    stack: &mut [u8],
    buf: &mut [u8],
    state: &State,
) -> isize {
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let ret: isize;
    // SAFETY: switches to `stack` (ours, 16-byte aligned at its top, large
    // enough for any vDSO frame) for one C call with valid arguments, and
    // back: r12 (callee-saved) holds the old stack pointer across it.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {entry}",
            "mov rsp, r12",
            top = in(reg) top,
            entry = in(reg) entry,
            inlateout("rdi") buf.as_mut_ptr() => _,
            inlateout("rsi") buf.len() => _,
            inlateout("rdx") 0usize => _,
            inlateout("rcx") state.ptr() => _,
            inlateout("r8") STATE_SIZE => _,
            out("r12") _,
            lateout("rax") ret,
            clobber_abi("C"),
        );
    }
    ret
}

register!(getrandom_leaves_no_key_on_the_stack, Getrandom, needs: [Getrandom]);
/// After reads that make keystream (whole blocks and a refill), neither the
/// key they used nor the key they left appears, not even an eighth of it,
/// anywhere in the stack the call ran on. (No system call observer here:
/// its handler would run on that stack.)
fn getrandom_leaves_no_key_on_the_stack(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    let state = State::new(&s)?;
    let mut f = Failures::new();
    for (n, len) in [16usize, 200, 4096].into_iter().enumerate() {
        let case = format!("{len} bytes");
        let before = prepared(&s, &state, 200 + n as u64, BATCH_SIZE);
        let mut stack = vec![0u8; 64 * 1024];
        let mut buf = vec![0u8; len];
        let ret = call_on_stack(s.entry(), &mut stack, &mut buf, &state);
        f.expect(&case, ret == len as isize, || format!("returned {ret}"));
        let after = state.bytes();
        f.expect(&case, after.key() != before.key(), || {
            "the key did not change".into()
        });
        for (which, key) in [("used", before.key()), ("new", after.key())] {
            for piece in key.chunks(KEY_SIZE / 4) {
                if let Some(at) = find(&stack, piece) {
                    let below = stack.len() - at;
                    f.note(
                        &case,
                        Err(format!(
                            "part of the {which} key is on the stack, {below} bytes below its top"
                        )),
                    );
                    break;
                }
            }
        }
    }
    f.verdict()
}
