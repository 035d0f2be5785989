//! What the checks run against.
//!
//! A target is one kind of thing exporting the five entry points: one of
//! this project's images, mapped for one kind of process the way its design
//! maps it ([`Target::arrangement`]), or the kernel's own vDSO. Each says
//! what it [`has`](Target::has); every registered check whose needs it
//! meets runs against it, and no check needs to change when a target is
//! added.
//!
//! | Target | Image | Process | Mapped by |
//! |---|---|---|---|
//! | host image, timens image | (a) `vdso.so`, `vdso-timens.so` | host, namespaced | [`kernel_side::Mapping`] (swappable) |
//! | (b) branch, host / namespaced | `variants/vdso-branch.so` | host (a zeroed page at `B - 4096`), namespaced | [`kernel_side::variants::Process`] |
//! | (c) merged, host / namespaced | `variants/vdso-merged.so` | host (nothing at `B - 4096`), namespaced (the namespace page in the vvar slot, the vvar page at `B - 4096`) | [`kernel_side::variants::Process`] |
//! | (d) static, static-timens | `variants/vdso-static.so`, `variants/vdso-static-timens.so` | host, namespaced | [`kernel_side::Mapping`] (swappable) |
//! | (d) ... with RDPID | the same, RDPID alternative applied | host, namespaced | [`kernel_side::Mapping`]; only on a CPU with RDPID |
//! | kernel vDSO | `AT_SYSINFO_EHDR` | this process | the kernel |
//!
//! The design variants are built by `cargo xtask build-vdso --variants`
//! (and by `cargo xtask test`); a missing one fails every check that needs
//! it, never skips it.

use std::fmt;

use common::abi::Arch;
use common::note::Variant;
use kernel_side::{Image, images, pages};

/// What a target offers; a check declares which it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// The five entry points, callable (every target).
    Entries,
    /// Data pages in this project's layout (`docs/abi.md`), which the suite
    /// fills and corrupts itself through `common::writer`: the vvar page the
    /// image reads its time from is the suite's `DataPages::vvar()`,
    /// wherever the design maps it (for (c) in a namespace: one page below
    /// the image, the vvar slot holding the namespace page), and a
    /// namespaced process's namespace page is the suite's
    /// `DataPages::timens()`.
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
}

use Capability::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// (a) `vdso.so`, mapped by the kernel side over data pages of its own.
    HostImage,
    /// (a) `vdso-timens.so`, likewise, over a namespace page of zero offsets
    /// unless the check writes other ones.
    TimensImage,
    /// The running kernel's own vDSO (`AT_SYSINFO_EHDR`). Its data layout is
    /// the kernel's business, so only black-box checks apply.
    KernelVdso,
    /// (b) `vdso-branch.so` in a host process: a zeroed page one below the
    /// image, which it reads as "not in a namespace".
    BranchHost,
    /// (b) `vdso-branch.so` in a namespaced process: the namespace page one
    /// below the image.
    BranchNamespaced,
    /// (c) `vdso-merged.so` in a host process: the vvar page in the vvar
    /// slot, nothing mapped one below the image.
    MergedHost,
    /// (c) `vdso-merged.so` in a namespaced process, as Linux maps it: the
    /// namespace page in the vvar slot, the vvar page one below the image.
    MergedNamespaced,
    /// (d) `vdso-static.so`, for host processes: every static branch a NOP.
    StaticImage,
    /// (d) `vdso-static-timens.so`, for namespaced processes: patched from
    /// it by xtask, every static branch a `jmp`.
    StaticTimensImage,
    /// [`StaticImage`](Target::StaticImage) with the RDPID alternative
    /// applied; only on a CPU with RDPID.
    StaticRdpid,
    /// [`StaticTimensImage`](Target::StaticTimensImage) with the RDPID
    /// alternative applied; only on a CPU with RDPID.
    StaticTimensRdpid,
}

/// How an image target's image and the suite's data pages are put together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// [`kernel_side::Mapping`]: the whole data object below the image, the
    /// page at `B - 4096` being its namespace page (read only by an image
    /// that adds offsets); the image can be swapped.
    Mapping,
    /// [`kernel_side::variants::Process`]: the slots filled as the image's
    /// design fills them for a host process or a namespaced one (`system`
    /// and `namespace` both the suite's pages).
    Process { namespaced: bool },
}

impl Target {
    /// Every target, whether or not this machine can run it (see
    /// [`here`](Self::here)).
    pub const ALL: [Target; 11] = [
        Target::HostImage,
        Target::TimensImage,
        Target::KernelVdso,
        Target::BranchHost,
        Target::BranchNamespaced,
        Target::MergedHost,
        Target::MergedNamespaced,
        Target::StaticImage,
        Target::StaticTimensImage,
        Target::StaticRdpid,
        Target::StaticTimensRdpid,
    ];

