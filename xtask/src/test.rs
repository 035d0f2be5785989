//! `cargo xtask test`: build the images and the design variants, run every
//! test of the workspace against them (the conformance suite holds the
//! variants to the same checks as the images, so that BENCHMARKS.md
//! compares designs that are all correct), then model-check the seqlock
//! protocol.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::build_vdso::{self, Dirs};

pub fn run(sh: &Shell) -> Result<()> {
    build_vdso::run(sh, build_vdso::Counter::default())?;
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
