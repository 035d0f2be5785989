//! The cost of a clock read through the preload library and the image,
//! against the kernel's vDSO through glibc, measured side by side in one
//! process (tests/c/bench.c). A figure for the README, not a pass/fail test:
//!
//!     cargo test --release -p vdso-run --test cost -- --ignored --nocapture

mod support;

use support::*;

#[test]
#[ignore = "a measurement: run it on demand, in release mode"]
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
