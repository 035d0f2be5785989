//! Compiling an image crate into a static archive, with the flags every
//! image needs, and checking each entry fits its slot before linking.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use common::entries::Placed;
use object::read::archive::ArchiveFile;
use object::{Object, ObjectSection};
use xshell::{Shell, cmd};

use crate::arch::Tools;

/// A crate that becomes an image.
#[derive(Clone, Copy, Debug)]
pub struct ImageCrate<'a> {
    pub manifest: &'a Path,
    pub package: &'a str,
}

/// Builds `krate` as a staticlib with the `vdso` profile for `tools`'
/// architecture into `target_dir` and returns the archive. `cfgs` are
/// extra `--cfg` values.
pub fn staticlib(
    sh: &Shell,
    krate: ImageCrate<'_>,
    target_dir: &Path,
    cfgs: &[String],
    tools: Tools,
) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (manifest, package) = (krate.manifest, krate.package);
    // Set the flags outright: a user's RUSTFLAGS (say, -C target-cpu=native)
    // must not change what the images contain.
    let mut flags = vec![
        "-Crelocation-model=pic".to_string(),
        "-Cforce-unwind-tables=yes".to_string(),
    ];
    for cfg in cfgs {
        flags.push("--cfg".into());
        flags.push(cfg.clone());
    }
    let target: Vec<String> = tools
        .rust_target()
        .map(|t| vec!["--target".to_string(), t.to_string()])
        .unwrap_or_default();
    cmd!(
        sh,
        "{cargo} rustc --quiet --manifest-path {manifest} --package {package} --profile vdso
            --crate-type staticlib {target...} --target-dir {target_dir}"
    )
    .envs(tools.cargo_env())
    .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
    .env_remove("RUSTFLAGS")
    .run()
    .with_context(|| format!("compiling {package} for {}", tools.arch))?;
    let archive = tools
        .output_dir(target_dir, "vdso")
        .join(format!("lib{}.a", package.replace('-', "_")));
    if !archive.exists() {
        bail!("cargo did not produce {}", archive.display());
    }
    Ok(archive)
}

/// Fails, naming the entry and both sizes, if an entry's function is larger
/// than its slot. (The linker script asserts this too, but cannot say by
/// how much.)
pub fn check_slots(archive: &Path, entries: &[Placed]) -> Result<()> {
    let data = std::fs::read(archive).with_context(|| format!("reading {}", archive.display()))?;
    let ar = ArchiveFile::parse(&*data).context("reading the archive")?;
    let mut found = vec![None; entries.len()];
    for member in ar.members() {
        let member = member?;
        let Ok(obj) = object::File::parse(member.data(&*data)?) else {
            continue;
        };
        for section in obj.sections() {
            let name = section.name().unwrap_or("");
            // The entry's section and its parts (`<section>.body`), which
            // the linker script places together in the slot.
            let of_entry = |e: &Placed| {
                name.strip_prefix(e.section)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            };
            if let Some(i) = entries.iter().position(of_entry) {
                *found[i].get_or_insert(0) += section.size();
            }
        }
    }
    let mut errors = Vec::new();
    for (e, size) in entries.iter().zip(found) {
        match size {
            Some(size) if size > e.slot.size => errors.push(format!(
                "entry {} is {size:#x} bytes but its slot holds {:#x} ({:#x}..{:#x})",
                e.symbol,
                e.slot.size,
                e.slot.offset,
                e.slot.end()
            )),
            _ => {}
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(())
}
