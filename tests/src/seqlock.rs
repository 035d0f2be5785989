//! The seqlock under fire: a writer re-anchoring as fast as it can, with a
//! changing `mult` and garbage in every field while the count is odd, and
//! readers on every served clock. No reader may ever return a torn value.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, CLOCK_TAI, NSEC_PER_SEC,
};
use common::seqlock::WriteError;
use common::vvar::{CS_HRES_COARSE, ShiftedNanos, clock_mode};
use common::writer::{CoarseBase, Fields, HresBase, Scale};
use kernel_side::counter;
use kernel_side::timekeeper::{Config, TimekeeperError, scale_for};
use kernel_side::{DataPages, Timekeeper};

use crate::abi;
use crate::check::Verdict;
use crate::live::{self, DISTINCTIVE_TIMEZONE, Mapped};
use crate::register;
use crate::target::{Capability, Target};
use crate::time::{Failures, NS_PER_SEC, Secs, ns, tv_ns};

/// How long the readers and the writer fight.
const FIGHT: Duration = Duration::from_millis(1500);
const READERS: usize = 3;
/// Allowed for counters read on different CPUs (the writer's and a
/// reader's TSC) not agreeing exactly.
const SKEW_NS: i128 = 2_000;
/// How long the writer leaves the garbage in place, in spin-loop hints
/// (a few microseconds), and how long it then leaves the page alone: a
/// writer that never pauses starves every reader (each retries forever), a
/// kernel's timekeeper writes once a tick. Half the time odd makes readers
/// meet updates constantly.
const ODD_SPINS: u32 = 32;
const EVEN_SPINS: u32 = 32;

/// The high-resolution lines the writer keeps, in `basetime` order of use.
const LINES: [i32; 5] = [
    CLOCK_REALTIME,
    CLOCK_MONOTONIC,
    CLOCK_BOOTTIME,
    CLOCK_TAI,
    CLOCK_MONOTONIC_RAW,
];
const RAW: usize = 4;

/// The writer's clock lines, in shifted nanoseconds, continued exactly at
/// every update (so the clocks never step however `mult` changes).
struct Lines {
    cycle_last: u64,
    shift: u32,
    /// `mult` of the hres entry and of the raw one.
    mult: [u32; 2],
    base: [u128; LINES.len()],
}

impl Lines {
    fn mult_of(&self, line: usize) -> u32 {
        self.mult[usize::from(line == RAW)]
    }

    fn at(&self, line: usize, cycle: u64) -> u128 {
        self.base[line]
            + u128::from(cycle.saturating_sub(self.cycle_last)) * u128::from(self.mult_of(line))
    }

    fn hres(&self, line: usize) -> HresBase {
        let unit = u128::from(NSEC_PER_SEC) << self.shift;
        HresBase {
            sec: (self.base[line] / unit) as u64,
            nsec: ShiftedNanos((self.base[line] % unit) as u64),
        }
    }

    fn coarse(&self, line: usize) -> CoarseBase {
        let ns = self.base[line] >> self.shift;
        CoarseBase {
            sec: (ns / u128::from(NSEC_PER_SEC)) as u64,
            nsec: (ns % u128::from(NSEC_PER_SEC)) as u64,
        }
    }

    /// Publishes the lines as they stand.
    fn store(&self, hres: &Fields<'_>, raw: &Fields<'_>) {
        let scale = |m| Scale {
            mult: m,
            shift: self.shift,
        };
        hres.set_counter(self.cycle_last, u64::MAX, scale(self.mult[0]));
        raw.set_counter(self.cycle_last, u64::MAX, scale(self.mult[1]));
        for (line, &clock) in LINES.iter().enumerate() {
            let entry = if line == RAW { raw } else { hres };
            entry.set_hres_base(clock as usize, self.hres(line));
        }
        hres.set_coarse_base(CLOCK_REALTIME_COARSE as usize, self.coarse(0));
        hres.set_coarse_base(CLOCK_MONOTONIC_COARSE as usize, self.coarse(1));
    }
}

/// Stores nonsense everywhere a reader could look, except REALTIME's
/// seconds: `time()` reads them without the sequence count (as in Linux,
/// whose writer never stores a transient value there), so they only ever
/// get their next real value.
fn store_garbage(hres: &Fields<'_>, raw: &Fields<'_>, cycle: u64, next_realtime_sec: u64) {
    for entry in [hres, raw] {
        entry.set_counter(
            !cycle,
            u64::MAX,
            Scale {
                mult: u32::MAX,
                shift: 1,
            },
        );
    }
    for (line, &clock) in LINES.iter().enumerate() {
        let entry = if line == RAW { raw } else { hres };
        let sec = if clock == CLOCK_REALTIME {
            next_realtime_sec
        } else {
            0xdead_beef_0000
        };
        entry.set_basetime(clock as usize, sec, u64::MAX);
    }
    for clock in [CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE] {
        hres.set_basetime(clock as usize, 0xdead_beef_0000, u64::MAX);
    }
}

