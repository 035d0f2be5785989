//! What every vdso-run test needs: the binaries, a watchdog around every
//! process (a wait that is not translated hangs for the offset), the test
//! programs in tests/c compiled at test time, and the host's clocks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::abi::{Abi, Arch};
use common::note::Variant;
use kernel_side::images;

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

    /// The milliseconds of a `name ms ...` line, as the test programs print
    /// them.
    pub fn ms(&self, key: &str) -> u64 {
        self.values()
            .get(key)
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key}:\n{}\n{}", self.stdout, self.stderr))
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

/// The lines of `text` that start with `prefix`.
pub fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
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
            Err(_) => {
                // SAFETY: killing the process group we created, which holds
                // what was left running, so that it does not outlive the test.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                panic!(
                    "{cmd_text} exited ({status:?}) but something it started still holds its \
                     output"
                )
            }
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

/// vdso-run removes its namespace file however PROGRAM ends: at once when
/// PROGRAM left nothing behind, else (its keeper, in the background) just
/// after the last process it left behind has exited, which may be a moment
/// after that process closed its output.
pub fn assert_no_leftover_file(pid: u32) {
    let prefix = format!("vdso-run.{pid}.");
    let start = Instant::now();
    for dir in ["/dev/shm", "/tmp"] {
        loop {
            let left = std::fs::read_dir(dir).ok().and_then(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|name| name.starts_with(&prefix))
            });
            let Some(name) = left else {
                break;
            };
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "vdso-run (pid {pid}) left {dir}/{name} behind"
            );
            std::thread::sleep(Duration::from_millis(10));
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

/// Programs built at test time, by name.
type Built = Mutex<Vec<(String, PathBuf)>>;

/// What `build` makes for `name`, built once per test binary: the lock is
/// held while it builds, so that test threads wanting the same program wait
/// for one build.
fn built_once(built: &Built, name: &str, build: impl FnOnce() -> PathBuf) -> PathBuf {
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let out = build();
    built.push((name.to_string(), out.clone()));
    out
}

/// `tests/c/NAME.c`.
fn c_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"))
}

/// `tests/c/NAME.c`, compiled once per test binary.
pub fn c_program(name: &str) -> PathBuf {
    static BUILT: Built = Mutex::new(Vec::new());
    built_once(&BUILT, name, || {
        let out = tmp_dir().join(format!("{name}-{}", std::process::id()));
        cc(&c_source(name), &out, &[]);
        out
    })
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

/// The variant of the image vdso-run maps: the timens one or the host one.
pub fn variant(timens: bool) -> Variant {
    if timens {
        Variant::Timens
    } else {
        Variant::Host
    }
}

/// The layout vdso-run picks without `--abi` (the running kernel's), as
/// its `--verbose` names it.
pub fn default_abi() -> Abi {
    static CHOSEN: std::sync::OnceLock<Abi> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let run = run(vdso_run().args(["--verbose", "--", "true"])).expect_success();
        chosen_abi(&run)
    })
}

