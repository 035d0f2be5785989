//! POSIX timers on a clock the namespace shifts, and their clocks:
//! `timer_settime(TIMER_ABSTIME)` must know a timer's clock to translate
//! its expiry, and only `timer_create` says it (glibc's `timer_t` is
//! opaque). Only timers whose clock has an offset are recorded: for any
//! other, "not found" means "nothing to translate".
//!
//! A lock-free open-addressing table that grows: segment `k` holds
//! `FIRST << k` slots, the first static, the others mapped when every
//! earlier one is three quarters used, and a lookup probes each segment
//! until an empty slot. Deleted timers leave a tombstone that the next
//! timer reuses. So there is no limit but memory; when a segment cannot be
//! mapped, `record` fails and `timer_create` fails with EAGAIN, as the
//! kernel's own does when a resource runs out, with one line on stderr
//! (never an untranslated timer, silently).
//!
//! No locks and no allocator: mapping a segment is a system call, and two
//! threads racing to map one each map it and the loser unmaps its own.

use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::sys;

const FIRST: usize = 1024;
/// 1024 * (2^17 - 1) slots in all: more timers than the kernel gives a
/// process (each takes a pending signal, RLIMIT_SIGPENDING, and kernel
/// memory).
const SEGMENTS: usize = 17;
const EMPTY: usize = 0;
const DELETED: usize = usize::MAX;

/// One segment: `cap` keys, then `cap` clocks.
#[derive(Clone, Copy)]
struct Segment {
    keys: *const AtomicUsize,
    clocks: *const AtomicI32,
    cap: usize,
}

static FIRST_KEYS: [AtomicUsize; FIRST] = [const { AtomicUsize::new(EMPTY) }; FIRST];
static FIRST_CLOCKS: [AtomicI32; FIRST] = [const { AtomicI32::new(0) }; FIRST];
/// The start of each mapped segment after the first; 0 until mapped.
static MAPPED: [AtomicUsize; SEGMENTS] = [const { AtomicUsize::new(0) }; SEGMENTS];
/// Slots of each segment ever taken from EMPTY (tombstones count).
static USED: [AtomicUsize; SEGMENTS] = [const { AtomicUsize::new(0) }; SEGMENTS];

fn capacity(k: usize) -> usize {
    FIRST << k
}

fn bytes(k: usize) -> usize {
    let cap = capacity(k);
    (cap * (size_of::<AtomicUsize>() + size_of::<AtomicI32>())).next_multiple_of(4096)
}

/// Segment `k`, if it is there.
fn segment(k: usize) -> Option<Segment> {
    if k == 0 {
        return Some(Segment {
            keys: FIRST_KEYS.as_ptr(),
            clocks: FIRST_CLOCKS.as_ptr(),
            cap: FIRST,
        });
    }
    let start = MAPPED[k].load(Ordering::Acquire);
    (start != 0).then(|| {
        let cap = capacity(k);
        Segment {
            keys: start as *const AtomicUsize,
            clocks: (start + cap * size_of::<AtomicUsize>()) as *const AtomicI32,
            cap,
        }
    })
}

/// Segment `k`, mapped now if it was not; `None` if it cannot be.
fn segment_or_map(k: usize) -> Option<Segment> {
    if let Some(s) = segment(k) {
        return Some(s);
    }
    // SAFETY: a new private anonymous mapping, zero-filled: every key EMPTY.
    let start = unsafe {
        sys::mmap(
            0,
            bytes(k),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .ok()?;
    if MAPPED[k]
        .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: our own mapping, never published.
        unsafe { sys::munmap(start, bytes(k)) };
    }
    segment(k)
}

impl Segment {
    fn key(&self, i: usize) -> &AtomicUsize {
        // SAFETY: i < cap; the segment lives as long as the process.
        unsafe { &*self.keys.add(i) }
    }

    fn clock(&self, i: usize) -> &AtomicI32 {
        // SAFETY: as in `key`.
        unsafe { &*self.clocks.add(i) }
    }

    /// Where `key`'s probe sequence starts.
    fn home(&self, key: usize) -> usize {
        key.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_shr(40) % self.cap
    }

    fn find(&self, key: usize) -> Option<usize> {
        let home = self.home(key);
        for i in 0..self.cap {
            let s = (home + i) % self.cap;
            match self.key(s).load(Ordering::Acquire) {
                k if k == key => return Some(s),
                EMPTY => return None,
                _ => {}
            }
        }
        None
    }

    /// Takes a tombstone or, while the segment is less than three quarters
    /// used, an empty slot, for `key`.
    fn claim(&self, k: usize, key: usize, clock: i32) -> bool {
        let home = self.home(key);
        for i in 0..self.cap {
            let s = (home + i) % self.cap;
            let old = self.key(s).load(Ordering::Relaxed);
            if old == EMPTY {
                if USED[k].fetch_add(1, Ordering::Relaxed) >= self.cap / 4 * 3 {
                    USED[k].fetch_sub(1, Ordering::Relaxed);
                    return false;
                }
            } else if old != DELETED {
                continue;
            }
            // The clock is stored just after the key: no one looks a timer
            // up before its timer_create has returned.
            if self
                .key(s)
                .compare_exchange(old, key, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.clock(s).store(clock, Ordering::Release);
                return true;
            }
            if old == EMPTY {
                USED[k].fetch_sub(1, Ordering::Relaxed);
            }
        }
        false
    }
}

fn key_of(t: libc::timer_t) -> usize {
    // Never EMPTY or DELETED.
    (t as usize).wrapping_add(1).clamp(1, usize::MAX - 1)
}

fn find(key: usize) -> Option<(Segment, usize)> {
    (0..SEGMENTS)
        .map_while(segment)
        .find_map(|s| Some((s, s.find(key)?)))
}

/// Records `timer`'s clock; false if there is no room and none can be
/// made (the caller fails `timer_create`).
pub fn record(timer: libc::timer_t, clock: i32) -> bool {
    let key = key_of(timer);
    if let Some((s, i)) = find(key) {
        s.clock(i).store(clock, Ordering::Release);
        return true;
    }
    (0..SEGMENTS).any(|k| segment_or_map(k).is_some_and(|s| s.claim(k, key, clock)))
}

/// Forgets a deleted timer.
pub fn forget(timer: libc::timer_t) {
    if let Some((s, i)) = find(key_of(timer)) {
        s.key(i).store(DELETED, Ordering::Release);
    }
}

/// The clock `timer` was recorded with, if its clock has an offset.
pub fn clock(timer: libc::timer_t) -> Option<i32> {
    let (s, i) = find(key_of(timer))?;
    Some(s.clock(i).load(Ordering::Acquire))
}
