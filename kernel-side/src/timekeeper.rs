//! The kernel's timekeeper, in a process: it fills the vvar page from the
//! host kernel's clocks and keeps it following them, tick after tick.
//!
//! Each tick reads every kernel clock paired with the counter the images
//! read (the TSC, CNTVCT_EL0: [`counter`]), then re-anchors:
//! the new bases continue the old lines exactly at the new `cycle_last` (so
//! no reader sees a clock step), and `mult` is steered so that the images'
//! clocks converge on the kernel's instead of being stepped onto them. Only
//! an error larger than [`STEP_THRESHOLD`] (the host's REALTIME was set, or
//! it resumed from suspend) is applied at once, as the kernel itself steps.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, CLOCK_TAI, NSEC_PER_SEC,
};
use common::seqlock::WriteError;
use common::vvar::{RngData, ShiftedNanos, clock_mode};
use common::writer::{Anchor, CoarseBase, HresBase, Scale};

use crate::aux_clocks::{AuxClock, AuxLines};
use crate::counter::{self, Pair};
use crate::pages::DataPages;

/// How far the images' clocks may be from the kernel's right after a tick:
/// the paired reads' uncertainty plus what steering has not yet absorbed.
pub const CALIBRATION_BOUND: Duration = Duration::from_micros(50);
/// Errors above this are stepped, not steered.
pub const STEP_THRESHOLD: Duration = Duration::from_millis(1);
/// The default tick: 4 ms, a kernel at HZ=250.
pub const DEFAULT_TICK: Duration = Duration::from_millis(4);
/// The longest a conversion must stay exact without a tick, as Linux's
/// clocksource code asks of `mult`/`shift`.
const MAX_IDLE_SECS: f64 = 600.0;
/// Steering never changes the rate by more than this (NTP's own limit).
const MAX_STEER_PPM: f64 = 500.0;
/// Errors are steered away over this long.
const STEER_HORIZON_NS: f64 = 200e6;

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub tick: Duration,
    /// A deliberate error in the calibrated counter rate, in parts per million,
    /// for tests of the steering (0 in real use).
    pub skew_ppm: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick: DEFAULT_TICK,
            skew_ppm: 0.0,
        }
    }
}

#[derive(Debug)]
pub enum TimekeeperError {
    /// The counter cannot keep time, and why (x86: a TSC that is not
    /// invariant).
    CounterUnusable(&'static str),
    Write(WriteError),
}

impl fmt::Display for TimekeeperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimekeeperError::CounterUnusable(why) => f.write_str(why),
            TimekeeperError::Write(e) => write!(f, "writing the vvar page: {e}"),
        }
    }
}

impl std::error::Error for TimekeeperError {}

impl From<WriteError> for TimekeeperError {
    fn from(e: WriteError) -> Self {
        TimekeeperError::Write(e)
    }
}

/// `mult` and `shift` for a counter of `hz`: the finest shift whose `mult`
/// fits 32 bits and whose product stays within 64 bits for `MAX_IDLE_SECS`.
pub fn scale_for(hz: f64) -> (u32, u32) {
    for shift in (1..=32u32).rev() {
        let mult = (NSEC_PER_SEC as f64 * f64::from(1u32 << (shift - 1)) * 2.0 / hz).round();
        if mult < u32::MAX as f64 && mult * hz * MAX_IDLE_SECS < u64::MAX as f64 {
            return (mult as u32, shift);
        }
    }
    (1, 0)
}

/// The clocks sharing one `mult` (one `vdso_data` entry), and how their
/// rate is estimated from the kernel.
#[derive(Clone, Debug)]
struct Group {
    shift: u32,
    /// The rate the next publication will use.
    mult: u32,
    /// The rate readers use now.
    published_mult: u32,
    /// The first pairing with the kernel's reference clock, for the rate.
    origin: Pair,
    /// Estimated kernel nanoseconds per cycle, times 2^shift.
    nominal: f64,
    /// Each clock's line `ns(c) = base + (c - cycle_last) * mult >> shift`,
    /// as its base at `cycle_last` in shifted nanoseconds (`ns << shift`),
    /// so that continuing a line is exact.
    bases: Vec<u128>,
}

