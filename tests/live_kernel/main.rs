//! The live-kernel proof: this project's image in place of the running
//! kernel's own vDSO, over the kernel's own data pages, with the kernel as
//! the writer, held to the kernel's system calls.
//!
//! Every case runs in a child process of its own (this binary, re-run with
//! `child ...`): once its `[vdso]` is replaced, whatever the process had
//! resolved there (libc's clock functions, Rust's `Instant`, libtest's
//! timers) jumps into the image at the kernel's offsets, so the child uses
//! raw system calls and the image's entries only. The cases:
//!
//! - the host image of the layout the running kernel uses, in the host's
//!   time namespace, its `getrandom` included (served with the kernel's
//!   rng data);
//! - its timens image under `unshare --time`, with positive and with
//!   negative offsets, over the kernel's namespace page;
//! - wrong images, which must fail: the `linux-6.6` pair over the kernel's
//!   pages, and the host image in a namespace.

mod checks;
mod getrandom;
mod pages_only;

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use common::abi::Abi;
use common::note::Variant;
use kernel_side::running;

/// A child that runs longer than this has hung.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// One child: an image, whether it runs in a time namespace (and with
/// which offsets), and whether it must pass.
struct Case {
    name: String,
    abi: Abi,
    variant: Variant,
    /// `--monotonic` and `--boottime` offsets for `unshare --time`, in
    /// seconds, or `None` for the host's namespace.
    offsets: Option<(i64, i64)>,
    must_pass: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return checks::child(&args[2..]);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live kernel: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let recognised = running::recognise().map_err(|e| e.to_string())?;
    let Some(abi) = recognised.layout.served() else {
        // Nothing of this project can stand in for this kernel's vDSO.
        println!(
            "live kernel: Linux {} uses {}, which no pair serves: nothing to prove here",
            recognised.release, recognised.layout
        );
        return Ok(());
    };
    println!(
        "live kernel: Linux {} uses {}: the {abi} pair ({}, clock mode {})",
        recognised.release,
        recognised.layout,
        clocksource(),
        recognised.clock_mode
    );
    let uptime = uptime_secs()?;
    // Negative offsets as large as the clocks allow (a clock may not go
    // below zero), and no smaller than a second.
    let back = -(uptime / 2).max(1);
    let mut cases = vec![
        Case::new("host image", abi, Variant::Host, None, true),
        Case::new(
            "timens image, offsets ahead",
            abi,
            Variant::Timens,
            Some((10 * 86_400 + 7, 20 * 86_400 + 11)),
            true,
        ),
        Case::new(
            "timens image, offsets behind",
            abi,
            Variant::Timens,
            Some((back, back + 1)),
            true,
        ),
        // The host image ignores a namespace's offsets.
        Case::new(
            "host image in a time namespace",
            abi,
            Variant::Host,
            Some((86_400, 86_400)),
            false,
        ),
    ];
    if abi != Abi::Linux6_6 {
        cases.push(Case::new(
            "linux-6.6 host image",
            Abi::Linux6_6,
            Variant::Host,
            None,
            false,
        ));
        cases.push(Case::new(
            "linux-6.6 timens image",
            Abi::Linux6_6,
            Variant::Timens,
            Some((86_400, 86_400)),
            false,
        ));
    }
    let mut wrong = Vec::new();
    for case in &cases {
        let (passed, output) = case.run()?;
        let verdict = match (passed, case.must_pass) {
            (true, true) => "passed",
            (false, false) => "failed, as it must",
            (false, true) => "FAILED",
            (true, false) => "PASSED, but a wrong image must fail",
        };
        println!("{}: {verdict}", case.name);
        // All of it when the outcome is wrong; else what was installed and,
        // for a wrong image, which checks caught it.
        let expected = passed == case.must_pass;
        for line in output.lines() {
            if !expected || line.starts_with("note") || line.starts_with("FAILED") {
                println!("    {line}");
            }
        }
        if passed != case.must_pass {
            wrong.push(case.name.clone());
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("wrong outcome for: {}", wrong.join(", ")))
    }
}

impl Case {
    fn new(
        name: &str,
        abi: Abi,
        variant: Variant,
        offsets: Option<(i64, i64)>,
        must_pass: bool,
    ) -> Case {
        Case {
            name: name.to_string(),
            abi,
            variant,
            offsets,
            must_pass,
        }
    }

    /// Runs the child; whether it passed, and what it printed.
    fn run(&self) -> Result<(bool, String), String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let namespaced = if self.offsets.is_some() { "ns" } else { "host" };
        let child_args = [
            "child".to_string(),
            self.abi.name().to_string(),
            self.variant.name().to_string(),
            namespaced.to_string(),
        ];
        let mut command = match self.offsets {
            None => Command::new(&exe),
            Some((monotonic, boottime)) => {
                // Without --fork: the program unshare runs is the first
                // process of the new namespace.
                let mut c = Command::new("unshare");
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } != 0 {
                    // A user namespace gives the right to make a time one.
                    c.args(["--user", "--map-root-user"]);
                }
                c.args(["--time", "--monotonic", &monotonic.to_string()])
                    .args(["--boottime", &boottime.to_string()])
                    .arg(&exe);
                c
            }
        };
        command
            .args(child_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("{}: starting the child: {e}", self.name))?;
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > CHILD_LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok((false, format!("hung for {CHILD_LIMIT:?}")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", self.name))?;
        let mut text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Exit status 1 is failed checks, reported above; anything else
        // (a signal: an image reading a page the kernel leaves unpopulated
        // raises SIGBUS) is said here.
        if !out.status.success() && out.status.code() != Some(1) {
            text += &format!("FAILED: the child died: {}\n", out.status);
        }
        Ok((out.status.success(), text))
    }
}

/// The kernel's clocksource: whether the live pages are read with the TSC.
fn clocksource() -> String {
    let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    match std::fs::read_to_string(path) {
        Ok(s) => format!("clocksource {}", s.trim()),
        Err(e) => format!("clocksource unknown: {e}"),
    }
}

fn uptime_secs() -> Result<i64, String> {
    let text = std::fs::read_to_string("/proc/uptime").map_err(|e| e.to_string())?;
    let secs: f64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("unreadable /proc/uptime")?;
    Ok(secs as i64)
}