    /// The targets this machine can run: all of them but the RDPID ones on
    /// a CPU without RDPID (their `getcpu` would raise SIGILL).
    pub fn here() -> Vec<Target> {
        let rdpid = kernel_side::variants::cpu_has_rdpid();
        Self::ALL
            .into_iter()
            .filter(|t| rdpid || !t.has(Rdpid))
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::HostImage => "host image",
            Target::TimensImage => "timens image",
            Target::KernelVdso => "kernel vDSO",
            Target::BranchHost => "(b) branch image in a host process",
            Target::BranchNamespaced => "(b) branch image in a namespaced process",
            Target::MergedHost => "(c) merged image in a host process",
            Target::MergedNamespaced => "(c) merged image in a namespaced process",
            Target::StaticImage => "(d) static image",
            Target::StaticTimensImage => "(d) static-timens image",
            Target::StaticRdpid => "(d) static image with RDPID",
            Target::StaticTimensRdpid => "(d) static-timens image with RDPID",
        }
    }

    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            Target::HostImage | Target::StaticImage => &[Entries, OwnDataPages, Swap, ImageFile],
            Target::TimensImage | Target::StaticTimensImage => {
                &[Entries, OwnDataPages, TimeNamespace, Swap, ImageFile]
            }
            Target::KernelVdso => &[Entries],
            Target::BranchHost | Target::MergedHost => &[Entries, OwnDataPages, ImageFile],
            // The same files as the host targets': damaged once is enough.
            Target::BranchNamespaced | Target::MergedNamespaced => {
                &[Entries, OwnDataPages, TimeNamespace]
            }
            // The alternative changes `getcpu` alone: the black-box checks
            // (every entry, `getcpu` on every CPU) are what it can break.
            Target::StaticRdpid | Target::StaticTimensRdpid => &[Entries, Rdpid],
        }
    }

    pub fn has(self, capability: Capability) -> bool {
        self.capabilities().contains(&capability)
    }

    /// The image's variant, for targets that are one of this project's images.
    pub fn variant(self) -> Option<Variant> {
        match self {
            Target::HostImage => Some(Variant::Host),
            Target::TimensImage => Some(Variant::Timens),
            Target::KernelVdso => None,
            Target::BranchHost | Target::BranchNamespaced => Some(Variant::Branch),
            Target::MergedHost | Target::MergedNamespaced => Some(Variant::Merged),
            Target::StaticImage | Target::StaticRdpid => Some(Variant::Static),
            Target::StaticTimensImage | Target::StaticTimensRdpid => Some(Variant::StaticTimens),
        }
    }

    /// True for a process in a time namespace: its namespace page must be
    /// written (zero offsets unless a check writes others) before it runs,
    /// whether or not the offset checks apply to the target.
    pub fn namespaced(self) -> bool {
        match self {
            Target::TimensImage
            | Target::BranchNamespaced
            | Target::MergedNamespaced
            | Target::StaticTimensImage
            | Target::StaticTimensRdpid => true,
            Target::HostImage
            | Target::KernelVdso
            | Target::BranchHost
            | Target::MergedHost
            | Target::StaticImage
            | Target::StaticRdpid => false,
        }
    }

    /// How the image is mapped over the suite's pages (`None` for the
    /// kernel's vDSO).
    pub fn arrangement(self) -> Option<Arrangement> {
        match self {
            Target::KernelVdso => None,
            // The two-image designs: the kernel side's mapping, which swaps.
            Target::HostImage
            | Target::TimensImage
            | Target::StaticImage
            | Target::StaticTimensImage
            | Target::StaticRdpid
            | Target::StaticTimensRdpid => Some(Arrangement::Mapping),
            // The one-image designs: the slots as their kernels fill them.
            Target::BranchHost
            | Target::BranchNamespaced
            | Target::MergedHost
            | Target::MergedNamespaced => Some(Arrangement::Process {
                namespaced: self.namespaced(),
            }),
        }
    }

    /// The built image, loaded and checked by the kernel side (with the RDPID
    /// alternative applied for an RDPID target).
    pub fn image(self) -> Result<Image, String> {
        let variant = self
            .variant()
            .ok_or_else(|| format!("the {self} is not an image file of this project"))?;
        let build = if Variant::DESIGNS.contains(&variant) {
            "cargo xtask build-vdso --variants"
        } else {
            "cargo xtask build-vdso"
        };
        let image = images::load(variant).map_err(|e| {
            format!(
                "cannot load the {self} from {} ({e}); run `{build}` first",
                images::dir()
                    .join(images::path(Arch::HOST, pages::ABI, variant))
                    .display()
            )
        })?;
        if self.has(Rdpid) {
            return kernel_side::variants::with_rdpid(&image)
                .map_err(|e| format!("applying the RDPID alternative to the {self}: {e}"));
        }
        Ok(image)
    }

    /// The image swapped in under this one's resolved pointers.
    pub fn swap_partner(self) -> Option<Target> {
        match self {
            Target::HostImage => Some(Target::TimensImage),
            Target::TimensImage => Some(Target::HostImage),
            Target::StaticImage => Some(Target::StaticTimensImage),
            Target::StaticTimensImage => Some(Target::StaticImage),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
