//! What running under vdso-run costs outside clock reads: starting
//! processes and taking signals, in both modes, with and without offsets,
//! against the same program run plainly. A figure for the README, not a
//! pass/fail test:
//!
//!     cargo bench -p vdso-run --bench overhead [start-up|signals]
//!
//! The workloads (tests/c/churn.c) time themselves from inside, so vdso-run's
//! own start is not counted:
//! - start-up: 500 times fork, exec /bin/true and wait (every /bin/true
//!   loads the preload library, or is given the image at its exec);
//! - signals: 2000 forks of a child that exits at once, then 20,000
//!   signals a process sends itself and catches (under `--as-vdso` each
//!   signal, fork, exit and SIGCHLD is a stop in the tracer).
//!
//! The machines these run on are shared and noisy: each configuration runs
//! `ROUNDS` times, interleaved with the others round by round, and the
//! median is what counts.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const ROUNDS: usize = 15;

/// (label, vdso-run's options; `None`: run plainly).
const CONFIGS: [(&str, Option<&[&str]>); 5] = [
    ("plain", None),
    ("default", Some(&[])),
    ("default +10d", Some(&["--monotonic", "+10d"])),
    ("--as-vdso", Some(&["--as-vdso"])),
    (
        "--as-vdso +10d",
        Some(&["--as-vdso", "--monotonic", "+10d"]),
    ),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `workload` under each configuration, `ROUNDS` times interleaved;
/// prints each median and its ratio to the plain run's.
fn measure(name: &str, workload: &[&str]) {
    let churn = c_program("churn");
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); CONFIGS.len()];
    for _ in 0..ROUNDS {
        for (i, (_, options)) in CONFIGS.iter().enumerate() {
            let mut cmd = match options {
                None => Command::new(&churn),
                Some(options) => {
                    let mut cmd = vdso_run();
                    cmd.args(*options).arg("--").arg(&churn);
                    cmd
                }
            };
            cmd.args(workload);
            let run = run_for(&mut cmd, Duration::from_secs(120)).expect_success();
            times[i].push(run.values()["ms"].parse().expect("ms"));
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!("{name} ({}), median of {ROUNDS} runs:", workload.join(" "));
    for ((label, _), m) in CONFIGS.iter().zip(&medians) {
        println!("  {label:<16} {m:8.1} ms  {:.2}x", m / medians[0]);
    }
}

fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug (use --release for the README figures)"
    } else {
        "release"
    };
    println!("vdso-run and its preload library built in {profile}");
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| name.contains(w.as_str()));
    if wants("start-up") {
        measure("start-up", &["spawn", "500", "/bin/true"]);
    }
    if wants("signals") {
        measure("signals", &["signals", "2000", "20000"]);
    }
}
