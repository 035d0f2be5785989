//! The C ABI seen from outside, against the raw system calls: what every
//! vDSO must do whatever its data pages look like, so these run on the
//! kernel's own vDSO too (which shows they test the ABI, not our habits).

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, CLOCK_TAI, Timespec,
};
use kernel_side::running::{self, KernelLayout};
use vdso_elf::patch::{RDPID_RCX, Site, SiteKind};

use crate::abi::{self, UNTOUCHED};
use crate::check::Verdict;
use crate::live::Live;
use crate::register;
use crate::target::{Capability, Target};
use crate::time::{Failures, NS_PER_SEC, Secs, is_normalised, ns, tv_ns, within};

/// The clocks an image computes from the counter.
pub const HRES_CLOCKS: [i32; 5] = [
    CLOCK_REALTIME,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_RAW,
    CLOCK_BOOTTIME,
    CLOCK_TAI,
];
/// The clocks an image copies from the page.
pub const COARSE_CLOCKS: [i32; 2] = [CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE];

/// Samples per clock in the timing checks: each right after an update.
const ROUNDS: usize = 12;

fn is_served(clock: i32) -> bool {
    HRES_CLOCKS.contains(&clock) || COARSE_CLOCKS.contains(&clock)
}

register!(clock_gettime_returns_what_the_kernel_returns, BlackBox, needs: [Entries]);
/// For every id: the same return value as the system call, the buffer left
/// alone on failure, and for ids the pages do not serve (the vDSO must ask
/// the kernel) a time between two system calls around it.
fn clock_gettime_returns_what_the_kernel_returns(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let mut f = Failures::new();
    for (name, id) in abi::every_clock_id() {
        let (before_ret, before) = abi::sys_clock_gettime(id);
        let (ret, ts) = abi::vdso_clock_gettime(&vdso, id);
        let (_, after) = abi::sys_clock_gettime(id);
        f.expect(&name, ret == before_ret, || {
            format!("returned {ret}, the system call {before_ret}")
        });
        if before_ret != 0 {
            f.expect(&name, ts == UNTOUCHED, || {
                format!("failed ({ret}) but wrote {ts:?} into the buffer")
            });
        } else if !is_served(id) {
            f.note(&name, within("the time", ns(before), ns(ts), ns(after)));
        }
        if ret == 0 {
            f.expect(&name, is_normalised(ts), || {
                format!("{ts:?} is not normalised")
            });
        }
    }
    f.verdict()
}

register!(served_clocks_lie_between_kernel_reads, BlackBox, needs: [Entries]);
/// Each counter-driven clock, right after a timekeeping update, lies between
/// two system calls around it, give or take the calibration bound.
fn served_clocks_lie_between_kernel_reads(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let bound = live.calibration_ns();
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        for clock in HRES_CLOCKS {
            live.settle()?;
            let before = abi::sys_ns(clock);
            let (ret, ts) = abi::vdso_clock_gettime(&vdso, clock);
            let after = abi::sys_ns(clock);
            let key = format!("clock {clock}");
            f.expect(&key, ret == 0, || format!("returned {ret}"));
            f.expect(&key, is_normalised(ts), || {
                format!("{ts:?} is not normalised")
            });
            f.note(
                &key,
                within(
                    &format!("between kernel reads ±{}", Secs(bound)),
                    before - bound,
                    ns(ts),
                    after + bound,
                ),
            );
        }
    }
    f.verdict()
}

register!(coarse_clocks_lag_by_at_most_one_tick, BlackBox, needs: [Entries]);
/// Each coarse clock, right after an update, is no earlier than the update
/// (for an image: its twin high-resolution clock read before it; for the
/// kernel's vDSO: the coarse system call before it) and no later than the
/// kernel's coarse system call after it, allowing that call its lag.
fn coarse_clocks_lag_by_at_most_one_tick(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let (bound, kernel_lag) = (live.calibration_ns(), crate::live::kernel_coarse_lag_ns());
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        for clock in COARSE_CLOCKS {
            let lowest = live.settle_coarse(clock)?;
            let (ret, ts) = abi::vdso_clock_gettime(&vdso, clock);
            let after = abi::sys_ns(clock);
            let key = format!("clock {clock}");
            f.expect(&key, ret == 0, || format!("returned {ret}"));
            f.expect(&key, is_normalised(ts), || {
                format!("{ts:?} is not normalised")
            });
            f.note(
                &key,
                within(
                    "no earlier than the update, no later than the kernel's coarse read after it and its lag",
                    lowest,
                    ns(ts),
                    after + kernel_lag + bound,
                ),
            );
        }
    }
    f.verdict()
}

