//! `cargo xtask test`: build the images and the design variants, run every
//! test of the workspace against them (the conformance suite holds the
//! variants to the same checks as the images, so that BENCHMARKS.md
//! compares designs that are all correct), then model-check the seqlock
//! protocol.
//!
//! An architecture whose tools this machine lacks is not built, said in
//! one line (`crate::arch`), unless `.ci/run`'s `VDSO_REQUIRE_ALL_ARCHES`
//! makes that an error.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use common::abi::Arch;

use crate::build_vdso::{self, Dirs};

/// `arches` as `kernel_side::images::ARCHES_ENV` spells them.
fn arch_list(arches: &[Arch]) -> String {
    arches
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn run(sh: &Shell) -> Result<()> {
    let arches = build_vdso::run(sh, build_vdso::Counter::default(), &[])?;
    // The conformance suite fails without them, and the benches' smoke test
    // checks them too.
    crate::variants::run(sh)?;
    let dirs = Dirs::standard();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = crate::project_root();
    sh.change_dir(&root);
    cmd!(
        sh,
        "{cargo} test --workspace --exclude vdso --exclude vdso-timens"
    )
    .env("VDSO_DIR", &dirs.out)
    .env(kernel_side::images::ARCHES_ENV, arch_list(&arches))
    .run()
    .context("the workspace tests failed")?;
    // x86 hides missing fences; loom's memory model does not. Its own
    // target dir, since --cfg loom changes every crate's build.
    let loom_target = root.join("target/loom");
    cmd!(
        sh,
        "{cargo} test --package common --test loom --release --target-dir {loom_target}"
    )
    .env("RUSTFLAGS", "--cfg loom")
    .run()
    .context("the loom model check of the seqlock failed")?;
    Ok(())
}
