//! Each architecture's shipped pair as its code runs: the instructions
//! each call executes in the image, counted the same way for x86_64 and
//! aarch64, whose images run on this machine only under qemu-user (where
//! a latency means nothing, so none is reported for them).
//!
//! `kernel-side/examples/trace_calls.rs`, built for the architecture, calls
//! each entry of its `linux-6.18` pair over still data pages and says
//! which call starts at which entry, every call twice; qemu-user runs it
//! with its translation logs (`in_asm`: every block of code it translates,
//! one line per instruction; `out_asm`: the host code it made of it) and
//! its execution log (`exec`, with `nochain`: a line for every block each
//! time it runs, naming its host code). The instructions of every block run inside the
//! image between one call's entry and the next are that call's: its `ret`
//! included, the caller's branch to it not.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use common::abi::Arch;
use xshell::{Shell, cmd};

use common::note::Variant;
use kernel_side::images;

use crate::arch::Tools;
use crate::build_vdso::{self, Dirs};

/// Instructions per call, by (architecture, image variant, call name).
pub type Executed = BTreeMap<(Arch, String, String), u64>;

/// Each architecture's `linux-6.18` pair: its sizes and the instructions
/// each call executes.
#[derive(Clone, Debug, Default)]
pub struct ArchImages {
    /// By (architecture, variant name): the file's bytes and `.text`'s.
    pub sizes: BTreeMap<(Arch, String), (u64, u64)>,
    pub executed: Executed,
}

impl ArchImages {
    /// Reads the sizes of `arches`' images and counts their calls.
    pub(super) fn read(sh: &Shell, arches: &[Arch], dir: &Path) -> Result<ArchImages> {
        let out = Dirs::standard().out;
        let mut images = ArchImages::default();
        for &arch in arches {
            for variant in Variant::ALL {
                let path = out.join(images::path(arch, ABI, variant));
                let entries = build_vdso::entries(arch, ABI);
                let facts = build_vdso::verified(&path, variant, arch, ABI, &entries)?.facts;
                images.sizes.insert(
                    (arch, variant.name().to_string()),
                    (facts.file_size, facts.text_size),
                );
            }
            images.executed.extend(count(sh, arch, dir)?);
        }
        Ok(images)
    }
}

/// The layout whose pairs are compared: the one every architecture has
/// (the tracer's).
pub const ABI: common::abi::Abi = common::abi::Abi::Linux6_18;

/// Builds the tracer for `arch`, runs it under its emulator and counts.
fn count(sh: &Shell, arch: Arch, dir: &Path) -> Result<Executed> {
    let tools = Tools::of(arch);
    let root = crate::project_root();
    let target_dir = root.join("target").join(format!("trace-{}", arch.name()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target: Vec<String> = tools
        .rust_target()
        .map(|t| vec!["--target".into(), t.into()])
        .unwrap_or_default();
    cmd!(
        sh,
        "{cargo} build --quiet --release -p kernel-side --example trace_calls {target...} --target-dir {target_dir}"
    )
    .envs(tools.cargo_env())
    .run()
    .with_context(|| format!("building the {arch} tracer"))?;
    let tracer = tools
        .output_dir(&target_dir, "release")
        .join("examples/trace_calls");
    sh.create_dir(dir)?;
    let log = dir.join(format!("qemu-{}.log", arch.name()));
    let qemu = tools.emulator();
    let cpu = tools.emulated_cpu();
    let calls = cmd!(
        sh,
        "{qemu} {cpu...} -d in_asm,out_asm,exec,nochain -D {log} {tracer}"
    )
    .env("VDSO_DIR", Dirs::standard().out)
    .read()
    .with_context(|| format!("running the {arch} tracer under {qemu}"))?;
    let log = std::fs::read_to_string(&log)?;
    let counts = per_call(&calls, &log)?;
    Ok(counts
        .into_iter()
        .map(|((image, call), n)| ((arch, image, call), n))
        .collect())
}

/// One call the tracer made, as it said.
#[derive(Debug)]
struct Called {
    image: String,
    call: String,
    entry: u64,
    start: u64,
    end: u64,
}

fn hex(s: &str) -> Result<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).with_context(|| format!("{s:?}"))
}

