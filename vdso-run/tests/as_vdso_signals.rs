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
fn a_stopped_orphan_does_not_keep_vdso_run_waiting() {
    assert_a_stopped_orphan_does_not_keep_vdso_run_waiting(as_vdso);
}

#[test]
fn no_namespace_file_is_left_however_vdso_run_ends() {
    assert_no_file_is_left_however_vdso_run_ends(as_vdso);
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

/// tests/c/counters.c's shared counters, read from outside.
struct Counters {
    words: *const u64,
    len: usize,
}

impl Counters {
    /// Maps `path` once the program has written its pid into it.
    fn open(path: &std::path::Path, threads: usize) -> Counters {
        use std::os::fd::AsRawFd;
        let len = (threads + 3) * 8;
        let start = Instant::now();
        loop {
            if std::fs::metadata(path).is_ok_and(|m| m.len() as usize == len) {
                let file = std::fs::File::open(path).expect("counters file");
                // SAFETY: a new read-only shared mapping of a file of `len`
                // bytes; it aliases nothing of ours.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ,
                        libc::MAP_SHARED,
                        file.as_raw_fd(),
                        0,
                    )
                };
                assert_ne!(p, libc::MAP_FAILED, "mmap");
                let c = Counters {
                    words: p.cast(),
                    len,
                };
                while c.word(0) == 0 {
                    assert!(start.elapsed() < WATCHDOG, "the counters never started");
                    std::thread::sleep(Duration::from_millis(10));
                }
                return c;
            }
            assert!(
                start.elapsed() < WATCHDOG,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn word(&self, i: usize) -> u64 {
        assert!(i * 8 < self.len);
        // SAFETY: within the mapping; the program writes these words
        // concurrently, so they are read volatile, whole (aligned u64).
        unsafe { self.words.add(i).read_volatile() }
    }

    fn pid(&self) -> i32 {
        self.word(0) as i32
    }

    fn counts(&self) -> Vec<u64> {
        (2..self.len / 8).map(|i| self.word(i)).collect()
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.words.cast_mut().cast(), self.len) };
    }
}

/// The states of every thread of `pid` (`/proc/PID/task/*/stat`).
fn thread_states(pid: i32) -> Vec<char> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            stat.rsplit_once(')')?.1.trim_start().chars().next()
        })
        .collect()
}

#[test]
fn job_control_stops_and_continues_every_thread() {
    // Ctrl-Z (SIGTSTP to the whole process group, vdso-run included),
    // SIGSTOP to the group, and SIGSTOP to PROGRAM alone: every thread of a
    // 16-thread program stops (its counter stands still), vdso-run stops
    // too when the group is stopped (so that a shell sees the job stopped),
    // and SIGCONT resumes them all.
    const THREADS: usize = 16;
    let prog = c_program("counters");
    for (sig, to_group) in [
        (libc::SIGTSTP, true),
        (libc::SIGSTOP, true),
        (libc::SIGSTOP, false),
    ] {
        let what = format!(
            "signal {sig} to the {}",
            if to_group { "group" } else { "program" }
        );
        let file = tmp_dir().join(format!("counters-{sig}-{to_group}"));
        let _ = std::fs::remove_file(&file);
        let child = spawn(
            as_vdso()
                .args(["--monotonic", "+1d", "--"])
                .arg(&prog)
                .arg(&file)
                .arg(THREADS.to_string()),
        );
        let vdso_run = child.id() as i32;
        let counters = Counters::open(&file, THREADS);
        let pid = counters.pid();
        // SAFETY: signalling the process group this test created, or PROGRAM.
        let send = |s: i32| unsafe {
            if to_group {
                libc::kill(-vdso_run, s)
            } else {
                libc::kill(pid, s)
            }
        };
        send(sig);
        eventually(&format!("{what}: not every thread stopped"), || {
            let states = thread_states(pid);
            states.len() == THREADS + 1 && states.iter().all(|s| matches!(s, 't' | 'T'))
        });
        if to_group {
            eventually(&format!("{what}: vdso-run itself did not stop"), || {
                state(vdso_run) == Some('T')
            });
        }
        let before = counters.counts();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            counters.counts(),
            before,
            "{what}: threads counted while stopped"
        );
        send(libc::SIGCONT);
        eventually(&format!("{what}: not every thread resumed"), || {
            counters
                .counts()
                .iter()
                .zip(&before)
                .all(|(now, then)| now > then)
        });
        let file_rw = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open");
        std::os::unix::fs::FileExt::write_all_at(&file_rw, &1u64.to_le_bytes(), 8).expect("quit");
        let run = finish(&what, child, WATCHDOG);
        assert_eq!(run.code(), Some(0), "{what}: {}", run.stderr);
        let _ = std::fs::remove_file(&file);
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
