//! Every target this project builds, checks and measures, in one table
//! ([`all`]): an image built for one architecture and data layout, mapped
//! for one kind of process, with the alternatives a loader applied. The
//! conformance suite checks each, the benches measure each, and `cargo
//! xtask bench`'s report lays them out; what any of them needs to know
//! about a target is derived here from its fields.
//!
//! | Targets | Image | Process | Mapped by ([`Arrangement`]) |
//! |---|---|---|---|
//! | (a) `host`, `timens` | `vdso.so`, `vdso-timens.so` | host, namespaced | [`Mapping`](crate::Mapping) (swappable) |
//! | (b) `b-host`, `b-ns` | `variants/vdso-branch.so` | host (a zeroed page at `B - 4096`), namespaced | [`Process`](crate::variants::Process) |
//! | (c) `c-host`, `c-ns` | `variants/vdso-merged.so` | host (nothing at `B - 4096`), namespaced (the namespace page in the vvar slot, the vvar page at `B - 4096`) | [`Process`](crate::variants::Process) |
//! | (d) `d-host`, `d-ns` | `variants/vdso-static.so`, `variants/vdso-static-timens.so` | host, namespaced | [`Mapping`](crate::Mapping) (swappable) |
//! | (d) `d-host-rdpid`, `d-ns-rdpid` | the same, RDPID alternative applied | host, namespaced | [`Mapping`](crate::Mapping); only on a CPU with RDPID |
//!
//! A new data layout or architecture is a new entry of `common::abi`'s
//! `Abi::ALL` or `Arch::ALL` (and of `Arch::abis`), and gets its shipped
//! pair here without more code; the design variants stay where they were
//! written ([`DESIGN_ARCH`], [`DESIGN_ABI`]). A target of another
//! architecture than this machine's does not run here
//! ([`Target::runs_here`]); `cargo xtask test` runs the aarch64 ones under
//! `qemu-aarch64` (the `conformance-cross` crate).

use std::path::PathBuf;

use common::abi::{Abi, Arch};
use common::layout::LayoutInfo;
use common::note::Variant;

use crate::image::Image;
use crate::{images, variants};

/// One image, mapped for one kind of process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub arch: Arch,
    /// The data layout the image reads.
    pub abi: Abi,
    /// The image: a shipped one or a design variant.
    pub variant: Variant,
    /// A process in a time namespace, whose namespace page holds its
    /// offsets, rather than one in the host's.
    pub namespaced: bool,
    /// `getcpu`'s RDPID alternative applied (`rdtscp; nop` becomes `rdpid
    /// rcx`), as a loader on a CPU with RDPID maps the image: the one
    /// alternative the images carry.
    pub rdpid: bool,
}

/// How a target's image is put over the data pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// [`Mapping`](crate::Mapping): the whole data object below the image,
    /// the page at `B - 4096` its namespace page (read only by an image that
    /// adds offsets), the image swappable. The two-image designs, whose
    /// kernels swap the image when a process enters or leaves a namespace.
    Mapping,
    /// [`Process`](crate::variants::Process): the slots filled as a
    /// one-image design's kernel fills them for a host process or a
    /// namespaced one.
    Process { namespaced: bool },
}

/// Where the design variants are built: the architecture and layout they
/// were written for, where BENCHMARKS.md compares them. Targets there keep
/// the names its tables have always used.
pub const DESIGN_ARCH: Arch = Arch::X86_64;
pub const DESIGN_ABI: Abi = Abi::Linux6_6;

/// The shipped pair on one architecture and layout: the host image for a
/// host process, the timens image for a namespaced one.
pub const fn shipped(arch: Arch, abi: Abi) -> [Target; 2] {
    [
        Target::in_host(arch, abi, Variant::Host),
        Target::in_namespace(arch, abi, Variant::Timens),
    ]
}

/// The designs the 2019 discussion weighed besides (a), each for a host
/// process and a namespaced one; (d) also with its RDPID alternative.
pub const DESIGNS: [Target; 8] = [
    // (b) one image, a run-time branch.
    design_in_host(Variant::Branch),
    design_in_namespace(Variant::Branch),
    // (c) one image, Linux's merged design.
    design_in_host(Variant::Merged),
    design_in_namespace(Variant::Merged),
    // (d) a static branch: the compiled image, and the one patched from it.
    design_in_host(Variant::Static),
    design_in_namespace(Variant::StaticTimens),
    design_in_host(Variant::Static).with_rdpid(),
    design_in_namespace(Variant::StaticTimens).with_rdpid(),
];

/// The shipped host image in a host process where the designs are: what
/// every other target is measured against.
pub const HOST: Target = shipped(DESIGN_ARCH, DESIGN_ABI)[0];

/// Every target, whether or not this machine can run it
/// ([`Target::runs_here`]): the shipped pair of every architecture and
/// each of its layouts, then the design variants.
pub fn all() -> impl Iterator<Item = Target> {
    Arch::ALL
        .into_iter()
        .flat_map(|arch| arch.abis().iter().flat_map(move |&abi| shipped(arch, abi)))
        .chain(DESIGNS)
}

