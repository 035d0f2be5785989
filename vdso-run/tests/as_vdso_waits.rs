//! `--as-vdso`: absolute waits on shifted clocks are translated where the
//! system call is made, for every program (static musl, Go and Python
//! included), under a large positive offset (untranslated, a wait sleeps
//! ten days and the watchdog fails the test) and minus half the uptime
//! (untranslated, it returns at once).

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

/// Runs `asvdso COMMAND` (`asvdso_programs`, glibc and musl) under each of
/// `wait_offsets()`; `check(label, program, run)` judges each run.
fn each_asvdso_run(command: &str, mut check: impl FnMut(&str, &Path, &Run)) {
    for (label, offset) in wait_offsets() {
        for prog in asvdso_programs() {
            let run = run(as_vdso()
                .args(namespace_args(&offset))
                .arg(&prog)
                .arg(command))
            .expect_success();
            check(label, &prog, &run);
        }
    }
}

#[test]
fn python_go_and_static_musl_sleep_for_the_time_asked() {
    for (label, offset) in wait_offsets() {
        for p in four_programs() {
            let run = run(as_vdso()
                .args(namespace_args(&offset))
                .args(p.with(&["sleep"])))
            .expect_success();
            let slept = run.ms("sleep_ms");
            assert!(
                slept.abs_diff(p.sleep_ms) <= 100,
                "{label}: {}'s {} ms sleep took {slept} ms",
                p.name,
                p.sleep_ms
            );
            let translated = run.counts("vdso-run: translated: ");
            match p.name {
                // Absolute sleeps, stopped and moved to host time.
                "musl-static" | "glibc" | "python3" => assert!(
                    translated.get("clock_nanosleep").copied().unwrap_or(0) >= 1,
                    "{label}: {}'s sleep was not translated:\n{}",
                    p.name,
                    run.stderr
                ),
                // Go sleeps with relative timeouts: nothing to translate,
                // but its clock (time.Since) is the image's.
                _ => {}
            }
        }
    }
}

#[test]
fn every_absolute_wait_of_glibc_wakes_on_time() {
    // Each goes through the system call the tracer must translate.
    each_c_wait_wakes_on_time(as_vdso, |label, (name, _, call), run| {
        let translated = run.counts("vdso-run: translated: ");
        if call.is_empty() {
            assert!(
                translated.is_empty(),
                "{label}: a CLOCK_REALTIME wait was translated: {translated:?}"
            );
        } else {
            assert!(
                translated.get(call).copied().unwrap_or(0) >= 1,
                "{label}: {name} did not go through {call}:\n{}",
                run.stderr
            );
        }
    });
}

#[test]
fn waits_restarted_after_signals_are_translated_once() {
    // A storm of signals every 5 ms: ignored ones make the kernel restart
    // the call; handled ones (SA_RESTART) restart futex_waitv and interrupt
    // the others, which the program calls again with the same deadline.
    each_asvdso_run("restart", |label, prog, run| {
        let lines = lines_starting(&run.stdout, "restart_");
        assert_eq!(lines.len(), 6, "{}", run.stdout);
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            let took: u64 = f[1].parse().expect("ms");
            assert!(
                (200..=400).contains(&took) && f[2] == "ok",
                "{label} {}: {line} (a 300 ms wait)",
                prog.display()
            );
        }
    });
}

#[test]
fn registers_and_deadlines_are_the_caller_s_after_the_call() {
    // Raw system calls whose deadline sits in a read-only page: the tracer
    // must neither write it nor leave its own pointer in the register.
    each_asvdso_run("preserve", |label, prog, run| {
        let lines = lines_starting(&run.stdout, "preserve_");
        assert_eq!(lines.len(), 4, "{}", run.stdout);
        let (old_is_new, lines): (Vec<&str>, Vec<&str>) = lines
            .into_iter()
            .partition(|l| l.starts_with("preserve_old_is_new"));
        // timerfd_settime(fd, ABS, &its, &its): the kernel's output (the
        // old setting, about 10 s) is what the caller finds.
        let f: Vec<&str> = old_is_new[0].split_whitespace().collect();
        let took: u64 = f[1].parse().expect("ms");
        assert!(
            (100..=300).contains(&took) && f[2] == "0" && (f[4] == "9" || f[4] == "10"),
            "{label} {}: {}",
            prog.display(),
            old_is_new[0]
        );
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            let took: u64 = f[1].parse().expect("ms");
            assert!(
                (100..=300).contains(&took) && f[3] == "registers-kept" && f[4] == "deadline-kept",
                "{label} {}: {line}",
                prog.display()
            );
        }
    });
}

