//! Processes the tracer leaves alone, with their own vDSO and their waits
//! untranslated, because something else gives them their clocks:
//!
//! - **The kernel**, for a process in a kernel time namespace other than
//!   the one PROGRAM started in (the program made one: `unshare --time`,
//!   `clone3(CLONE_NEWTIME)`, then an exec; or `nsenter --time`): the kernel
//!   gives it that namespace's clocks and reads its deadlines in them, as
//!   Linux does for a namespace made inside another. A new namespace
//!   starts with its parent's offsets and replaces those it sets; the
//!   kernel's started with those of the namespace vdso-run runs in, not
//!   with this one's, so a clock this namespace shifts and the new one
//!   leaves at the kernel's would read unshifted where Linux would keep
//!   this namespace's offset, unless the program set it so: vdso-run
//!   cannot tell which, and refuses such a program in one line.
//! - **A nested vdso-run**, for a process of a namespace a vdso-run started
//!   inside this one serves in its default mode (its library; `--as-vdso`
//!   cannot nest, as no second tracer can attach): its environment names
//!   that namespace, a live one whose keeper this tracer traces.
//!
//! A process forked by one left alone is left alone. A process forked
//! into a kernel time namespace of its own by one this tracer serves (after
//! `unshare(CLONE_NEWTIME)`) has the image mapped already: it keeps this
//! namespace's clocks, and its waits are translated as its parent's, until
//! it execs (`unshare --fork` execs its command at once), and is judged
//! then.

use std::path::{Path, PathBuf};

use super::Tracer;
use super::sys::{self, Pid};
use crate::layout::ENV_NAMESPACE;
use crate::surroundings::{self, LiveNamespace};

/// What the tracer does with a process at its exec.
pub enum Judged {
    /// Give it the image, as every other.
    Serve,
    /// Leave it alone, for this reason (`--verbose`).
    LeaveAlone(String),
    /// Refuse it, for this reason.
    Refuse(String),
}

impl Tracer {
    /// At an exec stop: whose clocks this process reads.
    pub fn judge(&mut self, pid: Pid) -> Judged {
        if let Some(id) = self.other_kernel_ns(pid) {
            let theirs =
                surroundings::kernel_offsets(&PathBuf::from(format!("/proc/{pid}/timens_offsets")));
            let ours = self.kernel.offsets;
            let shifted = [self.offsets.0, self.offsets.1];
            let names = ["CLOCK_MONOTONIC", "CLOCK_BOOTTIME"];
            let option = ["--monotonic", "--boottime"];
            for i in 0..2 {
                if shifted[i] != 0 && theirs[i] == ours[i] {
                    return Judged::Refuse(format!(
                        "it runs in a time namespace of its own (time:[{id}]) whose {} offset \
                         is that of the kernel namespace vdso-run runs in: either it inherited \
                         that, where Linux would have it inherit this namespace's, or it was \
                         set so, and vdso-run cannot tell which; set that offset when making \
                         the namespace (unshare --time {} ...), or run vdso-run without \
                         shifting that clock",
                        names[i], option[i]
                    ));
                }
            }
            return Judged::LeaveAlone(format!(
                "it runs in a time namespace of its own (time:[{id}]), whose clocks the kernel \
                 gives it"
            ));
        }
        if let Some(path) = self.nested_namespace(pid) {
            return Judged::LeaveAlone(format!(
                "it is in the namespace of a vdso-run started inside this one ({}), which \
                 serves it",
                path.display()
            ));
        }
        Judged::Serve
    }

    /// A fork: a child of a process left alone is left alone.
    pub fn on_fork(&mut self, parent: Pid) {
        let Ok(child) = sys::event_msg(parent) else {
            return;
        };
        if self
            .tgid(parent)
            .is_some_and(|tgid| self.left_alone.contains(&tgid))
        {
            self.left_alone.insert(child as Pid);
        }
    }

    /// The kernel time namespace of `pid` if it is not PROGRAM's.
    fn other_kernel_ns(&self, pid: Pid) -> Option<u64> {
        if self.kernel.id == 0 {
            return None;
        }
        surroundings::ns_id(Path::new(&format!("/proc/{pid}/ns/time")))
            .filter(|&id| id != self.kernel.id)
    }

    /// The namespace of a nested vdso-run that `pid`'s environment names,
    /// if it is one: live, its keeper traced by this tracer.
    fn nested_namespace(&self, pid: Pid) -> Option<PathBuf> {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let key = format!("{ENV_NAMESPACE}=");
        let value = environ
            .split(|&b| b == 0)
            .find_map(|entry| entry.strip_prefix(key.as_bytes()))?;
        use std::os::unix::ffi::OsStrExt;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(value));
        if path.as_os_str().as_bytes() == self.ns_path.as_bytes() {
            return None;
        }
        let ns = LiveNamespace::read(&path)?;
        let tracer = sys::status_field(ns.keeper_pid as Pid, "TracerPid:")?;
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        (tracer.split_whitespace().next()? == me.to_string()).then_some(path)
    }
}
