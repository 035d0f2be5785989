//! What `--as-vdso` cannot handle, refused before it runs: programs that
//! would change identity at exec (set-user-ID, set-group-ID, file
//! capabilities: under ptrace and no_new_privs the kernel runs them without
//! the privileges they expect) and programs that are not x86-64 (the images
//! are 64-bit code). Checked for PROGRAM before it starts and, at every exec
//! stop, for the program the kernel actually loaded.

use std::fs::File;
use std::path::Path;

use crate::cli::{EXIT_CANNOT_RUN, Failure};
use crate::elfcheck::{self, Kind, Unreachable};
use crate::privilege::{self, NeitherMode, Who};
use crate::program::{FileSource, check_interpreters, file_ids, own_identity, runner};

/// Why a program its user may not read cannot run under `--as-vdso`.
pub const UNREADABLE: &str = "vdso-run's user may not read the file it runs (execute-only), and \
     the kernel keeps a tracer that is not root out of such a process's memory, so the image \
     cannot be installed (nor can vdso-run tell what the file would gain at exec); make the file \
     readable, or run vdso-run as root";

/// A running process's effective ids, from /proc.
pub fn identity_of(pid: libc::pid_t) -> Option<Who> {
    let field = |key| {
        super::sys::status_field(pid, key)?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(Who {
        euid: field("Uid:")?,
        egid: field("Gid:")?,
    })
}

/// Why a file would change identity at exec, if it would
/// (`privilege::gain`, as the default mode judges it too). `who` is asked
/// only for a file that could (set-user-ID, set-group-ID, capabilities):
/// at every exec stop it is a read of /proc, which most programs need not
/// pay for.
pub fn identity_change(path: &Path, who: impl FnOnce() -> Option<Who>) -> Option<String> {
    let ids = file_ids(path)?;
    if ids.mode & (libc::S_ISUID | libc::S_ISGID) == 0 && !ids.capabilities {
        return None;
    }
    let gain = privilege::gain(&ids, who()?)?;
    Some(format!("{gain}; {}", NeitherMode(gain)))
}

/// Refuses PROGRAM before it starts if `--as-vdso` cannot handle it: it, or
/// the interpreter its `#!` line names (the kernel ignores set-user-ID on
/// scripts, not on their interpreters), would change identity, or is not a
/// 64-bit x86-64 program. Static, musl and Go programs are all fine here.
pub fn program(path: &Path) -> Result<(), Failure> {
    let who = own_identity();
    check_interpreters(path, |current, via| {
        let refuse = |why: String| {
            Failure::new(
                EXIT_CANNOT_RUN,
                format!("{}{via}: cannot run it --as-vdso: {why}", current.display()),
            )
        };
        let file = match File::open(current) {
            Ok(file) => file,
            Err(e) => {
                // Execute-only (set-user-ID programs often are): what it
                // gains is in its metadata.
                if let Some(why) = identity_change(current, || Some(who)) {
                    return Err(refuse(why));
                }
                if e.raw_os_error() == Some(libc::EACCES) && current.is_file() {
                    return Err(refuse(UNREADABLE.to_string()));
                }
                // Else execve decides (and reports) what happens.
                return Ok(None);
            }
        };
        let kind = elfcheck::inspect(&mut FileSource(file));
        // The kernel ignores set-user-ID and capabilities on a script; an
        // ELF program runs with them.
        if matches!(kind, Kind::Reachable | Kind::Unreachable(_))
            && let Some(why) = identity_change(current, || Some(who))
        {
            return Err(refuse(why));
        }
        match kind {
            Kind::Unreachable(why @ (Unreachable::Class(_) | Unreachable::Machine(_))) => {
                Err(refuse(format!(
                    "{why}; the images are x86-64 code and only a 64-bit x86-64 program can call them"
                )))
            }
            // Static, musl and Go programs are all fine here.
            kind => Ok(runner(&kind)),
        }
    })
}