#[test]
fn a_timerfd_inherited_across_exec_is_translated() {
    // The timerfd is created before the exec that gives the program its
    // image: its clock comes from /proc/PID/fdinfo, not from watching
    // timerfd_create.
    for (label, offset) in wait_offsets() {
        let prog = musl_program("asvdso");
        let run = run(as_vdso()
            .args(namespace_args(&offset))
            .arg(&prog)
            .arg("timerfd-exec")
            .arg(&prog))
        .expect_success();
        let took = run.ms("timerfd_ms");
        assert!(
            (100..=300).contains(&took),
            "{label}: an inherited MONOTONIC timerfd armed 200 ms ahead fired after {took} ms"
        );
        assert_eq!(
            run.counts("vdso-run: translated: ").get("timerfd_settime"),
            Some(&1)
        );
    }
}

#[test]
fn an_absolute_realtime_posix_timer_is_not_shifted() {
    for (label, offset) in wait_offsets() {
        let run = run(as_vdso()
            .args(namespace_args(&offset))
            .arg(c_program("asvdso"))
            .arg("timer-realtime"))
        .expect_success();
        let took = run.ms("timer_realtime_ms");
        assert!(
            (100..=300).contains(&took),
            "{label}: a REALTIME timer armed 200 ms ahead fired after {took} ms"
        );
        assert!(
            !run.counts("vdso-run: translated: ")
                .contains_key("timer_settime"),
            "{label}: {}",
            run.stderr
        );
    }
}

#[test]
fn threads_waiting_on_one_deadline_at_once_each_wake_on_time() {
    each_asvdso_run("shared", |label, prog, run| {
        for i in 0..4 {
            let took = run.ms(&format!("shared_{i}"));
            assert!(
                (100..=300).contains(&took),
                "{label} {}: thread {i} woke after {took} ms",
                prog.display()
            );
        }
    });
}

#[test]
fn an_absolute_wait_through_the_i386_abi_is_refused() {
    // int $0x80 from 64-bit code: its 32-bit layout is not translated, so
    // the call fails with ENOSYS instead of sleeping on the wrong clock.
    let prog = musl_program("asvdso");
    let native = run(std::process::Command::new(&prog).arg("int80")).expect_success();
    assert_eq!(native.values()["int80"], "0", "{}", native.stdout);
    let run = run(as_vdso()
        .args(namespace_args("+10d"))
        .arg(&prog)
        .arg("int80"))
    .expect_success();
    assert_eq!(run.values()["int80"], (-libc::ENOSYS).to_string());
}