/// The layout a `--verbose` run names in its first line
/// (`vdso-run: layout NAME (why)`).
pub fn chosen_abi(run: &Run) -> Abi {
    run.stderr
        .lines()
        .find_map(|l| l.strip_prefix("vdso-run: layout "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(Abi::from_name)
        .unwrap_or_else(|| panic!("no layout named in:\n{}", run.stderr))
}

/// The bytes of `vdso.so` (`timens` false) or `vdso-timens.so` of the
/// layout vdso-run picks by default.
pub fn image_bytes(timens: bool) -> Vec<u8> {
    image_bytes_of(default_abi(), timens)
}

/// The bytes of `abi`'s `vdso.so` or `vdso-timens.so`.
pub fn image_bytes_of(abi: Abi, timens: bool) -> Vec<u8> {
    let path = images_dir().join(images::path(Arch::HOST, abi, variant(timens)));
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
    static BUILT: Built = Mutex::new(Vec::new());
    built_once(&BUILT, name, || {
        let src = c_source(name);
        let out = tmp_dir().join(format!("{name}-musl-static"));
        let status = Command::new("musl-gcc")
            .args(["-static", "-O2", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cannot run musl-gcc (install Debian's musl-tools)");
        assert!(status.success(), "musl-gcc {} failed", src.display());
        out
    })
}

/// tests/go (the standard library only), built once per test binary, with
/// Go's caches under target/ and no network.
pub fn go_program() -> PathBuf {
    static BUILT: Built = Mutex::new(Vec::new());
    built_once(&BUILT, "tests/go", build_go_program)
}

fn build_go_program() -> PathBuf {
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

/// tests/c/asvdso.c twice: dynamic glibc and static musl.
pub fn asvdso_programs() -> [PathBuf; 2] {
    [c_program("asvdso"), musl_program("asvdso")]
}

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

/// Runs PROGRAM under `vdso_run` (vdso-run with its mode's options) and
/// `--monotonic +10d`, and checks that it printed `expected` readings of
/// CLOCK_MONOTONIC (lines ending in "monotonic SECONDS"), each ten days
/// ahead of the host's: taken after PROGRAM started, and at most `late` ns
/// after (`None`: before it ended). Returns the run.
pub fn monotonic_ten_days_ahead(
    mut vdso_run: Command,
    program: &[&str],
    expected: usize,
    late: Option<i128>,
) -> Run {
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run = run(vdso_run.args(["--monotonic", "+10d", "--"]).args(program)).expect_success();
    let readings: Vec<i128> = run
        .stdout
        .lines()
        .filter_map(|l| l.rsplit_once("monotonic "))
        .map(|(_, v)| parse_ns(v))
        .collect();
    assert_eq!(
        readings.len(),
        expected,
        "{program:?} printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let late = late.unwrap_or_else(|| host_ns(libc::CLOCK_MONOTONIC) - before);
    for r in readings {
        assert_near(&format!("{program:?}"), r, before, TEN_DAYS, 0, late);
    }
    run
}

/// How far apart a program's readings of a clock, each taken relative to
/// its reading of REALTIME, may be between a run under vdso-run and one in
/// Linux's own time namespace. A time namespace keeps `clock - REALTIME`
/// constant (it shifts the one and not the other), so the difference does
/// not depend on when either run started, which on a loaded machine may be
/// seconds apart. What remains:
/// - the time between a program's REALTIME read and its read of the other
///   clock: microseconds, unless the scheduler preempts it in between (a
///   time slice of a few ms on a busy 2-core machine; 50 ms allows several);
/// - coarse clocks lag their precise ones by up to a tick (at most 10 ms);
/// - MONOTONIC_RAW is not slewed by NTP and REALTIME is, by at most 500 ppm
///   of the time between the runs (`SLEW_PPM`).
///
/// An offset applied wrongly (or to REALTIME) is whole seconds here; a
/// reading of the wrong clock or a timekeeper off by more than the bound
/// fails too. (A step of the host's REALTIME between the two runs, such as
/// an NTP step, would fail it spuriously.)
pub const BESIDE_LINUX_NS: i128 = 50_000_000;
const SLEW_PPM: i128 = 500;

/// Clocks that read whole seconds (`time()`, sysinfo's `uptime`): their
/// value relative to REALTIME moves by less than a second between runs.
const WHOLE_SECONDS: [&str; 2] = ["time", "uptime"];

/// Linux is the judge: runs PROGRAM under `vdso_run` (vdso-run with its
/// mode's options) and under `unshare --time --fork` (root only), both with
/// `--monotonic +10d --boottime` minus half the uptime, and checks that the
/// two runs printed the same clocks (`name value` lines, one of them
/// `realtime` or `clock_realtime`): each run's REALTIME lies within the
/// host's REALTIME over that run, and every other clock reads the same
/// relative to REALTIME in both (`BESIDE_LINUX_NS`); an error a clock
/// reports must be the same in both.
///
/// A program preempted between two of its reads for longer than the bound
/// (a busy virtual machine can take a CPU away for 100 ms) reads further
/// apart than any offset error this looks for would let it pass: a pair of
/// runs that disagrees is measured again, up to [`BESIDE_LINUX_ATTEMPTS`]
/// times in all. An offset applied wrongly disagrees by seconds every time.
pub fn beside_linux(vdso_run: fn() -> Command, program: &[impl AsRef<OsStr>], label: &str) {
    for attempt in 1..=BESIDE_LINUX_ATTEMPTS {
        let once = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            beside_linux_once(vdso_run(), program, label)
        }));
        match once {
            Ok(()) => return,
            Err(_) if attempt < BESIDE_LINUX_ATTEMPTS => {
                eprintln!("{label}: the runs disagreed (above); measuring again");
            }
            Err(failure) => std::panic::resume_unwind(failure),
        }
    }
}

pub const BESIDE_LINUX_ATTEMPTS: u32 = 3;

fn beside_linux_once(mut vdso_run: Command, program: &[impl AsRef<OsStr>], label: &str) {
    let (n_arg, m_arg) = (offset_arg(TEN_DAYS), offset_arg(minus_half_uptime()));
    let timed = |cmd: &mut Command| {
        let before = host_ns(libc::CLOCK_REALTIME);
        let run = run(cmd);
        (run, before, host_ns(libc::CLOCK_REALTIME))
    };
    let (ours, ours_from, ours_to) = timed(
        vdso_run
            .args(["--monotonic", &n_arg, "--boottime", &m_arg, "--"])
            .args(program),
    );
    let ours = ours.expect_success();
    let (linux, linux_from, linux_to) = timed(
        Command::new("unshare")
            .args([
                "--time",
                "--fork",
                "--monotonic",
                &n_arg,
                "--boottime",
                &m_arg,
            ])
            .args(program),
    );
    assert!(
        linux.status.success(),
        "unshare --time cannot create a time namespace here, so vdso-run cannot be compared \
         with Linux (needs root and CONFIG_TIME_NS): {:?}\n{}",
        linux.status,
        linux.stderr
    );
    let (ours, linux) = (ours.values(), linux.values());
    let sorted = |m: &HashMap<String, String>| {
        let mut k: Vec<String> = m.keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(sorted(&ours), sorted(&linux), "{label}: different clocks");
    let realtime = ["realtime", "clock_realtime"]
        .into_iter()
        .find(|k| ours.contains_key(*k))
        .unwrap_or_else(|| panic!("{label}: no REALTIME reading in {ours:?}"));
    let (ours_rt, linux_rt) = (parse_ns(&ours[realtime]), parse_ns(&linux[realtime]));
    // REALTIME is not shifted: each reading lies within its run.
    for (who, rt, from, to) in [
        ("vdso-run", ours_rt, ours_from, ours_to),
        ("Linux's time namespace", linux_rt, linux_from, linux_to),
    ] {
        assert!(
            (from..=to).contains(&rt),
            "{label}: under {who} REALTIME read {rt}, outside the run ({from} to {to})"
        );
    }
    let between = (linux_from - ours_from).abs();
    let bound = BESIDE_LINUX_NS + between * SLEW_PPM / 1_000_000;
    for (clock, value) in &ours {
        let theirs = &linux[clock];
        if value.contains("error") || theirs.contains("error") {
            assert_eq!(value, theirs, "{label} {clock}: errors differ");
            continue;
        }
        let slack = if WHOLE_SECONDS.contains(&clock.as_str()) {
            NS + bound
        } else {
            bound
        };
        let d = (parse_ns(value) - ours_rt) - (parse_ns(theirs) - linux_rt);
        assert!(
            d.abs() <= slack,
            "{label} {clock}: vdso-run read {value} and REALTIME {}, Linux's time namespace \
             {theirs} and REALTIME {}: {:.3} s apart relative to REALTIME (at most {:.3} s)",
            ours[realtime],
            linux[realtime],
            d as f64 / 1e9,
            slack as f64 / 1e9
        );
    }
}

/// The offsets every wait is tested under: a large positive one (an
/// untranslated wait sleeps ten days, and the watchdog fails the test) and
/// minus half the uptime (an untranslated wait returns at once).
pub fn wait_offsets() -> [(&'static str, String); 2] {
    [
        ("+10d", offset_arg(TEN_DAYS)),
        ("minus half the uptime", offset_arg(minus_half_uptime())),
    ]
}

/// `--verbose --monotonic OFFSET --boottime OFFSET --`.
pub fn namespace_args(offset: &str) -> [&str; 6] {
    [
        "--verbose",
        "--monotonic",
        offset,
        "--boottime",
        offset,
        "--",
    ]
}

/// Every wait tests/c/waits.c makes, with what `--verbose` counts for it:
/// (the wait, the preload library's counter, the system call `--as-vdso`
/// translates; the pthread functions wait in futex). Empty: a REALTIME
/// wait, not translated.
pub const C_WAITS: [(&str, &str, &str); 16] = [
    ("clock_nanosleep", "clock_nanosleep", "clock_nanosleep"),
    (
        "clock_nanosleep_boottime",
        "clock_nanosleep",
        "clock_nanosleep",
    ),
    (
        "syscall_clock_nanosleep",
        "clock_nanosleep",
        "clock_nanosleep",
    ),
    ("timerfd_settime", "timerfd_settime", "timerfd_settime"),
    (
        "timerfd_settime_boottime",
        "timerfd_settime",
        "timerfd_settime",
    ),
    ("timer_settime", "timer_settime", "timer_settime"),
    ("pthread_cond_clockwait", "pthread_cond_clockwait", "futex"),
    ("pthread_cond_timedwait", "pthread_cond_timedwait", "futex"),
    ("pthread_cond_timedwait_realtime", "", ""),
    ("sem_clockwait", "sem_clockwait", "futex"),
    (
        "pthread_mutex_clocklock",
        "pthread_mutex_clocklock",
        "futex",
    ),
    (
        "pthread_rwlock_clockrdlock",
        "pthread_rwlock_clockrdlock",
        "futex",
    ),
    (
        "pthread_rwlock_clockwrlock",
        "pthread_rwlock_clockwrlock",
        "futex",
    ),
    ("pthread_clockjoin_np", "pthread_clockjoin_np", "futex"),
    ("futex_wait_bitset", "futex", "futex"),
    ("futex_waitv", "futex_waitv", "futex_waitv"),
];

/// Runs each wait of tests/c/waits.c (`C_WAITS`) under `vdso_run`
/// (vdso-run with its mode's options) and `namespace_args`, under each of
/// `wait_offsets()`, one process per wait (a wait left untranslated fails
/// on its own), and checks that it woke 200 ms (±100) after it started with
/// the result it expects (it prints `NAME MS` and nothing else). Then
/// `check(label, wait, run)` judges what `--verbose` says was translated.
pub fn each_c_wait_wakes_on_time(
    vdso_run: impl Fn() -> Command,
    mut check: impl FnMut(&str, (&str, &str, &str), &Run),
) {
    let waits = c_program("waits");
    for (label, offset) in wait_offsets() {
        for wait in C_WAITS {
            let name = wait.0;
            let run = run(vdso_run()
                .args(namespace_args(&offset))
                .arg(&waits)
                .arg(name))
            .expect_success();
            let ms: u64 = run
                .values()
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{label} {name}: {}\n{}", run.stdout, run.stderr));
            assert!(
                (100..=300).contains(&ms),
                "{label}: {name} with a deadline 200 ms ahead woke after {ms} ms"
            );
            check(label, wait, &run);
        }
    }
}

/// Sends `sig` to a process this test started; it must be there.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: signalling a process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// The one-letter state of a process, if it exists and has not exited.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let c = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    (c != 'Z' && c != 'X').then_some(c)
}

/// Every process below `pid` (children, theirs, ...), from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                for child in list.split_whitespace().filter_map(|c| c.parse().ok()) {
                    found.push(child);
                    todo.push(child);
                }
            }
        }
    }
    found
}

