//! The real kernel as the oracle: a process in a real time namespace reads
//! the kernel's clocks (system call, and the kernel's own vDSO where there
//! is one: qemu-user maps none), and the timens image given the same
//! offsets agrees with it clock by clock.
//!
//! The namespace is made in a child: `unshare(CLONE_NEWTIME)` only moves
//! the caller's future children, and offsets can be written only before a
//! process enters. The child writes `/proc/self/timens_offsets` and forks
//! the reader, which lives in the namespace from birth. Each round the
//! parent reads the image, tells the reader to read the kernel, and reads
//! the image again: the kernel's reading must lie between the two.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_TAI, Timespec,
};
use common::timens::Offsets;
use common::vvar::TimensOffset;
use kernel_side::{Vdso, kernel_vdso};

use crate::abi;
use crate::check::Verdict;
use crate::live::{Live, kernel_coarse_lag_ns, kernel_now};
use crate::register;
use crate::target::Target;
use crate::time::{Failures, NS_PER_SEC, Secs, ns, within};

const CLOCKS: [i32; 6] = [
    CLOCK_REALTIME,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_RAW,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME,
    CLOCK_TAI,
];
const ROUNDS: usize = 16;
/// Indices into `CLOCKS`.
const MONOTONIC: usize = 1;
const MONOTONIC_COARSE: usize = 3;
/// How long the parent waits for the reader's answer.
const ANSWER_MS: i32 = 5_000;

/// What the namespace's reader sends back each round.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct Reading {
    /// 0, or where setting the namespace up failed (see [`Stage`]).
    failed_at: i32,
    errno: i32,
    sys_ret: [i32; CLOCKS.len()],
    vdso_ret: [i32; CLOCKS.len()],
    sys: [Timespec; CLOCKS.len()],
    vdso: [Timespec; CLOCKS.len()],
}

#[derive(Clone, Copy)]
#[repr(i32)]
enum Stage {
    Unshare = 1,
    OpenOffsets = 2,
    WriteOffsets = 3,
    Fork = 4,
}

fn describe(failed_at: i32, errno: i32) -> String {
    let (what, likely) = match failed_at {
        1 => (
            "unshare(CLONE_NEWTIME)",
            "a kernel without CONFIG_TIME_NS, or a process without CAP_SYS_ADMIN",
        ),
        2 => (
            "opening /proc/self/timens_offsets",
            "no /proc, or a kernel without CONFIG_TIME_NS",
        ),
        3 => (
            "writing /proc/self/timens_offsets",
            "the kernel refused these offsets",
        ),
        4 => ("forking into the namespace", "out of processes or memory"),
        _ => ("an unknown step", "a bug in this check"),
    };
    format!(
        "this machine cannot make a time namespace, so the kernel cannot be the oracle: {what} failed: {} (likely {likely})",
        std::io::Error::from_raw_os_error(errno)
    )
}

