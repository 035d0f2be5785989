//! `cargo xtask test`: build the images and the design variants, run every
//! test of the workspace against them (the conformance suite holds the
//! variants to the same checks as the images, so that BENCHMARKS.md
//! compares designs that are all correct), then, for each other
//! architecture built, its tests cross-built and run under qemu-user, then
//! model-check the seqlock protocol.
//!
//! An architecture whose tools this machine lacks is neither built nor
//! tested, said in one line (`crate::arch`), unless `.ci/run`'s
//! `VDSO_REQUIRE_ALL_ARCHES` makes that an error.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use common::abi::Arch;

use crate::arch::Tools;
use crate::build_vdso::{self, Dirs};

/// `arches` as `kernel_side::images::ARCHES_ENV` spells them.
fn arch_list(arches: &[Arch]) -> String {
    arches
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The crates whose tests run on another architecture: the conformance
/// suite (its library alone, through `conformance-cross`) and the kernel
/// side's own tests (the timekeeper on that architecture's counter). None
/// has a dev-dependency, so nothing else is cross-built.
const CROSS_TESTED: [&str; 2] = ["conformance-cross", "kernel-side"];

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
        "{cargo} test --workspace --exclude vdso --exclude vdso-timens --exclude conformance-cross"
    )
    .env("VDSO_DIR", &dirs.out)
    .env(kernel_side::images::ARCHES_ENV, arch_list(&arches))
    .run()
    .context("the workspace tests failed")?;
    for &arch in arches.iter().filter(|&&a| a != Arch::HOST) {
        cross(sh, &cargo, &dirs, Tools::of(arch))?;
    }
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

/// The tests of [`CROSS_TESTED`], built for `tools`' architecture in a
/// target directory of its own (another compiler builds it) and run under
/// its runner.
fn cross(sh: &Shell, cargo: &str, dirs: &Dirs, tools: Tools) -> Result<()> {
    let target = tools
        .rust_target()
        .context("cross-testing needs a Rust target")?;
    let target_dir = crate::project_root().join("target").join(tools.arch.name());
    let packages: Vec<String> = CROSS_TESTED
        .iter()
        .flat_map(|p| ["--package".to_string(), p.to_string()])
        .collect();
    eprintln!("testing {} under its emulator", tools.arch);
    cmd!(
        sh,
        "{cargo} test {packages...} --lib --tests --target {target} --target-dir {target_dir}"
    )
    .envs(tools.cargo_env())
    .env("VDSO_DIR", &dirs.out)
    .env(kernel_side::images::ARCHES_ENV, tools.arch.name())
    .run()
    .with_context(|| format!("the {} tests failed", tools.arch))
}
