//! A real client of `getrandom`: a Go program (`tests/go/getrandom`, Go
//! 1.24+ uses the vDSO's getrandom for `crypto/rand`) that forbids itself,
//! by seccomp, every getrandom system call but a key fetch, and reads 16
//! bytes at a time. It must run to the end on a vDSO that has the entry,
//! and be killed on one that lacks it.
//!
//! Here the vDSO is the running kernel's: as it is, and with its
//! `__vdso_getrandom` renamed in the program's own copy of it (written
//! through `/proc/PID/mem` while the program is stopped at its exec, before
//! Go looks the symbol up; the kernel gives the process a private copy of
//! the page, as for a debugger's breakpoint). Under `vdso-run --as-vdso`,
//! the images take the kernel's place: `vdso-run/tests/getrandom.rs`.
//! How the client is built: `tests/go/getrandom/client.rs`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use vdso_elf::{Elf, HashTable};

#[path = "../go/getrandom/client.rs"]
mod go;

fn client() -> PathBuf {
    go::client(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        "conformance",
    )
}

/// Runs the client, its output and how it ended.
fn run(command: &mut Command) -> (String, ExitStatus) {
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let out = out.wait_with_output().expect("waiting for the client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status)
}

#[test]
fn the_go_client_reads_through_the_kernels_vdso() {
    let (text, status) = run(&mut Command::new(client()));
    assert!(
        status.success() && text.starts_with("ok:"),
        "the Go client on the kernel's vDSO ended with {status}: {text}"
    );
}

/// The `[vdso]` mapping of process `pid`: its start and length.
fn vdso_of(pid: u32) -> (u64, usize) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("reading its maps");
    let line = maps
        .lines()
        .find(|l| l.ends_with("[vdso]"))
        .expect("the process has a [vdso]");
    let range = line.split_whitespace().next().unwrap();
    let (start, end) = range.split_once('-').unwrap();
    let (start, end) = (
        u64::from_str_radix(start, 16).unwrap(),
        u64::from_str_radix(end, 16).unwrap(),
    );
    (start, (end - start) as usize)
}

/// Renames `__vdso_getrandom` (and, if it shares the string's tail, its
/// weak alias) in the vDSO of stopped process `pid`, and checks that a
/// lookup as Go makes it now fails while the clock entries still resolve.
fn hide_getrandom(pid: u32) {
    let (start, len) = vdso_of(pid);
    let mut mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .expect("opening its memory");
    let mut image = vec![0u8; len];
    mem.seek(SeekFrom::Start(start)).unwrap();
    mem.read_exact(&mut image).expect("reading its vDSO");
    let name = b"\0__vdso_getrandom\0";
    let at = image
        .windows(name.len())
        .position(|w| w == name)
        .expect("the kernel's vDSO names __vdso_getrandom")
        + 1;
    // "__vdso_getrandoX", "getrandoX": neither name is there any more.
    let last = at + name.len() - 3;
    mem.seek(SeekFrom::Start(start + last as u64)).unwrap();
    mem.write_all(b"X").expect("writing into its vDSO");
    mem.seek(SeekFrom::Start(start)).unwrap();
    mem.read_exact(&mut image).expect("reading its vDSO back");
    let table = Elf::parse(&image)
        .and_then(|e| e.dynamic())
        .expect("its vDSO's dynamic table");
    assert!(
        table
            .lookup(HashTable::Gnu, "__vdso_getrandom", "LINUX_2.6")
            .is_err(),
        "the renamed vDSO still resolves __vdso_getrandom"
    );
    assert!(
        table
            .lookup(HashTable::Gnu, "__vdso_clock_gettime", "LINUX_2.6")
            .is_ok(),
        "renaming broke the vDSO's other entries"
    );
}

#[test]
fn the_go_client_is_killed_on_a_vdso_without_getrandom() {
    let mut command = Command::new(client());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and
    // makes one system call, with no allocation or lock.
    unsafe {
        command.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("starting the client traced");
    let pid = child.id();
    let mut status = 0;
    // SAFETY: waits for our own child, stopped by the exec it traced.
    let waited = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert!(
        waited == pid as i32 && libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP,
        "the client did not stop at its exec (status {status:#x})"
    );
    hide_getrandom(pid);
    // SAFETY: lets our stopped tracee go, no signal delivered.
    let detached = unsafe { libc::ptrace(libc::PTRACE_DETACH, pid as i32, 0, 0) };
    assert_eq!(
        detached,
        0,
        "PTRACE_DETACH: {}",
        std::io::Error::last_os_error()
    );
    let out = child.wait_with_output().expect("waiting for the client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSYS),
        "the Go client on a vDSO without getrandom ended with {} ({text:?}), not killed by its filter",
        out.status
    );
}
