//! What the checks run against.
//!
//! A target is one of this project's images, mapped for one kind of process
//! the way its design maps it (a row of [`kernel_side::targets`], whose
//! table lists them), or the kernel's own vDSO. What each
//! [`has`](Target::has) follows from its row's fields; every registered
//! check whose needs it meets runs against it, and no check needs to
//! change when a row is added.
//!
//! The design variants are built by `cargo xtask build-vdso --variants`
//! (and by `cargo xtask test`); a missing one fails every check that needs
//! it, never skips it.

use std::fmt;

use common::abi::{Abi, Arch};
use common::entries::ENTRIES;
use common::note::Variant;
use kernel_side::targets::{self, Arrangement};
use kernel_side::{Image, kernel_vdso};

/// What a target offers; a check declares which it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// The C entry points every architecture has (`clock_gettime`,
    /// `gettimeofday`, `clock_getres`), callable (every target).
    Entries,
    /// A `time` entry (x86_64's images and vDSO).
    Time,
    /// A `getcpu` entry (x86_64's images and vDSO).
    Getcpu,
    /// A signal trampoline (arm64's `__kernel_rt_sigreturn`), which a
    /// signal handler returns through.
    SignalTrampoline,
    /// Data pages in one of the layouts `docs/abi.md` describes, which the
    /// suite fills and corrupts itself through `common::writer`: the time
    /// data the image reads is the suite's `DataPages::time()`, wherever
    /// the design maps it (for (c) in a namespace: one page below the
    /// image, the vvar slot holding the namespace page), and a namespaced
    /// process's namespace page is the suite's `DataPages::namespace()`.
    OwnDataPages,
    /// A namespaced process: applies the time-namespace page's offsets.
    TimeNamespace,
    /// Can replace, and be replaced by, a partner image under pointers a
    /// process has already resolved ([`Target::swap_partner`]): the
    /// two-image designs (a) and (d).
    Swap,
    /// An image file the suite can damage and feed to the loader and the
    /// verifier (one target per file).
    ImageFile,
    /// The image as a loader on a CPU with RDPID maps it: `getcpu`'s
    /// `rdtscp; nop` alternative replaced by `rdpid rcx`
    /// (`kernel_side::variants::with_rdpid`).
    Rdpid,
    /// A `getrandom` entry (Linux 6.11+): x86_64's images of the layouts
    /// with rng data, or a kernel whose vDSO exports it.
    Getrandom,
}

impl Capability {
    pub const ALL: [Capability; 10] = [
        Entries,
        Time,
        Getcpu,
        SignalTrampoline,
        OwnDataPages,
        TimeNamespace,
        Swap,
        ImageFile,
        Rdpid,
        Getrandom,
    ];

    /// The entry of the table a capability stands for, if it is one.
    pub const fn entry(self) -> Option<&'static str> {
        match self {
            Time => Some("time"),
            Getcpu => Some("getcpu"),
            SignalTrampoline => Some("rt_sigreturn"),
            Getrandom => Some("getrandom"),
            _ => None,
        }
    }
}

/// Whether the running kernel's vDSO exports `getrandom` (from Linux 6.11;
/// the table cannot say, as its layout may be any).
pub fn kernel_has_getrandom() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        kernel_side::kernel_vdso::vdso().is_some_and(|v| v.entries.getrandom.is_some())
    })
}

/// True if the kernel's vDSO of this machine's architecture has entry
/// `name` whatever its layout (the table of entries says: an entry of every
/// layout).
fn kernel_exports(name: &str) -> bool {
    ENTRIES
        .iter()
        .any(|e| e.name == name && e.arches.contains(&Arch::HOST.name()) && e.abis.is_none())
}

use Capability::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One of this project's images, mapped by the kernel side over data
    /// pages of the suite's own; a namespaced process's namespace page
    /// holds zero offsets unless the check writes other ones.
    Image(targets::Target),
    /// The running kernel's own vDSO (`AT_SYSINFO_EHDR`). Its data layout is
    /// the kernel's business, so only black-box checks apply.
    KernelVdso,
}

