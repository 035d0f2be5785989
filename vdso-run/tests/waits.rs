//! Absolute-time waits on namespaced clocks take as long as asked, under a
//! large positive offset (untranslated: they would sleep for ten days, and
//! the watchdog fails the test) and a negative one of half the uptime
//! (untranslated: they would return at once).

mod support;

use support::*;

fn offsets() -> [(&'static str, String); 2] {
    [
        ("+10d", offset_arg(TEN_DAYS)),
        ("minus half the uptime", offset_arg(minus_half_uptime())),
    ]
}

#[test]
fn python_sleep_takes_its_time() {
    let code = "import time; t=time.monotonic(); time.sleep(0.3); print(time.monotonic()-t)";
    for (label, offset) in offsets() {
        let run = run(vdso_run()
            .args(["--verbose", "--monotonic", &offset, "--boottime", &offset])
            .args(["--", "python3", "-c", code]))
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

/// Every call tests/c/waits.c makes, with the counter each one moves.
const C_WAITS: [(&str, &str); 16] = [
    ("clock_nanosleep", "clock_nanosleep"),
    ("clock_nanosleep_boottime", "clock_nanosleep"),
    ("syscall_clock_nanosleep", "clock_nanosleep"),
    ("timerfd_settime", "timerfd_settime"),
    ("timerfd_settime_boottime", "timerfd_settime"),
    ("timer_settime", "timer_settime"),
    ("pthread_cond_clockwait", "pthread_cond_clockwait"),
    ("pthread_cond_timedwait", "pthread_cond_timedwait"),
    ("pthread_cond_timedwait_realtime", ""),
    ("sem_clockwait", "sem_clockwait"),
    ("pthread_mutex_clocklock", "pthread_mutex_clocklock"),
    ("pthread_rwlock_clockrdlock", "pthread_rwlock_clockrdlock"),
    ("pthread_rwlock_clockwrlock", "pthread_rwlock_clockwrlock"),
    ("pthread_clockjoin_np", "pthread_clockjoin_np"),
    ("futex_wait_bitset", "futex"),
    ("futex_waitv", "futex_waitv"),
];

#[test]
fn c_program_wakes_on_time_for_every_translated_call() {
    let waits = c_program("waits");
    for (label, offset) in offsets() {
        // One process per call: a call left untranslated fails on its own.
        for (name, counter) in C_WAITS {
            let run = run(vdso_run()
                .args([
                    "--verbose",
                    "--monotonic",
                    &offset,
                    "--boottime",
                    &offset,
                    "--",
                ])
                .arg(&waits)
                .arg(name))
            .expect_success();
            let values = run.values();
            let ms: u64 = values
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{label} {name}: {}\n{}", run.stdout, run.stderr));
            assert!(
                (100..=300).contains(&ms),
                "{label}: {name} with a deadline 200 ms ahead woke after {ms} ms"
            );
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
        }
    }
}

#[test]
fn rust_condvar_and_park_timeout_take_their_time() {
    for (label, offset) in offsets() {
        let run = run(vdso_run()
            .args(["--verbose", "--monotonic", &offset, "--boottime", &offset])
            .args(["--", probe(), "waits", "300"]))
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
