//! The `#[test]` functions: one per category, each running every
//! registered check of it on every target it applies to.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use common::abi::Arch;
use kernel_side::{images, targets};

use crate::check::{Category, registered};
use crate::runner::run_and_report;
use crate::target::{Capability, Target};

fn run(category: Category) {
    run_and_report(category, &Target::here());
}

#[test]
fn black_box_checks_pass_on_every_target() {
    run(Category::BlackBox);
}

#[test]
fn time_namespace_checks_pass() {
    run(Category::TimeNamespace);
}

#[test]
fn seqlock_checks_pass() {
    run(Category::Seqlock);
}

#[test]
fn fault_checks_pass() {
    run(Category::Faults);
}

/// Damaged files need no running: every built image file is damaged here,
/// aarch64's included.
#[test]
fn hostile_input_checks_pass() {
    let built = images::built_arches();
    let files: Vec<Target> = Target::all()
        .filter(|t| t.has(Capability::ImageFile))
        .filter(|t| t.arch().is_some_and(|a| built.contains(&a)))
        .collect();
    run_and_report(Category::HostileInput, &files);
}

#[test]
fn getrandom_checks_pass() {
    run(Category::Getrandom);
}

/// Every check has a unique name, belongs to a category a test runs, and
/// applies to at least one target; the black-box ones need nothing but
/// entries, so they reach the kernel's own vDSO wherever it has those.
#[test]
fn every_registered_check_runs_somewhere() {
    let mut names = HashSet::new();
    for check in registered() {
        assert!(names.insert(check.name), "two checks named {}", check.name);
        assert!(Category::ALL.contains(&check.category));
        assert!(
            Target::all().any(|t| check.applies_to(t)),
            "{} applies to no target",
            check.name
        );
        if check.category == Category::BlackBox {
            // Nothing but entries, so it runs on the kernel's vDSO wherever
            // that has them (the signal trampoline: on arm64).
            assert!(
                check
                    .needs
                    .iter()
                    .all(|&c| c == Capability::Entries || c.entry().is_some()),
                "black-box check {} needs more than entries, which the kernel's vDSO cannot offer",
                check.name
            );
            assert!(
                check.applies_to(Target::KernelVdso)
                    || check.needs.iter().any(|&c| !Target::KernelVdso.has(c)),
                "black-box check {} skips the kernel's vDSO",
                check.name
            );
        }
    }
    for category in Category::ALL {
        assert!(
            registered().any(|c| c.category == category),
            "no check in {category:?}"
        );
    }
}

/// Every image target's image, of every architecture built, is built and
/// loads (the design variants included: a missing one fails the suite, it
/// is never skipped).
#[test]
fn every_target_image_is_built() {
    let built = images::built_arches();
    let missing: Vec<String> = Target::all()
        .filter(|t| t.arch().is_some_and(|a| built.contains(&a)))
        .filter(|t| !t.has(Capability::Rdpid))
        .filter_map(|t| t.image().err())
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    if built.len() < Arch::ALL.len() {
        println!("built (`{}`): {built:?}", images::ARCHES_ENV);
    }
}

/// The targets of this machine, and why any is left out: the RDPID ones on
/// a CPU without RDPID, and another architecture's (`cargo xtask test`
/// runs aarch64's under qemu-aarch64, through `conformance-cross`).
#[test]
fn every_target_runs_here_but_rdpid_on_a_cpu_without_it() {
    let here = Target::here();
    for t in Target::all() {
        if here.contains(&t) {
            continue;
        }
        match t.arch() {
            Some(arch) if arch != Arch::HOST => {
                println!("not run here ({arch} code): the {t}");
            }
            _ => {
                assert!(t.has(Capability::Rdpid), "the {t} does not run here");
                println!("not run here (this CPU has no RDPID): the {t}");
            }
        }
    }
}

/// The image target of short name `name` (`kernel_side::targets`).
fn named(name: &str) -> Target {
    targets::all()
        .find(|t| t.name() == name)
        .map(Target::Image)
        .unwrap_or_else(|| panic!("no target named {name}"))
}

/// The check names a target runs, sorted.
fn checks_on(target: Target) -> Vec<&'static str> {
    let mut names: Vec<_> = registered()
        .filter(|c| c.applies_to(target))
        .map(|c| c.name)
        .collect();
    names.sort_unstable();
    names
}

