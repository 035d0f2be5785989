//! The sequence count that guards each `vdso_data` entry.
//!
//! One writer (the kernel's timekeeper) and any number of readers (the
//! images, in every thread of every process mapping the page). The reader
//! never blocks the writer; it retries if the writer ran while it read.
//!
//! The orderings follow Boehm's construction of a seqlock in the C++/Rust
//! memory model ("Can seqlocks get along with programming language memory
//! models?", 2012). Volatile reads are not enough: without the fences the
//! compiler (and a weaker CPU than x86) may move a data read across the
//! sequence reads, and the retry check would then validate the wrong reads.

use crate::sync::{AtomicU32, Ordering, fence, spin_wait};

#[repr(transparent)]
pub struct SeqCount(pub(crate) AtomicU32);

impl SeqCount {
    #[cfg(not(loom))]
    pub const fn new(value: u32) -> Self {
        Self(AtomicU32::new(value))
    }

    #[cfg(loom)]
    pub fn new(value: u32) -> Self {
        Self(AtomicU32::new(value))
    }

    /// Waits until no write is in progress and returns the count to check
    /// against in [`read_retry`](Self::read_retry).
    ///
    /// Acquire: if this load sees the even count a writer stored at the end
    /// of its update (a Release store), every data store of that update
    /// happens-before our data reads, so they see it (or a later one, which
    /// the retry catches).
    #[inline(always)]
    pub fn read_begin(&self) -> u32 {
        loop {
            let seq = self.0.load(Ordering::Acquire);
            if seq & 1 == 0 {
                return seq;
            }
            spin_wait();
        }
    }

    /// True when the data read since `read_begin` may be torn.
    ///
    /// The Acquire fence pairs with the writer's Release fence after it made
    /// the count odd: if any data read above saw a store of a concurrent
    /// update, that odd count happens-before the load below, which therefore
    /// cannot return `start`. The load itself may be Relaxed; the fence
    /// orders the data reads before it.
    #[inline(always)]
    pub fn read_retry(&self, start: u32) -> bool {
        fence(Ordering::Acquire);
        self.0.load(Ordering::Relaxed) != start
    }

    /// The raw count, for the kernel side and for tests.
    #[inline(always)]
    pub fn load(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}
