//! `vdso-run --as-vdso`: the image as the program's real vDSO, installed
//! the way a kernel installs one, in every process of the tree.
//!
//! vdso-run keeps the data pages ticking (as in the preload mode), starts
//! PROGRAM under ptrace with a seccomp filter, and stays attached to every
//! thread of every descendant:
//!
//! - at each exec stop it maps the data pages and the image into the new
//!   program, in place of the kernel's vDSO where they fit (place.rs), else
//!   elsewhere with its `AT_SYSINFO_EHDR` pointed at the image (inject.rs),
//!   before the program's loader or start code runs, so that every libc and
//!   runtime finds the image through its own, unmodified code;
//! - at each seccomp stop (only absolute waits on shifted clocks, filter.rs)
//!   it translates the deadline (translate.rs);
//! - it passes every signal through, keeps group-stops (Ctrl-Z) working,
//!   and forwards SIGTERM and SIGHUP as the preload mode does.
//!
//! Clock reads never stop: they run in the image.

mod check;
mod filter;
mod inject;
mod notif;
mod place;
mod spawn;
mod sys;
mod timers;
mod translate;

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::Plan;
use crate::cli::{EXIT_CANNOT_RUN, Failure};
use crate::front::Release;
use crate::layout::FileLayout;
use crate::nsfile::NsFile;
use crate::offset;
use crate::parent::{self, Parent, exit_code};
use sys::Pid;
use timers::Timers;
use translate::{Call, Pending, Resume};

pub use check::program as check_program;

/// After an event, how long the tracer polls for the next one before it
/// sleeps in waitpid. Events come in bursts (a signal storm, a fork and its
/// child's first stop, an exit and the parent's SIGCHLD), and a tracer
/// asleep takes long to wake: on a 2-vCPU KVM guest a caught signal cost a
/// tracee 38 us with the tracer asleep, 12 to 16 us with it polling; 2000
/// forks and 20,000 signals took 2.1 times their plain time polling 50 us,
/// 1.7 times polling 200 us (1000 us was worse: the poll took the CPU the
/// tracees needed). It spends at most this much CPU an event, and none on
/// a single CPU, where polling would only keep the tracee from running. The exec set-up polls
/// the same way for each step of the calls it injects.
const POLL: Duration = Duration::from_micros(200);

/// What the tracer knows of one thread.
#[derive(Default)]
struct Thread {
    tgid: Option<Pid>,
    pending: Option<Pending>,
    /// The stack address this thread was last made to fault in, until its
    /// call is translated (a second failure there is not retried).
    faulted_in: Option<u64>,
}

/// The tracer's state.
pub struct Tracer {
    /// Monotonic and boottime offsets, in ns.
    offsets: (i128, i128),
    ns_path: CString,
    /// The namespace file's layout, and whether its data pages are mapped
    /// for a namespaced process.
    layout: FileLayout,
    timens: bool,
    image: Vec<u8>,
    /// Whether processes map the image from the namespace file (else its
    /// folder is `noexec` and the image is written into them).
    image_from_file: bool,
    threads: HashMap<Pid, Thread>,
    /// The clocks of POSIX timers.
    timers: Timers,
    program: Pid,
    program_execed: bool,
    program_refused: bool,
    program_status: Option<i32>,
    installed: u64,
    /// Execs whose image took the kernel's vDSO's place.
    in_place: u64,
    refused: u64,
    verbose: bool,
    /// `--keep-kernel-vdso`: never in the kernel's vDSO's place.
    keep_kernel_vdso: bool,
    /// The reasons an image went elsewhere, said once each.
    not_in_place: Vec<place::NotInPlace>,
    /// Whether to poll for events (`POLL`): not on a single CPU.
    poll: bool,
    translated: [u64; Call::ALL.len()],
}

impl Tracer {
    fn image_room(&self) -> u64 {
        (self.image.len() as u64).div_ceil(4096) * 4096
    }

    fn thread(&mut self, tid: Pid) -> &mut Thread {
        self.threads.entry(tid).or_default()
    }

    /// The process `tid` belongs to (cached; read from /proc once).
    fn tgid(&mut self, tid: Pid) -> Option<Pid> {
        if let Some(t) = self.threads.get(&tid).and_then(|t| t.tgid) {
            return Some(t);
        }
        let tgid = sys::tgid_of(tid)?;
        self.thread(tid).tgid = Some(tgid);
        Some(tgid)
    }

    /// A thread has exited or was killed.
    fn on_gone(&mut self, pid: Pid, status: i32) {
        self.forget_thread(pid);
        // If it led its process, the whole process has gone (the kernel
        // reports a leader only after its other threads).
        self.forget_process(pid, None);
        if pid == self.program {
            self.program_status = Some(status);
        }
    }