const fn design_in_host(variant: Variant) -> Target {
    Target::in_host(DESIGN_ARCH, DESIGN_ABI, variant)
}

const fn design_in_namespace(variant: Variant) -> Target {
    Target::in_namespace(DESIGN_ARCH, DESIGN_ABI, variant)
}

impl Target {
    /// `variant`'s image in a host process, as built.
    pub const fn in_host(arch: Arch, abi: Abi, variant: Variant) -> Target {
        Target {
            arch,
            abi,
            variant,
            namespaced: false,
            rdpid: false,
        }
    }

    /// `variant`'s image in a namespaced process, as built.
    pub const fn in_namespace(arch: Arch, abi: Abi, variant: Variant) -> Target {
        Target {
            namespaced: true,
            ..Target::in_host(arch, abi, variant)
        }
    }

    /// The same, with `getcpu`'s RDPID alternative applied.
    pub const fn with_rdpid(self) -> Target {
        Target {
            rdpid: true,
            ..self
        }
    }

    /// The facts of the data layout the image reads.
    pub const fn layout(self) -> LayoutInfo {
        LayoutInfo::of(self.arch, self.abi)
    }

    /// True if the image exports entry `name` (the table of entries says,
    /// by architecture and layout): `getrandom` only where both the layout
    /// has rng data and the architecture a block function.
    pub fn exports(self, name: &str) -> bool {
        common::entries::ENTRIES
            .iter()
            .any(|e| e.name == name && e.exists_in(self.arch, self.abi))
    }

    /// True for a design variant, built for the comparison and not shipped.
    pub fn is_design(self) -> bool {
        Variant::DESIGNS.contains(&self.variant)
    }

    /// The design the image follows, by the letter BENCHMARKS.md gives it:
    /// `a` (two images), `b` (a run-time branch), `c` (Linux's merged
    /// design), `d` (a static branch).
    pub const fn design(self) -> char {
        match self.variant {
            Variant::Host | Variant::Timens => 'a',
            Variant::Branch => 'b',
            Variant::Merged => 'c',
            Variant::Static | Variant::StaticTimens => 'd',
        }
    }

