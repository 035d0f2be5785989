//! The seed's invariant: a process resolves the entry points once; the
//! kernel swaps the other image in under them (as on `setns` into a time
//! namespace) and back; the same pointers then give the namespace's time,
//! then the host's again.

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
};
use common::timens::Offsets;
use common::vvar::TimensOffset;
use kernel_side::Vdso;

use crate::abi;
use crate::check::Verdict;
use crate::live::{Live, kernel_coarse_lag_ns, kernel_now};
use crate::namespace::offset_of;
use crate::register;
use crate::target::{Capability, Target};
use crate::time::{Failures, NS_PER_SEC, Secs, ns, tv_ns, within};

const ROUNDS: usize = 8;

register!(resolved_pointers_follow_a_swapped_image, TimeNamespace, needs: [OwnDataPages, Swap]);
/// Pointers resolved from this image, with a namespace page of nonzero
/// offsets: this image's time, then (the partner swapped in) the partner's,
/// then (swapped back) this image's again, each against the kernel; and the
/// other pointers keep working throughout.
fn resolved_pointers_follow_a_swapped_image(target: Target) -> Verdict {
    let partner = target
        .swap_partner()
        .ok_or_else(|| format!("the {target} has no swap partner"))?;
    let partner_image = partner.image()?;
    let own_image = target.image()?;
    let live = Live::start(target)?;
    let image = live.image()?;
    let mapping = image.mapping.swappable()?;
    let offsets = Offsets {
        monotonic: TimensOffset::from_nanos(10 * 86_400 * NS_PER_SEC + 123_456_789),
        boottime: TimensOffset::from_nanos(20 * 86_400 * NS_PER_SEC + 987_654_321),
    };
    image
        .pages
        .write_namespace(&offsets, &kernel_now())
        .map_err(|e| format!("writing the namespace page: {e}"))?;
    // Resolved once, used throughout: what a process's GOT holds.
    let vdso = live.vdso();
    let mut f = Failures::new();
    let phases = [
        (target, "before the swap", None),
        (partner, "swapped", Some(&partner_image)),
        (target, "swapped back", Some(&own_image)),
    ];
    for (mapped, phase, swap_in) in phases {
        if let Some(new) = swap_in {
            // SAFETY: this thread is the only one that calls into the image,
            // and it is not inside it now; the timekeeper only writes the
            // data pages.
            unsafe { mapping.swap(new) }.map_err(|e| format!("{phase}: {e}"))?;
        }
        f.expect(
            format!("{phase}: the mapped variant"),
            mapping.variant() == mapped.variant().expect("an image target"),
            || format!("the mapping holds the {:?} image", mapping.variant()),
        );
        let namespaced = mapped.namespaced();
        for _ in 0..ROUNDS {
            check_time(&live, &vdso, &offsets, namespaced, phase, &mut f)?;
        }
    }
    f.verdict()
}

/// One read of each clock through `vdso`, against the kernel moved by the
/// offsets if the mapped image is namespaced.
fn check_time(
    live: &Live,
    vdso: &Vdso<'_>,
    offsets: &Offsets,
    namespaced: bool,
    phase: &str,
    f: &mut Failures,
) -> Result<(), String> {
    let bound = live.calibration_ns();
    let expected = |clock| {
        if namespaced {
            offset_of(offsets, clock)
        } else {
            0
        }
    };
    let whose = if namespaced {
        "the namespace's"
    } else {
        "the host's"
    };
    for clock in [
        CLOCK_REALTIME,
        CLOCK_MONOTONIC,
        CLOCK_MONOTONIC_RAW,
        CLOCK_BOOTTIME,
    ] {
        live.settle()?;
        let before = abi::sys_ns(clock);
        let (ret, ts) = abi::vdso_clock_gettime(vdso, clock);
        let after = abi::sys_ns(clock);
        let offset = expected(clock);
        let key = format!("{phase}: clock {clock}");
        f.expect(&key, ret == 0, || format!("returned {ret}"));
        f.note(
            &key,
            within(
                &format!("{whose} time (the kernel's plus {})", Secs(offset)),
                before + offset - bound,
                ns(ts),
                after + offset + bound,
            ),
        );
    }
    // The other four pointers still land on their functions.
    let (sys_ret, before, _) = abi::sys_gettimeofday(true, false);
    let (ret, tv, tz) = vdso.gettimeofday(true, true);
    let (_, after, _) = abi::sys_gettimeofday(true, false);
    let key = format!("{phase}: gettimeofday");
    f.expect(&key, ret == 0 && sys_ret == 0, || format!("returned {ret}"));
    f.expect(&key, tz == Some(live.timezone()), || {
        format!("timezone {tz:?}, the page holds {:?}", live.timezone())
    });
    if let (Some(lo), Some(tv), Some(hi)) = (before, tv, after) {
        let bound = (bound + 999) / 1000 * 1000;
        f.note(
            &key,
            within(
                "the host's time, namespace or not",
                tv_ns(lo) - bound,
                tv_ns(tv),
                tv_ns(hi) + bound,
            ),
        );
    }
    let target = live.target();
    if target.has(Capability::Time) {
        let (sys_time, (t, stored)) = (abi::sys_time(), vdso.time(true));
        f.expect(
            format!("{phase}: time"),
            stored == Some(t) && (t - sys_time).abs() <= 1,
            || format!("returned {t}, stored {stored:?}; the system call says {sys_time}"),
        );
    }
    let (ret, res) = abi::vdso_clock_getres(vdso, CLOCK_MONOTONIC, true);
    let (sys_ret, sys_res) = abi::sys_clock_getres(CLOCK_MONOTONIC, true);
    f.expect(
        format!("{phase}: clock_getres"),
        (ret, res) == (sys_ret, sys_res),
        || format!("returned {ret}, {res:?}; the system call {sys_ret}, {sys_res:?}"),
    );
    if target.has(Capability::Getcpu) {
        let (ret, cpu, node) = vdso.getcpu();
        let (_, sys_cpu, sys_node) = abi::sys_getcpu();
        f.expect(format!("{phase}: getcpu"), ret == 0 && node == sys_node && cpu < 4096, || {
            format!("returned {ret}, cpu {cpu}, node {node}; the system call says node {sys_node} (cpu {sys_cpu})")
        });
    }
    // The trampoline a signal handler returns through keeps its address.
    if let Some(trampoline) = vdso.entries.rt_sigreturn {
        f.expect(
            format!("{phase}: rt_sigreturn"),
            crate::signal::is_sigreturn(trampoline),
            || format!("{:#x} no longer holds the trampoline", trampoline.0),
        );
    }

    let clock = CLOCK_MONOTONIC_COARSE;
    let lowest = live.settle_coarse(clock)?;
    let (_, ts) = abi::vdso_clock_gettime(vdso, clock);
    let after = abi::sys_ns(clock);
    let offset = expected(clock);
    f.note(
        format!("{phase}: clock {clock}"),
        within(
            &format!(
                "{whose} time (the kernel's plus {}), no earlier than the update, no later than the kernel's coarse read and its lag",
                Secs(offset)
            ),
            lowest + offset,
            ns(ts),
            after + offset + kernel_coarse_lag_ns() + bound,
        ),
    );
    Ok(())
}
