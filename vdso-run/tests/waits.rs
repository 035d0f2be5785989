//! Absolute-time waits on namespaced clocks take as long as asked, under a
//! large positive offset (untranslated: they would sleep for ten days, and
//! the watchdog fails the test) and a negative one of half the uptime
//! (untranslated: they would return at once).

mod support;

use support::*;

#[test]
fn python_sleep_takes_its_time() {
    let code = "import time; t=time.monotonic(); time.sleep(0.3); print(time.monotonic()-t)";
    for (label, offset) in wait_offsets() {
        let run = run(vdso_run()
            .args(namespace_args(&offset))
            .args(["python3", "-c", code]))
        .expect_success();
        let slept: f64 = run.stdout.trim().parse().expect("seconds");
        assert!(
            (0.2..=0.4).contains(&slept),
            "{label}: time.sleep(0.3) took {slept} s"
        );
        // Python 3.11 sleeps with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME).
        assert!(
            run.counts("vdso-run: translated: ")
                .contains_key("clock_nanosleep"),
            "{label}: not translated:\n{}",
            run.stderr
        );
    }
}

#[test]
fn c_program_wakes_on_time_for_every_translated_call() {
    // Each wait moves the counter of its libc function, once.
    each_c_wait_wakes_on_time(vdso_run, |label, (name, counter, _), run| {
        let translated = run.counts("vdso-run: translated: ");
        if counter.is_empty() {
            assert!(
                !translated.contains_key("pthread_cond_timedwait"),
                "{label}: a CLOCK_REALTIME condition variable was translated"
            );
        } else {
            assert_eq!(
                translated.get(counter),
                Some(&1),
                "{label}: {name} did not go through the translation:\n{}",
                run.stderr
            );
        }
    });
}

#[test]
fn rust_condvar_and_park_timeout_take_their_time() {
    for (label, offset) in wait_offsets() {
        let run = run(vdso_run()
            .args(namespace_args(&offset))
            .args([probe(), "waits", "300"]))
        .expect_success();
        let values = run.values();
        for key in ["condvar_wait_timeout_ms", "park_timeout_ms"] {
            let ms: u64 = values[key]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .expect("milliseconds");
            assert!(
                (200..=400).contains(&ms),
                "{label}: {key} of 300 ms took {ms} ms"
            );
        }
        assert_eq!(run.counts("vdso-run: translated: ").get("futex"), Some(&2));
    }
}

#[test]
fn more_than_1024_live_posix_timers_are_each_translated_by_their_own_clock() {
    // 5000 live timers on MONOTONIC, REALTIME and BOOTTIME in turn, each
    // armed absolutely 200 ms ahead of its own clock, twice over: each has
    // 100 to 200 ms left. (The table of their clocks held 1024 and the
    // timers past it went untranslated, silently.)
    let prog = c_program("timers");
    for (label, offset) in wait_offsets() {
        let run = run(vdso_run()
            .args(namespace_args(&offset))
            .arg(&prog)
            .args(["armed", "5000"]))
        .expect_success();
        let v = run.values();
        assert_eq!(v["armed"], "5000", "{label}: {}", run.stdout);
        assert_eq!(v["armed_wrong"], "0", "{label}: {}", run.stdout);
        // REALTIME's third needs no translation.
        assert_eq!(
            run.counts("vdso-run: translated: ")["timer_settime"],
            2 * (0..5000).filter(|i| i % 3 != 1).count() as u64,
            "{label}"
        );
    }
}

#[test]
fn a_posix_timer_whose_clock_cannot_be_recorded_fails_with_eagain_and_one_line() {
    // With no address space to spare, the table of timers' clocks cannot
    // grow: timer_create fails as the kernel's does for a resource limit,
    // and vdso-run says so once. Without vdso-run (or without an offset,
    // where nothing is recorded) the same program creates them all.
    let prog = c_program("timers");
    let bounded = |cmd: &mut std::process::Command| {
        let run = run(cmd.arg(&prog).args(["bounded", "3000"])).expect_success();
        let v = run.values();
        (
            v["bounded_created"].clone(),
            v["bounded_error"].clone(),
            run.stderr,
        )
    };
    let (created, error, _) = bounded(&mut std::process::Command::new("env"));
    assert_eq!((created.as_str(), error.as_str()), ("3000", "none"));
    let (created, error, _) = bounded(vdso_run().arg("--"));
    assert_eq!((created.as_str(), error.as_str()), ("3000", "none"));
    let (created, error, stderr) = bounded(vdso_run().args(["--monotonic", "+1d", "--"]));
    let created: u32 = created.parse().expect("a count");
    assert!(
        (1..3000).contains(&created) && error == "Resource temporarily unavailable",
        "{created} created, then {error}"
    );
    let lines = lines_starting(&stderr, "vdso-run: ");
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("timer_create fails with EAGAIN"),
        "{}",
        lines[0]
    );
}