register!(gettimeofday_honours_each_null_pointer, BlackBox, needs: [Entries]);
/// All four combinations of NULL and non-NULL: returns 0 like the system
/// call, the time between two system calls, the timezone the page holds.
fn gettimeofday_honours_each_null_pointer(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let expected_tz = live.timezone();
    // A microsecond either side for the truncation of the bound.
    let bound = (live.calibration_ns() + 999) / 1000 * 1000;
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        for (want_tv, want_tz) in [(false, false), (true, false), (false, true), (true, true)] {
            let key = format!(
                "tv {}, tz {}",
                if want_tv { "given" } else { "NULL" },
                if want_tz { "given" } else { "NULL" }
            );
            live.settle()?;
            let (sys_ret, sys_before, _) = abi::sys_gettimeofday(true, false);
            let (ret, tv, tz) = vdso.gettimeofday(want_tv, want_tz);
            let (_, sys_after, _) = abi::sys_gettimeofday(true, false);
            let expected_ret = abi::sys_gettimeofday(want_tv, want_tz).0;
            f.expect(&key, ret == expected_ret && sys_ret == 0, || {
                format!("returned {ret}, the system call {expected_ret}")
            });
            if let (Some(tv), Some(lo), Some(hi)) = (tv, sys_before, sys_after) {
                f.expect(&key, (0..1_000_000).contains(&tv.tv_usec), || {
                    format!("{tv:?} is not normalised")
                });
                f.note(
                    &key,
                    within(
                        "the time, between two system calls",
                        tv_ns(lo) - bound,
                        tv_ns(tv),
                        tv_ns(hi) + bound,
                    ),
                );
            }
            if let Some(tz) = tz {
                f.expect(&key, tz == expected_tz, || {
                    format!("timezone {tz:?}, the page holds {expected_tz:?}")
                });
            }
        }
    }
    f.verdict()
}

register!(time_agrees_with_itself_and_the_kernel, BlackBox, needs: [Entries, Time]);
/// `time(NULL)` and `time(&t)` return and store the same, never decrease,
/// lie (in whole seconds) where REALTIME_COARSE may, and within a second of
/// the `time` system call.
fn time_agrees_with_itself_and_the_kernel(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let (bound, kernel_lag) = (live.calibration_ns(), crate::live::kernel_coarse_lag_ns());
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        let lowest = live.settle_coarse(CLOCK_REALTIME_COARSE)?;
        let sys_before = abi::sys_time();
        let (null, stored_none) = vdso.time(false);
        let (ret, stored) = vdso.time(true);
        let after = abi::sys_ns(CLOCK_REALTIME_COARSE);
        let sys_after = abi::sys_time();
        f.expect("time(NULL)", stored_none.is_none(), || {
            "stored through NULL".into()
        });
        f.expect("time(&t)", stored == Some(ret), || {
            format!("returned {ret} but stored {stored:?}")
        });
        f.expect("time(NULL) then time(&t)", null <= ret, || {
            format!("went back from {null} to {ret}")
        });
        // Compared in nanoseconds: whole seconds against the coarse reads.
        for (key, value) in [("time(NULL)", null), ("time(&t)", ret)] {
            let value = value as i128 * NS_PER_SEC;
            let lo = lowest.div_euclid(NS_PER_SEC) * NS_PER_SEC;
            let hi = (after + kernel_lag + bound).div_euclid(NS_PER_SEC) * NS_PER_SEC;
            f.note(
                key,
                within(
                    "whole seconds, no earlier than the update, no later than the kernel's coarse read after it and its lag",
                    lo,
                    value,
                    hi,
                ),
            );
            f.note(
                format!("{key} against the time system call"),
                within(
                    "within a second of the system call's",
                    (sys_before as i128 - 1) * NS_PER_SEC,
                    value,
                    (sys_after as i128 + 1) * NS_PER_SEC,
                ),
            );
        }
    }
    f.verdict()
}

/// Linux's auxiliary clocks (`CLOCK_AUX` 16 to `CLOCK_AUX_LAST` 23, since
/// 6.17): a vDSO for that layout answers `clock_getres` for them itself,
/// exactly 1 ns, enabled or not, whatever the system call says.
const AUX_CLOCKS: std::ops::RangeInclusive<i32> = 16..=23;
const AUX_RESOLUTION: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 1,
};

/// Whether `target` answers `clock_getres` for the auxiliary clocks itself:
/// an image of a layout with aux clocks, or the kernel's own vDSO on 6.17
/// and later.
fn answers_aux_getres(target: Target) -> bool {
    match target {
        Target::Image(t) => t.layout().aux_clocks > 0,
        Target::KernelVdso => {
            let release = running::release();
            let version = running::version(&release);
            version.and_then(|(major, minor)| KernelLayout::of_version(major, minor))
                == Some(KernelLayout::Linux6_17)
        }
    }
}

