//! The time-namespace page, on the processes that read it: offsets move
//! MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE and BOOTTIME by exactly the
//! offset, and leave REALTIME, REALTIME_COARSE, TAI, `time` and
//! `gettimeofday` alone; and a host process gets none of them, whatever the
//! system's namespace pages hold. The reference is the host image (a) on
//! the same pages, read around the target's read.

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, CLOCK_TAI,
};
use common::timens::{Now, Offsets};
use common::vvar::TimensOffset;
use kernel_side::{Mapping, Vdso};

use crate::abi;
use crate::check::Verdict;
use crate::live::{Live, kernel_now};
use crate::register;
use crate::target::{Capability, Target};
use crate::time::{Failures, NS_PER_SEC, Secs, ns, tv_ns, within};

const DAY: i128 = 86_400 * NS_PER_SEC;
/// Reads of each clock per offset case and phase.
const ROUNDS: usize = 20;

/// The three offset cases. BOOTTIME's offset always differs from
/// MONOTONIC's, so an image that applies the wrong slot is caught.
pub fn offset_cases(now: &Now) -> [(&'static str, Offsets); 3] {
    let uptime = ns(now.monotonic).min(ns(now.boottime));
    let case = |monotonic: i128, boottime: i128| Offsets {
        monotonic: TimensOffset::from_nanos(monotonic),
        boottime: TimensOffset::from_nanos(boottime),
    };
    [
        ("+10 days", case(10 * DAY, 10 * DAY + 7 * NS_PER_SEC)),
        (
            "minus half the uptime",
            case(-uptime / 2, -uptime / 2 + NS_PER_SEC / 4),
        ),
        (
            "+3.999999999 s",
            case(4 * NS_PER_SEC - 1, 3 * NS_PER_SEC - 1),
        ),
    ]
}

/// The offset `clock` gets in a namespace with `offsets`: none for the
/// clocks a namespace leaves alone.
pub fn offset_of(offsets: &Offsets, clock: i32) -> i128 {
    match clock {
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => {
            offsets.monotonic.as_nanos()
        }
        CLOCK_BOOTTIME => offsets.boottime.as_nanos(),
        _ => 0,
    }
}

/// The target and the host image (a) over the same pages.
struct Pair {
    live: Live,
    host: Mapping,
}

impl Pair {
    fn start(target: Target) -> Result<Pair, String> {
        let live = Live::start(target)?;
        let host_image = target
            .shipped_host()
            .ok_or_else(|| format!("the {target} has no host image beside it"))?
            .image()?;
        let host = Mapping::new(&live.image()?.pages, &host_image)
            .map_err(|e| format!("mapping the host image beside it: {e}"))?;
        Ok(Pair { live, host })
    }

    fn write_offsets(&self, offsets: &Offsets) -> Result<(), String> {
        self.live
            .image()?
            .pages
            .write_namespace(offsets, &kernel_now())
            .map_err(|e| format!("writing the namespace page: {e}"))
    }

    fn freeze(&self) -> Result<(), String> {
        self.live.image()?.ticker.pause();
        Ok(())
    }

    fn thaw(&self) -> Result<(), String> {
        self.live.image()?.ticker.resume();
        Ok(())
    }
}

/// Reads `clock` through the host image, the namespaced one, the host one
/// again, and checks the namespaced time is the host's moved by `offset`.
fn bracketed(host: &Vdso<'_>, ns_vdso: &Vdso<'_>, clock: i32, offset: i128) -> Result<(), String> {
    let (r1, before) = abi::vdso_clock_gettime(host, clock);
    let (ret, ts) = abi::vdso_clock_gettime(ns_vdso, clock);
    let (r2, after) = abi::vdso_clock_gettime(host, clock);
    if (r1, ret, r2) != (0, 0, 0) {
        return Err(format!("returned {ret} (the host image {r1}, {r2})"));
    }
    within(
        &format!(
            "the host image's reads around it, moved by {}",
            Secs(offset)
        ),
        ns(before) + offset,
        ns(ts),
        ns(after) + offset,
    )
}

register!(timens_offsets_shift_the_monotonic_clocks_exactly, TimeNamespace, needs: [OwnDataPages, TimeNamespace]);
/// For each offset case: MONOTONIC, MONOTONIC_RAW and BOOTTIME lie between
/// host-image reads moved by the offset, ticking or not; with the data
/// frozen MONOTONIC_COARSE is the host's plus the offset, to the nanosecond.
fn timens_offsets_shift_the_monotonic_clocks_exactly(target: Target) -> Verdict {
    let pair = Pair::start(target)?;
    let (host, vdso) = (pair.host.vdso(), pair.live.vdso());
    let mut f = Failures::new();
    for (case, offsets) in offset_cases(&kernel_now()) {
        pair.write_offsets(&offsets)?;
        for _ in 0..ROUNDS {
            for clock in [CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME] {
                let offset = offset_of(&offsets, clock);
                f.note(
                    format!("{case}, clock {clock}, ticking"),
                    bracketed(&host, &vdso, clock, offset),
                );
            }
        }
        pair.freeze()?;
        for _ in 0..ROUNDS {
            for clock in [CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME] {
                let offset = offset_of(&offsets, clock);
                f.note(
                    format!("{case}, clock {clock}, frozen"),
                    bracketed(&host, &vdso, clock, offset),
                );
            }
            let offset = offset_of(&offsets, CLOCK_MONOTONIC_COARSE);
            let (_, h) = abi::vdso_clock_gettime(&host, CLOCK_MONOTONIC_COARSE);
            let (ret, t) = abi::vdso_clock_gettime(&vdso, CLOCK_MONOTONIC_COARSE);
            f.expect(
                format!("{case}, MONOTONIC_COARSE, frozen"),
                ret == 0 && ns(t) == ns(h) + offset,
                || {
                    format!(
                        "returned {ret}, {}; the host image's {} plus the offset is {}",
                        Secs(ns(t)),
                        Secs(ns(h)),
                        Secs(ns(h) + offset)
                    )
                },
            );
        }
        pair.thaw()?;
    }
    f.verdict()
}

register!(timens_offsets_leave_realtime_alone, TimeNamespace, needs: [OwnDataPages, TimeNamespace]);
/// For each offset case: REALTIME and TAI lie between host-image reads,
/// ticking or not; frozen, REALTIME_COARSE and `time` (where the
/// architecture has it) equal the host's and `gettimeofday` lies between
/// the host's.
fn timens_offsets_leave_realtime_alone(target: Target) -> Verdict {
    let pair = Pair::start(target)?;
    let (host, vdso) = (pair.host.vdso(), pair.live.vdso());
    let mut f = Failures::new();
    for (case, offsets) in offset_cases(&kernel_now()) {
        pair.write_offsets(&offsets)?;
        for _ in 0..ROUNDS {
            for clock in [CLOCK_REALTIME, CLOCK_TAI] {
                f.note(
                    format!("{case}, clock {clock}, ticking"),
                    bracketed(&host, &vdso, clock, 0),
                );
            }
        }
        pair.freeze()?;
        for _ in 0..ROUNDS {
            for clock in [CLOCK_REALTIME, CLOCK_TAI] {
                f.note(
                    format!("{case}, clock {clock}, frozen"),
                    bracketed(&host, &vdso, clock, 0),
                );
            }
            let (_, h) = abi::vdso_clock_gettime(&host, CLOCK_REALTIME_COARSE);
            let (ret, t) = abi::vdso_clock_gettime(&vdso, CLOCK_REALTIME_COARSE);
            f.expect(
                format!("{case}, REALTIME_COARSE, frozen"),
                ret == 0 && t == h,
                || format!("returned {ret}, {t:?}; the host image says {h:?}"),
            );
            if target.has(Capability::Time) {
                let (ht, _) = host.time(false);
                let (t, _) = vdso.time(false);
                f.expect(format!("{case}, time, frozen"), t == ht, || {
                    format!("{t}; the host image says {ht}")
                });
            }
            let (_, before, _) = host.gettimeofday(true, false);
            let (ret, tv, _) = vdso.gettimeofday(true, false);
            let (_, after, _) = host.gettimeofday(true, false);
            let key = format!("{case}, gettimeofday, frozen");
            f.expect(&key, ret == 0, || format!("returned {ret}"));
            if let (Some(lo), Some(tv), Some(hi)) = (before, tv, after) {
                f.note(
                    &key,
                    within("between the host image's", tv_ns(lo), tv_ns(tv), tv_ns(hi)),
                );
            }
        }
        pair.thaw()?;
    }
    f.verdict()
}

register!(host_processes_get_no_namespace_offsets, TimeNamespace, needs: [OwnDataPages], unless: [TimeNamespace]);
/// For each offset case written into the system's namespace page (the one
/// a namespaced process would be given; for (a) and (d) the page one below
/// the image): a host process's MONOTONIC, MONOTONIC_RAW and BOOTTIME lie
/// between host-image reads unmoved, and frozen, its MONOTONIC_COARSE is
/// the host image's to the nanosecond.
fn host_processes_get_no_namespace_offsets(target: Target) -> Verdict {
    let pair = Pair::start(target)?;
    let (host, vdso) = (pair.host.vdso(), pair.live.vdso());
    let mut f = Failures::new();
    for (case, offsets) in offset_cases(&kernel_now()) {
        pair.write_offsets(&offsets)?;
        for _ in 0..ROUNDS {
            for clock in [CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME] {
                f.note(
                    format!("{case}, clock {clock}, ticking"),
                    bracketed(&host, &vdso, clock, 0),
                );
            }
        }
        pair.freeze()?;
        for _ in 0..ROUNDS {
            let (_, h) = abi::vdso_clock_gettime(&host, CLOCK_MONOTONIC_COARSE);
            let (ret, t) = abi::vdso_clock_gettime(&vdso, CLOCK_MONOTONIC_COARSE);
            f.expect(
                format!("{case}, MONOTONIC_COARSE, frozen"),
                ret == 0 && t == h,
                || format!("returned {ret}, {t:?}; the host image says {h:?}"),
            );
        }
        pair.thaw()?;
    }
    f.verdict()
}
