//! One child's checks: the image in place of the kernel's vDSO, every entry
//! bracketed between the kernel's own system calls.

use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use common::abi::{Abi, Arch};
use common::clock::{CLOCK_MONOTONIC, Timespec};
use common::layout::LayoutInfo;
use common::note::Variant;
use common::route::{Read, route};
use common::vvar::clock_mode;
use conformance::abi::{self, UNTOUCHED};
use conformance::time::{Failures, ns, tv_ns, within};
use kernel_side::in_place::VdsoSlot;
use kernel_side::{Vdso, images, running};

use crate::{getrandom, pages_only};

/// Reads per check and clock: enough to cross the kernel's updates (every
/// tick, 4 ms) many times.
const ROUNDS: usize = 2_000;

/// Runs the checks of `child <abi> <variant> <host|ns>`; prints one line per
/// check and exits 0 when all pass.
pub fn child(args: &[String]) -> ExitCode {
    let [abi, variant, place] = args else {
        eprintln!("usage: live_kernel child <layout> <host|timens> <host|ns>");
        return ExitCode::from(2);
    };
    let (Some(abi), Some(variant)) = (
        Abi::ALL.into_iter().find(|a| a.name() == abi),
        Variant::ALL.into_iter().find(|v| v.name() == variant),
    ) else {
        eprintln!("live_kernel child: unknown layout {abi:?} or image {variant:?}");
        return ExitCode::from(2);
    };
    let namespaced = place == "ns";
    match run(abi, variant, namespaced) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("FAILED setting up: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints each check's verdict; true if all passed.
struct Report {
    passed: bool,
}

impl Report {
    fn check(&mut self, name: &str, failures: Failures) {
        match failures.verdict() {
            Ok(()) => println!("ok {name}"),
            Err(e) => {
                self.passed = false;
                println!("FAILED {name}:\n{e}");
            }
        }
    }
}

fn run(abi: Abi, variant: Variant, namespaced: bool) -> Result<bool, String> {
    // Everything that may read a clock through libc, before the swap.
    let recognised = running::recognise().map_err(|e| e.to_string())?;
    // Found through the kernel's vDSO, which names whether it has any.
    let rng = running::kernel_rng();
    let image =
        images::load(abi, variant).map_err(|e| format!("the {abi} {variant:?} image: {e}"))?;
    let mut ids = abi::every_clock_id();
    for id in (13..=31).filter(|id| *id != 16) {
        ids.push((format!("clock {id}"), id));
    }
    let cpus = abi::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))?;
    // The image reads the counter only in the TSC mode, as Linux's does.
    let counter_served = recognised.clock_mode == clock_mode::TSC;
    // A layout with aux clocks answers their resolution itself.
    let aux_constant = LayoutInfo::of(Arch::HOST, abi).aux_clocks > 0;

    let mut report = Report { passed: true };
    let mut f = Failures::new();
    f.expect("namespace", recognised.namespaced == namespaced, || {
        format!(
            "the kernel's pages say namespaced = {}, the case {namespaced}",
            recognised.namespaced
        )
    });
    report.check("the running kernel is recognised", f);

    let mut slot = VdsoSlot::find().map_err(|e| e.to_string())?;
    // SAFETY: from here on this process calls no libc clock function; the
    // image stays installed for the rest of the process.
    let vdso = unsafe { slot.replace_with(&image) }.map_err(|e| e.to_string())?;
    println!(
        "note: {} installed at {:p}",
        image_name(abi, variant),
        slot.base()
    );

    report.check("clock_gettime, every id", every_clock(&vdso, &ids));
    report.check(
        "clock_getres, every id",
        every_resolution(&vdso, &ids, aux_constant),
    );
    report.check("gettimeofday", gettimeofday(&vdso));
    report.check("time", time(&vdso));
    report.check("getcpu, every CPU", getcpu(&vdso, &cpus));
    report.check(
        "MONOTONIC from every CPU at once",
        monotonic_everywhere(&vdso, &cpus),
    );
    // Last: the filter stays for the rest of the process.
    report.check(
        "served from the kernel's pages, no system call",
        served_from_pages(&vdso, &slot, &ids, counter_served),
    );
    // Under the same filter; an image without the entry has nothing to
    // check (a layout without rng data).
    if LayoutInfo::of(Arch::HOST, abi).rng.is_some() {
        report.check(
            "getrandom served with the kernel's rng data, no system call but key fetches",
            getrandom::served_from_rng_page(&vdso, rng),
        );
    }
    Ok(report.passed)
}

