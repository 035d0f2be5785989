//! `--as-vdso` as a parent and a tracer: exit codes, signals passing through
//! the tracer to the programs' handlers, job control, and what happens when
//! vdso-run is killed.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// Waits until `path` holds `n` lines; returns them.
fn lines_of(path: &std::path::Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n {
                return lines;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never got {n} lines",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exit_status_is_program_s() {
    assert_exit_status_is_program_s(as_vdso);
    let run = run(as_vdso().args(["--", "no-such-program-anywhere"]));
    assert_eq!(run.code(), Some(127), "{}", run.stderr);
}

#[test]
fn program_inherits_the_signal_dispositions_and_mask_it_would_without_vdso_run() {
    assert_program_inherits_the_signal_state(as_vdso);
}

#[test]
fn sigterm_and_sighup_are_forwarded() {
    assert_sigterm_and_sighup_are_forwarded(|| {
        let mut cmd = as_vdso();
        cmd.args(["--monotonic", "+1d"]);
        cmd
    });
}

#[test]
fn signals_reach_the_programs_handlers_through_the_tracer() {
    // Python counts the SIGUSR1s sent to it from outside while it sleeps
    // (a translated absolute wait, interrupted and resumed each time).
    let dir = tmp_dir();
    let pidfile = dir.join("handler-pid");
    let code = format!(
        "import signal, time, os
n = 0
def h(s, f):
    global n
    n += 1
signal.signal(signal.SIGUSR1, h)
open({:?}, 'w').write(str(os.getpid()) + '\\n')
t = time.monotonic()
time.sleep(1.0)
print('sigusr1', n, 'slept', round(time.monotonic() - t, 2), flush=True)",
        pidfile.to_str().expect("utf-8")
    );
    let _ = std::fs::remove_file(&pidfile);
    let child = spawn(as_vdso().args(["--monotonic", "+10d", "--", "python3", "-c", &code]));
    let pid: i32 = lines_of(&pidfile, 1)[0].parse().expect("pid");
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        kill(pid, libc::SIGUSR1);
    }
    let run = finish("python counting SIGUSR1", child, WATCHDOG).expect_success();
    assert!(run.stdout.contains("sigusr1 3 "), "{}", run.stdout);
    let slept: f64 = run
        .stdout
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .expect("seconds");
    assert!((0.9..=1.3).contains(&slept), "slept {slept} s");
}

#[test]
fn sigint_to_the_process_group_reaches_program_once() {
    assert_sigint_to_the_group_reaches_program_once(as_vdso);
}

#[test]
fn job_control_stops_and_continues_the_program() {
    // SIGSTOP (or Ctrl-Z's SIGTSTP) leaves the tracee stopped until SIGCONT,
    // as without a tracer.
    let dir = tmp_dir();
    let pidfile = dir.join("stopped-pid");
    let _ = std::fs::remove_file(&pidfile);
    let script = format!(
        "echo $$ > {}; i=0; while [ $i -lt 30 ]; do sleep 0.05; i=$((i+1)); done; echo done",
        pidfile.display()
    );
    for sig in [libc::SIGSTOP, libc::SIGTSTP] {
        let _ = std::fs::remove_file(&pidfile);
        let started = Instant::now();
        let child = spawn(as_vdso().args(["--", "sh", "-c", &script]));
        let pid: i32 = lines_of(&pidfile, 1)[0].parse().expect("pid");
        kill(pid, sig);
        std::thread::sleep(Duration::from_millis(300));
        // Stopped in group-stop ('t' under a tracer): it makes no progress.
        assert_eq!(state(pid), Some('t'), "after signal {sig}");
        std::thread::sleep(Duration::from_millis(2000));
        assert_eq!(state(pid), Some('t'), "woke without SIGCONT");
        kill(pid, libc::SIGCONT);
        let run = finish("sh stopped and continued", child, WATCHDOG).expect_success();
        assert!(run.stdout.contains("done"), "{}", run.stdout);
        // 1.5 s of its own work, and 2.3 s stopped.
        assert!(started.elapsed() >= Duration::from_millis(3300));
    }
}

#[test]
fn when_vdso_run_is_killed_every_tracee_dies_with_it() {
    // PROGRAM (sh) starts a grandchild in a translated absolute wait; both
    // write their pids. After kill -9 of vdso-run, the kernel kills both at
    // once (PTRACE_O_EXITKILL), and the namespace file goes too.
    let dir = tmp_dir();
    let pids = dir.join("killed-pids");
    let _ = std::fs::remove_file(&pids);
    let code = format!(
        "import time, os; open({p:?}, 'a').write(str(os.getpid()) + '\\n'); time.sleep(60)",
        p = pids.to_str().expect("utf-8")
    );
    let script = format!(
        "echo $$ >> {}; python3 -c \"{}\" & wait",
        pids.display(),
        code.replace('"', "\\\"")
    );
    let child = spawn(as_vdso().args(["--monotonic", "+10d", "--", "sh", "-c", &script]));
    let vdso_run = child.id() as i32;
    let listed: Vec<i32> = lines_of(&pids, 2)
        .iter()
        .map(|l| l.parse().expect("pid"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for p in &listed {
        assert!(state(*p).is_some(), "{p} is not running");
    }
    kill(vdso_run, libc::SIGKILL);
    let killed = Instant::now();
    for p in &listed {
        while state(*p).is_some() {
            assert!(
                killed.elapsed() < Duration::from_secs(2),
                "process {p} outlived vdso-run"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let run = finish("killed vdso-run", child, WATCHDOG);
    assert_eq!(
        run.code(),
        None,
        "vdso-run was not killed: {:?}",
        run.status
    );
    // The janitor removes the namespace file within moments.
    let start = Instant::now();
    loop {
        let left = std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("vdso-run.{vdso_run}."))
                })
            })
            .unwrap_or(false);
        if !left {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the namespace file of the killed vdso-run is still there"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
