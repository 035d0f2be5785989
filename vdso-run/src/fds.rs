//! Descriptors vdso-run makes for itself.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: a valid array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Points the standard descriptors `fds` at /dev/null.
pub fn to_dev_null(fds: &[RawFd]) {
    // SAFETY: a valid path; a new descriptor or -1.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if null < 0 {
        return;
    }
    for &fd in fds {
        // SAFETY: duplicating our own descriptor over a standard one.
        unsafe { libc::dup2(null, fd) };
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(null) };
}