    /// The design in a few words, as the report's design tables name it.
    pub const fn design_summary(self) -> &'static str {
        match self.variant {
            Variant::Host | Variant::Timens => "two images",
            Variant::Branch => "run-time branch",
            Variant::Merged => "Linux's merged",
            Variant::Static | Variant::StaticTimens => "static branch",
        }
    }

    /// The short name: criterion's folder and the report's column
    /// (`host`, `timens`, `b-host`, `b-ns`, ..., `d-ns-rdpid`). Unique
    /// across the table: a target away from the designs' architecture and
    /// layout says which it is on.
    pub fn name(self) -> String {
        let mut name = if self.is_design() {
            let process = if self.namespaced { "ns" } else { "host" };
            format!("{}-{process}", self.design())
        } else {
            // The shipped images are named after the process they are for.
            self.variant.name().to_string()
        };
        if self.rdpid {
            name += "-rdpid";
        }
        if self.arch != DESIGN_ARCH {
            name = format!("{name}-{}", self.arch);
        }
        if self.abi != DESIGN_ABI {
            name = format!("{name}-{}", self.abi);
        }
        name
    }

    /// What the conformance suite calls it: "host image", "(b) branch
    /// image in a host process", "(d) static image with RDPID", ...
    pub fn label(self) -> String {
        let mut label = format!("{} image", self.variant.name());
        if self.is_design() {
            label = format!("({}) {label}", self.design());
        }
        if self.swap_partner().is_none() {
            // One image for both kinds of process: say which this is.
            let process = if self.namespaced {
                "namespaced"
            } else {
                "host"
            };
            label = format!("{label} in a {process} process");
        }
        if self.rdpid {
            label += " with RDPID";
        }
        match (self.arch != DESIGN_ARCH, self.abi != DESIGN_ABI) {
            (true, _) => label = format!("{label} for {} {}", self.arch, self.abi),
            (false, true) => label = format!("{label} for {}", self.abi),
            (false, false) => {}
        }
        label
    }

    /// In a two-image design, the target a process's image becomes when it
    /// enters or leaves a namespace: the other image, for the other kind
    /// of process, with the same alternatives.
    pub fn swap_partner(self) -> Option<Target> {
        let variant = match self.variant {
            Variant::Host => Variant::Timens,
            Variant::Timens => Variant::Host,
            Variant::Static => Variant::StaticTimens,
            Variant::StaticTimens => Variant::Static,
            Variant::Branch | Variant::Merged => return None,
        };
        Some(Target {
            variant,
            namespaced: !self.namespaced,
            ..self
        })
    }

    /// The same design for the other kind of process: the swap partner in
    /// a two-image design, the same image otherwise.
    pub fn other_process(self) -> Target {
        self.swap_partner().unwrap_or(Target {
            namespaced: !self.namespaced,
            ..self
        })
    }

    /// The shipped host image in a host process on the same architecture
    /// and layout: the reference beside it.
    pub const fn shipped_host(self) -> Target {
        Target::in_host(self.arch, self.abi, Variant::Host)
    }

    /// How the image is put over the data pages: swappable for a two-image
    /// design, as its kernel arranges the slots for a one-image design.
    pub fn arrangement(self) -> Arrangement {
        if self.swap_partner().is_some() {
            Arrangement::Mapping
        } else {
            Arrangement::Process {
                namespaced: self.namespaced,
            }
        }
    }

    /// Where the built image is ([`images::path`] below [`images::dir`]).
    pub fn image_path(self) -> PathBuf {
        images::dir().join(images::path(self.arch, self.abi, self.variant))
    }

    /// The built image, loaded and checked, with the target's alternative
    /// applied.
    pub fn image(self) -> Result<Image, String> {
        let build = if self.is_design() {
            "cargo xtask build-vdso --variants"
        } else {
            "cargo xtask build-vdso"
        };
        let image = images::load_built(self.arch, self.abi, self.variant).map_err(|e| {
            format!(
                "cannot load the {} from {} ({e}); run `{build}` first",
                self.label(),
                self.image_path().display()
            )
        })?;
        if self.rdpid {
            return variants::with_rdpid(&image).map_err(|e| {
                format!(
                    "applying the RDPID alternative to the {}: {e}",
                    self.label()
                )
            });
        }
        Ok(image)
    }

    /// Whether this machine can run it: an image of its architecture (the
    /// kernel side writes pages of every layout of it), and RDPID only on a
    /// CPU that has it (elsewhere its `getcpu` would raise SIGILL).
    pub fn runs_here(self) -> bool {
        self.arch == Arch::HOST && (!self.rdpid || variants::cpu_has_rdpid())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn names() -> Vec<String> {
        all().map(Target::name).collect()
    }

    /// BENCHMARKS.md's tables and criterion's folders use these names.
    #[test]
    fn targets_keep_the_names_the_benchmarks_use() {
        assert_eq!(
            names(),
            [
                "host",
                "timens",
                "host-linux-6.12",
                "timens-linux-6.12",
                "host-linux-6.18",
                "timens-linux-6.18",
                "host-aarch64-linux-6.18",
                "timens-aarch64-linux-6.18",
                "b-host",
                "b-ns",
                "c-host",
                "c-ns",
                "d-host",
                "d-ns",
                "d-host-rdpid",
                "d-ns-rdpid"
            ]
        );
        assert_eq!(HOST.name(), "host");
    }

    /// The conformance suite reports its (check, target) pairs with these.
    #[test]
    fn targets_keep_the_labels_the_suite_uses() {
        let labels: Vec<String> = all().map(Target::label).collect();
        assert_eq!(
            labels,
            [
                "host image",
                "timens image",
                "host image for linux-6.12",
                "timens image for linux-6.12",
                "host image for linux-6.18",
                "timens image for linux-6.18",
                "host image for aarch64 linux-6.18",
                "timens image for aarch64 linux-6.18",
                "(b) branch image in a host process",
                "(b) branch image in a namespaced process",
                "(c) merged image in a host process",
                "(c) merged image in a namespaced process",
                "(d) static image",
                "(d) static-timens image",
                "(d) static image with RDPID",
                "(d) static-timens image with RDPID",
            ]
        );
    }

    #[test]
    fn every_target_is_listed_once_under_a_name_of_its_own() {
        let targets: HashSet<Target> = all().collect();
        assert_eq!(targets.len(), all().count());
        let names: HashSet<String> = names().into_iter().collect();
        assert_eq!(names.len(), all().count());
    }

    /// Each design is in the table for both kinds of process, and a swap
    /// goes to the other kind and back.
    #[test]
    fn every_target_has_its_other_process_in_the_table() {
        let targets: Vec<Target> = all().collect();
        for t in all() {
            let other = t.other_process();
            assert!(
                targets.contains(&other),
                "{} has no other process",
                t.name()
            );
            assert_ne!(other.namespaced, t.namespaced);
            assert_eq!(other.other_process(), t);
            assert_eq!((other.design(), other.rdpid), (t.design(), t.rdpid));
            if let Some(partner) = t.swap_partner() {
                assert_eq!(partner, other);
                assert_eq!(t.arrangement(), Arrangement::Mapping);
                // The namespaced process's image is the one that adds offsets.
                assert_eq!(t.variant.is_timens(), t.namespaced);
            }
        }
    }

    /// Every image is some target's, and every design variant is a design.
    #[test]
    fn every_image_is_a_target() {
        for variant in Variant::ALL.into_iter().chain(Variant::DESIGNS) {
            assert!(all().any(|t| t.variant == variant), "{variant:?}");
        }
        assert!(DESIGNS.iter().all(|t| t.is_design()));
        assert!(all().filter(|t| t.is_design()).eq(DESIGNS));
    }
}
