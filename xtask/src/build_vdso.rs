//! `cargo xtask build-vdso`: compile, link, verify and emit each
//! architecture's pair of images for each of its layouts, with its
//! `layout.json`, into `target/vdso/<layout>/` (x86_64) and
//! `target/vdso/aarch64/<layout>/`, and the x86_64 `linux-6.6` pair also
//! into `target/vdso/` itself, where users found it before there were
//! layouts. An architecture whose tools this machine lacks is left out
//! with a one-line notice (an error under `VDSO_REQUIRE_ALL_ARCHES`, as
//! in CI, or when `--arch` asks for it): `crate::arch`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use common::abi::{Abi, Arch};
use common::entries::{ENTRIES, Entry, Placed};
use common::layout::LayoutInfo;
use common::note::Variant;
use kernel_side::images;
use xshell::Shell;

use crate::arch::{self, Tools};
use crate::compile::{self, ImageCrate};
use crate::verify::{self, Expect, Facts, Report};
use crate::{layout, link, project_root};

/// The architecture of the design variants
/// (`kernel_side::targets::DESIGN_ARCH`) and of the pair also published at
/// the top of `target/vdso/`.
pub const ARCH: Arch = kernel_side::targets::DESIGN_ARCH;
/// Their layout (`kernel_side::targets::DESIGN_ABI`).
pub const ABI: Abi = images::COMPAT_ABI;

/// The table's entries as an image for `arch` and `abi` places them.
pub fn entries(arch: Arch, abi: Abi) -> Vec<Placed> {
    Entry::placed(ENTRIES, arch, abi).collect()
}

/// One image to build: its variant and the crate it is compiled from.
/// Where it is written is `kernel_side::images`' decision, shared with
/// every reader.
#[derive(Clone, Copy, Debug)]
pub struct ImageSpec {
    pub variant: Variant,
    pub package: &'static str,
}

impl ImageSpec {
    pub const fn file(self) -> &'static str {
        images::file_name(self.variant)
    }

    /// The folder its build for `arch` and `abi` is published in, below
    /// [`Dirs::out`].
    pub fn folder(self, arch: Arch, abi: Abi) -> PathBuf {
        images::folder(arch, abi, self.variant)
    }
}

pub const IMAGES: [ImageSpec; 2] = [
    ImageSpec {
        variant: Variant::Host,
        package: "vdso",
    },
    ImageSpec {
        variant: Variant::Timens,
        package: "vdso-timens",
    },
];

/// A verified image on disk.
#[derive(Debug)]
pub struct Built {
    pub spec: ImageSpec,
    pub path: PathBuf,
    pub facts: Facts,
}

/// Where intermediate files go and where the images are written (the root
/// of `kernel_side::images::dir`'s tree).
pub struct Dirs {
    pub build: PathBuf,
    pub out: PathBuf,
}

impl Dirs {
    pub fn standard() -> Self {
        let target = project_root().join("target");
        Dirs {
            build: target.join("vdso-build"),
            out: target.join("vdso"),
        }
    }
}

/// The facts of `abi` for `arch`.
///
/// # Panics
/// If no images are built for the pair (`Arch::abis`).
pub fn layout(arch: Arch, abi: Abi) -> LayoutInfo {
    LayoutInfo::get(arch, abi).unwrap_or_else(|| panic!("no {abi} layout for {arch}"))
}

/// The `--cfg` that builds an image crate for `abi` (`common::layout::Configured`).
pub fn abi_cfg(abi: Abi) -> String {
    format!("vdso_abi=\"{}\"", abi.name())
}

/// How the x86_64 images read the TSC (`common::arch::read_counter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Counter {
    /// RDTSCP: what Linux uses on every CPU that has it.
    #[default]
    Rdtscp,
    /// LFENCE; RDTSC, for a CPU without RDTSCP (getcpu still needs RDTSCP).
    LfenceRdtsc,
}

impl Counter {
    pub fn name(self) -> &'static str {
        match self {
            Counter::Rdtscp => "rdtscp",
            Counter::LfenceRdtsc => "lfence-rdtsc",
        }
    }

    /// The `--cfg` values that select it.
    pub fn cfgs(self) -> Vec<String> {
        match self {
            Counter::Rdtscp => Vec::new(),
            Counter::LfenceRdtsc => vec![format!("vdso_counter=\"{}\"", self.name())],
        }
    }
}

/// Builds every layout of every architecture in `arches` (every one whose
/// tools are here when empty: [`arch::select`]) and publishes them; returns
/// the architectures built.
pub fn run(sh: &Shell, counter: Counter, arches: &[Arch]) -> Result<Vec<Arch>> {
    let selected = arch::select(arches)?;
    let dirs = Dirs::standard();
    // Every pair is built and verified, into a staging folder, before any
    // is published: a failure leaves `target/vdso` as it was.
    let staging = dirs.build.join("staged");
    let mut staged = Vec::new();
    for tools in &selected {
        for &abi in tools.arch.abis() {
            let stage = Dirs {
                build: dirs.build.join(images::layout_folder(tools.arch, abi)),
                out: staging.clone(),
            };
            let cfgs = match tools.arch {
                Arch::X86_64 => counter.cfgs(),
                Arch::Aarch64 => Vec::new(),
            };
            staged.push((
                tools.arch,
                abi,
                build_pair(sh, &stage, tools.arch, abi, &cfgs)?,
            ));
        }
    }
    for (arch, abi, built) in staged {
        let out = dirs.out.join(images::layout_folder(arch, abi));
        let published = publish_pair(&out, built)?;
        // Beside the images it describes.
        layout::write(&out, &published, arch, abi, counter)?;
        for b in &published {
            println!(
                "{}: {} bytes, {} variant, build id {}",
                b.path.display(),
                b.facts.file_size,
                b.spec.variant.name(),
                layout::hex(b.facts.build_id.as_deref().unwrap_or_default()),
            );
        }
        if (arch, abi) == (ARCH, images::COMPAT_ABI) {
            let compat = publish_pair(&dirs.out, published)?;
            layout::write(&dirs.out, &compat, arch, abi, counter)?;
            println!(
                "{} also holds the {arch} {abi} pair, where it was before each layout had a folder",
                dirs.out.display(),
            );
        }
    }
    Ok(selected.iter().map(|t| t.arch).collect())
}