    /// One wait status of a tracee.
    fn handle(&mut self, pid: Pid, status: i32) {
        if !libc::WIFSTOPPED(status) {
            self.on_gone(pid, status);
            return;
        }
        let (sig, event) = (libc::WSTOPSIG(status), status >> 16);
        let resume = match event {
            sys::EVENT_SECCOMP => self.on_seccomp(pid),
            sys::EVENT_EXEC => {
                self.on_exec(pid);
                Resume::None
            }
            sys::EVENT_STOP => {
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // Group-stop: stay stopped until SIGCONT.
                    let _ = sys::listen(pid);
                    Resume::None
                } else {
                    // A new tracee's first stop.
                    Resume::Cont
                }
            }
            0 if sig == sys::SYSCALL_TRAP => self.on_syscall_exit(pid),
            0 => {
                // A signal on its way to the tracee: pass it through.
                let _ = sys::cont(pid, sig);
                Resume::None
            }
            // Fork, vfork and clone: the child is traced already.
            _ => Resume::Cont,
        };
        match resume {
            Resume::Cont => {
                let _ = sys::cont(pid, 0);
            }
            Resume::Exit => {
                let _ = sys::syscall(pid, 0);
            }
            Resume::None => {}
        }
    }

    /// Handles every tracee event until PROGRAM has gone (`until_program`)
    /// or until every process it left behind has gone too. Every signal a
    /// tracee gets, every fork and exit, is an event that holds it until
    /// the tracer has answered, so this is the loop signal-heavy programs
    /// pay for: it waits in waitpid itself (the keeper's other thread
    /// passes signals on, `Parent::forward_from_a_thread`), polling for
    /// `POLL` after each event (see there) before it sleeps.
    fn run(&mut self, exited: &AtomicBool, until_program: bool) {
        let mut last = Instant::now();
        loop {
            let nohang = self.poll && last.elapsed() < POLL;
            match sys::wait(-1, nohang) {
                Ok(Some((pid, status))) => {
                    self.handle(pid, status);
                    last = Instant::now();
                }
                Ok(None) => {}
                // ECHILD: no child and no tracee left.
                Err(_) => return,
            }
            if self.program_status.is_some() {
                exited.store(true, Ordering::Relaxed);
                if until_program {
                    return;
                }
            }
        }
    }

    fn report(&self) {
        eprintln!(
            "vdso-run: execs given the image: {} (in place of the kernel's vDSO: {}); refused: {}",
            self.installed, self.in_place, self.refused
        );
        parent::report_translated(Call::ALL.iter().map(|c| c.name()).zip(self.translated));
    }
}

/// Runs PROGRAM with the image as its vDSO, as the keeper (front.rs);
/// returns its exit code. PROGRAM has passed `check_program`.
pub fn run(plan: Plan, release: Release) -> Result<i32, Failure> {
    let ns = NsFile::create(plan.front, plan.abi)?;
    let _control = ns.publish(
        plan.image.bytes(),
        plan.offsets.is_some(),
        false,
        plan.front,
    )?;
    let image_from_file = image_maps_from(&ns, plan.image.bytes());
    let tk = ns.timekeeper(plan.offsets.as_ref())?;
    let ns_path = CString::new(ns.path.as_os_str().as_bytes())
        .map_err(|_| Failure::own("the namespace file's path contains a NUL byte"))?;

    let (mono, boot) = plan
        .offsets
        .as_ref()
        .map_or((0, 0), |o| (o.monotonic.as_nanos(), o.boottime.as_nanos()));
    let prog = filter::program(filter::Shifted {
        monotonic: mono != 0,
        boottime: boot != 0,
    });

    let mut parent = Parent::start(tk, release)?;

    if plan.verbose {
        eprintln!(
            "vdso-run: {} with {} as its vDSO ({}; layout {}); data pages {}; the image {}; \
             seccomp filter of {} instructions",
            plan.program.display(),
            plan.image_path.display(),
            offset::describe(plan.offsets.as_ref()),
            plan.abi,
            ns.path.display(),
            if image_from_file {
                "mapped from that file"
            } else {
                "written into each process (the file's folder is noexec)"
            },
            prog.len()
        );
    }

    let spawned = spawn::spawn(&plan.program, &plan.argv0, &plan.args, &prog)?;
    parent.detach();
    let exited = parent.forward_from_a_thread(spawned.pid)?;
    let mut tracer = Tracer {
        offsets: (mono, boot),
        ns_path,
        layout: ns.layout,
        timens: plan.offsets.is_some(),
        image: plan.image.bytes().to_vec(),
        image_from_file,
        threads: HashMap::new(),
        timers: Timers::default(),
        program: spawned.pid,
        program_execed: false,
        program_refused: false,
        program_status: None,
        installed: 0,
        in_place: 0,
        refused: 0,
        verbose: plan.verbose,
        keep_kernel_vdso: plan.keep_kernel_vdso,
        not_in_place: Vec::new(),
        poll: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        translated: [0; Call::ALL.len()],
    };
    tracer.run(&exited, true);
    let result = if !tracer.program_execed
        && let Some(failure) = spawned.failure(&plan.program)
    {
        Err(failure)
    } else if tracer.program_refused {
        Ok(EXIT_CANNOT_RUN)
    } else {
        Ok(tracer.program_status.map_or(EXIT_CANNOT_RUN, exit_code))
    };
    let code = result.as_ref().map_or_else(|f| f.code, |c| *c);
    let mut reported = false;
    if !parent::children().is_empty() {
        reported = parent.program_left_some(code, || {
            if plan.verbose {
                tracer.report();
            }
        });
        tracer.run(&exited, false);
    }

    drop(parent.ticker.stop());
    if plan.verbose && !reported {
        tracer.report();
    }
    drop(ns);
    parent.release.send(code);
    result
}

/// Whether the namespace file's image can be mapped read and execute (its
/// folder is not mounted `noexec`) and holds exactly the checked bytes:
/// then every process maps it from there.
fn image_maps_from(ns: &NsFile, image: &[u8]) -> bool {
    use std::os::fd::AsRawFd;
    let len = image.len();
    // SAFETY: a new private mapping of our own file at a kernel-chosen
    // address, unmapped below; it aliases no Rust object.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE,
            ns.file.as_raw_fd(),
            ns.layout.image_offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: `len` readable bytes, mapped above.
    let same = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) } == image;
    // SAFETY: our own mapping; the slice above is gone.
    unsafe { libc::munmap(p, len) };
    same
}
