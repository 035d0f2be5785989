//! The time namespaces vdso-run runs in, and what Linux would make of a
//! new one made there.
//!
//! Linux's time-namespace offsets are relative to the host, not to the
//! namespace a new one is made in: `unshare --time --monotonic 1d` inside a
//! namespace of +2d gives host + 1d. A new namespace starts with its
//! parent's offsets, and the offsets written replace them: inside +2d, a
//! namespace that sets only BOOTTIME keeps MONOTONIC at +2d (measured with
//! `unshare --time` on Linux 6.18). vdso-run's offsets mean the same:
//! those given are relative to the host, the others are those of the
//! namespace vdso-run runs in, which is either a kernel time namespace
//! (`unshare --time`) or the namespace of a vdso-run it runs under.
//!
//! vdso-run's data pages keep the time the kernel gives vdso-run, which
//! inside a kernel time namespace is that namespace's: the namespace
//! page's offsets are relative to it (the namespace's offsets minus the
//! kernel namespace's), and so is every translated wait, which the kernel
//! reads in its namespace's time.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::layout::{CONTROL_SIZE, Control, ENV_NAMESPACE, FileLayout, MAGIC};

/// Offsets in ns, [MONOTONIC, BOOTTIME].
pub type Pair = [i128; 2];

/// A kernel time namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelNs {
    /// Its inode (`/proc/PID/ns/time`), 0 if unknown.
    pub id: u64,
    /// Its offsets relative to the host.
    pub offsets: Pair,
}

/// Where vdso-run runs.
#[derive(Debug)]
pub struct Surroundings {
    /// The kernel time namespace PROGRAM starts in: vdso-run's.
    pub kernel: KernelNs,
    /// The offsets, relative to the host, of the clocks vdso-run itself
    /// reads: a new namespace's, for the clocks it does not set.
    pub inherited: Pair,
    /// The vdso-run namespace vdso-run runs in, if any.
    pub outer: Option<PathBuf>,
}

impl Surroundings {
    pub fn find() -> Surroundings {
        let kernel = KernelNs {
            id: ns_id(Path::new("/proc/self/ns/time_for_children"))
                .or_else(|| ns_id(Path::new("/proc/self/ns/time")))
                .unwrap_or(0),
            offsets: kernel_offsets(Path::new("/proc/self/timens_offsets")),
        };
        let outer = std::env::var_os(ENV_NAMESPACE)
            .map(PathBuf::from)
            .and_then(|path| Some((LiveNamespace::read(&path)?, path)))
            // One made in another kernel namespace does not reach here:
            // its library leaves this process to the kernel.
            .filter(|(o, _)| o.kernel_ns == 0 || kernel.id == 0 || o.kernel_ns == kernel.id);
        Surroundings {
            kernel,
            inherited: outer.as_ref().map_or(kernel.offsets, |(o, _)| o.offsets),
            outer: outer.map(|(_, path)| path),
        }
    }
}

/// What the control page of a live vdso-run namespace says.
pub struct LiveNamespace {
    /// The keeper's pid (it makes the file and starts PROGRAM).
    pub keeper_pid: u32,
    /// The kernel time namespace its PROGRAM started in (0: unknown).
    pub kernel_ns: u64,
    /// Its offsets relative to the host.
    pub offsets: Pair,
}

impl LiveNamespace {
    /// The namespace file at `path`, if it is one and its keeper is alive
    /// (it holds an exclusive lock on it).
    pub fn read(path: &Path) -> Option<LiveNamespace> {
        let file = File::open(path).ok()?;
        let size = file.metadata().ok()?.len();
        let layout = FileLayout::find(size, |at| {
            use std::os::unix::fs::FileExt;
            let mut both = [0u8; 12];
            file.read_exact_at(&mut both, at as u64).ok()?;
            let (magic, code) = both.split_at(8);
            Some((
                u64::from_le_bytes(magic.try_into().ok()?),
                u32::from_le_bytes(code.try_into().ok()?),
            ))
        })?;
        // SAFETY: flock on a descriptor we own; a shared lock is refused
        // while the keeper holds its exclusive one.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
            return None;
        }
        // SAFETY: a new read-only shared mapping of the control page of a
        // file we hold open, at a kernel-chosen address, unmapped below; it
        // aliases no Rust object, and the page holds only atomics.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CONTROL_SIZE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                layout.control_offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the mapping above, CONTROL_SIZE bytes of atomics.
        let c = unsafe { &*p.cast::<Control>() };
        use std::sync::atomic::Ordering::Relaxed;
        let outer = (c.magic.load(Relaxed) == MAGIC).then(|| LiveNamespace {
            keeper_pid: c.keeper_pid.load(Relaxed),
            kernel_ns: c.kernel_ns.load(Relaxed),
            offsets: [
                i128::from(c.offsets[0].load(Relaxed)),
                i128::from(c.offsets[1].load(Relaxed)),
            ],
        });
        // SAFETY: our own mapping; `c` is not used past here.
        unsafe { libc::munmap(p, CONTROL_SIZE) };
        outer
    }
}

/// The inode of a namespace link (`time:[4026531834]`).
pub fn ns_id(link: &Path) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    let text = target.to_str()?;
    text.strip_prefix("time:[")?.strip_suffix(']')?.parse().ok()
}

/// The offsets a `timens_offsets` file shows (those of the namespace a
/// process's children start in), relative to the host; 0 without one (a
/// kernel without time namespaces).
pub fn kernel_offsets(file: &Path) -> Pair {
    let mut offsets = [0; 2];
    let Ok(text) = std::fs::read_to_string(file) else {
        return offsets;
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let slot = match words.next() {
            Some("monotonic") => 0,
            Some("boottime") => 1,
            _ => continue,
        };
        let (Some(Ok(sec)), Some(Ok(nsec))) = (
            words.next().map(str::parse::<i128>),
            words.next().map(str::parse::<i128>),
        ) else {
            continue;
        };
        offsets[slot] = sec * 1_000_000_000 + nsec;
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timens_offsets_file_is_read_as_linux_writes_it() {
        let dir = std::env::temp_dir().join(format!("vdso-run-offsets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("timens_offsets");
        std::fs::write(
            &file,
            "monotonic      172800         0\nboottime           -5 500000000\n",
        )
        .expect("write");
        assert_eq!(kernel_offsets(&file), [172_800_000_000_000, -4_500_000_000]);
        assert_eq!(kernel_offsets(&dir.join("none")), [0, 0]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
