//! Where the built images are: `$VDSO_DIR` (set by `cargo xtask test`), else
//! the workspace's `target/vdso`. Below it, each image's path is decided
//! here and nowhere else: xtask writes the images where [`path`] says, the
//! kernel side, the suite, the benches and vdso-run read them from there.

use std::path::PathBuf;

use common::abi::{Abi, Arch};
use common::note::Variant;

use crate::image::{Image, ImageError};

pub fn dir() -> PathBuf {
    match std::env::var_os("VDSO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/vdso"),
    }
}

/// The folder, relative to [`dir`], of the images built for `arch` and
/// `abi`. There has been one architecture and one layout, at the top; a
/// second layout goes in a folder of its own (`linux-6.12/`), named here.
pub fn layout_folder(arch: Arch, abi: Abi) -> PathBuf {
    match (arch, abi) {
        (Arch::X86_64, Abi::Linux6_6) => PathBuf::new(),
    }
}

/// The folder, relative to [`dir`], of `variant`'s image for `arch` and
/// `abi`: the design variants, built by `cargo xtask build-vdso
/// --variants` for BENCHMARKS.md and never shipped, in `variants/` below
/// the shipped images, so that what a kernel embeds is alone at the top.
pub fn folder(arch: Arch, abi: Abi, variant: Variant) -> PathBuf {
    let layout = layout_folder(arch, abi);
    if Variant::DESIGNS.contains(&variant) {
        layout.join("variants")
    } else {
        layout
    }
}

/// The image's file name, the same in every folder (`layout.json` lists
/// it).
pub const fn file_name(variant: Variant) -> &'static str {
    match variant {
        Variant::Host => "vdso.so",
        Variant::Timens => "vdso-timens.so",
        Variant::Branch => "vdso-branch.so",
        Variant::Merged => "vdso-merged.so",
        Variant::Static => "vdso-static.so",
        Variant::StaticTimens => "vdso-static-timens.so",
    }
}

/// The image's path relative to [`dir`].
pub fn path(arch: Arch, abi: Abi, variant: Variant) -> PathBuf {
    folder(arch, abi, variant).join(file_name(variant))
}

/// Loads the built image of `variant` for `arch` and `abi`, checking it is
/// that variant.
pub fn load_built(arch: Arch, abi: Abi, variant: Variant) -> Result<Image, ImageError> {
    Image::load_variant(&dir().join(path(arch, abi, variant)), variant)
}

/// Loads the built image of `variant` that a process here can map over
/// the kernel side's pages: this machine's architecture, the pages'
/// layout ([`crate::pages::ABI`]).
pub fn load(variant: Variant) -> Result<Image, ImageError> {
    load_built(Arch::HOST, crate::pages::ABI, variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths every reader and `cargo xtask build-vdso` agree on, and
    /// the README and the embedders rely on.
    #[test]
    fn images_keep_their_paths() {
        let at = |v| path(Arch::X86_64, Abi::Linux6_6, v);
        assert_eq!(at(Variant::Host), PathBuf::from("vdso.so"));
        assert_eq!(at(Variant::Timens), PathBuf::from("vdso-timens.so"));
        assert_eq!(
            at(Variant::Branch),
            PathBuf::from("variants/vdso-branch.so")
        );
        assert_eq!(
            at(Variant::Merged),
            PathBuf::from("variants/vdso-merged.so")
        );
        assert_eq!(
            at(Variant::Static),
            PathBuf::from("variants/vdso-static.so")
        );
        assert_eq!(
            at(Variant::StaticTimens),
            PathBuf::from("variants/vdso-static-timens.so")
        );
    }
}