fn image_name(abi: Abi, variant: Variant) -> String {
    format!("{abi} {}", images::file_name(variant))
}

/// Whether `id` is read without the kernel: a CPU-time clock, an invalid id
/// or a disabled aux clock goes to the system call.
fn read_from_pages(id: i32, counter_served: bool) -> bool {
    match route(id).read {
        Read::Coarse => true,
        Read::Hres | Read::Raw => counter_served,
        Read::Aux(_) | Read::Syscall => false,
    }
}

fn every_clock(vdso: &Vdso<'_>, ids: &[(String, i32)]) -> Failures {
    let mut f = Failures::new();
    for _ in 0..ROUNDS / 10 {
        for (name, id) in ids {
            let (sys_ret, before) = abi::sys_clock_gettime(*id);
            let (ret, ts) = abi::vdso_clock_gettime(vdso, *id);
            let (_, after) = abi::sys_clock_gettime(*id);
            f.expect(name, ret == sys_ret, || {
                format!("returned {ret}, the system call {sys_ret}")
            });
            if sys_ret == 0 && ret == 0 {
                f.note(
                    name,
                    within("the system calls' times", ns(before), ns(ts), ns(after)),
                );
            } else {
                f.expect(name, ts == UNTOUCHED, || format!("wrote {ts:?} on failure"));
            }
        }
    }
    f
}

fn every_resolution(vdso: &Vdso<'_>, ids: &[(String, i32)], aux_constant: bool) -> Failures {
    let mut f = Failures::new();
    for (name, id) in ids {
        let (mut want_ret, mut want) = abi::sys_clock_getres(*id, true);
        let (mut want_null, _) = abi::sys_clock_getres(*id, false);
        if aux_constant && (16..=23).contains(id) {
            let one_ns = Timespec {
                tv_sec: 0,
                tv_nsec: 1,
            };
            (want_ret, want, want_null) = (0, one_ns, 0);
        }
        let (ret, res) = abi::vdso_clock_getres(vdso, *id, true);
        f.expect(name, (ret, res) == (want_ret, want), || {
            format!("returned {ret}, {res:?}; expected {want_ret}, {want:?}")
        });
        let (null, _) = abi::vdso_clock_getres(vdso, *id, false);
        f.expect(format!("{name}, NULL"), null == want_null, || {
            format!("returned {null}, expected {want_null}")
        });
    }
    f
}

fn gettimeofday(vdso: &Vdso<'_>) -> Failures {
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        let (_, before, sys_tz) = abi::sys_gettimeofday(true, true);
        let (ret, tv, tz) = vdso.gettimeofday(true, true);
        let (_, after, _) = abi::sys_gettimeofday(true, false);
        f.expect("return", ret == 0, || format!("returned {ret}"));
        if let (Some(lo), Some(tv), Some(hi)) = (before, tv, after) {
            f.note(
                "time",
                within("the system calls' times", tv_ns(lo), tv_ns(tv), tv_ns(hi)),
            );
        }
        f.expect("timezone", tz == sys_tz, || {
            format!("{tz:?}, the system call's {sys_tz:?}")
        });
    }
    let (ret, _, _) = vdso.gettimeofday(false, false);
    f.expect("both NULL", ret == 0, || format!("returned {ret}"));
    f
}

fn time(vdso: &Vdso<'_>) -> Failures {
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        let before = abi::sys_time();
        let (returned, stored) = vdso.time(true);
        let after = abi::sys_time();
        f.note(
            "returned",
            within(
                "the system calls' seconds",
                before.into(),
                returned.into(),
                after.into(),
            ),
        );
        f.expect("stored", stored == Some(returned), || {
            format!("stored {stored:?}, returned {returned}")
        });
    }
    f
}

