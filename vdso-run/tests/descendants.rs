//! Threads, forked children, programs exec'd with a cleared environment, and
//! programs started by a shell all see the namespace.

mod support;

use support::*;

/// Runs PROGRAM under +10d and checks every `monotonic` reading it printed
/// (lines ending in "monotonic SECONDS") is ten days ahead.
fn ten_days_ahead(program: &[&str], expected_lines: usize) -> Run {
    ten_days_ahead_within(program, expected_lines, 2 * NS)
}

/// The same, for readings taken up to `late` ns after PROGRAM starts.
fn ten_days_ahead_within(program: &[&str], expected_lines: usize, late: i128) -> Run {
    monotonic_ten_days_ahead(vdso_run(), program, expected_lines, Some(late))
}

#[test]
fn every_thread() {
    ten_days_ahead(
        &[c_program("clocks").to_str().expect("utf-8"), "threads"],
        4,
    );
}

#[test]
fn forked_child_and_parent() {
    let run = ten_days_ahead(&[c_program("clocks").to_str().expect("utf-8"), "fork"], 2);
    assert!(run.stdout.contains("child monotonic"), "{}", run.stdout);
}

#[test]
fn programs_exec_d_with_a_cleared_environment() {
    let clocks = c_program("clocks");
    let clocks = clocks.to_str().expect("utf-8");
    for mode in [
        "execve_empty",
        "fexecve_empty",
        "execvpe_empty",
        "execle_empty",
        "posix_spawn_empty",
        "posix_spawnp_empty",
        "execv_clearenv",
        "execvp_clearenv",
        "execl_clearenv",
        "execlp_clearenv",
    ] {
        // The exec'd program prints every clock; "monotonic" once.
        let run = ten_days_ahead(&[clocks, "exec", mode, clocks], 1);
        assert!(run.stdout.contains("boottime"), "{mode}: {}", run.stdout);
    }
}

#[test]
fn env_minus_i() {
    let clocks = c_program("clocks");
    ten_days_ahead(&["env", "-i", clocks.to_str().expect("utf-8")], 1);
}

#[test]
fn python_started_by_a_shell() {
    ten_days_ahead(
        &[
            "sh",
            "-c",
            "python3 -c 'import time; print(\"monotonic\", time.monotonic())'",
        ],
        1,
    );
}

#[test]
fn a_child_left_running_keeps_the_namespace_alive() {
    // PROGRAM exits at once; its background child reads the clock a second
    // later, on pages vdso-run's keeper still keeps ticking. By default
    // vdso-run returns with PROGRAM, as `unshare --fork` does; with --wait
    // it waits for the child. (Python starts slowly on a loaded machine:
    // the reading may come a few seconds after PROGRAM started.)
    let script =
        "(sleep 1; python3 -c 'import time; print(\"late monotonic\", time.monotonic())') &";
    for wait in [false, true] {
        let mut cmd = vdso_run();
        if wait {
            cmd.arg("--wait");
        }
        let run = monotonic_ten_days_ahead(cmd, &["sh", "-c", script], 1, Some(10 * NS));
        let waited = run.elapsed.as_millis() >= 1000;
        assert_eq!(
            waited, wait,
            "--wait {wait}: returned after {:?}",
            run.elapsed
        );
    }
}

#[test]
fn a_descendant_that_becomes_another_user_keeps_the_namespace() {
    // Whatever vdso-run's umask, every user can open the namespace file (it
    // holds only the clocks): a root shell drops to nobody and execs.
    let clocks = c_program("clocks");
    let public = Public::new(&[&clocks]);
    let script = format!(
        "umask 077; exec {} --monotonic +10d -- setpriv --reuid={NOBODY} --regid={NOBODY} \
         --clear-groups {}",
        public.vdso_run_line(),
        public.path(&clocks).display()
    );
    assert_ten_days_ahead_as_nobody(&script);
}
