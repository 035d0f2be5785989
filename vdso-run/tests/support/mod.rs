//! What every vdso-run test needs: the binaries, a watchdog around every
//! process (a wait that is not translated hangs for the offset), the test
//! programs in tests/c compiled at test time, and the host's clocks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const WATCHDOG: Duration = Duration::from_secs(20);
pub const NS: i128 = 1_000_000_000;
pub const TEN_DAYS: i128 = 864_000 * NS;

pub fn vdso_run() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vdso-run"))
}

pub fn probe() -> &'static str {
    env!("CARGO_BIN_EXE_vdso-run-probe")
}

/// What a finished process left.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub pid: u32,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Fails the test with everything the process said.
    pub fn expect_success(self) -> Run {
        assert!(
            self.status.success(),
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// `name value` lines of stdout.
    pub fn values(&self) -> HashMap<String, String> {
        values(&self.stdout)
    }

    /// `--verbose`'s counts: entry (or translated call) to count.
    pub fn counts(&self, line_prefix: &str) -> HashMap<String, u64> {
        let line = self
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix(line_prefix))
            .unwrap_or_else(|| panic!("no {line_prefix:?} line in:\n{}", self.stderr));
        line.split(", ")
            .filter_map(|item| {
                let (name, n) = item.rsplit_once(' ')?;
                Some((name.to_string(), n.parse().ok()?))
            })
            .collect()
    }
}

pub fn values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn reader(mut pipe: impl Read + Send + 'static, tx: mpsc::Sender<(bool, String)>, is_out: bool) {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send((is_out, String::from_utf8_lossy(&buf).into_owned()));
    });
}

/// Starts `cmd` in a process group of its own, stdout and stderr piped.
pub fn spawn(cmd: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Waits for a spawned process under the watchdog: after `limit` its whole
/// process group is killed and the test fails.
pub fn finish(cmd_text: &str, mut child: Child, limit: Duration) -> Run {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    reader(child.stdout.take().expect("piped"), tx.clone(), true);
    reader(child.stderr.take().expect("piped"), tx, false);
    let pid = child.id();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            // SAFETY: killing the process group we created.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            let _ = child.wait();
            let partial: Vec<String> = rx.try_iter().map(|(_, s)| s).collect();
            panic!(
                "watchdog: {cmd_text} still running after {limit:?} and was killed (a wait that was \
                 not translated sleeps for the offset); output so far: {partial:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok((true, s)) => stdout = s,
            Ok((false, s)) => stderr = s,
            Err(_) => panic!(
                "{cmd_text} exited ({status:?}) but something it started still holds its output"
            ),
        }
    }
    Run {
        status,
        stdout,
        stderr,
        pid,
        elapsed,
    }
}

/// Runs `cmd` to the end under the watchdog.
pub fn run_for(cmd: &mut Command, limit: Duration) -> Run {
    let text = format!("{cmd:?}");
    let child = spawn(cmd);
    let run = finish(&text, child, limit);
    assert!(
        !run.stderr.contains("panicked"),
        "{text} panicked:\n{}",
        run.stderr
    );
    assert_no_leftover_file(run.pid);
    run
}

pub fn run(cmd: &mut Command) -> Run {
    run_for(cmd, WATCHDOG)
}

/// vdso-run removes its namespace file however PROGRAM ends.
pub fn assert_no_leftover_file(pid: u32) {
    let prefix = format!("vdso-run.{pid}.");
    for dir in ["/dev/shm", "/tmp"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(
                    !name.starts_with(&prefix),
                    "vdso-run (pid {pid}) left {dir}/{name} behind"
                );
            }
        }
    }
}

/// The host's reading of `clock`, in nanoseconds (this test process is not
/// preloaded).
pub fn host_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a writable timespec.
    assert_eq!(unsafe { libc::clock_gettime(clock, &mut ts) }, 0);
    ts.tv_sec as i128 * NS + ts.tv_nsec as i128
}

/// Minus half the host's uptime: the negative offset the issue asks for.
pub fn minus_half_uptime() -> i128 {
    -(host_ns(libc::CLOCK_BOOTTIME) / 2 / NS) * NS
}

/// Seconds, as vdso-run's OFFSET syntax takes them.
pub fn offset_arg(ns: i128) -> String {
    assert_eq!(ns % NS, 0);
    format!("{:+}", ns / NS)
}

/// "123.456" in nanoseconds.
pub fn parse_ns(text: &str) -> i128 {
    let text = text.trim();
    let (neg, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (sec, frac) = text.split_once('.').unwrap_or((text, "0"));
    let sec: i128 = sec
        .parse()
        .unwrap_or_else(|_| panic!("not seconds: {text:?}"));
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    let ns = sec * NS + frac.parse::<i128>().expect("fraction");
    if neg { -ns } else { ns }
}

/// `tests/c/NAME.c`, compiled once per test binary.
pub fn c_program(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let out = tmp_dir().join(format!("{name}-{}", std::process::id()));
    cc(&src, &out, &[]);
    built.push((name.to_string(), out.clone()));
    out
}

/// A folder of this test binary's own.
pub fn tmp_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vdso-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Compiles C with the system compiler.
pub fn cc(src: &Path, out: &Path, extra: &[&str]) {
    let status = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(out)
        .arg(src)
        .args(extra)
        .status()
        .expect("cannot run cc (gcc is needed to build the test programs)");
    assert!(status.success(), "cc {} failed", src.display());
}

/// Writes C source to the temp folder and compiles it.
pub fn cc_source(name: &str, source: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp_dir();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write C source");
    let out = dir.join(name);
    cc(&src, &out, extra);
    out
}

/// Asserts `a` is `b` plus `expected` nanoseconds, give or take: `lo` below
/// to `hi` above.
pub fn assert_near(what: &str, a: i128, b: i128, expected: i128, lo: i128, hi: i128) {
    let d = a - b - expected;
    assert!(
        (-lo..=hi).contains(&d),
        "{what}: {} is {:.6} s off the expected {} + {} s",
        a as f64 / 1e9,
        d as f64 / 1e9,
        b as f64 / 1e9,
        expected as f64 / 1e9
    );
}
