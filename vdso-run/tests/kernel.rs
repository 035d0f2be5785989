//! Linux is the judge: the same programs under `vdso-run --monotonic N
//! --boottime M` and under `unshare --time --fork --monotonic N --boottime
//! M` (root only; the tests run as root here and in CI) read the same
//! clocks, clock by clock, each relative to REALTIME (which a time
//! namespace leaves alone), within `BESIDE_LINUX_NS`.

mod support;

use support::*;

const PYTHON: &str = "import time, os
for name in ['CLOCK_REALTIME', 'CLOCK_MONOTONIC', 'CLOCK_MONOTONIC_RAW', 'CLOCK_BOOTTIME', 'CLOCK_TAI']:
    print(name.lower(), repr(time.clock_gettime(getattr(time, name))))
print('time.monotonic', repr(time.monotonic()))
print('time.time', repr(time.time()))
print('time.perf_counter', repr(time.perf_counter()))
";

fn compare(program: &[&str], label: &str) {
    beside_linux(vdso_run, program, label);
}

#[test]
fn python_matches_a_linux_time_namespace() {
    compare(&["python3", "-c", PYTHON], "python");
}

#[test]
fn c_program_reading_every_clock_and_sysinfo_matches_linux() {
    let clocks = c_program("clocks");
    compare(&[clocks.to_str().expect("utf-8 path")], "clocks.c");
}

#[test]
fn rust_program_matches_linux() {
    compare(&[probe(), "clocks"], "vdso-run-probe");
}