impl Group {
    /// A group of `clocks` clocks whose rate is measured from `origin` on;
    /// [`Timekeeper::new`] sets the bases.
    fn new(clocks: usize, hz: f64, origin: Pair) -> Group {
        let (mult, shift) = scale_for(hz);
        Group {
            shift,
            mult,
            published_mult: mult,
            origin,
            nominal: NSEC_PER_SEC as f64 * 2f64.powi(shift as i32) / hz,
            bases: vec![0; clocks],
        }
    }

    /// Clock `i`, `since` cycles after `cycle_last`, as readers compute it
    /// now (with the published `mult`), in shifted nanoseconds.
    fn at(&self, i: usize, since: u64) -> u128 {
        self.bases[i] + u128::from(since) * u128::from(self.published_mult)
    }

    /// Moves every line `delta` cycles on, at the published rate (the one
    /// readers used until now), then by its step in nanoseconds.
    fn advance(&mut self, delta: u64, steps: &[i128]) {
        for (i, &step) in steps.iter().enumerate().take(self.bases.len()) {
            let continued = self.at(i, delta);
            self.bases[i] = (continued as i128 + (step << self.shift)).max(0) as u128;
        }
    }

    fn shifted(&self, ns: i128) -> u128 {
        (ns.max(0) as u128) << self.shift
    }

    fn ns(&self, shifted: u128) -> i128 {
        (shifted >> self.shift) as i128
    }
}

/// Fills and maintains the vvar page of a [`DataPages`].
pub struct Timekeeper {
    pages: Arc<DataPages>,
    config: Config,
    cycle_last: u64,
    hres: Group,
    raw: Group,
    /// Errors (kernel minus ours, ns) measured by the last tick, per clock:
    /// REALTIME, MONOTONIC, BOOTTIME, TAI, MONOTONIC_RAW.
    last_errors: [i128; 5],
    /// The auxiliary clocks that run (layouts from 6.17).
    aux: AuxLines,
    /// The random generator data mirrored at every tick (`mirror_rng`).
    rng_source: Option<&'static RngData>,
}

const HRES_CLOCKS: [i32; 4] = [CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI];

impl Timekeeper {
    /// Calibrates, then anchors every clock to the kernel's and publishes
    /// the page (the counter's clock mode, the kernel's timezone and
    /// `hrtimer_res`).
    pub fn new(pages: Arc<DataPages>, config: Config) -> Result<Timekeeper, TimekeeperError> {
        if let Some(why) = counter::unusable() {
            return Err(TimekeeperError::CounterUnusable(why));
        }
        let hz = counter::frequency() * (1.0 + config.skew_ppm * 1e-6);
        let hres_pairs: Vec<Pair> = HRES_CLOCKS
            .iter()
            .map(|&c| counter::paired_read(c))
            .collect();
        let raw_pairs = [counter::paired_read(CLOCK_MONOTONIC_RAW)];
        let mut tk = Timekeeper {
            pages,
            config,
            cycle_last: 0,
            hres: Group::new(HRES_CLOCKS.len(), hz, hres_pairs[1]),
            raw: Group::new(1, hz, raw_pairs[0]),
            last_errors: [0; 5],
            aux: AuxLines::default(),
            rng_source: None,
        };
        // Anchor at the MONOTONIC pairing; every other clock is carried to
        // that cycle at the calibrated rate.
        let anchor = hres_pairs[1].cycles;
        for (group, pairs) in [
            (&mut tk.hres, &hres_pairs[..]),
            (&mut tk.raw, &raw_pairs[..]),
        ] {
            for (i, p) in pairs.iter().enumerate() {
                let cycles = anchor as i128 - p.cycles as i128;
                let ns =
                    p.ns + (cycles as f64 * group.nominal / 2f64.powi(group.shift as i32)) as i128;
                group.bases[i] = group.shifted(ns);
            }
        }
        tk.cycle_last = anchor;
        let writer = tk.pages.writer();
        writer.set_hrtimer_res(kernel_hrtimer_res())?;
        let (minuteswest, dsttime) = kernel_timezone();
        writer.set_timezone(minuteswest, dsttime)?;
        tk.publish(&[0; 4], &[0])?;
        // Only now that the data is whole do readers stop falling back.
        tk.pages.writer().set_clock_mode(clock_mode::COUNTER)?;
        // The keys `getrandom` serves from come from the host kernel's
        // generator, which is initialised: until `mirror_rng` copies the
        // kernel's own, the rng data says so at a first generation of the
        // kernel side's (tests move it with `RngWriter::reseed`).
        if let Some(rng) = tk.pages.rng_writer() {
            if rng.generation() == 0 {
                rng.reseed();
            }
            rng.set_ready(true);
        }
        Ok(tk)
    }

