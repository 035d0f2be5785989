//! What `--as-vdso` cannot handle, refused before it runs: programs that
//! would change identity at exec (set-user-ID, set-group-ID, file
//! capabilities: under ptrace and no_new_privs the kernel runs them without
//! the privileges they expect) and programs that are not x86-64 (the images
//! are 64-bit code). Checked for PROGRAM before it starts and, at every exec
//! stop, for the program the kernel actually loaded.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cli::{EXIT_CANNOT_RUN, Failure};
use crate::elfcheck::{self, Kind, Unreachable};
use crate::program::{FileSource, check_interpreters, runner};

/// The identity a program would run with.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub euid: u32,
    pub egid: u32,
}

impl Identity {
    pub fn own() -> Identity {
        // SAFETY: geteuid and getegid cannot fail.
        unsafe {
            Identity {
                euid: libc::geteuid(),
                egid: libc::getegid(),
            }
        }
    }

    /// A running process's effective ids, from /proc.
    pub fn of(pid: libc::pid_t) -> Option<Identity> {
        let field = |key| {
            super::sys::status_field(pid, key)?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        Some(Identity {
            euid: field("Uid:")?,
            egid: field("Gid:")?,
        })
    }
}

/// Why a file would change identity at exec, if it would. `who` is asked
/// only for a file that could (set-user-ID, set-group-ID, capabilities):
/// at every exec stop it is a read of /proc, which most programs need not
/// pay for.
pub fn identity_change(path: &Path, who: impl FnOnce() -> Option<Identity>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.mode();
    let capabilities = has_file_capabilities(path);
    if mode & (libc::S_ISUID | libc::S_ISGID) == 0 && !capabilities {
        return None;
    }
    let who = who()?;
    if on_nosuid_mount(path) {
        // The kernel ignores set-user-ID, set-group-ID and capabilities there.
        return None;
    }
    if mode & libc::S_ISUID != 0 && meta.uid() != who.euid {
        return Some(format!(
            "it is set-user-ID (owner uid {}), and under --as-vdso (ptrace, no_new_privs) it would \
             run without that identity",
            meta.uid()
        ));
    }
    // Set-group-ID without group execute is mandatory locking, not an identity.
    if mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0 && meta.gid() != who.egid {
        return Some(format!(
            "it is set-group-ID (group gid {}), and under --as-vdso (ptrace, no_new_privs) it would \
             run without that identity",
            meta.gid()
        ));
    }
    if who.euid != 0 && capabilities {
        return Some(
            "it has file capabilities (security.capability), which no_new_privs and ptrace keep \
             it from gaining under --as-vdso"
                .to_string(),
        );
    }
    None
}

fn on_nosuid_mount(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs is plain data; a valid path and buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_NOSUID != 0 }
}

fn has_file_capabilities(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid path and attribute name; a NULL buffer of size 0 asks
    // only for the size.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    n > 0
}

/// Refuses PROGRAM before it starts if `--as-vdso` cannot handle it: it, or
/// the interpreter its `#!` line names (the kernel ignores set-user-ID on
/// scripts, not on their interpreters), would change identity, or is not a
/// 64-bit x86-64 program. Static, musl and Go programs are all fine here.
pub fn program(path: &Path) -> Result<(), Failure> {
    let who = Identity::own();
    check_interpreters(path, |current, via| {
        let refuse = |why: String| {
            Failure::new(
                EXIT_CANNOT_RUN,
                format!("{}{via}: cannot run it --as-vdso: {why}", current.display()),
            )
        };
        if let Some(why) = identity_change(current, || Some(who)) {
            return Err(refuse(why));
        }
        let Ok(file) = File::open(current) else {
            // Not readable: execve decides (and reports) what happens.
            return Ok(None);
        };
        match elfcheck::inspect(&mut FileSource(file)) {
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