/// What every value a reader sees must lie within: the lines start at
/// `start` at cycle `t0` and run at a rate between `mult_lo` and `mult_hi`.
#[derive(Clone, Copy)]
struct Envelope {
    t0: u64,
    shift: u32,
    mult_lo: u32,
    mult_hi: u32,
    start: [i128; LINES.len()],
}

impl Envelope {
    fn lowest(&self, line: usize, cycle: u64) -> i128 {
        self.start[line]
            + ((u128::from(cycle.saturating_sub(self.t0)) * u128::from(self.mult_lo)) >> self.shift)
                as i128
            - SKEW_NS
    }

    fn highest(&self, line: usize, cycle: u64) -> i128 {
        self.start[line]
            + ((u128::from(cycle.saturating_sub(self.t0)) * u128::from(self.mult_hi)) >> self.shift)
                as i128
            + 1
            + SKEW_NS
    }
}

/// What one reader saw.
#[derive(Default)]
struct ReaderLog {
    reads: u64,
    /// Reads during which the sequence count changed: each one met a writer.
    overlapped: u64,
    failures: Vec<String>,
}

register!(torn_updates_are_never_seen, Seqlock, needs: [OwnDataPages], budget: 30);
/// A writer re-anchors as fast as it can, `mult` changing every time and
/// garbage stored first while the count is odd; readers on every served
/// clock, `time` (where the architecture has it) and `gettimeofday` never
/// see time go back nor leave the envelope the writer's lines allow.
fn torn_updates_are_never_seen(target: Target) -> Verdict {
    let image = target.image()?;
    let pages = live::pages_for(target)?;
    let mapping = live::map(target, &pages, &image)?;

    let with_time = target.has(Capability::Time);
    let (mult, shift) = scale_for(counter::frequency());
    // The rate wanders by up to a thousandth either way.
    let (mult_lo, mult_hi) = (mult - mult / 1000, mult + mult / 1000);
    let t0 = counter::read();
    let mut lines = Lines {
        cycle_last: t0,
        shift,
        mult: [mult, mult],
        base: LINES.map(|c| (abi::sys_ns(c).max(0) as u128) << shift),
    };
    let envelope = Envelope {
        t0,
        shift,
        mult_lo,
        mult_hi,
        start: std::array::from_fn(|line| (lines.base[line] >> shift) as i128),
    };
    let writer = pages.writer();
    writer
        .update(|[h, r]| lines.store(&h, &r))
        .and_then(|()| writer.set_timezone(DISTINCTIVE_TIMEZONE.tz_minuteswest, 0))
        .and_then(|()| writer.set_clock_mode(clock_mode::COUNTER))
        .map_err(|e| format!("publishing the first anchor: {e}"))?;

    // Spread over the CPUs: the writer on the first, the readers round the
    // others and back, so that readers race the writer both in parallel
    // and by preemption. Left to itself this machine's scheduler packs
    // every thread onto one CPU.
    let cpus = abi::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
    let original = abi::affinity().map_err(|e| format!("sched_getaffinity: {e}"))?;
    let cpu_of = |i: usize| cpus[i % cpus.len()];
    abi::pin_to(cpu_of(0)).map_err(|e| format!("pinning the writer: {e}"))?;

    let stop = AtomicBool::new(false);
    let updates = AtomicU64::new(0);
    let start_line = Barrier::new(READERS + 1);
    let logs: Result<Vec<ReaderLog>, String> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|i| {
                let (stop, mapping, pages, envelope, start_line) =
                    (&stop, &mapping, &pages, &envelope, &start_line);
                s.spawn(move || {
                    let pinned = abi::pin_to(cpu_of(i + 1));
                    start_line.wait();
                    let mut log = read_until(stop, mapping, pages, envelope, with_time);
                    if let Err(e) = pinned {
                        log.failures.push(format!("pinning: {e}"));
                    }
                    log
                })
            })
            .collect();
        start_line.wait();
        let deadline = Instant::now() + FIGHT;
        let mut k: u64 = 0;
        let mut error = None;
        while Instant::now() < deadline {
            k += 1;
            // The next rate: anywhere in the envelope, a different one each time.
            let next = |m: u64| {
                mult_lo + ((k.wrapping_mul(m) >> 7) % u64::from(mult_hi - mult_lo + 1)) as u32
            };
            let result = writer.update(|[h, r]| {
                let now = counter::read();
                let continued = std::array::from_fn(|line| lines.at(line, now));
                lines.base = continued;
                lines.cycle_last = now;
                lines.mult = [next(0x9e37_79b9), next(0x85eb_ca6b)];
                let realtime_sec = lines.hres(0).sec;
                store_garbage(&h, &r, now, realtime_sec);
                // The garbage must reach memory (not be merged with the real
                // stores below) and sit there a while.
                fence(Ordering::SeqCst);
                for _ in 0..ODD_SPINS {
                    std::hint::spin_loop();
                }
                lines.store(&h, &r);
            });
            if let Err(e) = result {
                error = Some(e);
                break;
            }
            updates.fetch_add(1, Ordering::Relaxed);
            for _ in 0..EVEN_SPINS {
                std::hint::spin_loop();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let logs = readers
            .into_iter()
            .map(|r| {
                r.join().unwrap_or_else(|_| ReaderLog {
                    failures: vec!["a reader panicked".into()],
                    ..ReaderLog::default()
                })
            })
            .collect();
        if let Some(e) = error {
            return Err(format!("the writer failed: {e}"));
        }
        Ok(logs)
    });
    abi::set_affinity(&original).map_err(|e| format!("restoring the affinity: {e}"))?;
    let logs = logs?;

    let mut f = Failures::new();
    let updates = updates.load(Ordering::Relaxed);
    f.expect("the writer", updates >= 1000, || {
        format!("only {updates} updates in {} ms", FIGHT.as_millis())
    });
    for (i, log) in logs.iter().enumerate() {
        let key = format!("reader {i}");
        for failure in &log.failures {
            f.note(&key, Err(failure.clone()));
        }
        // Few: with more threads than cores a reader spins for a whole time
        // slice whenever the writer is preempted in the middle of an update.
        f.expect(&key, log.reads >= 200, || {
            format!("only {} reads", log.reads)
        });
    }
    let overlapped: u64 = logs.iter().map(|l| l.overlapped).sum();
    let reads: u64 = logs.iter().map(|l| l.reads).sum();
    println!(
        "torn_updates_are_never_seen on the {target}: {updates} updates, {reads} reads, {overlapped} of them met an update"
    );
    f.expect("the readers", overlapped >= 1000, || {
        format!("only {overlapped} reads met an update: the test raced (almost) nothing")
    });
    f.verdict()
}

