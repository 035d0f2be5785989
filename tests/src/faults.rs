//! Data pages a kernel may legitimately publish off the happy path: each
//! clock mode, read or not by the architecture's images, a counter behind `cycle_last`, data left
//! stale for a long time, a product too large for 64 bits.

use common::clock::{
    CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
    NSEC_PER_SEC,
};
use common::vvar::{CS_HRES_COARSE, CS_RAW, ClockRefs, ShiftedNanos, clock_mode};
use common::writer::{Anchor, CoarseBase, HresBase, Scale};
use kernel_side::Vdso;
use kernel_side::counter::{self, Pair};
use kernel_side::timekeeper::scale_for;

use crate::abi;
use crate::black_box::HRES_CLOCKS;
use crate::check::Verdict;
use crate::live::Live;
use crate::register;
use crate::target::Target;
use crate::time::{Failures, NS_PER_SEC, Secs, ns, tv_ns, within};

const ROUNDS: usize = 10;
const DAYS_1000: u64 = 1000 * 86_400;

/// The entry that serves `clock`.
fn entry_of(clock: i32) -> usize {
    if clock == CLOCK_MONOTONIC_RAW {
        CS_RAW
    } else {
        CS_HRES_COARSE
    }
}

register!(clock_modes_serve_the_counter_or_fall_back_as_the_architecture_says, Faults, needs: [OwnDataPages]);
/// With the bases 1000 days ahead of the kernel: in each of the
/// architecture's counter modes (x86's TSC; arm64's ARCHTIMER and
/// ARCHTIMER_NOCOMPAT) the high-resolution clocks and `gettimeofday` read
/// the page, 1000 days ahead; in every other mode (none, x86's pvclock and
/// hvclock, one no architecture has) they are the system call's, between
/// two system calls around them.
fn clock_modes_serve_the_counter_or_fall_back_as_the_architecture_says(target: Target) -> Verdict {
    let arch = target.arch().ok_or("not an image")?;
    let live = Live::start(target)?;
    let image = live.image()?;
    image.ticker.pause();
    let bound = live.calibration_ns();
    let vdso = live.vdso();
    image
        .pages
        .writer()
        .update(|[h, r]| {
            for entry in [&h, &r] {
                let d = entry.data();
                for clock in HRES_CLOCKS {
                    let (sec, nsec) = d.base(clock as usize);
                    entry.set_basetime(clock as usize, sec + DAYS_1000, nsec);
                }
            }
        })
        .map_err(|e| format!("moving the bases: {e}"))?;
    let mut f = Failures::new();
    for mode in [
        clock_mode::NONE,
        clock_mode::COUNTER,
        2,
        3,
        42,
        clock_mode::TIMENS - 1,
    ] {
        let served = arch.counter_modes().contains(&mode);
        image
            .pages
            .set_clock_mode(mode)
            .map_err(|e| format!("setting mode {mode}: {e}"))?;
        // Served: the page's time, the bases' 1000 days ahead; else the
        // system call's.
        let (ahead, slack, whose) = if served {
            (DAYS_1000 as i128 * NS_PER_SEC, bound, "the page's time")
        } else {
            (0, 0, "the system call's time")
        };
        for _ in 0..ROUNDS {
            for clock in HRES_CLOCKS {
                let before = abi::sys_ns(clock);
                let (ret, ts) = abi::vdso_clock_gettime(&vdso, clock);
                let after = abi::sys_ns(clock);
                let key = format!("mode {mode}, clock {clock}");
                f.expect(&key, ret == 0, || format!("returned {ret}"));
                f.note(
                    &key,
                    within(whose, before + ahead - slack, ns(ts), after + ahead + slack),
                );
            }
            let (_, before, _) = abi::sys_gettimeofday(true, false);
            let (ret, tv, _) = vdso.gettimeofday(true, false);
            let (_, after, _) = abi::sys_gettimeofday(true, false);
            let key = format!("mode {mode}, gettimeofday");
            f.expect(&key, ret == 0, || format!("returned {ret}"));
            if let (Some(lo), Some(tv), Some(hi)) = (before, tv, after) {
                let slack = slack + 1000;
                f.note(
                    &key,
                    within(
                        whose,
                        tv_ns(lo) + ahead - slack,
                        tv_ns(tv),
                        tv_ns(hi) + ahead + slack,
                    ),
                );
            }
        }
    }
    f.verdict()
}

