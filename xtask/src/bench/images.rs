//! Facts read from the images' code: sizes and pushes of each image's
//! `clock_gettime`, whether the kernel's getcpu uses RDPID, and the
//! listings the report shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use common::note::Variant;
use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use kernel_side::images;
use xshell::{Shell, cmd};

use crate::build_vdso;

/// Sizes of each image and of its `clock_gettime`.
pub struct ImageFacts {
    /// By variant name: (`.text` bytes, `__vdso_clock_gettime` bytes,
    /// registers `__vdso_clock_gettime` pushes on entry).
    pub by_variant: BTreeMap<&'static str, (u64, u64, usize)>,
}

impl ImageFacts {
    pub(super) fn read() -> Result<ImageFacts> {
        let mut by_variant = BTreeMap::new();
        let out = build_vdso::Dirs::standard().out;
        for variant in Variant::ALL.into_iter().chain(Variant::DESIGNS) {
            let path = out.join(images::path(build_vdso::ARCH, build_vdso::ABI, variant));
            let facts = build_vdso::verified(
                &path,
                variant,
                build_vdso::ARCH,
                build_vdso::ABI,
                &build_vdso::entries(build_vdso::ARCH, build_vdso::ABI),
            )?
            .facts;
            let data = std::fs::read(&path)?;
            let entry = &facts.exports["__vdso_clock_gettime"];
            let code = &data[entry.offset as usize..(entry.offset + entry.size) as usize];
            by_variant.insert(
                variant.name(),
                (facts.text_size, entry.size, pushes(code, entry.offset)),
            );
        }
        Ok(ImageFacts { by_variant })
    }
}

/// How many registers a function pushes before its first other instruction.
fn pushes(code: &[u8], at: u64) -> usize {
    Decoder::with_ip(64, code, at, DecoderOptions::NONE)
        .iter()
        .take_while(|i| i.mnemonic() == Mnemonic::Push)
        .count()
}

/// True if the kernel's `__vdso_getcpu` executes RDPID (valgrind 3.19
/// cannot, so that one count is left out).
pub(super) fn kernel_getcpu_uses_rdpid(image: &[u8]) -> Result<bool> {
    let (offset, size) = kernel_symbol(image, "__vdso_getcpu")?;
    let code = image
        .get(offset as usize..(offset + size) as usize)
        .context("__vdso_getcpu lies outside the kernel's vDSO")?;
    Ok(Decoder::with_ip(64, code, offset, DecoderOptions::NONE)
        .iter()
        .any(|i| i.mnemonic() == Mnemonic::Rdpid))
}

/// A function of the kernel's vDSO, through its dynamic table (its copy
/// ends with its last `PT_LOAD`, before any section header).
fn kernel_symbol(image: &[u8], name: &str) -> Result<(u64, u64)> {
    let table = vdso_elf::Elf::parse(image)
        .and_then(|elf| elf.dynamic())
        .context("the kernel's vDSO")?;
    let sym = table
        .lookup(
            vdso_elf::HashTable::Gnu,
            name,
            build_vdso::ARCH.symbol_version(),
        )
        .with_context(|| format!("the kernel's vDSO: {name}"))?;
    Ok((sym.offset, sym.size))
}

/// `objdump` listings of `__vdso_clock_gettime`: the host image's and the
/// kernel's.
pub struct Disassembly {
    pub host: String,
    pub kernel: String,
}

pub(super) fn disassembly(
    sh: &Shell,
    vdso_dir: &Path,
    kernel_copy: &Path,
    kernel: &[u8],
) -> Result<Disassembly> {
    let listing = |file: &PathBuf, offset: u64, size: u64, raw: bool| -> Result<String> {
        let (start, stop) = (
            format!("--start-address={offset:#x}"),
            format!("--stop-address={:#x}", offset + size),
        );
        let args: Vec<&str> = if raw {
            vec!["-b", "binary", "-m", "i386:x86-64", "-D"]
        } else {
            vec!["-d"]
        };
        let text = cmd!(
            sh,
            "objdump {args...} --no-show-raw-insn {start} {stop} {file}"
        )
        .read()?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(' ') && l.contains(':'))
            .map(|l| l.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    };
    let host_file = vdso_dir.join(images::path(
        build_vdso::ARCH,
        build_vdso::ABI,
        Variant::Host,
    ));
    let facts = build_vdso::verified(
        &host_file,
        Variant::Host,
        build_vdso::ARCH,
        build_vdso::ABI,
        &build_vdso::entries(build_vdso::ARCH, build_vdso::ABI),
    )?
    .facts;
    let e = &facts.exports["__vdso_clock_gettime"];
    let (ko, ks) = kernel_symbol(kernel, "__vdso_clock_gettime")?;
    Ok(Disassembly {
        host: listing(&host_file, e.offset, e.size, false)?,
        kernel: listing(&kernel_copy.to_path_buf(), ko, ks, true)?,
    })
}