register!(clock_getres_matches_the_kernel_for_every_id, BlackBox, needs: [Entries]);
/// For every id, with a buffer and with NULL: the system call's return
/// value, its resolution, and the buffer left alone on failure; for the
/// auxiliary clocks on a layout that has them, exactly 1 ns (see
/// [`AUX_CLOCKS`]).
fn clock_getres_matches_the_kernel_for_every_id(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let own_aux = answers_aux_getres(target);
    let mut f = Failures::new();
    for (name, id) in abi::every_clock_id() {
        let (mut want_ret, mut want_res) = abi::sys_clock_getres(id, true);
        let (mut want_null, _) = abi::sys_clock_getres(id, false);
        if own_aux && AUX_CLOCKS.contains(&id) {
            (want_ret, want_res, want_null) = (0, AUX_RESOLUTION, 0);
        }
        let (ret, res) = abi::vdso_clock_getres(&vdso, id, true);
        f.expect(&name, ret == want_ret, || {
            format!("returned {ret}, not {want_ret}")
        });
        f.expect(&name, res == want_res, || {
            format!("resolution {res:?}, not {want_res:?}")
        });
        let (null, _) = abi::vdso_clock_getres(&vdso, id, false);
        f.expect(format!("{name}, NULL buffer"), null == want_null, || {
            format!("returned {null}, not {want_null}")
        });
    }
    f.verdict()
}

register!(getcpu_matches_the_kernel_on_every_cpu, BlackBox, needs: [Entries, Getcpu]);
/// Pinned to each CPU in turn: the cpu and node of the `getcpu` system call;
/// and NULL for every pointer is accepted. On an RDPID target, the code
/// that runs is the RDPID alternative.
fn getcpu_matches_the_kernel_on_every_cpu(target: Target) -> Verdict {
    let live = Live::start(target)?;
    if target.has(Capability::Rdpid) {
        rdpid_is_what_runs(&live)?;
    }
    let vdso = live.vdso();
    let original = abi::affinity().map_err(|e| format!("sched_getaffinity: {e}"))?;
    let cpus = abi::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
    let mut f = Failures::new();
    for &cpu in &cpus {
        let key = format!("cpu {cpu}");
        if let Err(e) = abi::pin_to(cpu) {
            f.note(&key, Err(format!("sched_setaffinity: {e}")));
            continue;
        }
        for _ in 0..ROUNDS {
            let (ret, got_cpu, got_node) = vdso.getcpu();
            let (sys_ret, sys_cpu, sys_node) = abi::sys_getcpu();
            f.expect(&key, ret == 0 && sys_ret == 0, || {
                format!("returned {ret}, the system call {sys_ret}")
            });
            f.expect(&key, got_cpu == sys_cpu && sys_cpu as usize == cpu, || {
                format!("cpu {got_cpu}, the system call says {sys_cpu}")
            });
            f.expect(&key, got_node == sys_node, || {
                format!("node {got_node}, the system call says {sys_node}")
            });
        }
        let null = abi::vdso_getcpu_nulls(&vdso);
        f.expect("NULL pointers", null == 0, || format!("returned {null}"));
    }
    abi::set_affinity(&original).map_err(|e| format!("restoring the affinity: {e}"))?;
    f.expect("the affinity mask", !cpus.is_empty(), || {
        "no CPU allowed".into()
    });
    f.verdict()
}

/// For a target mapped as a loader on an RDPID CPU maps it: the image has
/// at least one RDPID alternative, and every one holds `rdpid rcx` in the
/// mapped code (not only in the file the suite loaded), so the `getcpu`
/// checked is the one with RDPID.
fn rdpid_is_what_runs(live: &Live) -> Result<(), String> {
    let target = live.target();
    let mapping = &live.image()?.mapping;
    let image = target.image()?;
    let sites: Vec<Site> = kernel_side::variants::patch_sites(&image)
        .map_err(|e| format!("reading the patch sites: {e}"))?
        .into_iter()
        .filter(|s| s.kind == SiteKind::Rdpid)
        .collect();
    if sites.is_empty() {
        return Err(format!("the {target} has no RDPID alternative to apply"));
    }
    let mut f = Failures::new();
    for site in sites {
        let at = usize::try_from(site.at).unwrap_or(usize::MAX);
        let end = at.checked_add(RDPID_RCX.len());
        if end.is_none_or(|end| end > image.bytes().len()) {
            f.note(
                format!("site {:#x}", site.at),
                Err("lies outside the image".into()),
            );
            continue;
        }
        // SAFETY: the site lies inside the image (checked above), which is
        // mapped readable at the base for as long as `live` lives.
        let mapped = unsafe { std::slice::from_raw_parts(mapping.base().add(at), RDPID_RCX.len()) };
        f.expect(format!("site {:#x}", site.at), mapped == RDPID_RCX, || {
            format!(
                "the mapped code holds {mapped:02x?}, not rdpid rcx {RDPID_RCX:02x?}: the alternative was not applied"
            )
        });
    }
    f.verdict()
}