/// The value `data` gives `clock` at `cycle`, in shifted nanoseconds, as
/// the kernel defines it (the counter never behind `cycle_last`).
fn line_at(data: &ClockRefs<'_>, clock: i32, cycle: u64) -> u128 {
    let (sec, nsec) = data.base(clock as usize);
    let unit = u128::from(NSEC_PER_SEC) << data.shift();
    u128::from(sec) * unit
        + u128::from(nsec)
        + u128::from(cycle.saturating_sub(data.cycle_last())) * u128::from(data.mult())
}

fn split(shifted: u128, shift: u32) -> (u64, u64) {
    let unit = u128::from(NSEC_PER_SEC) << shift;
    ((shifted / unit) as u64, (shifted % unit) as u64)
}

fn shifted_to_ns(shifted: u128, shift: u32) -> i128 {
    (shifted >> shift) as i128
}

register!(cycle_last_ahead_of_the_counter_reads_the_base, Faults, needs: [OwnDataPages]);
/// An update anchored at a `cycle_last` two seconds ahead of the counter
/// (a CPU whose TSC runs ahead), its bases continuing the lines: every
/// high-resolution clock reads exactly its base, never earlier, and never
/// less than it read before the update.
fn cycle_last_ahead_of_the_counter_reads_the_base(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let image = live.image()?;
    image.ticker.pause();
    let vdso = live.vdso();
    let earlier = HRES_CLOCKS.map(|c| ns(abi::vdso_clock_gettime(&vdso, c).1));
    let ahead = (2.0 * counter::frequency()) as u64;
    image
        .pages
        .writer()
        .update(|[h, r]| {
            let now = counter::read();
            for entry in [&h, &r] {
                let d = entry.data();
                let continued: Vec<(u64, u64)> = HRES_CLOCKS
                    .iter()
                    .map(|&c| split(line_at(&d, c, now), d.shift()))
                    .collect();
                let scale = Scale {
                    mult: d.mult(),
                    shift: d.shift(),
                };
                entry.set_counter(now + ahead, u64::MAX, scale);
                for (&c, (sec, nsec)) in HRES_CLOCKS.iter().zip(continued) {
                    entry.set_basetime(c as usize, sec, nsec);
                }
            }
        })
        .map_err(|e| format!("anchoring ahead: {e}"))?;
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        for (i, clock) in HRES_CLOCKS.into_iter().enumerate() {
            let d = image.pages.time().clock(entry_of(clock));
            let (sec, nsec) = d.base(clock as usize);
            let base = sec as i128 * NS_PER_SEC + (nsec >> d.shift()) as i128;
            let (ret, ts) = abi::vdso_clock_gettime(&vdso, clock);
            let key = format!("clock {clock}");
            f.expect(&key, ret == 0 && ns(ts) == base, || {
                format!(
                    "returned {ret}, {}: not the base {} (off by {})",
                    Secs(ns(ts)),
                    Secs(base),
                    Secs(ns(ts) - base)
                )
            });
            f.expect(&key, ns(ts) >= earlier[i], || {
                format!("went back from {} to {}", Secs(earlier[i]), Secs(ns(ts)))
            });
        }
    }
    f.verdict()
}

