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
