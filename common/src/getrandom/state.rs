//! What the caller of `getrandom` holds: the opaque state (one per thread,
//! in memory the caller maps as the parameter query says) and the
//! parameters themselves. Linux's `struct vgetrandom_state` and `struct
//! vgetrandom_opaque_params` (`include/vdso/getrandom.h`,
//! `include/uapi/linux/random.h`), byte for byte.
//!
//! The state is the caller's memory and need not be aligned (Linux's vDSO
//! accepts one at any address that does not straddle a page), so it is
//! only ever reached through [`State`]'s unaligned accesses, never through
//! a reference. The kernel may also zero it at any time: `MAP_DROPPABLE`
//! pages are dropped under memory pressure and wiped in a fork's child.

use core::mem::{offset_of, size_of};

/// `struct vgetrandom_state`: 96 bytes of keystream not yet handed out,
/// the key the next keystream comes from, the rng generation the key was
/// fetched at, the position of the first unused byte of the batch, and
/// whether a call is using the state (a signal handler re-entering).
#[repr(C)]
pub struct VgetrandomState {
    pub batch: [u8; BATCH_SIZE],
    /// Linux's `u32 key[8]`: the bytes the system call wrote, which
    /// ChaCha20 reads as eight little-endian words.
    pub key: [u8; KEY_SIZE],
    pub generation: u64,
    pub pos: u8,
    /// C's `bool`; a byte here, so that any value the caller leaves is
    /// one Rust can read.
    pub in_use: u8,
    pad: [u8; 6],
}

/// The batch: one and a half ChaCha20 blocks. A refill writes two blocks
/// over the batch and the key, so the key's last 32 bytes of keystream
/// replace it (fast key erasure).
pub const BATCH_SIZE: usize = 96;
pub const KEY_SIZE: usize = 32;
pub const BLOCK_SIZE: usize = 64;
/// `sizeof(struct vgetrandom_state)`, which the parameter query reports
/// and every call's `opaque_len` must equal.
pub const STATE_SIZE: usize = size_of::<VgetrandomState>();

/// `struct vgetrandom_opaque_params`, the answer to the parameter query.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpaqueParams {
    pub size_of_opaque_state: u32,
    pub mmap_prot: u32,
    pub mmap_flags: u32,
    pub reserved: [u32; 13],
}

pub const PROT_READ: u32 = 0x1;
pub const PROT_WRITE: u32 = 0x2;
pub const MAP_ANONYMOUS: u32 = 0x20;
/// Linux 6.11's mapping type for the states: left out of core dumps,
/// wiped in a fork's child, and dropped (read back as zeroes) under memory
/// pressure, none of which the algorithm minds.
pub const MAP_DROPPABLE: u32 = 0x08;

/// What the query reports: the values Linux's vDSO reports (checked
/// against the running kernel's by the conformance suite).
pub const PARAMS: OpaqueParams = OpaqueParams {
    size_of_opaque_state: STATE_SIZE as u32,
    mmap_prot: PROT_READ | PROT_WRITE,
    mmap_flags: MAP_DROPPABLE | MAP_ANONYMOUS,
    reserved: [0; 13],
};

const _: () = {
    assert!(STATE_SIZE == 144);
    assert!(offset_of!(VgetrandomState, batch) == 0);
    assert!(offset_of!(VgetrandomState, key) == BATCH_SIZE);
    assert!(offset_of!(VgetrandomState, generation) == 128);
    assert!(offset_of!(VgetrandomState, pos) == 136);
    assert!(offset_of!(VgetrandomState, in_use) == 137);
    assert!(BATCH_SIZE + KEY_SIZE == 2 * BLOCK_SIZE);
    assert!(size_of::<OpaqueParams>() == 64);
};

/// A caller's state, by its address: every access unaligned, none through
/// a reference.
#[derive(Clone, Copy)]
pub(crate) struct State(*mut u8);

impl State {
    /// # Safety
    /// `at` must be valid for reads and writes of [`STATE_SIZE`] bytes
    /// for as long as the `State` is used.
    #[inline(always)]
    pub(crate) unsafe fn at(at: *mut u8) -> State {
        State(at)
    }

    #[inline(always)]
    fn field(self, offset: usize) -> *mut u8 {
        // SAFETY: every caller passes an offset inside the state.
        unsafe { self.0.add(offset) }
    }

    /// The batch, followed by the key: where a refill writes its two blocks.
    #[inline(always)]
    pub(crate) fn batch(self) -> *mut u8 {
        self.0
    }

    #[inline(always)]
    pub(crate) fn key(self) -> *mut [u8; KEY_SIZE] {
        self.field(offset_of!(VgetrandomState, key)).cast()
    }

    /// A plain unaligned load (Rust has no unaligned volatile one, and the
    /// state need not be aligned); where its order matters, the algorithm
    /// fences it, as Linux puts `barrier()` beside its `READ_ONCE`.
    #[inline(always)]
    pub(crate) fn generation(self) -> u64 {
        let at = self.field(offset_of!(VgetrandomState, generation));
        // SAFETY: inside the state (`at`'s contract); unaligned is fine.
        unsafe { at.cast::<u64>().read_unaligned() }
    }

    #[inline(always)]
    pub(crate) fn set_generation(self, generation: u64) {
        let at = self.field(offset_of!(VgetrandomState, generation));
        // SAFETY: as in `generation`.
        unsafe { at.cast::<u64>().write_unaligned(generation) }
    }

    #[inline(always)]
    pub(crate) fn pos(self) -> usize {
        // SAFETY: inside the state; a byte is always aligned.
        usize::from(unsafe { self.field(offset_of!(VgetrandomState, pos)).read_volatile() })
    }

    /// # Panics
    /// Never: `pos` is at most [`BATCH_SIZE`] wherever it is called.
    #[inline(always)]
    pub(crate) fn set_pos(self, pos: usize) {
        // SAFETY: as in `pos`.
        unsafe {
            self.field(offset_of!(VgetrandomState, pos))
                .write_volatile(pos as u8)
        }
    }

    /// Volatile, as Linux's `READ_ONCE`/`WRITE_ONCE`: the flag is how a
    /// signal handler's call on the same state learns it must not touch it.
    #[inline(always)]
    pub(crate) fn in_use(self) -> bool {
        // SAFETY: as in `pos`.
        unsafe {
            self.field(offset_of!(VgetrandomState, in_use))
                .read_volatile()
                != 0
        }
    }

    #[inline(always)]
    pub(crate) fn set_in_use(self, in_use: bool) {
        // SAFETY: as in `pos`.
        unsafe {
            self.field(offset_of!(VgetrandomState, in_use))
                .write_volatile(u8::from(in_use))
        }
    }
}
