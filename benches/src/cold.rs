//! One call with a cold cache, the way the 2019 series measured it: the
//! design argument was about one extra cache line.
//!
//! Method, per iteration:
//!
//! 1. `clflush` every line of the target's flush set (its image's code and
//!    the data pages it reads), then `mfence`, so every flush has completed;
//! 2. `lfence; rdtsc`, `lfence`, the call, `rdtscp; lfence`: the call
//!    alone is timed, from first instruction fetch to its last result;
//! 3. add the cycles up.
//!
//! The method's own cost (the timing instructions, the indirect call, and
//! whatever the flushes leave behind) is measured by the same loop over
//! the same flush set around a call to a hot no-op in a page of our own
//! ([`floor::Noop`](crate::floor::Noop)); the report subtracts that median.
//! The page tables stay warm (`clflush` does not touch the TLB): this is a
//! cold cache, not a cold TLB.

use std::time::Duration;

use core::arch::x86_64::{__rdtscp, _mm_clflush, _mm_lfence, _mm_mfence, _rdtsc};

/// The data cache line size CPUID reports (`CPUID.1:EBX[15:8]` × 8).
pub fn line_size() -> usize {
    // SAFETY: CPUID leaf 1 exists on every x86_64 CPU.
    let ebx = core::arch::x86_64::__cpuid(1).ebx;
    (((ebx >> 8) & 0xff) as usize * 8).max(16)
}

/// Memory whose lines one iteration flushes.
pub struct FlushSet<'a> {
    ranges: Vec<&'a [u8]>,
    line: usize,
}

impl<'a> FlushSet<'a> {
    pub fn new(ranges: Vec<&'a [u8]>) -> Self {
        FlushSet {
            ranges,
            line: line_size(),
        }
    }

    /// How many lines one iteration flushes.
    pub fn lines(&self) -> usize {
        self.ranges
            .iter()
            .map(|r| {
                let start = r.as_ptr() as usize / self.line;
                let end = (r.as_ptr() as usize + r.len()).div_ceil(self.line);
                end - start
            })
            .sum()
    }

    #[inline(always)]
    fn flush(&self) {
        for r in &self.ranges {
            let start = r.as_ptr() as usize & !(self.line - 1);
            let end = r.as_ptr() as usize + r.len();
            let mut at = start;
            while at < end {
                // SAFETY: every line flushed overlaps a range the caller
                // holds as readable memory (lines never cross pages).
                unsafe { _mm_clflush(at as *const u8) };
                at += self.line;
            }
        }
    }
}

/// Times `iters` cold calls of `call` (see the module's method), in TSC
/// cycles converted with `tsc_hz`.
#[inline(never)]
pub fn measure(iters: u64, flush: &FlushSet<'_>, tsc_hz: f64, mut call: impl FnMut()) -> Duration {
    let mut cycles = 0u64;
    let mut aux = 0u32;
    for _ in 0..iters {
        flush.flush();
        // SAFETY: fences and TSC reads touch no memory but `aux`.
        let t0 = unsafe {
            _mm_mfence();
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        };
        call();
        // SAFETY: as above.
        let t1 = unsafe {
            let t = __rdtscp(&mut aux);
            _mm_lfence();
            t
        };
        cycles += t1.wrapping_sub(t0);
    }
    Duration::from_secs_f64(cycles as f64 / tsc_hz)
}
