//! The report rendered from invented results, against the text it must be
//! (xtask/tests/fixtures/bench-report-*.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kernel_side::targets::{self, Target};
use vdso_benches::calls::Call;
use vdso_benches::getrandom;

use super::Report;
use common::abi::Arch;

use crate::bench::{
    ArchImages, Counts, Disassembly, FULL, ImageFacts, Interleaved, Live, Machine, Medians, QUICK,
};
use crate::project_root;

/// The report's text is what BENCHMARKS.md shows, so a change to the
/// code that renders it must not change it unnoticed: each fixture is
/// the text rendered from one set of invented results. When a change
/// is meant, the test leaves the new text in `target/` to look at and
/// copy over the fixture.
#[test]
fn the_report_renders_as_the_fixture_says() {
    let mut changed = Vec::new();
    for (name, report, expected) in [
        (
            "bench-report-full.md",
            fake_report(false),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/bench-report-full.md"
            )),
        ),
        (
            "bench-report-gaps.md",
            fake_report(true),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/bench-report-gaps.md"
            )),
        ),
    ] {
        let text = report.render();
        if text != expected {
            let dir = project_root().join("target");
            std::fs::create_dir_all(&dir).unwrap();
            let actual = dir.join(name);
            std::fs::write(&actual, &text).unwrap();
            changed.push(format!(
                "xtask/tests/fixtures/{name} (now {})",
                actual.display()
            ));
        }
    }
    assert!(
        changed.is_empty(),
        "the report no longer renders as {}",
        changed.join(", ")
    );
}

