//! `cargo xtask`: building, verifying, testing and benchmarking the images.
//! The library half holds what the tests exercise too (the scripts, the
//! pipeline and the verifier); `main.rs` is the command line.

use std::path::PathBuf;

pub mod arch;
pub mod build_vdso;
pub mod compile;
pub mod layout;
pub mod link;
// Design variants and their benchmarks (BENCHMARKS.md).
pub mod bench;
pub mod patch;
pub mod scripts;
pub mod test;
pub mod variants;
/// The verifier lives in the kernel side, whose loader applies it too.
pub use kernel_side::verify;

/// The workspace root (xtask lives one level below it).
pub fn project_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}
