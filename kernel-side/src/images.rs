//! Where the built images are: `$VDSO_DIR` (set by `cargo xtask test`), else
//! the workspace's `target/vdso`.

use std::path::PathBuf;

use common::note::Variant;

use crate::image::{Image, ImageError};

pub fn dir() -> PathBuf {
    match std::env::var_os("VDSO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/vdso"),
    }
}

/// The image's path under [`dir`]. The design variants, built by
/// `cargo xtask build-vdso --variants` for BENCHMARKS.md, are in
/// `variants/`.
pub fn file_name(variant: Variant) -> &'static str {
    match variant {
        Variant::Host => "vdso.so",
        Variant::Timens => "vdso-timens.so",
        Variant::Branch => "variants/vdso-branch.so",
        Variant::Merged => "variants/vdso-merged.so",
        Variant::Static => "variants/vdso-static.so",
        Variant::StaticTimens => "variants/vdso-static-timens.so",
    }
}

/// Loads the built image of `variant`, checking it is that variant.
pub fn load(variant: Variant) -> Result<Image, ImageError> {
    Image::load_variant(&dir().join(file_name(variant)), variant)
}