/// One reader: every served clock, `time` and `gettimeofday`, round and
/// round, until told to stop.
/// Reads every clock, `time` (where the image has it: `with_time`) and
/// `gettimeofday` until `stop`.
fn read_until(
    stop: &AtomicBool,
    mapping: &Mapped,
    pages: &DataPages,
    env: &Envelope,
    with_time: bool,
) -> ReaderLog {
    let vdso = mapping.vdso();
    let seq = pages.time().clock(CS_HRES_COARSE).seq();
    let mut log = ReaderLog::default();
    // The latest value of each clock, `time` and `gettimeofday`.
    let mut last = [i128::MIN; 9];
    let fail = |log: &mut ReaderLog, what: String| {
        if log.failures.len() < 4 {
            log.failures.push(what);
        }
    };
    let clocks: [(i32, usize); 7] = [
        (CLOCK_REALTIME, 0),
        (CLOCK_MONOTONIC, 1),
        (CLOCK_BOOTTIME, 2),
        (CLOCK_TAI, 3),
        (CLOCK_MONOTONIC_RAW, 4),
        (CLOCK_REALTIME_COARSE, 0),
        (CLOCK_MONOTONIC_COARSE, 1),
    ];
    while !stop.load(Ordering::Relaxed) && log.failures.is_empty() {
        for (slot, &(clock, line)) in clocks.iter().enumerate() {
            let seq_before = seq.load();
            let before = counter::read();
            let (ret, ts) = abi::vdso_clock_gettime(&vdso, clock);
            let after = counter::read();
            if seq.load() != seq_before || seq_before & 1 == 1 {
                log.overlapped += 1;
            }
            log.reads += 1;
            let value = ns(ts);
            let (lo, hi) = (env.lowest(line, before), env.highest(line, after));
            // A coarse clock is the line at the last update: anywhere from
            // the start up to now.
            let lo = if slot >= 5 {
                env.start[line] - SKEW_NS
            } else {
                lo
            };
            if ret != 0 || !(lo..=hi).contains(&value) {
                fail(
                    &mut log,
                    format!(
                        "clock {clock} returned {ret}, {} outside [{}, {}]: a torn read",
                        Secs(value),
                        Secs(lo),
                        Secs(hi)
                    ),
                );
            }
            if value < last[slot] {
                fail(
                    &mut log,
                    format!(
                        "clock {clock} went back by {}, from {} to {}",
                        Secs(last[slot] - value),
                        Secs(last[slot]),
                        Secs(value)
                    ),
                );
            }
            last[slot] = value;
        }
        let before = counter::read();
        let t = with_time.then(|| vdso.time(false).0);
        let (ret, tv, _) = vdso.gettimeofday(true, false);
        let after = counter::read();
        log.reads += 1;
        if let Some(t) = t {
            log.reads += 1;
            let t_hi = env.highest(0, after).div_euclid(NS_PER_SEC);
            if !(env.start[0].div_euclid(NS_PER_SEC) - 1..=t_hi).contains(&(t as i128))
                || (t as i128) < last[7]
            {
                fail(
                    &mut log,
                    format!(
                        "time() returned {t} after {}, outside [start, {t_hi}]",
                        last[7]
                    ),
                );
            }
            last[7] = t as i128;
        }
        let tv = tv.map_or(i128::MIN, tv_ns);
        let (lo, hi) = (env.lowest(0, before) - 1000, env.highest(0, after));
        if ret != 0 || !(lo..=hi).contains(&tv) || tv < last[8] {
            fail(
                &mut log,
                format!(
                    "gettimeofday returned {ret}, {} after {}, outside [{}, {}]",
                    Secs(tv),
                    Secs(last[8]),
                    Secs(lo),
                    Secs(hi)
                ),
            );
        }
        last[8] = tv;
    }
    log
}