/// The variants are compared in BENCHMARKS.md only if they are correct, so
/// they meet the same checks as the images: every black-box check and
/// every own-data-page check (seqlock, faults) runs on each; the namespace
/// offset checks on the namespaced processes of (b) and (c) and on (d)'s
/// namespace image; the swap check only on the two-image designs (a) and
/// (d); the getcpu check on (d) with RDPID.
#[test]
fn the_variants_run_the_checks_that_apply_to_them() {
    let variants = ["b-host", "b-ns", "c-host", "c-ns", "d-host", "d-ns"].map(named);
    // Every one the shipped host image of their architecture and layout meets.
    let of = |category: Category| {
        registered()
            .filter(move |c| c.category == category)
            .filter(|c| c.applies_to(named("host")))
            .map(|c| c.name)
    };
    for t in variants {
        let on = checks_on(t);
        for name in of(Category::BlackBox)
            .chain(of(Category::Seqlock))
            .chain(of(Category::Faults))
        {
            assert!(on.contains(&name), "{name} does not run on the {t}");
        }
    }
    let offset_checks = [
        "timens_offsets_shift_the_monotonic_clocks_exactly",
        "timens_offsets_leave_realtime_alone",
        "timens_image_agrees_with_the_kernel_in_a_real_namespace",
    ];
    let namespaced = [
        "timens",
        "timens-linux-6.12",
        "timens-linux-6.18",
        "timens-aarch64-linux-6.18",
        "b-ns",
        "c-ns",
        "d-ns",
    ]
    .map(named);
    let swapping = [
        "host",
        "timens",
        "host-linux-6.12",
        "timens-linux-6.12",
        "host-linux-6.18",
        "timens-linux-6.18",
        "host-aarch64-linux-6.18",
        "timens-aarch64-linux-6.18",
        "d-host",
        "d-ns",
    ]
    .map(named);
    for t in Target::all() {
        let on = checks_on(t);
        for name in offset_checks {
            assert_eq!(
                on.contains(&name),
                namespaced.contains(&t),
                "{name} on the {t}"
            );
        }
        assert_eq!(
            on.contains(&"resolved_pointers_follow_a_swapped_image"),
            swapping.contains(&t),
            "the swap check on the {t}"
        );
        if let Some(partner) = t.swap_partner() {
            assert_eq!(partner.swap_partner(), Some(t));
            assert_ne!(t.namespaced(), partner.namespaced());
        }
        if !t.has(Capability::Rdpid) {
            assert_eq!(t.namespaced(), t.has(Capability::TimeNamespace));
        }
    }
    for t in ["d-host-rdpid", "d-ns-rdpid"].map(named) {
        assert!(checks_on(t).contains(&"getcpu_matches_the_kernel_on_every_cpu"));
    }
    // The signal trampoline is aarch64's, and there every image's.
    for t in Target::all() {
        assert_eq!(
            checks_on(t)
                .contains(&"signal_handlers_return_through_the_trampoline_and_unwind_past_it"),
            t.arch() == Some(Arch::Aarch64),
            "the trampoline check on the {t}"
        );
    }
    // Every file damaged once.
    let mut files: Vec<PathBuf> = targets::all()
        .filter(|&t| Target::Image(t).has(Capability::ImageFile))
        .map(|t| t.image_path())
        .collect();
    files.sort();
    let all: BTreeSet<PathBuf> = targets::all().map(|t| t.image_path()).collect();
    assert_eq!(
        files,
        Vec::from_iter(all),
        "one ImageFile target per image file"
    );
}

/// The capabilities are derived from the table's fields; this pins what
/// they come to, target by target, and so the (check, target) pairs the
/// suite runs: a change to the derivation or the table that moves a check
/// on or off a target fails here until it is written down.
#[test]
fn each_target_offers_exactly_its_capabilities() {
    use Capability::*;
    const X86: [Capability; 3] = [Entries, Time, Getcpu];
    let caps = |entries: &[Capability], rest: &[Capability]| -> Vec<Capability> {
        entries.iter().chain(rest).copied().collect()
    };
    let arm = [Entries, SignalTrampoline];
    // The kernel's vDSO has getrandom from Linux 6.11 (this machine's does).
    let kernel = if crate::target::kernel_has_getrandom() {
        caps(&X86, &[Getrandom])
    } else {
        X86.to_vec()
    };
    let expected: [(&str, Vec<Capability>); 17] = [
        ("kernel vDSO", kernel),
        ("host image", caps(&X86, &[OwnDataPages, Swap, ImageFile])),
        (
            "timens image",
            caps(&X86, &[OwnDataPages, TimeNamespace, Swap, ImageFile]),
        ),
        (
            "host image for linux-6.12",
            caps(&X86, &[OwnDataPages, Swap, ImageFile, Getrandom]),
        ),
        (
            "timens image for linux-6.12",
            caps(
                &X86,
                &[OwnDataPages, TimeNamespace, Swap, ImageFile, Getrandom],
            ),
        ),
        (
            "host image for linux-6.18",
            caps(&X86, &[OwnDataPages, Swap, ImageFile, Getrandom]),
        ),
        (
            "timens image for linux-6.18",
            caps(
                &X86,
                &[OwnDataPages, TimeNamespace, Swap, ImageFile, Getrandom],
            ),
        ),
        (
            "host image for aarch64 linux-6.18",
            caps(&arm, &[OwnDataPages, Swap, ImageFile]),
        ),
        (
            "timens image for aarch64 linux-6.18",
            caps(&arm, &[OwnDataPages, TimeNamespace, Swap, ImageFile]),
        ),
        (
            "(b) branch image in a host process",
            caps(&X86, &[OwnDataPages, ImageFile]),
        ),
        (
            "(b) branch image in a namespaced process",
            caps(&X86, &[OwnDataPages, TimeNamespace]),
        ),
        (
            "(c) merged image in a host process",
            caps(&X86, &[OwnDataPages, ImageFile]),
        ),
        (
            "(c) merged image in a namespaced process",
            caps(&X86, &[OwnDataPages, TimeNamespace]),
        ),
        (
            "(d) static image",
            caps(&X86, &[OwnDataPages, Swap, ImageFile]),
        ),
        (
            "(d) static-timens image",
            caps(&X86, &[OwnDataPages, TimeNamespace, Swap, ImageFile]),
        ),
        ("(d) static image with RDPID", caps(&X86, &[Rdpid])),
        ("(d) static-timens image with RDPID", caps(&X86, &[Rdpid])),
    ];
    let actual: Vec<(String, Vec<Capability>)> = Target::all()
        .map(|t| (t.name(), t.capabilities()))
        .collect();
    let expected: Vec<(String, Vec<Capability>)> = expected
        .into_iter()
        .map(|(name, caps)| (name.to_string(), caps))
        .collect();
    assert_eq!(actual, expected);
}