#[test]
fn more_than_2048_threads_in_translated_waits_at_once_all_wake_on_time() {
    // 2200 threads of one process each in an absolute clock_nanosleep on one
    // deadline 3 s ahead, all at once: every wait is translated (none ends
    // early, none sleeps the ten days), however many are in progress.
    let prog = c_program("manywaits");
    let run = run_for(
        as_vdso()
            .args(["--monotonic", "+10d", "--"])
            .arg(&prog)
            .args(["2200", "3000"]),
        Duration::from_secs(30),
    );
    let v = run.values();
    assert!(
        run.status.success(),
        "{:?}\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert_eq!(v["threads"], "2200");
    assert_eq!(
        v["at_once"], "1",
        "the waits did not overlap:\n{}",
        run.stdout
    );
    assert_eq!(v["early"], "0", "{}", run.stdout);
    assert_eq!(v["failed"], "0", "{}", run.stdout);
    let late: u64 = v["late_ms"].parse().expect("ms");
    assert!(
        late < 2000,
        "the last wait ended {late} ms after the deadline"
    );
}

#[test]
fn a_wait_made_at_the_bottom_of_the_main_stack_is_translated() {
    // The translated deadline goes below the caller's stack pointer; with
    // the main thread's stack pointer just above the bottom of its mapping
    // the page there is not mapped yet, and the thread is made to fault it
    // in first (the mapping grows, as it does for a signal frame).
    for prog in asvdso_programs() {
        let native = run(std::process::Command::new(&prog).arg("edge")).expect_success();
        assert!(native.stdout.starts_with("edge_ms "), "{}", native.stdout);
        for (label, offset) in wait_offsets() {
            let run = run(as_vdso()
                .args(namespace_args(&offset))
                .arg(&prog)
                .arg("edge"))
            .expect_success();
            let v = run.values();
            let fields: Vec<&str> = v
                .get("edge_ms")
                .unwrap_or_else(|| panic!("{label}: {}\n{}", run.stdout, run.stderr))
                .split_whitespace()
                .collect();
            let ms: u64 = fields[0].parse().expect("ms");
            assert!(
                (100..=300).contains(&ms) && fields[1] == "0",
                "{label} {}: {:?}",
                prog.display(),
                fields
            );
            assert_eq!(
                fields[3], "1",
                "{label}: the stack did not grow: {fields:?}"
            );
            assert_eq!(run.counts("vdso-run: translated: ")["clock_nanosleep"], 1);
        }
    }
}

#[test]
fn posix_timers_cost_the_tracer_neither_memory_nor_time() {
    // timer_create and timer_delete are not stopped and leave nothing in
    // the tracer: 200,000 pairs under --as-vdso take about what they take
    // without it and do not grow the tracer (which used to keep every
    // timer it had seen, at two stops a timer_create).
    let prog = c_program("timers");
    let plain =
        run(std::process::Command::new(&prog).args(["200000", "monotonic"])).expect_success();
    let pairs = |n: &str| {
        let run = run_for(
            as_vdso()
                .args(["--monotonic", "+10d", "--"])
                .arg(&prog)
                .args([n, "monotonic"]),
            Duration::from_secs(60),
        )
        .expect_success();
        let v = run.values();
        let ms: u64 = v["pairs_ms"].parse().expect("ms");
        let rss: u64 = v["tracer_rss_kb"].parse().expect("kB");
        (ms, rss)
    };
    let (_, rss_few) = pairs("1000");
    let (ms, rss_many) = pairs("200000");
    let plain_ms: u64 = plain.values()["pairs_ms"].parse().expect("ms");
    assert!(
        rss_many < rss_few + 1024,
        "the tracer grew from {rss_few} to {rss_many} kB over 200,000 timers"
    );
    assert!(
        ms <= 5 * plain_ms + 1000,
        "200,000 timer_create/timer_delete pairs took {ms} ms, {plain_ms} ms without vdso-run"
    );
}

#[test]
fn many_live_posix_timers_on_several_clocks_are_each_translated_by_their_own() {
    // 300 live timers on MONOTONIC, REALTIME and BOOTTIME in turn, each armed
    // absolutely 200 ms ahead of its own clock, oldest first (the deepest in
    // the kernel's list), twice over: each has 100 to 200 ms left, so each
    // was translated by its own clock's offset (REALTIME's none).
    let prog = c_program("timers");
    for (label, offset) in wait_offsets() {
        let run = run(as_vdso()
            .args(namespace_args(&offset))
            .arg(&prog)
            .args(["armed", "300"]))
        .expect_success();
        let v = run.values();
        assert_eq!(v["armed"], "300", "{label}: {}", run.stdout);
        assert_eq!(v["armed_wrong"], "0", "{label}: {}", run.stdout);
        assert_eq!(run.counts("vdso-run: translated: ")["timer_settime"], 400);
    }
}