    pub fn pages(&self) -> &Arc<DataPages> {
        &self.pages
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// The errors the last tick measured before correcting, in ns (kernel
    /// minus images): REALTIME, MONOTONIC, BOOTTIME, TAI, MONOTONIC_RAW.
    pub fn last_errors(&self) -> [i128; 5] {
        self.last_errors
    }

    /// Starts auxiliary clock `n` (`CLOCK_AUX + n`) from MONOTONIC as it
    /// reads now, or stops it (`None`: its readers ask the kernel again).
    /// Fails where the layout has no such clock.
    pub fn set_aux(&mut self, n: usize, clock: Option<AuxClock>) -> Result<(), TimekeeperError> {
        let writer = self.pages.writer();
        match clock {
            Some(clock) => {
                let scale = Scale {
                    mult: self.hres.published_mult,
                    shift: self.hres.shift,
                };
                let monotonic = self.hres.bases[1];
                let anchor = self.aux.start(n, clock, self.cycle_last, monotonic, scale);
                writer.set_aux(n, Some(&anchor))?;
            }
            None => {
                writer.set_aux(n, None)?;
                self.aux.stop(n);
            }
        }
        Ok(())
    }

    /// Auxiliary clock `n` at TSC `cycle`, in ns, exactly as a reader of
    /// the page computes it (the model the images are held to); `None`
    /// while it is stopped.
    pub fn aux_ns_at(&self, n: usize, cycle: u64) -> Option<i128> {
        self.aux.ns_at(n, cycle)
    }

    /// Copies `source`'s `generation` and `is_ready` (the host kernel's,
    /// `running::kernel_rng`) into these pages' random generator data now
    /// and at every tick, where the layout has such data: for pages that
    /// replace the kernel's own, whose generator is still the one keys come
    /// from.
    pub fn mirror_rng(&mut self, source: &'static RngData) {
        self.rng_source = Some(source);
        self.copy_rng();
    }

    fn copy_rng(&self) {
        let (Some(from), Some(to)) = (self.rng_source, self.pages.rng_writer()) else {
            return;
        };
        // A generation of 0 is "no key yet": the kernel has not reseeded,
        // and the writer never stores 0.
        let generation = from.generation();
        if generation != 0 {
            to.set_generation(generation);
        }
        to.set_ready(from.is_ready());
    }

    /// One tick: measure against the kernel, steer, re-anchor.
    pub fn tick(&mut self) -> Result<(), TimekeeperError> {
        let hres_pairs: Vec<Pair> = HRES_CLOCKS
            .iter()
            .map(|&c| counter::paired_read(c))
            .collect();
        let raw_pair = counter::paired_read(CLOCK_MONOTONIC_RAW);
        let cycle_last = self.cycle_last;
        let errors = |g: &Group, pairs: &[Pair]| -> Vec<i128> {
            pairs
                .iter()
                .enumerate()
                .map(|(i, p)| p.ns - g.ns(g.at(i, p.cycles.saturating_sub(cycle_last))))
                .collect()
        };
        let hres_err = errors(&self.hres, &hres_pairs);
        let raw_err = errors(&self.raw, &[raw_pair]);
        self.last_errors = [
            hres_err[0],
            hres_err[1],
            hres_err[2],
            hres_err[3],
            raw_err[0],
        ];

        // The reference clock of each group steers its `mult`; the others in
        // the group share that rate and are only ever stepped.
        steer(&mut self.hres, hres_pairs[1], hres_err[1]);
        steer(&mut self.raw, raw_pair, raw_err[0]);
        let hres_steps = steps(&hres_err, 1);
        let raw_steps = steps(&raw_err, 0);
        self.publish(&hres_steps, &raw_steps)?;
        self.copy_rng();
        Ok(())
    }

    /// Writes the page with `cycle_last` read inside the update (readers
    /// that started earlier either read the counter before it or retry),
    /// each line continued exactly to that cycle at the rate readers were
    /// using, then moved by its step. Only the counter read and a few
    /// multiply-adds happen while the count is odd: readers wait that long.
    fn publish(&mut self, hres_steps: &[i128], raw_steps: &[i128]) -> Result<(), TimekeeperError> {
        let old_cycle = self.cycle_last;
        let mut cycle_now = old_cycle;
        let (hres, raw) = (&mut self.hres, &mut self.raw);
        self.pages.writer().update(|[h, r]| {
            cycle_now = counter::read();
            let delta = cycle_now.saturating_sub(old_cycle);
            hres.advance(delta, hres_steps);
            raw.advance(delta, raw_steps);
            let a = anchor(hres, raw, cycle_now);
            h.set_counter(a.cycle_last, a.mask, a.hres);
            r.set_counter(a.cycle_last, a.mask, a.raw);
            h.set_hres_base(CLOCK_REALTIME as usize, a.realtime);
            h.set_hres_base(CLOCK_MONOTONIC as usize, a.monotonic);
            h.set_hres_base(CLOCK_BOOTTIME as usize, a.boottime);
            h.set_hres_base(CLOCK_TAI as usize, a.tai);
            h.set_coarse_base(CLOCK_REALTIME_COARSE as usize, a.realtime_coarse);
            h.set_coarse_base(CLOCK_MONOTONIC_COARSE as usize, a.monotonic_coarse);
            r.set_hres_base(CLOCK_MONOTONIC_RAW as usize, a.monotonic_raw);
        })?;
        self.hres.published_mult = self.hres.mult;
        self.raw.published_mult = self.raw.mult;
        self.cycle_last = cycle_now;
        // Each aux clock under its own sequence count, as Linux updates them.
        let writer = self.pages.writer();
        for (n, anchor) in self.aux.advance(cycle_now) {
            writer.set_aux(n, Some(&anchor))?;
        }
        Ok(())
    }

    /// Runs [`tick`](Self::tick) every `config.tick` on a thread of its own.
    /// Panics if the thread cannot be started; see [`try_spawn`](Self::try_spawn).
    pub fn spawn(self) -> Ticker {
        self.try_spawn().expect("spawning the timekeeper thread")
    }

    /// As [`spawn`](Self::spawn), but a thread the system cannot start (out
    /// of memory or address space, `ulimit -v`, a thread limit) is an error
    /// for the caller to report.
    pub fn try_spawn(self) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            paused: Mutex::new(false),
            ticks: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("timekeeper".into())
            .spawn(move || {
                let mut tk = self;
                let shared = thread_shared;
                let mut next = Instant::now();
                while !shared.stop.load(Ordering::Acquire) {
                    next += tk.config.tick;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                    let paused = shared.paused.lock().unwrap_or_else(|e| e.into_inner());
                    if *paused {
                        continue;
                    }
                    if let Err(e) = tk.tick() {
                        // Another writer is on the page: a bug in the caller.
                        eprintln!("timekeeper stopped: {e}");
                        break;
                    }
                    shared.ticks.fetch_add(1, Ordering::Release);
                }
                tk
            })?;
        Ok(Ticker {
            handle: Some(handle),
            shared,
        })
    }
}

