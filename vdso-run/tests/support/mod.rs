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

/// `vdso-run --as-vdso`.
pub fn as_vdso() -> Command {
    let mut cmd = vdso_run();
    cmd.arg("--as-vdso");
    cmd
}

/// The folder holding the images vdso-run uses.
pub fn images_dir() -> PathBuf {
    std::env::var_os("VDSO_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/vdso"),
        PathBuf::from,
    )
}

/// The bytes of `vdso.so` (`timens` false) or `vdso-timens.so`.
pub fn image_bytes(timens: bool) -> Vec<u8> {
    let name = if timens { "vdso-timens.so" } else { "vdso.so" };
    let path = images_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Hex as a test program prints it.
pub fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `tests/c/NAME.c` linked statically against musl (`musl-gcc -static`),
/// once per test binary.
pub fn musl_program(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let out = tmp_dir().join(format!("{name}-musl-static"));
    let status = Command::new("musl-gcc")
        .args(["-static", "-O2", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cannot run musl-gcc (install Debian's musl-tools)");
    assert!(status.success(), "musl-gcc {} failed", src.display());
    built.push((name.to_string(), out.clone()));
    out
}

/// tests/go (the standard library only), built once per test binary, with
/// Go's caches under target/ and no network.
pub fn go_program() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-home");
    std::fs::create_dir_all(&home).expect("go home");
    let out = tmp_dir().join("asvdso-go");
    let go = |args: &[&str]| {
        let mut cmd = Command::new("go");
        cmd.args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go"))
            .env("HOME", &home)
            .env("GOPATH", home.join("gopath"))
            .env("GOCACHE", home.join("cache"))
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GO111MODULE", "on")
            .env("CGO_ENABLED", "0");
        cmd
    };
    let version = go(&["env", "GOVERSION"])
        .output()
        .expect("cannot run go (install Debian's golang-go)");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    // Go 1.23 and later refuse go:linkname to the runtime's internals
    // unless told otherwise; the program reads the runtime's own vDSO lookup.
    let minor: u32 = version
        .strip_prefix("go1.")
        .and_then(|v| v.split(['.', 'r', 'b']).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut args = vec!["build", "-o", out.to_str().expect("utf-8 path")];
    if minor >= 23 {
        args.push("-ldflags=-checklinkname=0");
    }
    args.push(".");
    let status = go(&args).status().expect("cannot run go build");
    assert!(status.success(), "go build of tests/go failed ({version})");
    *built = Some(out.clone());
    out
}

/// The Python program of the --as-vdso tests: the same commands as
/// tests/c/asvdso.c and tests/go (clocks, image LEN, bracket, sleep), through
/// glibc's clock_gettime and getauxval.
pub const PYTHON_PROGRAM: &str = r#"import sys, time, ctypes
libc = ctypes.CDLL(None)
libc.getauxval.restype = ctypes.c_ulong
libc.getauxval.argtypes = [ctypes.c_ulong]
class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
def sys_now(clock):
    t = Timespec()
    libc.syscall(228, clock, ctypes.byref(t))
    return t.sec * 10**9 + t.nsec
CLOCKS = [("realtime", time.CLOCK_REALTIME), ("monotonic", time.CLOCK_MONOTONIC),
          ("monotonic_raw", time.CLOCK_MONOTONIC_RAW), ("boottime", time.CLOCK_BOOTTIME)]
args = sys.argv[1:]
i = 0
while i < len(args):
    a = args[i]
    if a == "clocks":
        for name, c in CLOCKS:
            v = time.clock_gettime_ns(c)
            print(f"{name} {v // 10**9}.{v % 10**9:09d}")
    elif a == "image":
        i += 1
        print("image", ctypes.string_at(libc.getauxval(33), int(args[i])).hex())
    elif a == "bracket":
        for r in range(20):
            for name, c in (CLOCKS[0], CLOCKS[1], CLOCKS[3]):
                x, k, y = time.clock_gettime_ns(c), sys_now(c), time.clock_gettime_ns(c)
                print(f"bracket_{name}_{r} {x} {k} {y}")
    elif a == "sleep":
        t = time.monotonic()
        time.sleep(0.3)
        print("sleep_ms", int((time.monotonic() - t) * 1000), 0)
    else:
        sys.exit("unknown command " + a)
    i += 1
"#;

/// One of the four kinds of program the --as-vdso tests run: each finds the
/// vDSO its own way.
#[derive(Clone, Debug)]
pub struct Program {
    pub name: &'static str,
    /// The command line before the test commands.
    pub argv: Vec<String>,
    /// How long its `sleep` command sleeps, in ms.
    pub sleep_ms: u64,
}

/// musl static C, glibc dynamic C, Go, python3.
pub fn four_programs() -> Vec<Program> {
    let path = |p: PathBuf| p.to_str().expect("utf-8 path").to_string();
    vec![
        Program {
            name: "musl-static",
            argv: vec![path(musl_program("asvdso"))],
            sleep_ms: 200,
        },
        Program {
            name: "glibc",
            argv: vec![path(c_program("asvdso"))],
            sleep_ms: 200,
        },
        Program {
            name: "go",
            argv: vec![path(go_program())],
            sleep_ms: 300,
        },
        Program {
            name: "python3",
            argv: vec!["python3".into(), "-c".into(), PYTHON_PROGRAM.into()],
            sleep_ms: 300,
        },
    ]
}

impl Program {
    /// Its command line with `commands` appended.
    pub fn with(&self, commands: &[&str]) -> Vec<String> {
        let mut v = self.argv.clone();
        v.extend(commands.iter().map(|c| c.to_string()));
        v
    }
}

/// Writes an executable file for tests to run, by way of `cp`: a file this
/// process wrote itself may still be open for writing in a child another
/// test thread has just forked, and exec'ing it would fail with ETXTBSY.
pub fn executable_file(name: &str, contents: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp_dir();
    let draft = dir.join(format!("{name}.draft"));
    let path = dir.join(name);
    std::fs::write(&draft, contents).expect("write");
    let status = Command::new("cp")
        .arg(&draft)
        .arg(&path)
        .status()
        .expect("cp");
    assert!(status.success(), "cp {}", draft.display());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}
