//! Where the built images are: `$VDSO_DIR` (set by `cargo xtask test`), else
//! the workspace's `target/vdso`. Below it, each image's path is decided
//! here and nowhere else: xtask writes the images where [`path`] says, the
//! kernel side, the suite, the benches and vdso-run read them from there.
//! Each layout's pair has a folder of its own, below a folder of its
//! architecture's for any but x86_64; the x86_64 `linux-6.6` pair is also
//! at the top ([`COMPAT_ABI`]), where it was before there were others.

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

/// The layout whose pair `cargo xtask build-vdso` also copies to the top
/// of [`dir`], for embedders that took `target/vdso/vdso.so` before each
/// layout had a folder.
pub const COMPAT_ABI: Abi = Abi::Linux6_6;

/// The folder, relative to [`dir`], of the images built for `arch` and
/// `abi`: `linux-6.6/`, `linux-6.12/`, `linux-6.18/` for x86_64 (where
/// they were before there was another architecture), `aarch64/linux-6.18/`.
pub fn layout_folder(arch: Arch, abi: Abi) -> PathBuf {
    match arch {
        Arch::X86_64 => PathBuf::from(abi.name()),
        Arch::Aarch64 => PathBuf::from(arch.name()).join(abi.name()),
    }
}

/// The environment variable naming the architectures whose images were
/// built (comma-separated), which `cargo xtask test` sets for the tests:
/// `cargo xtask build-vdso` leaves out, saying so, an architecture whose
/// tools the machine lacks.
pub const ARCHES_ENV: &str = "VDSO_ARCHES";

/// The architectures whose images the tests expect: those
/// [`ARCHES_ENV`] names, else every one (a missing image then fails
/// whatever reads it).
pub fn built_arches() -> Vec<Arch> {
    match std::env::var(ARCHES_ENV) {
        Ok(list) => list
            .split(',')
            .filter(|name| !name.is_empty())
            .map(|name| {
                Arch::from_name(name).unwrap_or_else(|| {
                    panic!("{ARCHES_ENV} names an unknown architecture {name:?}")
                })
            })
            .collect(),
        Err(_) => Arch::ALL.to_vec(),
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
/// that architecture's, that variant and reads that layout's pages.
pub fn load_built(arch: Arch, abi: Abi, variant: Variant) -> Result<Image, ImageError> {
    Image::load_for(&dir().join(path(arch, abi, variant)), arch)?
        .expect_variant(variant)?
        .expect_abi(abi)
}

/// Loads the built image of `variant` for `abi` that a process here can
/// map: this machine's architecture.
pub fn load(abi: Abi, variant: Variant) -> Result<Image, ImageError> {
    load_built(Arch::HOST, abi, variant)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths every reader and `cargo xtask build-vdso` agree on, and
    /// the README and the embedders rely on.
    #[test]
    fn images_keep_their_paths() {
        for (abi, folder) in [
            (Abi::Linux6_6, "linux-6.6"),
            (Abi::Linux6_12, "linux-6.12"),
            (Abi::Linux6_18, "linux-6.18"),
        ] {
            let at = |v| path(Arch::X86_64, abi, v);
            let folder = PathBuf::from(folder);
            assert_eq!(at(Variant::Host), folder.join("vdso.so"));
            assert_eq!(at(Variant::Timens), folder.join("vdso-timens.so"));
        }
        assert_eq!(
            path(Arch::Aarch64, Abi::Linux6_18, Variant::Host),
            PathBuf::from("aarch64/linux-6.18/vdso.so")
        );
        assert_eq!(
            path(Arch::Aarch64, Abi::Linux6_18, Variant::Timens),
            PathBuf::from("aarch64/linux-6.18/vdso-timens.so")
        );
        let at = |v| path(Arch::X86_64, Abi::Linux6_6, v);
        assert_eq!(
            at(Variant::Branch),
            PathBuf::from("linux-6.6/variants/vdso-branch.so")
        );
        assert_eq!(
            at(Variant::Merged),
            PathBuf::from("linux-6.6/variants/vdso-merged.so")
        );
        assert_eq!(
            at(Variant::Static),
            PathBuf::from("linux-6.6/variants/vdso-static.so")
        );
        assert_eq!(
            at(Variant::StaticTimens),
            PathBuf::from("linux-6.6/variants/vdso-static-timens.so")
        );
    }
}
