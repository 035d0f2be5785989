//! The atomics the seqlock protocol is written against: `core`'s in the images
//! and the kernel, `loom`'s when the protocol is model-checked (`--cfg loom`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

/// What a reader does while a writer holds the sequence count odd.
#[inline(always)]
pub(crate) fn spin_wait() {
    // Under loom a spinning thread must yield, or the model never lets the
    // writer finish.
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