register!(timens_image_agrees_with_the_kernel_in_a_real_namespace, TimeNamespace, needs: [OwnDataPages, TimeNamespace]);
/// The kernel inside a real namespace (system call and, where mapped, its
/// own vDSO) and the image with the same offsets agree on MONOTONIC,
/// MONOTONIC_RAW, BOOTTIME, REALTIME and TAI within the calibration bound,
/// and on MONOTONIC_COARSE within a tick.
fn timens_image_agrees_with_the_kernel_in_a_real_namespace(target: Target) -> Verdict {
    // Mapped wherever the kernel has a vDSO; the test suite requires it
    // there (`Target::KernelVdso` runs exactly where it is).
    let kernel = kernel_vdso::vdso();
    let live = Live::start(target)?;
    let now = kernel_now();
    let uptime = ns(now.monotonic).min(ns(now.boottime));
    // A positive offset with a nanosecond part, and a negative one.
    let offsets = Offsets {
        monotonic: TimensOffset::from_nanos(10 * 86_400 * NS_PER_SEC + 123_456_789),
        boottime: TimensOffset::from_nanos(-uptime / 2),
    };
    live.image()?
        .pages
        .write_namespace(&offsets, &now)
        .map_err(|e| format!("writing the namespace page: {e}"))?;
    let text = format!(
        "{CLOCK_MONOTONIC} {} {}\n{CLOCK_BOOTTIME} {} {}\n",
        offsets.monotonic.sec, offsets.monotonic.nsec, offsets.boottime.sec, offsets.boottime.nsec
    );
    let reader = Reader::spawn(text.as_bytes(), kernel)?;
    let vdso = live.vdso();
    let (bound, kernel_lag) = (live.calibration_ns(), kernel_coarse_lag_ns());
    let mut f = Failures::new();
    for _ in 0..ROUNDS {
        // The image's MONOTONIC before the update the round waits for: no
        // coarse base that update publishes is earlier.
        let floor = ns(abi::vdso_clock_gettime(&vdso, CLOCK_MONOTONIC).1) - bound;
        live.settle()?;
        let before = CLOCKS.map(|c| abi::vdso_clock_gettime(&vdso, c));
        let reading = reader.read()?;
        let after = CLOCKS.map(|c| abi::vdso_clock_gettime(&vdso, c));
        if reading.failed_at != 0 {
            return Err(describe(reading.failed_at, reading.errno));
        }
        let monotonic_after = ns(after[MONOTONIC].1);
        let coarse = ns(before[MONOTONIC_COARSE].1);
        f.note(
            "clock 6, the timens image",
            within(
                "no earlier than the update, no later than its own MONOTONIC",
                floor,
                coarse,
                monotonic_after + bound,
            ),
        );
        for (i, clock) in CLOCKS.into_iter().enumerate() {
            // A coarse clock is the kernel's: behind its MONOTONIC (so the
            // image's after it), by at most its lag (so no further behind
            // the image's coarse clock, which is not ahead of its own).
            let (lo, hi) = if clock == CLOCK_MONOTONIC_COARSE {
                (coarse - kernel_lag - bound, monotonic_after + bound)
            } else {
                (ns(before[i].1) - bound, ns(after[i].1) + bound)
            };
            let vdso = kernel.map(|_| ("kernel vDSO", reading.vdso_ret[i], reading.vdso[i]));
            for (how, ret, ts) in
                std::iter::once(("system call", reading.sys_ret[i], reading.sys[i])).chain(vdso)
            {
                let key = format!("clock {clock}, the namespace's {how}");
                f.expect(
                    &key,
                    ret == 0 && before[i].0 == 0 && after[i].0 == 0,
                    || format!("returned {ret} (the image {}, {})", before[i].0, after[i].0),
                );
                f.note(
                    &key,
                    within(
                        &format!(
                            "between the timens image's reads (offsets: monotonic {}, boottime {})",
                            Secs(offsets.monotonic.as_nanos()),
                            Secs(offsets.boottime.as_nanos())
                        ),
                        lo,
                        ns(ts),
                        hi,
                    ),
                );
            }
        }
    }
    reader.finish()?;
    f.verdict()
}

/// The child that makes the namespace, and through it the reader inside.
struct Reader {
    /// Until reaped.
    child: Option<libc::pid_t>,
    /// Closing it tells the reader to exit.
    go: Option<OwnedFd>,
    answers: OwnedFd,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is writable for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Reader {
    /// Starts the child and waits for the reader to say it is in the
    /// namespace (or for the child to say why it could not make one).
    fn spawn(offsets: &[u8], kernel: Option<Vdso<'static>>) -> Result<Reader, String> {
        let (go_read, go_write) = pipe()?;
        let (answer_read, answer_write) = pipe()?;
        let fds = ChildFds {
            go: go_read.as_raw_fd(),
            answers: answer_write.as_raw_fd(),
            unused: [go_write.as_raw_fd(), answer_read.as_raw_fd()],
        };
        let child = fork_child(offsets, kernel, fds)?;
        drop((go_read, answer_write));
        let reader = Reader {
            child: Some(child),
            go: Some(go_write),
            answers: answer_read,
        };
        let ready = reader.answer()?;
        if ready.failed_at != 0 {
            return Err(describe(ready.failed_at, ready.errno));
        }
        Ok(reader)
    }

    /// Asks the reader for one reading of the namespace's clocks.
    fn read(&self) -> Result<Reading, String> {
        let go = self.go.as_ref().ok_or("the reader was told to exit")?;
        write_bytes(go.as_raw_fd(), b"r").map_err(|e| {
            format!(
                "asking the reader: {}",
                std::io::Error::from_raw_os_error(e)
            )
        })?;
        self.answer()
    }

    fn answer(&self) -> Result<Reading, String> {
        let mut poll = libc::pollfd {
            fd: self.answers.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, ANSWER_MS) } != 1 {
            return Err(format!(
                "no answer from the time namespace within {ANSWER_MS} ms"
            ));
        }
        let mut reading = Reading::default();
        read_reading(self.answers.as_raw_fd(), &mut reading)
            .map_err(|e| format!("reading the namespace's answer: {e}"))?;
        Ok(reading)
    }

