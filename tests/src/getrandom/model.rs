//! What a read must give, computed independently of the images: Linux's
//! algorithm step by step over a copy of the state, with RustCrypto's
//! ChaCha20 (the DJB variant, nonce 0) as the keystream.

use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use common::getrandom::{BATCH_SIZE, BLOCK_SIZE, KEY_SIZE, MAX_RW_COUNT, STATE_SIZE};

/// A state's bytes (`struct vgetrandom_state`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StateBytes(pub [u8; STATE_SIZE]);

const KEY_AT: usize = BATCH_SIZE;
const GENERATION_AT: usize = 128;
const POS_AT: usize = 136;
const IN_USE_AT: usize = 137;

impl StateBytes {
    pub fn batch(&self) -> &[u8] {
        &self.0[..BATCH_SIZE]
    }

    pub fn key(&self) -> [u8; KEY_SIZE] {
        self.0[KEY_AT..KEY_AT + KEY_SIZE].try_into().unwrap()
    }

    pub fn set_key(&mut self, key: &[u8; KEY_SIZE]) {
        self.0[KEY_AT..KEY_AT + KEY_SIZE].copy_from_slice(key);
    }

    pub fn set_batch(&mut self, batch: &[u8]) {
        self.0[..BATCH_SIZE].copy_from_slice(batch);
    }

    pub fn generation(&self) -> u64 {
        u64::from_le_bytes(self.0[GENERATION_AT..GENERATION_AT + 8].try_into().unwrap())
    }

    pub fn pos(&self) -> usize {
        self.0[POS_AT].into()
    }

    pub fn set_pos(&mut self, pos: usize) {
        self.0[POS_AT] = pos as u8;
    }

    pub fn in_use(&self) -> u8 {
        self.0[IN_USE_AT]
    }

    pub fn set_in_use(&mut self, in_use: u8) {
        self.0[IN_USE_AT] = in_use;
    }
}

impl std::fmt::Debug for StateBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        write!(
            f,
            "{{ batch {}, key {}, generation {}, pos {}, in_use {} }}",
            hex(self.batch()),
            hex(&self.key()),
            self.generation(),
            self.pos(),
            self.in_use()
        )
    }
}

/// `blocks` blocks of keystream for `key` from block `counter` on.
pub fn keystream(key: &[u8; KEY_SIZE], counter: u64, blocks: usize) -> Vec<u8> {
    let mut cipher = ChaCha20Legacy::new(key.into(), &[0u8; 8].into());
    cipher.seek(u128::from(counter) * BLOCK_SIZE as u128);
    let mut out = vec![0u8; blocks * BLOCK_SIZE];
    cipher.apply_keystream(&mut out);
    out
}

/// A read of `len` bytes from `state` (whose generation is the rng's, not
/// in use, `pos` within the batch): the output, and the state after.
/// Linux's `__cvdso_getrandom_data` from its keystream part on: the batch
/// first (zeroed as it goes), whole blocks straight out, then a refill of
/// batch and key from the same key, counted from 0 in this call.
pub fn read(state: &StateBytes, len: usize) -> (Vec<u8>, StateBytes) {
    let mut s = *state;
    let mut out = Vec::with_capacity(len);
    let mut left = len.min(MAX_RW_COUNT);
    let mut counter = 0u64;
    loop {
        let pos = s.pos();
        let n = (BATCH_SIZE - pos).min(left);
        out.extend_from_slice(&s.0[pos..pos + n]);
        s.0[pos..pos + n].fill(0);
        s.set_pos(pos + n);
        left -= n;
        if left == 0 {
            break;
        }
        let key = s.key();
        let blocks = left / BLOCK_SIZE;
        if blocks != 0 {
            out.extend_from_slice(&keystream(&key, counter, blocks));
            counter += blocks as u64;
            left -= blocks * BLOCK_SIZE;
        }
        let refill = keystream(&key, counter, 2);
        counter += 2;
        s.0[..BATCH_SIZE + KEY_SIZE].copy_from_slice(&refill);
        s.set_pos(0);
    }
    s.set_in_use(0);
    (out, s)
}

/// The first place `needle` occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
