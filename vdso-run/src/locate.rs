//! Finding what vdso-run needs without the user's help: the images and the
//! preload library.

use std::path::{Path, PathBuf};

use common::abi::{Abi, Arch};
use common::note::Variant;
use kernel_side::{Image, images};

use crate::cli::Failure;

/// The preload library's file name (the package's cdylib).
pub const PRELOAD: &str = "libvdso_run_preload.so";

fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// Where to look for the images, in order: `--images`, `$VDSO_DIR` (what
/// `cargo xtask test` sets), beside the binary, `vdso/` in any folder above
/// it (target/debug/vdso-run finds target/vdso), and the workspace the
/// binary was built from.
fn image_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = explicit {
        return vec![dir.to_path_buf()];
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("VDSO_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(exe) = exe_dir() {
        dirs.push(exe.clone());
        dirs.extend(exe.ancestors().map(|a| a.join("vdso")));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/vdso"));
    dirs
}

/// Loads and checks the image of `variant` for `abi`; refuses one whose
/// notes say it is another variant or reads another layout.
pub fn image(
    explicit: Option<&Path>,
    variant: Variant,
    abi: Abi,
) -> Result<(PathBuf, Image), Failure> {
    // In each folder: below the layout's folder, as `cargo xtask
    // build-vdso` writes it, or directly inside (a folder holding one pair).
    let nested = images::path(Arch::HOST, abi, variant);
    let flat = PathBuf::from(images::file_name(variant));
    let dirs = image_dirs(explicit);
    let Some(path) = dirs
        .iter()
        .flat_map(|d| [d.join(&nested), d.join(&flat)])
        .find(|p| p.exists())
    else {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        let hint = if explicit.is_some() {
            "pass the folder `cargo xtask build-vdso` writes (target/vdso)"
        } else {
            "build it with `cargo xtask build-vdso` or pass --images DIR"
        };
        return Err(Failure::own(format!(
            "cannot find the {} image {} (looked in {}); {hint}",
            variant.name(),
            nested.display(),
            looked.join(", ")
        )));
    };
    let image = Image::load_variant(&path, variant)
        .and_then(|image| image.expect_abi(abi))
        .map_err(|e| {
            Failure::own(format!(
                "refusing image {}: {e}; it is not a usable {} image for {abi}",
                path.display(),
                variant.name()
            ))
        })?;
    Ok((path, image))
}

/// The preload library: beside the binary (an install's bin/, or cargo's
/// target/debug), in deps/ below it (where `cargo test` rebuilds it without
/// copying it up), or in ../lib/vdso-run/. The newest copy wins.
pub fn preload() -> Result<PathBuf, Failure> {
    let exe = exe_dir().ok_or_else(|| Failure::own("cannot find vdso-run's own location"))?;
    let candidates = [
        exe.join(PRELOAD),
        exe.join("deps").join(PRELOAD),
        exe.join("../lib/vdso-run").join(PRELOAD),
    ];
    candidates
        .iter()
        .filter_map(|p| {
            let modified = std::fs::metadata(p).ok()?.modified().ok()?;
            Some((modified, std::fs::canonicalize(p).ok()?))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path)
        .ok_or_else(|| {
            Failure::own(format!(
                "cannot find the preload library {PRELOAD} beside {} (build it with `cargo build -p vdso-run`)",
                exe.display()
            ))
        })
}