/// The process below `pid` whose command name is `comm`, once there is one.
pub fn descendant_named(pid: i32, comm: &str) -> i32 {
    let start = Instant::now();
    loop {
        let hit = descendants(pid).into_iter().find(|d| {
            std::fs::read_to_string(format!("/proc/{d}/comm")).is_ok_and(|c| c.trim() == comm)
        });
        if let Some(d) = hit {
            return d;
        }
        assert!(start.elapsed() < WATCHDOG, "no {comm} below {pid}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// PROGRAM's exit status is vdso-run's, 128 + N when signal N ended it.
/// `vdso_run` makes vdso-run's command with the mode's options.
pub fn assert_exit_status_is_program_s(vdso_run: impl Fn() -> Command) {
    let run = run(vdso_run().args(["--", "sh", "-c", "exit 7"]));
    assert_eq!(run.code(), Some(7));
    let run = self::run(vdso_run().args(["--", "sh", "-c", "kill -USR1 $$"]));
    assert_eq!(run.code(), Some(128 + libc::SIGUSR1));
}

/// SIGTERM and SIGHUP sent to vdso-run end PROGRAM with that signal.
pub fn assert_sigterm_and_sighup_are_forwarded(vdso_run: impl Fn() -> Command) {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mut cmd = vdso_run();
        cmd.args(["--", "sleep", "30"]);
        let text = format!("{cmd:?}");
        let child = spawn(&mut cmd);
        std::thread::sleep(Duration::from_millis(300));
        kill(child.id() as i32, sig);
        let run = finish(&text, child, WATCHDOG);
        assert_eq!(run.code(), Some(128 + sig), "{}", run.stderr);
        assert!(run.elapsed < Duration::from_secs(5));
        assert_no_leftover_file(run.pid);
    }
}

/// Waits until `ok` holds, for at most three seconds.
pub fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(3), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A stopped process PROGRAM left behind does not keep vdso-run waiting.
/// By default vdso-run returns with PROGRAM, as `unshare --fork` does, and
/// the kernel then wakes the orphaned process group with SIGHUP and
/// SIGCONT, which ends it. With `--wait` vdso-run waits for it, and SIGTERM
/// or SIGINT to vdso-run after PROGRAM has exited ends the wait at once with
/// PROGRAM's status.
pub fn assert_a_stopped_orphan_does_not_keep_vdso_run_waiting(vdso_run: impl Fn() -> Command) {
    let pidfile = tmp_dir().join("stopped-orphan");
    // The pause lets the stop take effect before PROGRAM exits: a process
    // that stops only after its process group was orphaned stays stopped
    // (the kernel wakes the stopped ones at the moment of orphaning), and
    // under --as-vdso the stop passes through the tracer first.
    let script = format!(
        "sleep 30 >/dev/null 2>&1 & echo $! $$ > {}; kill -STOP $!; sleep 0.3",
        pidfile.display()
    );
    // (the orphan, PROGRAM)
    let pids = || -> (i32, i32) {
        let mut line = String::new();
        eventually("PROGRAM never wrote the pids", || {
            line = std::fs::read_to_string(&pidfile).unwrap_or_default();
            line.ends_with('\n')
        });
        let mut pids = line.split_whitespace().map(|p| p.parse().expect("pid"));
        (pids.next().expect("pid"), pids.next().expect("pid"))
    };
    let _ = std::fs::remove_file(&pidfile);
    let run = run_for(
        vdso_run().args(["--", "sh", "-c", &script]),
        Duration::from_secs(5),
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let (pid, _) = pids();
    eventually("the stopped orphan outlived its process group", || {
        state(pid).is_none()
    });
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let _ = std::fs::remove_file(&pidfile);
        let mut cmd = vdso_run();
        cmd.args(["--wait", "--", "sh", "-c", &script]);
        let mut child = spawn(&mut cmd);
        let (pid, program) = pids();
        eventually("PROGRAM did not exit", || state(program).is_none());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "--wait returned while a process PROGRAM left behind is there"
        );
        kill(child.id() as i32, sig);
        let run = finish("vdso-run --wait", child, Duration::from_secs(3));
        assert_eq!(run.code(), Some(0), "signal {sig}: {}", run.stderr);
        eventually("the stopped orphan outlived the wait", || {
            state(pid).is_none()
        });
        assert_no_leftover_file(run.pid);
    }
}

/// However vdso-run ends, its namespace file goes: SIGUSR1 (passed on to
/// PROGRAM, which it ends: 128 + 10), SIGXCPU (which the kernel sends about
/// vdso-run itself and which ends it; its keeper and PROGRAM die with it),
/// and SIGKILL of the keeper, the process that holds the file (one line and
/// 125 from the front; PROGRAM dies with the keeper).
pub fn assert_no_file_is_left_however_vdso_run_ends(vdso_run: impl Fn() -> Command) {
    let start = |what: &str| {
        let mut cmd = vdso_run();
        cmd.args(["--", "sleep", "30"]);
        let child = spawn(&mut cmd);
        let front = child.id() as i32;
        let sleep = descendant_named(front, "sleep");
        (format!("{what}: {cmd:?}"), child, front, sleep)
    };
    let (what, child, front, _) = start("SIGUSR1");
    kill(front, libc::SIGUSR1);
    let run = finish(&what, child, WATCHDOG);
    assert_eq!(
        run.code(),
        Some(128 + libc::SIGUSR1),
        "{what}: {}",
        run.stderr
    );
    assert_eq!(run.stderr, "", "{what}");
    assert_no_leftover_file(run.pid);

    let (what, child, front, sleep_pid) = start("SIGXCPU");
    kill(front, libc::SIGXCPU);
    let run = finish(&what, child, WATCHDOG);
    assert_eq!(run.code(), None, "{what}: {}", run.stderr);
    eventually(&format!("{what}: PROGRAM outlived vdso-run"), || {
        state(sleep_pid).is_none()
    });
    assert_no_leftover_file(run.pid);

    let (what, child, front, sleep_pid) = start("SIGKILL of the keeper");
    let keeper = descendants(front)
        .into_iter()
        .find(|d| descendants(*d).contains(&sleep_pid))
        .expect("the keeper: the process between vdso-run and PROGRAM");
    kill(keeper, libc::SIGKILL);
    let run = finish(&what, child, WATCHDOG);
    assert_one_line_error(&what, &run, 125, &["was killed by signal 9"]);
    eventually(&format!("{what}: PROGRAM outlived the keeper"), || {
        state(sleep_pid).is_none()
    });
    assert_no_leftover_file(run.pid);
}

/// The terminal sends SIGINT to the whole process group: vdso-run must not
/// send it a second time. PROGRAM counts the SIGINTs it gets.
pub fn assert_sigint_to_the_group_reaches_program_once(vdso_run: impl Fn() -> Command) {
    // Python says when its handler is in place (it may take more than a
    // second to start on a loaded machine), then waits a second for the
    // signal.
    let ready = tmp_dir().join(format!("sigint-ready-{:?}", std::thread::current().id()));
    let _ = std::fs::remove_file(&ready);
    let code = format!(
        "import signal, time
n = 0
def h(s, f):
    global n
    n += 1
signal.signal(signal.SIGINT, h)
open({:?}, 'w').write('ready')
time.sleep(1.0)
print('sigints', n, flush=True)",
        ready.to_str().expect("utf-8")
    );
    let child = spawn(vdso_run().args(["--", "python3", "-c", &code]));
    let pgid = child.id() as i32;
    let start = Instant::now();
    while !std::fs::read_to_string(&ready).is_ok_and(|r| r == "ready") {
        assert!(
            start.elapsed() < WATCHDOG,
            "python never installed its handler"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-pgid, libc::SIGINT) };
    let run = finish("python counting SIGINTs", child, WATCHDOG).expect_success();
    assert!(run.stdout.contains("sigints 1"), "{}", run.stdout);
    let _ = std::fs::remove_file(&ready);
}

/// Every signal disposition and the signal mask PROGRAM starts with are
/// what it would start with without vdso-run: tests/c/sigstate.c, as a
/// parent that leaves everything at its default and as one that ignores and
/// blocks an unusual set (SIGPIPE and SIGCHLD among them), runs vdso-run
/// (`vdso_run` with the mode's options; with and without offsets), which
/// runs sigstate again to print what the kernel shows of its own state; the
/// same parent runs it directly for comparison.
pub fn assert_program_inherits_the_signal_state(vdso_run: impl Fn() -> Command) {
    let sigstate = c_program("sigstate");
    for state in ["default", "odd"] {
        let direct = run(Command::new(&sigstate)
            .args([state])
            .arg(&sigstate)
            .arg("print"))
        .expect_success();
        assert!(direct.stdout.contains("SigIgn:"), "{}", direct.stdout);
        for offsets in [&[][..], &["--monotonic", "+1d"][..]] {
            let mut cmd = vdso_run();
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            cmd = Command::new(&sigstate);
            cmd.arg(state)
                .arg(program)
                .args(args)
                .args(offsets)
                .arg("--")
                .arg(&sigstate)
                .arg("print");
            let ours = run_for(&mut cmd, Duration::from_secs(10)).expect_success();
            assert_eq!(
                ours.stdout, direct.stdout,
                "parent state {state:?}, offsets {offsets:?}: PROGRAM's signal state differs from \
                 what it is without vdso-run"
            );
        }
    }
}

/// `run` failed with `code` and one line on stderr, `vdso-run: ...`, that
/// says each of `says`, and printed nothing. `what` names it in messages.
pub fn assert_one_line_error(what: &str, run: &Run, code: i32, says: &[&str]) {
    assert_eq!(run.code(), Some(code), "{what}:\n{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: not one line:\n{}", run.stderr);
    assert!(lines[0].starts_with("vdso-run: "), "{what}: {}", lines[0]);
    for s in says {
        assert!(lines[0].contains(s), "{what}: {:?} lacks {s:?}", lines[0]);
    }
    assert_eq!(run.stdout, "", "{what}");
}

/// A C program that does nothing.
pub const C_MAIN: &str = "int main(void) { return 0; }\n";

/// Gives a test file to `uid`:`gid` (`u32::MAX`: unchanged).
pub fn chown(path: &Path, uid: u32, gid: u32) {
    let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
    // SAFETY: a valid path; changing the owner of our own temporary file.
    let ok = unsafe { libc::chown(c.as_ptr(), uid, gid) } == 0;
    assert!(
        ok,
        "cannot chown a test file (the tests run as root here and in CI)"
    );
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A static 32-bit i386 program that exits 42: an ELF header, one PT_LOAD,
/// `mov eax, 1; mov ebx, 42; int 0x80`.
pub fn i386_program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_i386_program).clone()
}

