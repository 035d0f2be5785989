//! The namespace's offsets, as programs read them.

mod support;

use support::*;

const PY_MONOTONIC: &str = "import time; print(time.monotonic())";
const PY_BOOTTIME: &str = "import time; print(time.clock_gettime(time.CLOCK_BOOTTIME))";

fn python_reading(args: &[&str], code: &str) -> i128 {
    let run = run(vdso_run().args(args).args(["--", "python3", "-c", code])).expect_success();
    parse_ns(&run.stdout)
}

#[test]
fn monotonic_plus_ten_days_in_python() {
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let seen = python_reading(&["--monotonic", "+10d"], PY_MONOTONIC);
    assert_near("time.monotonic()", seen, before, TEN_DAYS, 0, NS);
}

#[test]
fn negative_boottime_in_python() {
    let offset = minus_half_uptime();
    let before = host_ns(libc::CLOCK_BOOTTIME);
    let seen = python_reading(&["--boottime", &offset_arg(offset)], PY_BOOTTIME);
    assert_near("CLOCK_BOOTTIME", seen, before, offset, 0, NS);
    // MONOTONIC keeps the host's value: the offsets are per clock.
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let seen = python_reading(&["--boottime", &offset_arg(offset)], PY_MONOTONIC);
    assert_near("time.monotonic()", seen, before, 0, 0, NS);
}

#[test]
fn realtime_is_not_shifted() {
    let args = ["--monotonic", "+10d", "--boottime", "+10d"];
    let date = run(vdso_run().args(args).args(["--", "date", "+%s"])).expect_success();
    let host = host_ns(libc::CLOCK_REALTIME);
    assert_near("date +%s", parse_ns(&date.stdout), host, 0, 2 * NS, NS);
    let before = host_ns(libc::CLOCK_REALTIME);
    let seen = python_reading(&args, "import time; print(time.time())");
    assert_near("time.time()", seen, before, 0, 0, NS);
}

#[test]
fn without_timens_the_host_image_serves_host_time() {
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run =
        run(vdso_run().args(["--verbose", "--", "python3", "-c", PY_MONOTONIC])).expect_success();
    assert_near("time.monotonic()", parse_ns(&run.stdout), before, 0, 0, NS);
    assert!(run.stderr.contains("/vdso.so"), "{}", run.stderr);
    assert!(run.counts("vdso-run: served by the image: ")["clock_gettime"] > 0);
}

#[test]
fn timens_without_offsets_reads_host_time() {
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run = run(vdso_run().args(["--timens", "--verbose", "--", "python3", "-c", PY_MONOTONIC]))
        .expect_success();
    assert_near("time.monotonic()", parse_ns(&run.stdout), before, 0, 0, NS);
    assert!(run.stderr.contains("/vdso-timens.so"), "{}", run.stderr);
}

#[test]
fn offset_units_reach_the_program() {
    // -1h30m and 86400 (unshare's plain seconds) end up in the namespace page.
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let seen = python_reading(&["--monotonic", "86400"], PY_MONOTONIC);
    assert_near("86400", seen, before, 86_400 * NS, 0, NS);
    let before = host_ns(libc::CLOCK_BOOTTIME);
    let seen = python_reading(&["--boottime", "+1h30m250ms"], PY_BOOTTIME);
    assert_near("+1h30m250ms", seen, before, 5_400 * NS + 250_000_000, 0, NS);
}
