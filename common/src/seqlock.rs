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
    /// against in [`read_retry`](Self::read_retry); gives up (`None`) if
    /// `abandon` holds while the count is odd. An odd count that never
    /// changes is how a time-namespace page looks (`seq = 1`); a reader
    /// mapped above one must not spin on it forever. The test costs nothing
    /// on the fast path: it runs only while the count is odd.
    ///
    /// Acquire: if this load sees the even count a writer stored at the end
    /// of its update (a Release store), every data store of that update
    /// happens-before our data reads, so they see it (or a later one, which
    /// the retry catches).
    #[inline(always)]
    pub fn read_begin_unless(&self, abandon: impl Fn() -> bool) -> Option<u32> {
        loop {
            let seq = self.0.load(Ordering::Acquire);
            if seq & 1 == 0 {
                return Some(seq);
            }
            if abandon() {
                return None;
            }
            spin_wait();
        }
    }

    /// True when the data read since `read_begin_unless` may be torn.
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

/// Why a writer could not complete an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The count was odd before the update began: another writer is in the
    /// middle of an update, or one stopped in the middle of one. Writing now
    /// would let readers accept a mix of both updates.
    Busy { seq: u32 },
    /// The count changed while this update ran: a second writer.
    Raced { expected: u32, found: u32 },
    /// The page's layout has no auxiliary clock of this index.
    NoSuchClock { aux: usize },
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteError::Busy { seq } => write!(
                f,
                "sequence count {seq} is odd: another update is in progress or was abandoned"
            ),
            WriteError::NoSuchClock { aux } => {
                write!(f, "the page's layout has no auxiliary clock {aux}")
            }
            WriteError::Raced { expected, found } => write!(
                f,
                "sequence count changed from {expected} to {found} during the update: two writers"
            ),
        }
    }
}

impl SeqCount {
    /// Starts an update: makes the count odd and returns it. Refuses if it
    /// is odd already (see [`WriteError::Busy`]) rather than hang readers.
    ///
    /// Acquire on the exchange: it reads the previous update's Release end,
    /// so that update's data stores happen-before ours. Without it, two
    /// writers on different threads, one after the other, could leave the
    /// page holding a mix of both (loom finds that interleaving). The
    /// Release fence orders the odd count before every data store that
    /// follows; it pairs with the reader's Acquire fence in `read_retry`.
    #[inline]
    pub fn write_begin(&self) -> Result<u32, WriteError> {
        let seq = self.0.load(Ordering::Relaxed);
        if seq & 1 != 0 {
            return Err(WriteError::Busy { seq });
        }
        let odd = seq.wrapping_add(1);
        self.0
            .compare_exchange(seq, odd, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|found| WriteError::Raced {
                expected: seq,
                found,
            })?;
        fence(Ordering::Release);
        Ok(odd)
    }

    /// Ends an update begun with `write_begin`: the Release store publishes
    /// every data store before it to a reader whose `read_begin_unless` sees it.
    #[inline]
    pub fn write_end(&self, odd: u32) -> Result<(), WriteError> {
        self.0
            .compare_exchange(
                odd,
                odd.wrapping_add(1),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .map(drop)
            .map_err(|found| WriteError::Raced {
                expected: odd,
                found,
            })
    }
}