fn build_i386_program() -> PathBuf {
    let base: u32 = 0x0804_8000;
    let code: [u8; 12] = [
        0xb8, 1, 0, 0, 0, // mov eax, 1 (exit)
        0xbb, 42, 0, 0, 0, // mov ebx, 42
        0xcd, 0x80, // int 0x80
    ];
    let size = (52 + 32 + code.len()) as u32;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
    for v in [2u16, 3] {
        elf.extend_from_slice(&v.to_le_bytes()); // ET_EXEC, EM_386
    }
    for v in [1u32, base + 84, 52, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for v in [52u16, 32, 1, 40, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    for v in [1u32, 0, base, base, size, size, 5, 0x1000] {
        elf.extend_from_slice(&v.to_le_bytes()); // PT_LOAD, R+X
    }
    elf.extend_from_slice(&code);
    executable_file("i386-exit-42", &elf)
}

/// The user tests become to check what another user may do.
pub const NOBODY: u32 = 65534;

/// Runs `sh -c script`, whose program prints `monotonic NS` as nobody, and
/// asserts that it read ten days ahead of the host.
pub fn assert_ten_days_ahead_as_nobody(script: &str) {
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run = run(Command::new("sh").args(["-c", script])).expect_success();
    let mono = parse_ns(
        run.values()
            .get("monotonic")
            .unwrap_or_else(|| panic!("{}\n{}", run.stdout, run.stderr)),
    );
    let after = host_ns(libc::CLOCK_MONOTONIC);
    assert_near(
        "nobody's CLOCK_MONOTONIC",
        mono,
        before,
        TEN_DAYS,
        0,
        after - before,
    );
}

/// Copies of vdso-run, its preload library, the images and the programs a
/// test names, in a fresh folder every user can read (mode 0755, under
/// /tmp): a test that runs something as another user cannot rely on the
/// tree, which may be cloned into a private folder. Removed when dropped.
pub struct Public {
    pub dir: PathBuf,
}

impl Public {
    /// Copies of this build (the vdso-run cargo built, and the images of
    /// [`images_dir`]) and of `programs`.
    pub fn new(programs: &[&Path]) -> Public {
        let exe = Path::new(env!("CARGO_BIN_EXE_vdso-run"));
        let folder = exe.parent().expect("target/debug");
        Public::from_build(folder, &images_dir(), programs)
    }

    /// Copies of the vdso-run and preload library in `folder` (as cargo
    /// lays them out), the images in `images`, and `programs`.
    pub fn from_build(folder: &Path, images: &Path, programs: &[&Path]) -> Public {
        let template = std::ffi::CString::new("/tmp/vdso-run-public.XXXXXX").expect("template");
        let mut bytes = template.into_bytes_with_nul();
        // SAFETY: a writable NUL-terminated template, as mkdtemp requires.
        let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        assert!(
            !made.is_null(),
            "mkdtemp: {}",
            std::io::Error::last_os_error()
        );
        bytes.pop();
        let dir = PathBuf::from(String::from_utf8(bytes).expect("utf-8"));
        chmod(&dir, 0o755);
        let public = Public { dir };
        let exe = folder.join("vdso-run");
        // vdso-run takes the newest of these, as locate::preload does.
        let preload = [
            folder.join("libvdso_run_preload.so"),
            folder.join("deps/libvdso_run_preload.so"),
        ]
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .expect("the preload library beside vdso-run");
        public.copy(&exe, "vdso-run");
        public.copy(&preload, "libvdso_run_preload.so");
        // Every layout's pair, in its folder, as `cargo xtask build-vdso`
        // writes them.
        std::fs::create_dir(public.dir.join("vdso")).expect("mkdir");
        chmod(&public.dir.join("vdso"), 0o755);
        for abi in Abi::ALL {
            let folder = images::layout_folder(Arch::HOST, abi);
            std::fs::create_dir(public.dir.join("vdso").join(&folder)).expect("mkdir");
            chmod(&public.dir.join("vdso").join(&folder), 0o755);
            for variant in [Variant::Host, Variant::Timens] {
                let image = images::path(Arch::HOST, abi, variant);
                public.copy(&images.join(&image), &format!("vdso/{}", image.display()));
            }
        }
        for program in programs {
            let name = program
                .file_name()
                .expect("a file")
                .to_str()
                .expect("utf-8");
            public.copy(program, name);
        }
        public
    }

    /// `cp`, as `executable_file` says why; readable and, for programs,
    /// executable by all.
    fn copy(&self, from: &Path, to: &str) {
        let to = self.dir.join(to);
        let status = Command::new("cp").arg(from).arg(&to).status().expect("cp");
        assert!(status.success(), "cp {}", from.display());
        chmod(&to, 0o755);
    }

    /// The copy of `program` (given to `new`).
    pub fn path(&self, program: &Path) -> PathBuf {
        self.dir.join(program.file_name().expect("a file"))
    }

    /// The copy of vdso-run, with the copied images.
    pub fn vdso_run(&self) -> Command {
        let mut cmd = Command::new(self.dir.join("vdso-run"));
        cmd.arg("--images").arg(self.dir.join("vdso"));
        cmd
    }

    /// The same as a shell command line.
    pub fn vdso_run_line(&self) -> String {
        format!(
            "{} --images {}",
            self.dir.join("vdso-run").display(),
            self.dir.join("vdso").display()
        )
    }
}

impl Drop for Public {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
