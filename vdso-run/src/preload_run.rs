//! The preload mode: PROGRAM started with `LD_PRELOAD` of the preload
//! library and the namespace file's path in its environment, vdso-run its
//! parent until it and everything it left behind have exited.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;

use crate::Plan;
use crate::cli::Failure;
use crate::front::Release;
use crate::layout::{Control, ENV_NAMESPACE, TRANSLATED};
use crate::nsfile::NsFile;
use crate::parent::{Parent, exit_code, report_translated, wait_program, wait_rest};
use crate::{inherited, offset, program};

/// Runs PROGRAM under the plan with the preload library at `preload`, as
/// the keeper (front.rs); returns its exit code (128 + N for signal N).
pub fn run(plan: Plan, preload: PathBuf, release: Release) -> Result<i32, Failure> {
    let ns = NsFile::create(plan.front, plan.abi)?;
    let control = ns.publish(
        plan.image.bytes(),
        plan.offsets.is_some(),
        plan.verbose,
        plan.front,
    )?;
    let tk = ns.timekeeper(plan.offsets.as_ref())?;
    let c = control.get();

    let mut parent = Parent::start(tk, release)?;

    let mut preload_var = preload.clone().into_os_string();
    if let Some(theirs) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload_var.push(":");
        preload_var.push(theirs);
    }
    if plan.verbose {
        eprintln!(
            "vdso-run: {} on {} ({}; layout {}); data pages {}; preload {}",
            plan.program.display(),
            plan.image_path.display(),
            offset::describe(plan.offsets.as_ref()),
            plan.abi,
            ns.path.display(),
            preload.display()
        );
    }

    // SAFETY: getpid cannot fail.
    let parent_pid = unsafe { libc::getpid() };
    let mut cmd = Command::new(&plan.program);
    cmd.arg0(&plan.argv0)
        .args(&plan.args)
        .env("LD_PRELOAD", &preload_var)
        .env(ENV_NAMESPACE, &ns.path);
    // SAFETY: the closure makes only async-signal-safe calls (sigaction,
    // sigprocmask,
    // prctl, getppid, kill), as required between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // std has set SIGPIPE to its default and emptied the mask.
            inherited::restore();
            // If vdso-run dies, however it dies, the kernel kills PROGRAM:
            // it must not run on data pages that no longer tick.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent_pid {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        })
    };
    let child = cmd
        .spawn()
        .map_err(|e| program::exec_failure(&plan.program, e))?;
    let program = child.id() as libc::pid_t;
    drop(child);
    parent.detach();

    let (status, left_some) = wait_program(program, &parent);
    let code = exit_code(status);
    let mut reported = false;
    if left_some {
        reported = parent.program_left_some(code, || {
            if plan.verbose {
                report(c);
            }
        });
        if plan.verbose && !reported {
            eprintln!(
                "vdso-run: PROGRAM has exited; waiting for the processes it left behind (the \
                 namespace lives as long as they do)"
            );
        }
        wait_rest(&parent);
    }

    drop(parent.ticker.stop());
    if plan.verbose && !reported {
        report(c);
    }
    drop(control);
    drop(ns);
    parent.release.send(code);
    Ok(code)
}

/// `--verbose` at exit: the calls each entry served, and the translations.
fn report(c: &Control) {
    let served: Vec<String> = c
        .served
        .each()
        .map(|(name, n)| format!("{name} {}", n.load(Relaxed)))
        .collect();
    eprintln!("vdso-run: served by the image: {}", served.join(", "));
    report_translated(
        TRANSLATED
            .into_iter()
            .zip(c.translated.iter().map(|n| n.load(Relaxed))),
    );
    let (reinjected, refused) = (c.reinjected.load(Relaxed), c.refused.load(Relaxed));
    if reinjected != 0 || refused != 0 {
        eprintln!(
            "vdso-run: execs whose environment was repaired: {reinjected}; execs refused: {refused}"
        );
    }
}