/// What to step each clock of a group by: the reference clock (index `r`)
/// only forward and only past the threshold (the host resumed from suspend;
/// a monotonic clock never steps back), the others additionally by their
/// own jump relative to it (the host's REALTIME was set).
fn steps(errors: &[i128], r: usize) -> Vec<i128> {
    let threshold = STEP_THRESHOLD.as_nanos() as i128;
    let common = if errors[r] > threshold { errors[r] } else { 0 };
    errors
        .iter()
        .map(|&e| {
            let own = e - errors[r];
            common + if own.abs() > threshold { own } else { 0 }
        })
        .collect()
}

/// Sets the group's `mult` from its estimated rate, nudged to absorb `err`
/// nanoseconds over `STEER_HORIZON_NS`.
fn steer(g: &mut Group, reference: Pair, err: i128) {
    let cycles = reference.cycles.saturating_sub(g.origin.cycles);
    // After a second of history the rate measured against the kernel beats
    // the calibration.
    if cycles as f64 > counter::frequency() {
        let ns = (reference.ns - g.origin.ns) as f64;
        g.nominal = ns * 2f64.powi(g.shift as i32) / cycles as f64;
    }
    let ppm = (err as f64 / STEER_HORIZON_NS * 1e6).clamp(-MAX_STEER_PPM, MAX_STEER_PPM);
    let mult = g.nominal * (1.0 + ppm * 1e-6);
    g.mult = mult.round().clamp(1.0, u32::MAX as f64) as u32;
}

