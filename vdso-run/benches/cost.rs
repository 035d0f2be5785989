//! The cost of a clock read through the preload library and the image,
//! against the kernel's vDSO through glibc, measured side by side in one
//! process (tests/c/bench.c). A figure for the README, not a pass/fail test:
//!
//!     cargo bench -p vdso-run --bench cost

#[path = "../tests/support/mod.rs"]
mod support;

use support::*;

fn clock_gettime_through_the_preload_library_against_glibc() {
    let bench = c_program("bench");
    let profile = if cfg!(debug_assertions) {
        "debug (use --release for the README figure)"
    } else {
        "release"
    };
    println!("preload library built in {profile}");
    for mode in [&[][..], &["--monotonic", "+10d"][..]] {
        let run = run_for(
            vdso_run().args(mode).arg("--").arg(&bench),
            std::time::Duration::from_secs(120),
        )
        .expect_success();
        let image = if mode.is_empty() {
            "host image"
        } else {
            "timens image, +10d"
        };
        println!("{image}:\n{}", run.stdout);
    }
    let plain = run(&mut std::process::Command::new(&bench)).expect_success();
    println!(
        "without vdso-run (both columns are glibc):\n{}",
        plain.stdout
    );
}

/// `--as-vdso` with the host image against the kernel's vDSO: the same
/// program (tests/c/vdso_bench.c: glibc's clock_gettime(CLOCK_MONOTONIC) in
/// a tight loop, median of 41 batches of 200,000 calls), run alternately on
/// each, 15 times. The program also times, in the same process, the vDSO
/// it was given and the kernel's vDSO called directly: under --as-vdso,
/// the image against the kernel's vDSO with everything else equal (with
/// `--keep-kernel-vdso`, so that the kernel's vDSO is still mapped for it
/// to find through /proc/self/auxv; where the image goes does not change
/// what a call into it costs).
///
///     cargo bench -p vdso-run --bench cost -- as_the_vdso
fn clock_gettime_as_the_vdso_against_the_kernel_s_vdso() {
    let bench = c_program("vdso_bench");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ns = |run: &Run, key: &str| -> f64 { run.values()[key].parse().expect("nanoseconds") };
    let (mut ours, mut kernel, mut in_process) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        if i % 2 == 0 {
            let run = run_for(
                as_vdso().args(["--keep-kernel-vdso", "--"]).arg(&bench),
                std::time::Duration::from_secs(120),
            )
            .expect_success();
            ours.push(ns(&run, "glibc_median_ns"));
            in_process.push(ns(&run, "given_median_ns") / ns(&run, "kernel_median_ns"));
        } else {
            let run = run(&mut std::process::Command::new(&bench)).expect_success();
            kernel.push(ns(&run, "glibc_median_ns"));
        }
    }
    let (o, k, r) = (
        median(&mut ours),
        median(&mut kernel),
        median(&mut in_process),
    );
    println!("glibc, --as-vdso host image: {ours:?}\nglibc, kernel's vDSO:        {kernel:?}");
    println!(
        "glibc clock_gettime(CLOCK_MONOTONIC), median of 15 runs each: --as-vdso host image \
         {o:.2} ns, kernel's vDSO {k:.2} ns: ratio {:.3}",
        o / k
    );
    println!(
        "in the --as-vdso process, the image against the kernel's vDSO, both called directly: \
         median ratio {r:.3}"
    );
    // Outside clock reads: a translated wait (two stops), and exec.
    let us = |run: Run| -> f64 { run.values()["abs_sleep_us"].parse().expect("us") };
    let native = us(run(std::process::Command::new(&bench).arg("stops")).expect_success());
    let stopped = us(run(as_vdso()
        .args(["--monotonic", "+1d", "--"])
        .arg(&bench)
        .arg("stops"))
    .expect_success());
    println!(
        "absolute clock_nanosleep, deadline passed: {native:.1} us natively, {stopped:.1} us \
         translated under --as-vdso"
    );
    let loop_of_execs = "for i in $(seq 500); do /bin/true; done";
    let time = |cmd: &mut std::process::Command| {
        let start = std::time::Instant::now();
        run(cmd).expect_success();
        start.elapsed().as_secs_f64()
    };
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain.push(time(
            std::process::Command::new("sh").args(["-c", loop_of_execs]),
        ));
        traced.push(time(as_vdso().args(["--", "sh", "-c", loop_of_execs])));
    }
    let (p, t) = (median(&mut plain), median(&mut traced));
    println!(
        "500 fork+exec of /bin/true: {p:.2} s natively, {t:.2} s under --as-vdso: {:.2} ms more \
         per exec",
        (t - p) * 1e3 / 500.0
    );
}

/// `cargo bench -p vdso-run --bench cost [preload|as_the_vdso]`: both
/// measurements, or the one named.
fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| name.contains(w.as_str()));
    if wants("preload") {
        clock_gettime_through_the_preload_library_against_glibc();
    }
    if wants("as_the_vdso") {
        clock_gettime_as_the_vdso_against_the_kernel_s_vdso();
    }
}
