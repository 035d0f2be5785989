//! vdso-run as a parent: exit codes, signals, and what happens when it is
//! killed.

mod support;

use std::time::{Duration, Instant};

use support::*;

#[test]
fn exit_status_is_program_s() {
    assert_exit_status_is_program_s(vdso_run);
}

#[test]
fn program_inherits_the_signal_dispositions_and_mask_it_would_without_vdso_run() {
    assert_program_inherits_the_signal_state(vdso_run);
}

#[test]
fn a_stopped_orphan_does_not_keep_vdso_run_waiting() {
    assert_a_stopped_orphan_does_not_keep_vdso_run_waiting(vdso_run);
}

#[test]
fn no_namespace_file_is_left_however_vdso_run_ends() {
    assert_no_file_is_left_however_vdso_run_ends(vdso_run);
}

#[test]
fn sigterm_and_sighup_are_forwarded() {
    assert_sigterm_and_sighup_are_forwarded(vdso_run);
}

#[test]
fn sigint_to_the_process_group_reaches_program_once() {
    assert_sigint_to_the_group_reaches_program_once(vdso_run);
    // And SIGINT to vdso-run alone does not end PROGRAM.
    let child = spawn(vdso_run().args(["--", "sh", "-c", "sleep 0.5; exit 7"]));
    std::thread::sleep(Duration::from_millis(200));
    kill(child.id() as i32, libc::SIGINT);
    let run = finish("sh", child, WATCHDOG);
    assert_eq!(run.code(), Some(7));
}

#[test]
fn when_vdso_run_is_killed_nothing_runs_on_stale_clocks() {
    // PROGRAM (sh) starts a grandchild that reads the clock every 50 ms.
    let dir = tmp_dir();
    let pids = dir.join("killed-pids");
    let code = format!(
        "import time, os
open('{}', 'w').write(str(os.getpid()))
while True:
    time.monotonic(); time.sleep(0.05)",
        pids.display()
    );
    // PROGRAM itself then waits on a `sleep` that reads no clock: only
    // PR_SET_PDEATHSIG can end it early.
    let script = format!(
        "python3 -c \"{code}\" & echo $$ > {}.sh; sleep 30 </dev/null >/dev/null 2>&1",
        pids.display()
    );
    let mut child = spawn(vdso_run().args(["--monotonic", "+1d", "--", "sh", "-c", &script]));
    let start = Instant::now();
    let (sh, grandchild) = loop {
        let sh = std::fs::read_to_string(format!("{}.sh", pids.display()));
        let gc = std::fs::read_to_string(&pids);
        if let (Ok(sh), Ok(gc)) = (sh, gc)
            && !gc.is_empty()
        {
            break (
                sh.trim().parse::<i32>().expect("pid"),
                gc.trim().parse::<i32>().expect("pid"),
            );
        }
        assert!(start.elapsed() < WATCHDOG, "the grandchild never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let vdso_run_pid = child.id();
    let pgid = vdso_run_pid as i32;
    kill(vdso_run_pid as i32, libc::SIGKILL);
    let _ = child.wait();
    // PROGRAM dies with vdso-run (PR_SET_PDEATHSIG)...
    let killed = Instant::now();
    while state(sh).is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "PROGRAM outlived vdso-run"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...and the grandchild at its next clock read once the pages are a
    // second stale.
    while state(grandchild).is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "a grandchild still runs on clocks nobody ticks"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).ok();
    // SAFETY: the process group this test created (the orphaned `sleep`).
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    assert!(stderr.contains("has gone; killing pid"), "{stderr}");
    // The grandchild removed the file vdso-run could not.
    assert_no_leftover_file(vdso_run_pid);
}