/// Anchors every clock `stale_s` seconds in the past at `mult`/`shift`, with
/// bases chosen so the lines pass through the kernel's time now (so the
/// bases are the kernel's time then, to within the rate's error over
/// `stale_s`). Returns the anchor and the kernel pairing of each line.
fn anchor_in_the_past(mult: u32, shift: u32, stale_s: f64) -> Result<(Anchor, Vec<Pair>), String> {
    let hz = counter::frequency();
    let pairs: Vec<Pair> = HRES_CLOCKS
        .iter()
        .map(|&c| counter::paired_read(c))
        .collect();
    let now = pairs.iter().map(|p| p.cycles).min().unwrap_or_default();
    let back = (stale_s * hz) as u64;
    let cycle_last = now.checked_sub(back).ok_or_else(|| {
        format!("the TSC ({now}) has not counted {stale_s} s worth of cycles since boot")
    })?;
    let unit = u128::from(NSEC_PER_SEC) << shift;
    let base = |p: &Pair| -> u128 {
        let delta = u128::from(p.cycles - cycle_last) * u128::from(mult);
        (u128::try_from(p.ns).unwrap_or(0) << shift).saturating_sub(delta)
    };
    let hres = |i: usize| {
        let b = base(&pairs[i]);
        HresBase {
            sec: (b / unit) as u64,
            nsec: ShiftedNanos((b % unit) as u64),
        }
    };
    let coarse = |i: usize| {
        let ns = base(&pairs[i]) >> shift;
        CoarseBase {
            sec: (ns / u128::from(NSEC_PER_SEC)) as u64,
            nsec: (ns % u128::from(NSEC_PER_SEC)) as u64,
        }
    };
    let scale = Scale { mult, shift };
    // HRES_CLOCKS order: REALTIME, MONOTONIC, MONOTONIC_RAW, BOOTTIME, TAI.
    let anchor = Anchor {
        cycle_last,
        mask: u64::MAX,
        hres: scale,
        raw: scale,
        realtime: hres(0),
        monotonic: hres(1),
        monotonic_raw: hres(2),
        boottime: hres(3),
        tai: hres(4),
        realtime_coarse: coarse(0),
        monotonic_coarse: coarse(1),
    };
    Ok((anchor, pairs))
}

/// With the page anchored `stale_s` ago: each high-resolution clock is the
/// page's line evaluated exactly at the counter (bracketed by counter reads
/// around the call), and within `bound` of the kernel; the coarse clocks
/// are their bases.
fn check_stale(vdso: &Vdso<'_>, anchor: &Anchor, rounds: usize, f: &mut Failures) {
    let (mult, shift) = (anchor.hres.mult, anchor.hres.shift);
    let unit = u128::from(NSEC_PER_SEC) << shift;
    let line = |b: &HresBase, cycle: u64| -> i128 {
        let shifted = u128::from(b.sec) * unit
            + u128::from(b.nsec.0)
            + u128::from(cycle - anchor.cycle_last) * u128::from(mult);
        shifted_to_ns(shifted, shift)
    };
    let bases = [
        anchor.realtime,
        anchor.monotonic,
        anchor.monotonic_raw,
        anchor.boottime,
        anchor.tai,
    ];
    // The kernel's clocks and the line may part by the rate's error over the
    // microseconds since the pairing, plus the pairing's own window.
    let bound = 20_000;
    for _ in 0..rounds {
        for (i, clock) in HRES_CLOCKS.into_iter().enumerate() {
            let kernel_before = abi::sys_ns(clock);
            let before = counter::read();
            let (ret, ts) = abi::vdso_clock_gettime(vdso, clock);
            let after = counter::read();
            let kernel_after = abi::sys_ns(clock);
            let key = format!("clock {clock}");
            f.expect(&key, ret == 0, || format!("returned {ret}"));
            f.note(
                format!("{key}, the page's line"),
                within(
                    "the line at the counter around the call",
                    line(&bases[i], before),
                    ns(ts),
                    line(&bases[i], after),
                ),
            );
            f.note(
                format!("{key}, the kernel"),
                within(
                    "the kernel's reads around it",
                    kernel_before - bound,
                    ns(ts),
                    kernel_after + bound,
                ),
            );
        }
        for (clock, base) in [
            (CLOCK_REALTIME_COARSE, anchor.realtime_coarse),
            (CLOCK_MONOTONIC_COARSE, anchor.monotonic_coarse),
        ] {
            let (ret, ts) = abi::vdso_clock_gettime(vdso, clock);
            let expected = base.sec as i128 * NS_PER_SEC + base.nsec as i128;
            f.expect(
                format!("clock {clock}"),
                ret == 0 && ns(ts) == expected,
                || {
                    format!(
                        "returned {ret}, {}, not the base {}",
                        Secs(ns(ts)),
                        Secs(expected)
                    )
                },
            );
        }
    }
}

