//! `cargo xtask bench`: build the images and the design variants, count
//! every call's instructions under callgrind, run the criterion benches
//! once, and print one table of medians and ratios from that run, which
//! also goes into BENCHMARKS.md (between the markers in `section.rs`) with
//! the machine it ran on and a verdict drawn from its numbers.

use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::{build_vdso, project_root, variants};

mod callgrind;
mod criterion;
mod executed;
mod images;
mod interleaved;
mod live;
mod machine;
mod report;
mod section;

pub use callgrind::Counts;
pub use criterion::Medians;
pub use executed::ArchImages;
pub use images::{Disassembly, ImageFacts};
pub use interleaved::Interleaved;
pub use live::{Live, LiveRow};
pub use machine::Machine;
pub use report::Report;
pub use section::{BEGIN, END, splice};

/// Criterion's time per bench, in seconds. About 100 benches: the full run
/// stays near 5 minutes on 2 cores with the builds, `--quick` near one.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub warm_up: f64,
    pub measurement: f64,
}

pub const FULL: Settings = Settings {
    warm_up: 0.5,
    measurement: 2.0,
};
pub const QUICK: Settings = Settings {
    warm_up: 0.05,
    measurement: 0.2,
};

pub fn run(sh: &Shell, quick: bool) -> Result<()> {
    let started = Instant::now();
    let settings = if quick { QUICK } else { FULL };
    let root = project_root();
    let out = root.join("target").join("bench");
    sh.create_dir(&out)?;
    sh.change_dir(&root);

    let arches = build_vdso::run(sh, build_vdso::Counter::default(), &[])?;
    variants::run(sh)?;
    let images = ImageFacts::read()?;
    let arch_images = ArchImages::read(sh, &arches, &out)?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let vdso_dir = build_vdso::Dirs::standard().out;
    cmd!(
        sh,
        "{cargo} build --quiet --release -p vdso-benches --bin vdso-count --bin vdso-ab --bin vdso-live"
    )
    .run()?;
    let counter = root.join("target/release/vdso-count");
    let kernel_copy = out.join("kernel-vdso.so");
    cmd!(sh, "{counter} --kernel-vdso {kernel_copy}").run()?;
    let kernel = std::fs::read(&kernel_copy)?;
    let kernel_rdpid = images::kernel_getcpu_uses_rdpid(&kernel)?;
    let counts = callgrind::instruction_counts(
        sh,
        &counter,
        &kernel_copy,
        kernel_rdpid,
        &out.join("callgrind"),
    )?;

    let criterion = root.join("target").join("criterion");
    if criterion.exists() {
        std::fs::remove_dir_all(&criterion)?;
    }
    let (w, m) = (
        settings.warm_up.to_string(),
        settings.measurement.to_string(),
    );
    cmd!(
        sh,
        "{cargo} bench -p vdso-benches --bench latency -- --warm-up-time {w} --measurement-time {m}"
    )
    .env("VDSO_DIR", &vdso_dir)
    .run()
    .context("the benches failed")?;
    let medians = Medians::read(&criterion)?;
    let ab = root.join("target/release/vdso-ab");
    let interleaved = Interleaved::parse(&cmd!(sh, "{ab}").env("VDSO_DIR", &vdso_dir).read()?)?;
    let live_bin = root.join("target/release/vdso-live");
    let live = Live::parse(&cmd!(sh, "{live_bin}").env("VDSO_DIR", &vdso_dir).read()?)?;

    let report = Report {
        settings,
        machine: Machine::read(sh)?,
        medians,
        interleaved,
        live,
        counts,
        images,
        arch_images,
        kernel_rdpid,
        disassembly: images::disassembly(sh, &vdso_dir, &kernel_copy, &kernel)?,
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    let text = report.render();
    println!("{text}");
    let path = root.join("BENCHMARKS.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, splice(&doc, &text))?;
    println!("written into {}", path.display());
    Ok(())
}