/// Builds, verifies and cross-checks both images of `arch` and `abi`, then
/// writes them to `dirs.out`: if either breaks a rule, neither is written.
pub fn build_pair(
    sh: &Shell,
    dirs: &Dirs,
    arch: Arch,
    abi: Abi,
    cfgs: &[String],
) -> Result<Vec<Built>> {
    let root = project_root();
    let manifest = root.join("Cargo.toml");
    let layout = layout(arch, abi);
    let cfgs: Vec<String> = cfgs.iter().cloned().chain([abi_cfg(abi)]).collect();
    let mut built = Vec::new();
    for spec in IMAGES {
        eprintln!(
            "building {} ({} image, {arch} {abi})",
            spec.file(),
            spec.variant.name()
        );
        let krate = ImageCrate {
            manifest: &manifest,
            package: spec.package,
        };
        let Staged { path, facts } = build_image(
            sh,
            krate,
            spec.variant,
            &layout,
            &entries(arch, abi),
            dirs,
            spec.file(),
            &cfgs,
        )?;
        built.push(Built { spec, path, facts });
    }
    let differ = verify::compare(&built[0].facts, &built[1].facts);
    if !differ.is_empty() {
        bail!("the {arch} {abi} images disagree:\n  {}", lines(&differ));
    }
    for b in &mut built {
        let folder = dirs.out.join(b.spec.folder(arch, abi));
        b.path = publish(&folder, b.spec.file(), &std::fs::read(&b.path)?)?;
    }
    Ok(built)
}

/// Copies a verified pair into `folder`, each file through [`publish`].
fn publish_pair(folder: &Path, built: Vec<Built>) -> Result<Vec<Built>> {
    built
        .into_iter()
        .map(|b| {
            let path = publish(folder, b.spec.file(), &std::fs::read(&b.path)?)?;
            Ok(Built { path, ..b })
        })
        .collect()
}

/// A verified image, not yet published.
#[derive(Debug)]
pub struct Staged {
    pub path: PathBuf,
    pub facts: Facts,
}

/// Compiles, links and verifies one image (the unstripped link, then the
/// stripped image) and returns the verified file, in `dirs.build`, with
/// what the verifier learned. Nothing is written to `dirs.out` here: the
/// caller [`publish`]es once every image of the set has passed.
#[allow(clippy::too_many_arguments)]
pub fn build_image(
    sh: &Shell,
    krate: ImageCrate<'_>,
    variant: Variant,
    layout: &LayoutInfo,
    entries: &[Placed],
    dirs: &Dirs,
    file: &str,
    cfgs: &[String],
) -> Result<Staged> {
    let tools = Tools::of(layout.arch);
    let archive = compile::staticlib(sh, krate, &dirs.build, cfgs, tools)?;
    compile::check_slots(&archive, entries)?;
    let dbg = dirs.build.join(file).with_extension("dbg.so");
    link::link(sh, &archive, entries, layout, &dbg)?;
    // The unstripped link still names every function, so a panic site is
    // reported by name here rather than as the relocation it drags in. Its
    // symbol table never ships: the size rule is the stripped file's, below.
    let data = std::fs::read(&dbg)?;
    let (arch, abi) = (layout.arch, layout.abi);
    let mut report = verify::verify(
        &data,
        Expect {
            entries,
            variant,
            arch,
            abi,
        },
    );
    report
        .violations
        .retain(|v| !matches!(v, verify::Violation::FileTooLarge { .. }));
    clean(&dbg, report)?;
    let staged = dirs.build.join(file);
    link::strip(sh, tools, &dbg, &staged)?;
    let facts = verified(&staged, variant, arch, abi, entries)?.facts;
    Ok(Staged {
        path: staged,
        facts,
    })
}

/// Writes `bytes` as `dir/file` through a rename, so that a reader (a test,
/// a running vdso-run) never sees a half-written image.
pub fn publish(dir: &Path, file: &str, bytes: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let (partial, out) = (dir.join(format!(".{file}.partial")), dir.join(file));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, &out)?;
    Ok(out)
}

/// Verifies the file at `path`, turning violations into one error listing them all.
pub fn verified(
    path: &Path,
    variant: Variant,
    arch: Arch,
    abi: Abi,
    entries: &[Placed],
) -> Result<Report> {
    let data = std::fs::read(path)?;
    clean(
        path,
        verify::verify(
            &data,
            Expect {
                entries,
                variant,
                arch,
                abi,
            },
        ),
    )
}

/// `report`, or an error listing its violations.
fn clean(path: &Path, report: Report) -> Result<Report> {
    if !report.is_clean() {
        bail!(
            "{} fails verification:\n  {}",
            path.display(),
            lines(&report.violations)
        );
    }
    Ok(report)
}

fn lines(v: &[verify::Violation]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}
