//! Options and exit codes. The options mirror util-linux unshare's time
//! options; the exit codes follow env(1) and timeout(1).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::Parser;
use common::abi::Abi;

use crate::offset;

/// vdso-run's own error: bad option, bad OFFSET, missing image, ...
pub const EXIT_FAILURE: i32 = 125;
/// PROGRAM was found but cannot be run (or the preload library cannot reach it).
pub const EXIT_CANNOT_RUN: i32 = 126;
/// PROGRAM was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error that ends vdso-run: one line, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// vdso-run's own error (exit 125).
    pub fn own(message: impl Into<String>) -> Failure {
        Failure::new(EXIT_FAILURE, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "vdso-run",
    version,
    about = "Run a program on the vdso-rs images, in a user-space time namespace",
    long_about = "Run PROGRAM with its clock reads served by the vdso-rs images, as if in a \
time namespace (unshare --time) with the given offsets, without root. By default a preload \
library serves glibc's clock functions; with --as-vdso the image becomes the real vDSO of PROGRAM \
and of everything it execs (static, musl and Go programs too), under ptrace.\n\n\
OFFSET is a signed duration: 86400 (seconds, as unshare takes them), +10d, -1h30m, +90s, -250ms.\n\n\
Exit status: PROGRAM's (128 + N when signal N ended it); 125 when vdso-run fails; \
126 when PROGRAM cannot be run (or the preload library cannot reach it, or --as-vdso cannot \
handle it); 127 when it is not found.",
    after_help = "Example: vdso-run --monotonic +10d -- python3 -c 'import time; print(time.monotonic())'"
)]
pub struct Cli {
    /// Serve PROGRAM with the time-namespace image (implied by --monotonic and --boottime).
    #[arg(long)]
    pub timens: bool,

    /// Offset of CLOCK_MONOTONIC (and MONOTONIC_RAW, MONOTONIC_COARSE) in the namespace.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true, value_parser = parse_offset)]
    pub monotonic: Option<i128>,

    /// Offset of CLOCK_BOOTTIME (and BOOTTIME_ALARM, sysinfo's uptime) in the namespace.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true, value_parser = parse_offset)]
    pub boottime: Option<i128>,

    /// The folder `cargo xtask build-vdso` wrote the images to (default: $VDSO_DIR, else found
    /// from vdso-run's own location or its workspace).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,

    /// The data layout of the images and their pages: linux-6.6, linux-6.12 or linux-6.18
    /// (default: the running kernel's; see vdso-run/README.md).
    #[arg(long, value_name = "LAYOUT", value_parser = parse_abi)]
    pub abi: Option<Abi>,

    /// Say what is set up, and at exit how many calls the image served, per entry.
    #[arg(long, short)]
    pub verbose: bool,

    /// Install the image as PROGRAM's real vDSO (AT_SYSINFO_EHDR), in it and in every program
    /// its descendants exec, under ptrace: reaches static, musl and Go programs too.
    #[arg(long)]
    pub as_vdso: bool,

    /// With --as-vdso: map the image beside the kernel's vDSO, which stays mapped (for tools that
    /// look for [vdso] in /proc/PID/maps), rather than in its place; AT_SYSINFO_EHDR is then
    /// rewritten in the program's auxiliary vector only, /proc/PID/auxv keeps the kernel's.
    #[arg(long, requires = "as_vdso")]
    pub keep_kernel_vdso: bool,

    /// Return only when PROGRAM and every process it left behind have exited (a namespace lives
    /// as long as a process is in it); SIGTERM or SIGINT ends the wait.
    #[arg(long, overrides_with = "no_wait")]
    pub wait: bool,

    /// Return PROGRAM's status as soon as it exits, as `unshare --fork` does (the default); the
    /// processes it left behind keep the namespace, served in the background.
    #[arg(long, overrides_with = "wait")]
    pub no_wait: bool,

    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "PROGRAM [ARGS]..."
    )]
    pub command: Vec<OsString>,
}

fn parse_abi(s: &str) -> Result<Abi, String> {
    Abi::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Abi::ALL.iter().map(|a| a.name()).collect();
        format!("no such layout; the layouts are {}", names.join(", "))
    })
}

fn parse_offset(s: &str) -> Result<i128, String> {
    offset::parse(s).map_err(|e| e.to_string())
}

/// How PROGRAM is given its clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// LD_PRELOAD of libvdso_run_preload.so.
    Preload,
    /// `--as-vdso`: the image mapped as the real vDSO at every exec, under ptrace.
    AsVdso,
}

impl Cli {
    /// Parses the command line. `--help` and `--version` print and exit 0;
    /// any other error is one line and exit 125.
    pub fn parse_args() -> Result<Cli, Failure> {
        Cli::try_parse().map_err(|e| {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            Failure::own(one_line(&e))
        })
    }

    pub fn mode(&self) -> Mode {
        if self.as_vdso {
            Mode::AsVdso
        } else {
            Mode::Preload
        }
    }

    /// `--wait` (the last of `--wait` and `--no-wait` given).
    pub fn wait(&self) -> bool {
        self.wait && !self.no_wait
    }

    /// True when PROGRAM gets the time-namespace image.
    pub fn timens(&self) -> bool {
        self.timens || self.monotonic.is_some() || self.boottime.is_some()
    }
}

/// clap's error as one line: its first paragraph, joined, without "error: ".
fn one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text} (see vdso-run --help)")
}