/// The instructions of each (image, call), from the tracer's stdout and
/// qemu's log.
fn per_call(calls: &str, log: &str) -> Result<BTreeMap<(String, String), u64>> {
    let calls: Vec<Called> = calls
        .lines()
        .filter_map(|l| l.strip_prefix("call "))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let [image, call, entry, start, end] = t[..] else {
                bail!("the tracer said {l:?}");
            };
            Ok(Called {
                image: image.into(),
                call: call.into(),
                entry: hex(entry)?,
                start: hex(start)?,
                end: hex(end)?,
            })
        })
        .collect::<Result<_>>()?;
    // Each translated block's guest instructions (its `IN:` listing), by
    // the address of its host code (the `OUT:` listing that follows):
    // several blocks may start at one guest address (qemu retranslates,
    // one instruction at a time after an exception), but each has host
    // code of its own, which the execution log names.
    let mut blocks: BTreeMap<u64, u64> = BTreeMap::new();
    let mut listing: Option<u64> = None;
    let mut translated: Option<u64> = None;
    let mut host_code = false;
    let mut counts = vec![0u64; calls.len()];
    // The call running now: the last whose entry began a block.
    let mut current: Option<usize> = None;
    for line in log.lines() {
        if line.starts_with("IN:") {
            listing = Some(0);
            continue;
        }
        if let Some(n) = listing.as_mut() {
            if line.starts_with("0x") {
                *n += 1;
                continue;
            }
            translated = listing.take();
        }
        if line.starts_with("OUT:") {
            host_code = true;
            continue;
        }
        if host_code {
            if let Some((addr, _)) = line.split_once(':')
                && addr.starts_with("0x")
            {
                let n = translated
                    .take()
                    .with_context(|| format!("host code at {addr} without its block"))?;
                blocks.insert(hex(addr)?, n);
                host_code = false;
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("Trace ") else {
            continue;
        };
        // `Trace 0: <host code> [<cs base>/<pc>/<flags>/<cflags>]`.
        let parsed = rest.split_once(": ").and_then(|(_, r)| {
            let (host, r) = r.split_once(" [")?;
            Some((host, r.split('/').nth(1)?))
        });
        let (host, pc) = parsed.with_context(|| format!("qemu's log line {line:?}"))?;
        let (host, pc) = (hex(host)?, hex(pc)?);
        let next = current.map_or(0, |c| c + 1);
        if calls.get(next).is_some_and(|c| c.entry == pc) {
            current = Some(next);
        }
        let Some(c) = current else { continue };
        if (calls[c].start..calls[c].end).contains(&pc) {
            counts[c] += blocks
                .get(&host)
                .copied()
                .with_context(|| format!("qemu ran the block at {pc:#x} before translating it"))?;
        }
    }
    if current != Some(calls.len().wrapping_sub(1)) {
        bail!("qemu's log shows {current:?} of the {} calls", calls.len());
    }
    // The tracer makes every call twice: one count each, which must agree
    // (a retried read or a mistaken boundary would show).
    let mut out = BTreeMap::new();
    for (c, n) in calls.iter().zip(counts) {
        if n == 0 {
            bail!("no instruction of {} {} ran in the image", c.image, c.call);
        }
        let key = (c.image.clone(), c.call.clone());
        match out.insert(key, n) {
            Some(first) if first != n => bail!(
                "{} {} ran {first} instructions once and {n} another time",
                c.image,
                c.call
            ),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks inside the image between one entry's start and the next are
    /// counted for the call, each with the instructions of the block the
    /// execution log names by its host code (two start at 0x1100); blocks
    /// outside are not.
    #[test]
    fn each_calls_blocks_in_the_image_are_counted() {
        let calls = "call host a 0x1000 0x1000 0x2000\ncall host b 0x1100 0x1000 0x2000\n";
        let log = "\
IN: 
0x1000:  d503245f  bti c
0x1004:  d65f03c0  ret

OUT: [size=8]
  -- guest addr 0x0000000000001000 + tb prologue
0x7f00:  8b 5d f8                 movl     -8(%rbp), %ebx

IN: 
0x9000:  d503201f  nop

OUT: [size=4]
0x7f10:  85 db                    testl    %ebx, %ebx

IN: 
0x1100:  d503245f  bti c
0x1104:  d503201f  nop
0x1108:  d65f03c0  ret

OUT: [size=12]
  -- guest addr 0x0000000000001100 + tb prologue
0x7f20:  85 db                    testl    %ebx, %ebx

IN: 
0x1100:  d503245f  bti c

OUT: [size=4]
0x7f30:  85 db                    testl    %ebx, %ebx

Trace 0: 0x7f10 [0/0000000000009000/1/0] 
Trace 0: 0x7f00 [0/0000000000001000/1/0] 
Trace 0: 0x7f10 [0/0000000000009000/1/0] 
Trace 0: 0x7f20 [0/0000000000001100/1/0] 
";
        let counts = per_call(calls, log).unwrap();
        assert_eq!(counts[&("host".into(), "a".into())], 2);
        assert_eq!(counts[&("host".into(), "b".into())], 3);
    }
}
