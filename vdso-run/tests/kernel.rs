//! Linux is the judge: the same programs under `vdso-run --monotonic N
//! --boottime M` and under `unshare --time --fork --monotonic N --boottime
//! M` (root only; the tests run as root here and in CI) read the same
//! clocks, clock by clock, within a second of run time.

mod support;

use support::*;

const PYTHON: &str = "import time, os
for name in ['CLOCK_REALTIME', 'CLOCK_MONOTONIC', 'CLOCK_MONOTONIC_RAW', 'CLOCK_BOOTTIME', 'CLOCK_TAI']:
    print(name.lower(), repr(time.clock_gettime(getattr(time, name))))
print('time.monotonic', repr(time.monotonic()))
print('time.time', repr(time.time()))
print('time.perf_counter', repr(time.perf_counter()))
";

/// Clocks that read seconds since boot or since the epoch; `uptime` is an
/// integer (sysinfo), `time` too.
fn compare(program: &[&str], label: &str) {
    let BesideLinux {
        ours: a,
        linux: b,
        later,
    } = beside_linux(vdso_run(), program, label);
    assert!(!a.is_empty(), "{label}: no output");
    for (clock, value) in &a {
        let theirs = &b[clock];
        if value.contains("error") || theirs.contains("error") {
            assert_eq!(value, theirs, "{label} {clock}: errors differ");
            continue;
        }
        let slack = if matches!(clock.as_str(), "uptime" | "time") {
            2 * NS
        } else {
            NS
        };
        let d = parse_ns(theirs) - parse_ns(value) - later;
        assert!(
            d.abs() <= slack,
            "{label} {clock}: vdso-run read {value}, Linux's time namespace {theirs} \
             ({:.3} s apart beyond the {:.3} s between the runs)",
            d as f64 / 1e9,
            later as f64 / 1e9
        );
    }
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