/// Results no machine produced: every number differs from its
/// neighbours, so one that lands in the wrong cell shows, and ratios
/// fall on both sides of 1. With `gaps`, every seventh result is
/// missing, the kernel has no RDPID and the run is `--quick`, so the
/// "n/a" and the other branches render too.
fn fake_report(gaps: bool) -> Report {
    let (mut n, spread) = (0_u64, if gaps { 7907 } else { 7919 });
    // Deterministic, spread out and never round; a gap where no
    // pattern of the tables lines up with it.
    let mut next = |scale: f64| {
        n += 1;
        let v = 1.0 + ((n * spread) % 97) as f64 / 613.0 * scale + n as f64 * 0.001;
        (gaps && n % 7 == 3, v)
    };
    let at_designs = |t: &Target| (t.arch, t.abi) == (targets::DESIGN_ARCH, targets::DESIGN_ABI);
    let names: Vec<String> = targets::all()
        .filter(at_designs)
        .map(Target::name)
        .collect();
    let targets: Vec<&str> = ["kernel", "syscall"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
        .collect();
    let mut medians = BTreeMap::new();
    let mut counts = Counts::new();
    let mut interleaved = String::new();
    for call in Call::ALL {
        for t in &targets {
            for (group, base) in [("hot", 20.0), ("cold", 400.0)] {
                let (skip, v) = next(1.0);
                if !skip {
                    medians.insert(
                        (format!("{group}-{}", call.name()), t.to_string()),
                        base * v,
                    );
                }
            }
            let (skip, v) = next(30.0);
            let rdpid_getcpu = !gaps && *t == "kernel" && call == Call::Getcpu;
            if !skip && !rdpid_getcpu && *t != "syscall" {
                counts.insert((t.to_string(), call.name().to_string()), 40.0 * v);
            }
        }
        for (a, b) in [
            ("kernel", "host"),
            ("host", "timens"),
            ("host", "b-host"),
            ("b-host", "b-ns"),
            ("host", "c-host"),
            ("c-host", "c-ns"),
            ("host", "d-host"),
            ("d-host", "d-ns"),
        ] {
            let (skip, v) = next(0.1);
            if !skip {
                let name = call.name();
                let (q1, q3) = (v - 0.004, v + 0.007);
                let _ = writeln!(interleaved, "{a} {b} {name} {v} {q1} {q3}");
            }
        }
    }
    // Apart from the sequence above, so that adding them moved no other
    // value of the fixtures: the other layouts' pairs, counted.
    for (i, t) in targets::all().filter(|t| !at_designs(t)).enumerate() {
        for (j, call) in Call::ALL.into_iter().enumerate() {
            let v = 150.0 + (i * 31 + j * 7) as f64;
            counts.insert((t.name(), call.name().to_string()), v);
        }
    }
    // getrandom, apart from the sequence too: every source per size, the
    // images against the kernel in turns, and counts. With `gaps`, some
    // are missing and one image is slower at one size, so the goal shows
    // missed.
    let with_getrandom: Vec<String> = targets::all()
        .filter(|t| !t.is_design() && t.exports("getrandom"))
        .map(Target::name)
        .collect();
    for (i, size) in getrandom::SIZES.into_iter().enumerate() {
        let group = getrandom::name(size);
        let sources = ["kernel", "syscall", "user-chacha20"]
            .into_iter()
            .map(str::to_string)
            .chain(with_getrandom.iter().cloned());
        for (j, t) in sources.enumerate() {
            let v = (20.0 + 3.0 * j as f64 + 0.37 * i as f64) * (1 << (2 * i)) as f64;
            if !(gaps && (i + j) % 5 == 3) {
                medians.insert((group.clone(), t.clone()), v);
            }
            if t != "syscall" && t != "user-chacha20" {
                counts.insert(
                    (t, group.clone()),
                    300.0 * (1 << (2 * i)) as f64 - 7.0 * j as f64,
                );
            }
        }
        for (j, t) in with_getrandom
            .iter()
            .filter(|t| t.starts_with("host"))
            .enumerate()
        {
            let slower = gaps && i == 1 && j == 0;
            let m = if slower {
                1.021
            } else {
                0.971 + 0.004 * i as f64 + 0.002 * j as f64
            };
            let (q1, q3) = (m - 0.006, m + 0.009);
            let _ = writeln!(interleaved, "kernel {t} {group} {m} {q1} {q3}");
        }
    }
    if !gaps {
        for (secs, v) in [(1, 1.0213), (2, 1.0307), (3, 1.0398)] {
            let (q1, q3) = (v - 0.002, v + 0.003);
            let _ = writeln!(
                interleaved,
                "host host-stale-{secs}s monotonic {v} {q1} {q3}"
            );
        }
    }
    for (group, bench) in [
        ("cold-noop", "kernel"),
        ("cold-noop", "image"),
        ("floor", "lfence-rdtsc"),
        ("floor", "rdtscp"),
        ("floor", "rdpid"),
        ("floor", "call-noop"),
    ] {
        let (skip, v) = next(1.0);
        // Kept, so the columns less the floor have numbers in both.
        if !skip || group == "floor" && bench == "lfence-rdtsc" {
            medians.insert((group.to_string(), bench.to_string()), 18.0 * v);
        }
    }
    // The live comparison, apart from the sequence too: measured, or (with
    // gaps) a kernel whose layout no pair serves.
    let live = if gaps {
        "unserved 6.13_to_6.14\n".to_string()
    } else {
        let mut text = "layout linux-6.18 clock-mode 1 clocksource tsc rdpid true\n".to_string();
        for (i, call) in Call::ALL.into_iter().enumerate() {
            let r = 0.97 + i as f64 * 0.007;
            let k = 21.0 + i as f64 * 1.3;
            let _ = writeln!(
                text,
                "{} {r:.4} {:.4} {:.4} {k:.2} {:.2}",
                call.name(),
                r - 0.004,
                r + 0.006,
                k * r
            );
            counts.insert(
                ("live-host".into(), call.name().into()),
                30.0 + i as f64 * 3.0,
            );
        }
        text
    };
    // Each architecture's pair, also apart from the sequence: sizes and
    // counts every cell of which differs; with `gaps`, aarch64 not built
    // and x86_64's timens image without counts.
    let mut arch_images = ArchImages::default();
    for (i, (arch, variant, file, text)) in [
        (Arch::X86_64, "host", 5408, 1916),
        (Arch::X86_64, "timens", 5744, 2188),
        (Arch::Aarch64, "host", 5280, 1840),
        (Arch::Aarch64, "timens", 5528, 2084),
    ]
    .into_iter()
    .enumerate()
    {
        if gaps && arch == Arch::Aarch64 {
            continue;
        }
        arch_images
            .sizes
            .insert((arch, variant.to_string()), (file, text));
        if gaps && variant == "timens" {
            continue;
        }
        for (j, call) in Call::ALL.into_iter().enumerate() {
            let exists = common::entries::ENTRIES
                .iter()
                .any(|e| e.name == call.entry() && e.arches.contains(&arch.name()));
            if exists {
                let n = 11 + (i * 17 + j * 5) as u64;
                arch_images
                    .executed
                    .insert((arch, variant.to_string(), call.name().to_string()), n);
            }
        }
    }
    let mut by_variant = BTreeMap::new();
    by_variant.insert("host", (1676, 580, 4));
    by_variant.insert("timens", (1676, 845, 6));
    by_variant.insert("branch", (1680, 902, 6));
    by_variant.insert("merged", (2813, 628, 4));
    if !gaps {
        // Same function, different `.text`: the other branch of the
        // sizes' column.
        by_variant.insert("static", (1700, 933, 6));
        by_variant.insert("static-timens", (1676, 933, 6));
    }
    Report {
        settings: if gaps { QUICK } else { FULL },
        machine: Machine {
            cpu: "AMD EPYC".into(),
            cores: 2,
            flags: vec!["rdtscp".into(), "constant_tsc".into(), "hypervisor".into()],
            clocksource: "tsc".into(),
            kernel: "6.18.44".into(),
            hypervisor: !gaps,
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
        },
        medians: Medians(medians),
        interleaved: Interleaved::parse(&interleaved).unwrap(),
        live: Live::parse(&live).unwrap(),
        counts,
        images: ImageFacts { by_variant },
        arch_images,
        kernel_rdpid: !gaps,
        disassembly: Disassembly {
            host: " 800:\tpush   %rbp\n 801:\tpush   %r15\n 803:\tret".into(),
            kernel: " a40:\tpush   %rbp\n a41:\tret".into(),
        },
        minutes: if gaps { 1.04 } else { 6.15 },
    }
}