/// Seconds and the shifted remainder. The nanosecond count fits 64 bits
/// (for 584 years), so this divides a `u64` by a constant, not a `u128`:
/// it runs while readers wait.
fn split(shifted: u128, shift: u32) -> HresBase {
    let sec = ((shifted >> shift) as u64) / NSEC_PER_SEC;
    let rest = shifted - (u128::from(sec * NSEC_PER_SEC) << shift);
    HresBase {
        sec,
        nsec: ShiftedNanos(rest as u64),
    }
}

fn coarse(shifted: u128, shift: u32) -> CoarseBase {
    let ns = (shifted >> shift) as u64;
    CoarseBase {
        sec: ns / NSEC_PER_SEC,
        nsec: ns % NSEC_PER_SEC,
    }
}

fn anchor(hres: &Group, raw: &Group, cycle_last: u64) -> Anchor {
    let h = |i: usize| split(hres.bases[i], hres.shift);
    Anchor {
        cycle_last,
        mask: u64::MAX,
        hres: Scale {
            mult: hres.mult,
            shift: hres.shift,
        },
        raw: Scale {
            mult: raw.mult,
            shift: raw.shift,
        },
        realtime: h(0),
        monotonic: h(1),
        boottime: h(2),
        tai: h(3),
        monotonic_raw: split(raw.bases[0], raw.shift),
        realtime_coarse: coarse(hres.bases[0], hres.shift),
        monotonic_coarse: coarse(hres.bases[1], hres.shift),
    }
}

fn kernel_hrtimer_res() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a writable timespec.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_nsec as u32
}

fn kernel_timezone() -> (i32, i32) {
    let mut tz = common::clock::Timezone::default();
    // SAFETY: the raw system call (libc's wrapper may ignore tz); NULL tv is
    // allowed and tz is writable.
    unsafe {
        libc::syscall(
            libc::SYS_gettimeofday,
            std::ptr::null_mut::<libc::timeval>(),
            &mut tz,
        )
    };
    (tz.tz_minuteswest, tz.tz_dsttime)
}

struct Shared {
    stop: AtomicBool,
    /// Held by the thread while it ticks, so that pausing waits for a tick
    /// in progress.
    paused: Mutex<bool>,
    ticks: AtomicU64,
}

/// A timekeeper ticking on its own thread. Stopped on drop.
pub struct Ticker {
    handle: Option<JoinHandle<Timekeeper>>,
    shared: Arc<Shared>,
}

impl Ticker {
    /// Stops ticking: when this returns no tick is running and the data
    /// stays frozen until [`resume`](Self::resume).
    pub fn pause(&self) {
        *self.shared.paused.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    /// Ticks completed so far.
    pub fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Acquire)
    }

    /// Returns once `n` more ticks have completed.
    pub fn wait_ticks(&self, n: u64) {
        let target = self.ticks() + n;
        while self.ticks() < target {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn resume(&self) {
        *self.shared.paused.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Stops the thread and returns the timekeeper.
    pub fn stop(mut self) -> Timekeeper {
        self.shared.stop.store(true, Ordering::Release);
        let handle = self.handle.take().expect("joined once");
        handle.join().expect("the timekeeper thread panicked")
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