fn publish(live: &Live, anchor: &Anchor) -> Result<(), String> {
    let image = live.image()?;
    image.ticker.pause();
    image
        .pages
        .writer()
        .anchor(anchor)
        .map_err(|e| format!("publishing the stale anchor: {e}"))
}

register!(stale_data_still_gives_the_right_time, Faults, needs: [OwnDataPages]);
/// The page anchored as long ago as this machine's uptime allows, up to an
/// hour, at the timekeeper's own scale: the right time now, not a wrapped
/// one (past ten minutes the product no longer fits 64 bits).
fn stale_data_still_gives_the_right_time(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let uptime_s = abi::sys_ns(CLOCK_MONOTONIC) as f64 / 1e9;
    let stale_s = (uptime_s * 0.9).min(3600.0);
    let (mult, shift) = scale_for(counter::frequency());
    let (anchor, _) = anchor_in_the_past(mult, shift, stale_s)?;
    publish(&live, &anchor)?;
    let mut f = Failures::new();
    check_stale(&live.vdso(), &anchor, ROUNDS, &mut f);
    f.verdict()
        .map_err(|e| format!("anchored {stale_s:.0} s ago at mult {mult}, shift {shift}:\n{e}"))
}

register!(products_past_64_bits_do_not_wrap, Faults, needs: [OwnDataPages]);
/// The finest shift (up to 31) whose `mult` fits 32 bits, anchored long
/// enough ago that the product of the cycles and `mult` needs more than 64
/// bits (a minute on a GHz TSC, a few minutes on arm64's 62.5 MHz
/// counter), and the time is still right.
fn products_past_64_bits_do_not_wrap(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let hz = counter::frequency();
    let mult_at = |shift: u32| (NSEC_PER_SEC as f64 * f64::from(1u32 << shift) / hz).round();
    let Some(shift) = (1..=31).rev().find(|&s| mult_at(s) < u32::MAX as f64) else {
        return Err(format!("a {hz:.0} Hz counter has no mult of 32 bits"));
    };
    let mult = mult_at(shift) as u32;
    // Half as long again as the product takes to pass 64 bits, and at
    // least a minute.
    let overflows_after = u64::MAX as f64 / (hz * f64::from(mult));
    let uptime_s = abi::sys_ns(CLOCK_MONOTONIC) as f64 / 1e9;
    let stale_s = (uptime_s * 0.9).min((overflows_after * 1.5).max(60.0));
    let product = stale_s * hz * f64::from(mult);
    if product < u64::MAX as f64 {
        return Err(format!(
            "{stale_s:.0} s of cycles times {mult} fits 64 bits: the check would not test overflow (the machine booted too recently)"
        ));
    }
    let (anchor, _) = anchor_in_the_past(mult, shift, stale_s)?;
    publish(&live, &anchor)?;
    let mut f = Failures::new();
    check_stale(&live.vdso(), &anchor, ROUNDS, &mut f);
    f.verdict()
        .map_err(|e| format!("anchored {stale_s:.0} s ago at mult {mult}, shift {shift}:\n{e}"))
}
