//! Instructions per call, counted by valgrind's callgrind around
//! `vdso-count`, which dumps one profile per batch of calls.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Instructions per call, by (target, call name): callgrind's count for a
/// batch of calls, less a no-op's, divided by the batch size.
pub type Counts = BTreeMap<(String, String), f64>;

pub(super) fn instruction_counts(
    sh: &Shell,
    counter: &Path,
    kernel_copy: &Path,
    kernel_rdpid: bool,
    dir: &Path,
) -> Result<Counts> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    sh.create_dir(dir)?;
    let pattern = dir.join("cg.%p");
    let skip = kernel_rdpid.then_some("--skip-kernel-getcpu");
    let calls: f64 = cmd!(
        sh,
        "valgrind --tool=callgrind --callgrind-out-file={pattern} {counter} --kernel-copy {kernel_copy} {skip...}"
    )
    .ignore_stderr()
    .read()
    .context("running the instruction counter under callgrind")?
    .trim()
    .parse()
    .context("the counter's batch size")?;
    let mut totals = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("desc: Trigger: Client Request: "));
        let total = text.lines().find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        });
        if let (Some(name), Some(total)) = (name, total)
            && let Some((target, call)) = name.split_once('/')
        {
            // A target counted in several batches (over the kernel's live
            // pages) keeps its fewest: see vdso-count's LIVE_BATCHES.
            let total = total.trim().parse::<f64>()?;
            totals
                .entry((target.to_string(), call.to_string()))
                .and_modify(|t: &mut f64| *t = t.min(total))
                .or_insert(total);
        }
    }
    let mut counts = Counts::new();
    for ((target, call), total) in &totals {
        if target == "noop" {
            continue;
        }
        let noop = totals
            .get(&("noop".to_string(), call.clone()))
            .context("no no-op count")?;
        counts.insert((target.clone(), call.clone()), (total - noop) / calls);
    }
    if counts.is_empty() {
        bail!("callgrind wrote no counts");
    }
    Ok(counts)
}
