//! `vdso-run [--timens] [--monotonic OFFSET] [--boottime OFFSET] [--images DIR]
//! [--verbose] -- PROGRAM [ARGS...]`: run a program on the vdso-rs images, in
//! a user-space time namespace. See vdso-run/README.md.

mod asvdso;
mod cli;
mod fds;
mod front;
mod inherited;
mod layout_choice;
mod locate;
mod nsfile;
mod offset;
mod parent;
mod preload_run;
mod program;

// Shared with the preload library, which uses all of them.
#[path = "shared/deadline.rs"]
mod deadline;
#[allow(dead_code)]
#[path = "shared/elfcheck.rs"]
mod elfcheck;
#[allow(dead_code)]
#[path = "shared/layout.rs"]
mod layout;

use std::ffi::OsString;
use std::path::PathBuf;

use common::abi::Abi;
use common::note::Variant;
use common::timens::{self, Offsets};
use common::vvar::TimensOffset;

use kernel_side::Image;

use cli::{Cli, Failure, Mode};

/// Everything decided before PROGRAM starts, in either mode.
pub struct Plan {
    pub program: PathBuf,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    pub image_path: PathBuf,
    pub image: Image,
    /// The data layout of the image and the namespace file's pages.
    pub abi: Abi,
    /// `Some` with the time-namespace image.
    pub offsets: Option<Offsets>,
    pub verbose: bool,
    /// `--keep-kernel-vdso`: with `--as-vdso`, never in the kernel's vDSO's place.
    pub keep_kernel_vdso: bool,
    /// `--wait`: return when every process of the namespace has exited.
    pub wait: bool,
    /// The front's pid (front.rs): the one the caller knows.
    pub front: libc::pid_t,
}

/// Out of memory is vdso-run's own failure, one line and exit 125 as any
/// other, not Rust's two lines and an abort (the namespace file's janitor
/// removes the file).
struct Allocator;

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

fn out_of_memory() -> ! {
    const MESSAGE: &[u8] = b"vdso-run: out of memory (see ulimit -v)\n";
    // SAFETY: write and _exit take no memory; the message is static.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(cli::EXIT_FAILURE)
    }
}

// SAFETY: every call is passed to the system allocator with the caller's
// arguments, as GlobalAlloc requires; only a failure is handled here.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as the trait's contract says.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as in alloc.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's block, layout and size, as the contract says.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's block and layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

fn main() {
    // A bug must still end in one line and vdso-run's own exit code (the
    // namespace file's janitor removes the file).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("vdso-run: internal error: {}", one_line(&info.to_string()));
        std::process::exit(cli::EXIT_FAILURE);
    }));
    let code = match run() {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("vdso-run: {failure}");
            failure.code
        }
    };
    std::process::exit(code);
}

fn run() -> Result<i32, Failure> {
    inherited::take_sigchld();
    let cli = Cli::parse_args()?;
    let mode = cli.mode();
    let (offsets, variant) = namespace(&cli)?;
    let layout = layout_choice::choose(cli.abi);
    if cli.verbose {
        eprintln!("vdso-run: layout {} ({})", layout.abi, layout.why);
    }
    let (image_path, image) = locate::image(cli.images.as_deref(), variant, layout.abi)?;
    let preload = match mode {
        Mode::Preload => Some(locate::preload()?),
        Mode::AsVdso => None,
    };
    let wait = cli.wait();
    let mut command = cli.command.into_iter();
    let argv0 = command.next().unwrap_or_default();
    let program = program::resolve(&argv0)?;
    // Everything that can be checked before PROGRAM starts: a program the
    // mode cannot give the namespace to is refused.
    match mode {
        Mode::Preload => program::check_reachable(&program)?,
        Mode::AsVdso => asvdso::check_program(&program)?,
    }
    let plan = Plan {
        program,
        argv0,
        args: command.collect(),
        image_path,
        image,
        abi: layout.abi,
        offsets,
        verbose: cli.verbose,
        keep_kernel_vdso: cli.keep_kernel_vdso,
        wait,
        // SAFETY: getpid cannot fail.
        front: unsafe { libc::getpid() },
    };
    match preload {
        // LD_PRELOAD of the library, vdso-run PROGRAM's parent.
        Some(preload) => front::run(plan, |plan, release| {
            preload_run::run(plan, preload, release)
        }),
        // `--as-vdso`: the image as the real vDSO of PROGRAM and every
        // program its descendants exec, under ptrace.
        None => front::run(plan, asvdso::run),
    }
}

/// The offsets, checked as Linux checks them, and the image variant.
fn namespace(cli: &Cli) -> Result<(Option<Offsets>, Variant), Failure> {
    let offsets = cli.timens().then(|| Offsets {
        monotonic: TimensOffset::from_nanos(cli.monotonic.unwrap_or(0)),
        boottime: TimensOffset::from_nanos(cli.boottime.unwrap_or(0)),
    });
    if let Some(offsets) = &offsets {
        // Linux's own checks, against the clocks as they read now.
        timens::validate(offsets, &nsfile::kernel_now())
            .map_err(|e| Failure::own(format!("bad offset: {e}")))?;
    }
    let variant = if offsets.is_some() {
        Variant::Timens
    } else {
        Variant::Host
    };
    Ok((offsets, variant))
}

/// A message as one line: its lines joined (a panic's says "panicked at
/// FILE:LINE:" on a line of its own).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_message_is_one_line() {
        let text = "panicked at src/x.rs:1:2:\nsomething broke\n  at depth\n";
        assert_eq!(
            super::one_line(text),
            "panicked at src/x.rs:1:2: something broke at depth"
        );
    }
}
