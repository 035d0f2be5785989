//! PROGRAM before it starts: found as execvp would find it, and checked to be
//! a program the preload library reaches. How a program's `#!` interpreters
//! are followed is shared with `--as-vdso`'s checks (asvdso/check.rs).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::cli::{EXIT_CANNOT_RUN, EXIT_FAILURE, EXIT_NOT_FOUND, Failure};
use crate::elfcheck::{self, Kind, Source, Unreachable};

/// A file, for `elfcheck::inspect`.
pub(crate) struct FileSource(pub(crate) File);

impl Source for FileSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    }
}

fn executable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// Finds PROGRAM: as given if it has a slash, else on `$PATH` (glibc's
/// default `/bin:/usr/bin` if unset), as execvp does: a file that is not
/// there (or a folder on the way that is not) sends it on to the next
/// folder, one it cannot run too (it remembers that), and any other error,
/// such as a symbolic link loop, stops it.
pub fn resolve(program: &OsStr) -> Result<PathBuf, Failure> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(Failure::new(
            EXIT_NOT_FOUND,
            "'': no such file or directory",
        ));
    }
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
        std::env::split_paths(&path)
            .map(|dir| {
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                dir.join(program)
            })
            .collect()
    };
    let mut found_unrunnable = None;
    for p in &candidates {
        match std::fs::metadata(p) {
            Ok(_) if executable(p) => return Ok(p.clone()),
            Ok(_) => {
                found_unrunnable.get_or_insert(p);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                found_unrunnable.get_or_insert(p);
            }
            Err(e) => {
                return Err(Failure::new(
                    EXIT_CANNOT_RUN,
                    format!("cannot run {}: {e}", p.display()),
                ));
            }
        }
    }
    match found_unrunnable {
        Some(p) if p.is_dir() => Err(Failure::new(
            EXIT_CANNOT_RUN,
            format!("{}: is a directory", p.display()),
        )),
        Some(p) => Err(Failure::new(
            EXIT_CANNOT_RUN,
            format!("{}: permission denied (not executable)", p.display()),
        )),
        None if candidates.len() == 1 => Err(Failure::new(
            EXIT_NOT_FOUND,
            format!("{shown}: no such file or directory"),
        )),
        None => Err(Failure::new(
            EXIT_NOT_FOUND,
            format!("{shown}: command not found in $PATH"),
        )),
    }
}

/// The file that runs a file of this kind: a `#!` script's interpreter, or
/// for a file the kernel cannot run, /bin/sh (execvp's fallback); `None`
/// for an ELF program, which runs itself.
pub(crate) fn runner(kind: &Kind) -> Option<PathBuf> {
    match kind {
        Kind::Script(interp) => Some(PathBuf::from(OsStr::from_bytes(interp.bytes()))),
        Kind::Shell => Some(PathBuf::from("/bin/sh")),
        Kind::Reachable | Kind::Unreachable(_) => None,
    }
}

/// Checks PROGRAM and the files that run it in turn (`runner`), up to five
/// files deep. `check(file, via)` fails, or returns the next file to check
/// (`None`: done); `via` is what to say after the file's name in a message:
/// nothing for PROGRAM, ` (the interpreter of PROGRAM)` for the others.
pub(crate) fn check_interpreters(
    path: &Path,
    mut check: impl FnMut(&Path, &str) -> Result<Option<PathBuf>, Failure>,
) -> Result<(), Failure> {
    let mut current = path.to_path_buf();
    for _ in 0..5 {
        let via = if current == path {
            String::new()
        } else {
            format!(" (the interpreter of {})", path.display())
        };
        match check(&current, &via)? {
            Some(next) => {
                // As execve would fail on it: env(1) says 127 for a missing
                // interpreter, 126 for one it cannot reach otherwise.
                if let Err(e) = std::fs::metadata(&next) {
                    let code = if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) {
                        EXIT_NOT_FOUND
                    } else {
                        EXIT_CANNOT_RUN
                    };
                    return Err(Failure::new(
                        code,
                        format!(
                            "{}: its interpreter {}: {}",
                            current.display(),
                            next.display(),
                            if code == EXIT_NOT_FOUND {
                                "no such file or directory".to_string()
                            } else {
                                e.to_string()
                            }
                        ),
                    ));
                }
                current = next;
            }
            None => return Ok(()),
        }
    }
    Err(Failure::new(
        EXIT_CANNOT_RUN,
        format!("{}: too many levels of #! interpreters", path.display()),
    ))
}

/// Refuses a program the preload library cannot reach: statically linked,
/// another libc's loader, Go, not x86-64. A `#!` script is judged by its
/// interpreter, a file the kernel cannot run by /bin/sh (execvp's fallback).
pub fn check_reachable(path: &Path) -> Result<(), Failure> {
    check_secure_execution(path)?;
    check_interpreters(path, |current, via| {
        let file = File::open(current).map_err(|e| {
            Failure::new(
                EXIT_CANNOT_RUN,
                format!(
                    "{}: cannot read it to check that the preload library reaches it: {e}",
                    current.display()
                ),
            )
        })?;
        match elfcheck::inspect(&mut FileSource(file)) {
            Kind::Unreachable(why) => Err(Failure::new(
                EXIT_CANNOT_RUN,
                format!("{}{via}: {}", current.display(), unreachable_advice(&why)),
            )),
            kind => Ok(runner(&kind)),
        }
    })
}

/// Why the preload library cannot reach a program, and what works instead:
/// `--as-vdso`, unless the program is not 64-bit x86-64 code, which no mode
/// can serve.
pub fn unreachable_advice(why: &Unreachable) -> String {
    match why {
        Unreachable::Class(_) | Unreachable::Machine(_) => format!(
            "cannot give it the namespace in either mode of vdso-run: {why}, and the images are \
             x86-64 code that only a 64-bit x86-64 program can call"
        ),
        _ => format!(
            "the preload library cannot reach it: {why}; it would run on the host's clocks. Run \
             it with `vdso-run --as-vdso` instead"
        ),
    }
}

/// PROGRAM could not be started: exit 127 if it was not found, 126 if it
/// cannot be run, as env(1) says; but out of descriptors or processes
/// (the pipes and the fork of starting it; execve itself opens no
/// descriptor of the caller's) is vdso-run's own failure, 125.
pub fn exec_failure(program: &Path, e: std::io::Error) -> Failure {
    let code = match e.raw_os_error() {
        Some(libc::ENOENT) => EXIT_NOT_FOUND,
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN) => EXIT_FAILURE,
        _ => EXIT_CANNOT_RUN,
    };
    Failure::new(code, format!("cannot run {}: {e}", program.display()))
}

/// A set-user-ID or set-group-ID program that changes our identity runs in
/// secure-execution mode, where the dynamic loader ignores LD_PRELOAD.
fn check_secure_execution(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let setuid = meta.mode() & libc::S_ISUID != 0 && meta.uid() != uid;
    let setgid = meta.mode() & libc::S_ISGID != 0 && meta.gid() != gid;
    if setuid || setgid {
        return Err(Failure::new(
            EXIT_CANNOT_RUN,
            format!(
                "{}: the preload library cannot reach it: it is set-{}-ID, and the dynamic loader \
                 ignores LD_PRELOAD for such programs; it would run on the host's clocks (and \
                 --as-vdso refuses it too: a traced program does not change identity)",
                path.display(),
                if setuid { "user" } else { "group" }
            ),
        ));
    }
    Ok(())
}