register!(writer_refuses_a_second_writer, Seqlock, needs: [OwnDataPages]);
/// While one update is in progress, a second writer (another `VvarWriter`,
/// or a timekeeper's tick) fails with `Busy` and changes nothing; the first
/// completes and the image reads its data.
fn writer_refuses_a_second_writer(target: Target) -> Verdict {
    let image = target.image()?;
    let pages = live::pages_for(target)?;
    let mut timekeeper = Timekeeper::new(pages.clone(), Config::default())
        .map_err(|e| format!("timekeeper: {e}"))?;
    let mapping = live::map(target, &pages, &image)?;
    let time = pages.time();
    let hres = time.clock(CS_HRES_COARSE);
    let tz_before = time.timezone();
    let mut inner = None;
    let mut tick = None;
    pages
        .writer()
        .update(|_| {
            inner = Some(pages.writer().set_timezone(123, 1));
            tick = Some(timekeeper.tick());
        })
        .map_err(|e| format!("the first writer's update failed: {e}"))?;
    let mut f = Failures::new();
    f.expect(
        "a second VvarWriter",
        matches!(inner, Some(Err(WriteError::Busy { .. }))),
        || format!("got {inner:?}, not Busy"),
    );
    f.expect(
        "a timekeeper's tick",
        matches!(
            tick,
            Some(Err(TimekeeperError::Write(WriteError::Busy { .. })))
        ),
        || format!("got {tick:?}, not Busy"),
    );
    f.expect("the timezone", time.timezone() == tz_before, || {
        format!(
            "the refused writer changed it from {tz_before:?} to {:?}",
            time.timezone()
        )
    });
    f.expect("the sequence count", hres.seq().load() & 1 == 0, || {
        format!("left odd ({}): readers would spin", hres.seq().load())
    });
    // The page is still whole: the image reads it, and a later tick works.
    f.note(
        "a tick afterwards",
        timekeeper.tick().map_err(|e| e.to_string()),
    );
    let vdso = mapping.vdso();
    let before = abi::sys_ns(CLOCK_MONOTONIC);
    let (ret, ts) = abi::vdso_clock_gettime(&vdso, CLOCK_MONOTONIC);
    let after = abi::sys_ns(CLOCK_MONOTONIC);
    let bound = kernel_side::timekeeper::CALIBRATION_BOUND.as_nanos() as i128;
    f.expect("reading afterwards", ret == 0, || format!("returned {ret}"));
    f.note(
        "reading afterwards",
        crate::time::within("MONOTONIC", before - bound, ns(ts), after + bound),
    );
    f.verdict()
}
