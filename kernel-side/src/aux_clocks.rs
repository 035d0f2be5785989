//! Auxiliary clocks (`CLOCK_AUX + n`, ids 16 to 23, Linux 6.17 on) as the
//! kernel side keeps them. Linux steers each from user space (through
//! `clock_adjtime`, for PTP); here each is a line of its own, started at
//! an offset from MONOTONIC and running at a rate of its own, which the
//! timekeeper continues exactly at every tick. The lines are the model the
//! tests hold the images' aux reads to: this kernel has its aux clocks off,
//! so only here can that read path be proven.

use common::vvar::MAX_AUX_CLOCKS;
use common::writer::{AuxAnchor, HresBase, Scale};

/// How an aux clock starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuxClock {
    /// Its time minus MONOTONIC's when it starts, in ns.
    pub offset_ns: i128,
    /// Its rate against MONOTONIC's, in parts per million.
    pub ppm: f64,
}

/// One running aux clock: `ns(c) = (base + (c - cycle_last) * mult) >> shift`.
#[derive(Clone, Copy, Debug)]
struct Line {
    cycle_last: u64,
    scale: Scale,
    /// Nanoseconds at `cycle_last`, shifted left by `scale.shift`.
    base: u128,
}

impl Line {
    fn at(&self, cycle: u64) -> u128 {
        self.base + u128::from(cycle.saturating_sub(self.cycle_last)) * u128::from(self.scale.mult)
    }

    fn anchor(&self) -> AuxAnchor {
        let unit = u128::from(common::clock::NSEC_PER_SEC) << self.scale.shift;
        AuxAnchor {
            cycle_last: self.cycle_last,
            mask: u64::MAX,
            scale: self.scale,
            base: HresBase {
                sec: (self.base / unit) as u64,
                nsec: common::vvar::ShiftedNanos((self.base % unit) as u64),
            },
        }
    }
}

/// Every aux clock's line, `None` while off.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuxLines {
    lines: [Option<Line>; MAX_AUX_CLOCKS],
}

impl AuxLines {
    /// Starts clock `n` at `cycle`, where MONOTONIC reads `monotonic`
    /// (shifted by `scale.shift`) at `scale.mult` per cycle; returns what
    /// to publish.
    pub(crate) fn start(
        &mut self,
        n: usize,
        clock: AuxClock,
        cycle: u64,
        monotonic: u128,
        scale: Scale,
    ) -> AuxAnchor {
        let offset = clock.offset_ns << scale.shift;
        let line = Line {
            cycle_last: cycle,
            scale: Scale {
                mult: (f64::from(scale.mult) * (1.0 + clock.ppm * 1e-6)).round() as u32,
                shift: scale.shift,
            },
            base: (monotonic as i128 + offset).max(0) as u128,
        };
        self.lines[n] = Some(line);
        line.anchor()
    }

    pub(crate) fn stop(&mut self, n: usize) {
        self.lines[n] = None;
    }

    /// Continues every running line to `cycle`: what each now publishes,
    /// by clock.
    pub(crate) fn advance(&mut self, cycle: u64) -> Vec<(usize, AuxAnchor)> {
        let mut out = Vec::new();
        for (n, line) in self.lines.iter_mut().enumerate() {
            if let Some(l) = line {
                l.base = l.at(cycle);
                l.cycle_last = cycle;
                out.push((n, l.anchor()));
            }
        }
        out
    }

    /// Clock `n` at `cycle`, in ns, as a reader of the published line
    /// computes it; `None` while it is off.
    pub(crate) fn ns_at(&self, n: usize, cycle: u64) -> Option<i128> {
        let l = self.lines.get(n)?.as_ref()?;
        Some((l.at(cycle) >> l.scale.shift) as i128)
    }
}