fn getcpu(vdso: &Vdso<'_>, cpus: &[usize]) -> Failures {
    let mut f = Failures::new();
    let original = match abi::affinity() {
        Ok(set) => set,
        Err(e) => {
            f.note("affinity", Err(format!("sched_getaffinity: {e}")));
            return f;
        }
    };
    for &cpu in cpus {
        if let Err(e) = abi::pin_to(cpu) {
            f.note(format!("cpu {cpu}"), Err(format!("pinning: {e}")));
            continue;
        }
        let (sys_ret, sys_cpu, sys_node) = abi::sys_getcpu();
        let (ret, got_cpu, got_node) = vdso.getcpu();
        f.expect(format!("cpu {cpu}"), sys_ret == 0 && ret == 0, || {
            format!("returned {ret}, the system call {sys_ret}")
        });
        f.expect(
            format!("cpu {cpu}"),
            (got_cpu, got_node) == (sys_cpu, sys_node),
            || format!("said {got_cpu}, {got_node}; the system call {sys_cpu}, {sys_node}"),
        );
    }
    let ret = abi::vdso_getcpu_nulls(vdso);
    f.expect("all NULL", ret == 0, || format!("returned {ret}"));
    if let Err(e) = abi::set_affinity(&original) {
        f.note("affinity", Err(format!("restoring it: {e}")));
    }
    f
}

/// A thread per CPU, pinned, reading MONOTONIC at once: each read must be
/// no earlier than any read another CPU published before it began, the
/// property a clock shared across CPUs owes its readers.
fn monotonic_everywhere(vdso: &Vdso<'_>, cpus: &[usize]) -> Failures {
    static LATEST: AtomicI64 = AtomicI64::new(i64::MIN);
    static BACKWARDS: AtomicUsize = AtomicUsize::new(0);
    static WORST: AtomicI64 = AtomicI64::new(0);
    let mut f = Failures::new();
    std::thread::scope(|s| {
        for &cpu in cpus {
            s.spawn(move || {
                if abi::pin_to(cpu).is_err() {
                    return;
                }
                for _ in 0..ROUNDS * 50 {
                    let seen = LATEST.load(Ordering::Acquire);
                    let (_, ts) = abi::vdso_clock_gettime(vdso, CLOCK_MONOTONIC);
                    let now = ns(ts) as i64;
                    if now < seen {
                        BACKWARDS.fetch_add(1, Ordering::Relaxed);
                        WORST.fetch_max(seen - now, Ordering::Relaxed);
                    }
                    LATEST.fetch_max(now, Ordering::AcqRel);
                }
            });
        }
    });
    let n = BACKWARDS.load(Ordering::Relaxed);
    f.expect("monotonic", n == 0, || {
        format!(
            "{n} reads were earlier than one another CPU had published, by up to {} ns",
            WORST.load(Ordering::Relaxed)
        )
    });
    f
}

/// With every system call from the image's addresses refused, the clocks
/// the pages serve still answer, and the rest are refused: the image reads
/// the kernel's live pages and calls the kernel exactly where Linux's own
/// vDSO does.
fn served_from_pages(
    vdso: &Vdso<'_>,
    slot: &VdsoSlot,
    ids: &[(String, i32)],
    counter_served: bool,
) -> Failures {
    let mut f = Failures::new();
    if let Err(e) =
        pages_only::refuse_calls_from(slot.base() as usize, common::entries::MAX_IMAGE_SIZE)
    {
        f.note("the filter", Err(e));
        return f;
    }
    if !counter_served {
        println!("note: the kernel's clock mode is not the TSC: counter clocks go to the kernel");
    }
    let refused = -pages_only::REFUSED;
    for (name, id) in ids {
        let (ret, _) = abi::vdso_clock_gettime(vdso, *id);
        let (sys_ret, _) = abi::sys_clock_gettime(*id);
        if read_from_pages(*id, counter_served) {
            f.expect(name, ret == 0, || {
                format!("returned {ret}: the image did not read the kernel's pages")
            });
        } else if sys_ret == 0 {
            f.expect(name, ret == refused, || {
                format!(
                    "returned {ret}: the image answered a clock Linux's vDSO leaves to the kernel"
                )
            });
        }
    }
    let (ret, _, _) = vdso.gettimeofday(true, true);
    f.expect("gettimeofday", ret == 0 || !counter_served, || {
        format!("returned {ret}")
    });
    let (t, _) = vdso.time(false);
    f.expect("time", t > 0, || format!("returned {t}"));
    let (ret, _) = abi::vdso_clock_getres(vdso, CLOCK_MONOTONIC, true);
    f.expect("clock_getres(MONOTONIC)", ret == 0, || {
        format!("returned {ret}")
    });
    let ret = abi::vdso_getcpu_nulls(vdso);
    f.expect("getcpu", ret == 0, || format!("returned {ret}"));
    f
}