    /// Tells the reader to exit and reaps the child.
    fn finish(mut self) -> Result<(), String> {
        self.go = None;
        let Some(child) = self.child.take() else {
            return Ok(());
        };
        let mut status = 0;
        // SAFETY: waits for our own child.
        if unsafe { libc::waitpid(child, &mut status, 0) } != child {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!(
                "the namespace's child ended with status {status:#x}"
            ));
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // On an error path: leave no process behind. The reader sees the
        // request pipe close and exits; the child is killed and reaped.
        self.go = None;
        if let Some(child) = self.child.take() {
            // SAFETY: signals and reaps our own child.
            unsafe {
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, std::ptr::null_mut(), 0);
            }
        }
    }
}

struct ChildFds {
    go: RawFd,
    answers: RawFd,
    /// The parent's ends, closed in the child.
    unused: [RawFd; 2],
}

/// Forks the child that makes the namespace.
fn fork_child(
    offsets: &[u8],
    kernel: Option<Vdso<'static>>,
    fds: ChildFds,
) -> Result<libc::pid_t, String> {
    // SAFETY: the child runs only `child_main`, which makes system calls and
    // calls into the kernel's vDSO: no allocation, no lock, nothing another
    // thread of this process might have held at the fork.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => child_main(offsets, kernel, fds),
        child => Ok(child),
    }
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Reports a failed setup step to the parent and exits.
fn fail(answers: RawFd, stage: Stage) -> ! {
    let reading = Reading {
        failed_at: stage as i32,
        errno: errno(),
        ..Reading::default()
    };
    let _ = write_bytes(answers, reading_bytes(&reading));
    // SAFETY: exits the child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

/// The child: async-signal-safe calls only (it was forked from a process
/// with other threads).
fn child_main(offsets: &[u8], kernel: Option<Vdso<'static>>, fds: ChildFds) -> ! {
    // SAFETY: plain system calls on our own descriptors and a constant path.
    unsafe {
        for fd in fds.unused {
            libc::close(fd);
        }
        if libc::unshare(libc::CLONE_NEWTIME) != 0 {
            fail(fds.answers, Stage::Unshare);
        }
        let file = libc::open(c"/proc/self/timens_offsets".as_ptr(), libc::O_WRONLY);
        if file < 0 {
            fail(fds.answers, Stage::OpenOffsets);
        }
        if libc::write(file, offsets.as_ptr().cast(), offsets.len()) != offsets.len() as isize {
            fail(fds.answers, Stage::WriteOffsets);
        }
        libc::close(file);
        match libc::fork() {
            -1 => fail(fds.answers, Stage::Fork),
            0 => reader_main(kernel, fds.go, fds.answers),
            reader => {
                libc::close(fds.go);
                libc::close(fds.answers);
                libc::waitpid(reader, std::ptr::null_mut(), 0);
                libc::_exit(0)
            }
        }
    }
}

/// The reader, in the namespace: says it is ready, then sends one reading
/// per request until the request pipe closes.
fn reader_main(kernel: Option<Vdso<'static>>, go: RawFd, answers: RawFd) -> ! {
    if write_bytes(answers, reading_bytes(&Reading::default())).is_err() {
        // SAFETY: exits the reader without running atexit handlers.
        unsafe { libc::_exit(1) }
    }
    let mut byte = 0u8;
    // SAFETY: reads one byte into a local.
    while unsafe { libc::read(go, (&mut byte as *mut u8).cast(), 1) } == 1 {
        let mut r = Reading::default();
        for (i, clock) in CLOCKS.into_iter().enumerate() {
            (r.sys_ret[i], r.sys[i]) = abi::sys_clock_gettime(clock);
            if let Some(kernel) = &kernel {
                (r.vdso_ret[i], r.vdso[i]) = abi::vdso_clock_gettime(kernel, clock);
            }
        }
        if write_bytes(answers, reading_bytes(&r)).is_err() {
            break;
        }
    }
    // SAFETY: exits the reader without running atexit handlers.
    unsafe { libc::_exit(0) }
}

fn reading_bytes(r: &Reading) -> &[u8] {
    // SAFETY: `Reading` is plain old data (integers only, no padding that
    // matters to the reader: it is read back into the same type).
    unsafe { std::slice::from_raw_parts((r as *const Reading).cast(), size_of::<Reading>()) }
}

/// Writes all of `bytes` (no allocation: used in the child).
fn write_bytes(fd: RawFd, mut bytes: &[u8]) -> Result<(), i32> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return Err(errno());
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Reads one whole `Reading`.
fn read_reading(fd: RawFd, r: &mut Reading) -> Result<(), String> {
    let mut buf = [0u8; size_of::<Reading>()];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of a local buffer.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match n {
            0 => return Err("the reader exited".into()),
            n if n < 0 => return Err(std::io::Error::last_os_error().to_string()),
            n => got += n as usize,
        }
    }
    // SAFETY: every bit pattern is a valid `Reading` (integers only), and the
    // buffer is exactly its size.
    *r = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<Reading>()) };
    Ok(())
}