impl Target {
    /// Every target, whether or not this machine can run it (see
    /// [`here`](Self::here)): the reference, then every row of the table.
    pub fn all() -> impl Iterator<Item = Target> {
        std::iter::once(Target::KernelVdso).chain(targets::all().map(Target::Image))
    }

    /// The targets this machine can run: the images of its architecture
    /// but the RDPID ones on a CPU without RDPID (their `getcpu` would
    /// raise SIGILL), and the kernel's vDSO where there is one (qemu-user
    /// maps none).
    pub fn here() -> Vec<Target> {
        Self::all().filter(|t| t.runs_here()).collect()
    }

    pub fn runs_here(self) -> bool {
        match self {
            Target::Image(t) => t.runs_here(),
            Target::KernelVdso => kernel_vdso::image().is_some(),
        }
    }

    pub fn has(self, capability: Capability) -> bool {
        let Target::Image(t) = self else {
            // The kernel's vDSO: this machine's architecture's entries.
            return capability == Entries
                || capability == Getrandom && kernel_has_getrandom()
                || capability.entry().is_some_and(kernel_exports);
        };
        if let Some(name) = capability.entry() {
            return t.exports(name);
        }
        if t.rdpid {
            // The alternative changes `getcpu` alone: the black-box checks
            // (every entry, `getcpu` on every CPU) are what it can break.
            return matches!(capability, Entries | Rdpid);
        }
        match capability {
            Entries | OwnDataPages => true,
            Time | Getcpu | SignalTrampoline | Getrandom => {
                unreachable!("an entry: answered above")
            }
            TimeNamespace => t.namespaced,
            Swap => t.swap_partner().is_some(),
            // Each file damaged once: through the process its image is for,
            // a one-image design's through its host process.
            ImageFile => t.namespaced == t.variant.is_timens(),
            Rdpid => false,
        }
    }

    /// What it has, in [`Capability::ALL`]'s order.
    pub fn capabilities(self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|&c| self.has(c))
            .collect()
    }

    /// The image's variant, for targets that are one of this project's images.
    pub fn variant(self) -> Option<Variant> {
        match self {
            Target::Image(t) => Some(t.variant),
            Target::KernelVdso => None,
        }
    }

    /// The architecture of the image (`None` for the kernel's vDSO, which
    /// is this machine's).
    pub fn arch(self) -> Option<Arch> {
        match self {
            Target::Image(t) => Some(t.arch),
            Target::KernelVdso => None,
        }
    }

    /// The data layout the image reads (`None` for the kernel's vDSO).
    pub fn abi(self) -> Option<Abi> {
        match self {
            Target::Image(t) => Some(t.abi),
            Target::KernelVdso => None,
        }
    }

    /// True for a process in a time namespace: its namespace page must be
    /// written (zero offsets unless a check writes others) before it runs,
    /// whether or not the offset checks apply to the target.
    pub fn namespaced(self) -> bool {
        match self {
            Target::Image(t) => t.namespaced,
            Target::KernelVdso => false,
        }
    }

    /// How the image is mapped over the suite's pages (`None` for the
    /// kernel's vDSO).
    pub fn arrangement(self) -> Option<Arrangement> {
        match self {
            Target::Image(t) => Some(t.arrangement()),
            Target::KernelVdso => None,
        }
    }

    /// The built image, loaded and checked by the kernel side (with the RDPID
    /// alternative applied for an RDPID target).
    pub fn image(self) -> Result<Image, String> {
        match self {
            Target::Image(t) => t.image(),
            Target::KernelVdso => Err(format!("the {self} is not an image file of this project")),
        }
    }

    /// The image swapped in under this one's resolved pointers.
    pub fn swap_partner(self) -> Option<Target> {
        match self {
            Target::Image(t) => t.swap_partner().map(Target::Image),
            Target::KernelVdso => None,
        }
    }

    /// The shipped host image on the same architecture and layout, the
    /// reference the namespace checks read beside an image.
    pub fn shipped_host(self) -> Option<Target> {
        match self {
            Target::Image(t) => Some(Target::Image(t.shipped_host())),
            Target::KernelVdso => None,
        }
    }

    /// As the suite's reports name it.
    pub fn name(self) -> String {
        match self {
            Target::Image(t) => t.label(),
            Target::KernelVdso => "kernel vDSO".into(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
