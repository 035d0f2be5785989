//! What the checks run against.
//!
//! A target is one kind of thing exporting the five entry points. Adding a
//! design variant (an image built by `cargo xtask build-vdso --variants` into
//! `target/vdso/variants/`, a one-image design without a swap) means adding
//! a variant here, saying what it [`has`](Target::has) and how it is
//! [loaded](Target::image): every registered check whose needs it meets then
//! runs against it, and no check needs to change.

use std::fmt;

use common::note::Variant;
use harness::{Image, images};

/// What a target offers; a check declares which it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// The five entry points, callable (every target).
    Entries,
    /// Data pages in this project's layout (`docs/abi.md`), which the suite
    /// fills and corrupts itself through `common::writer`.
    OwnDataPages,
    /// Applies the time-namespace page's offsets.
    TimeNamespace,
    /// Can replace, and be replaced by, a partner image under pointers a
    /// process has already resolved ([`Target::swap_partner`]).
    Swap,
    /// An image file the suite can damage and feed to the loader and the
    /// verifier.
    ImageFile,
}

use Capability::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `vdso.so`, mapped by the harness over data pages of its own.
    HostImage,
    /// `vdso-timens.so`, likewise, over a namespace page of zero offsets
    /// unless the check writes other ones.
    TimensImage,
    /// The running kernel's own vDSO (`AT_SYSINFO_EHDR`). Its data layout is
    /// the kernel's business, so only black-box checks apply.
    KernelVdso,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::HostImage, Target::TimensImage, Target::KernelVdso];

    pub fn name(self) -> &'static str {
        match self {
            Target::HostImage => "host image",
            Target::TimensImage => "timens image",
            Target::KernelVdso => "kernel vDSO",
        }
    }

    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            Target::HostImage => &[Entries, OwnDataPages, Swap, ImageFile],
            Target::TimensImage => &[Entries, OwnDataPages, TimeNamespace, Swap, ImageFile],
            Target::KernelVdso => &[Entries],
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
        }
    }

    /// The built image, loaded and checked by the harness.
    pub fn image(self) -> Result<Image, String> {
        let variant = self
            .variant()
            .ok_or_else(|| format!("the {self} is not an image file of this project"))?;
        images::load(variant).map_err(|e| {
            format!(
                "cannot load the {self} from {} ({e}); run `cargo xtask build-vdso` first",
                images::dir().display()
            )
        })
    }

    /// The image swapped in under this one's resolved pointers.
    pub fn swap_partner(self) -> Option<Target> {
        match self {
            Target::HostImage => Some(Target::TimensImage),
            Target::TimensImage => Some(Target::HostImage),
            Target::KernelVdso => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
