//! `cargo xtask build-vdso --variants`: the designs the 2019 discussion
//! weighed (`common::design`), built from the same source as the shipped
//! images into `target/vdso/linux-6.6/variants/`, each held to the same verifier.
//!
//! - (b) `vdso-branch.so` and (c) `vdso-merged.so`: one image each.
//! - (d) `vdso-static.so`, compiled, and `vdso-static-timens.so`, written
//!   from it by patching every static-branch NOP into a `jmp` (`patch`). The
//!   pair must differ only at the recorded sites and in the two notes.
//!   Both are verified again with the RDPID alternative applied, as a loader
//!   on this CPU would map them.

use anyhow::{Result, bail};
use common::note::Variant;
use vdso_elf::patch::SiteKind;
use xshell::Shell;

use crate::build_vdso::{self, Built, Dirs, ImageSpec};
use crate::compile::ImageCrate;
use crate::verify::{self, Expect};
use crate::{layout, patch, project_root};

/// The variant crates xtask compiles (under `variants/`).
pub const COMPILED: [ImageSpec; 3] = [
    ImageSpec {
        variant: Variant::Branch,
        package: "vdso-branch",
    },
    ImageSpec {
        variant: Variant::Merged,
        package: "vdso-merged",
    },
    ImageSpec {
        variant: Variant::Static,
        package: "vdso-static",
    },
];

/// The image (d)'s namespaced processes get, patched from `vdso-static`'s.
pub const STATIC_TIMENS: ImageSpec = ImageSpec {
    variant: Variant::StaticTimens,
    package: "vdso-static",
};

/// Builds, patches and verifies every variant; writes them and a
/// `layout.json` of their own to their folder (`target/vdso/linux-6.6/variants/`).
pub fn run(sh: &Shell) -> Result<Vec<Built>> {
    let standard = Dirs::standard();
    let dirs = Dirs {
        // The linux-6.6 pair's build folder: the same build of `common`.
        build: standard.build.join(build_vdso::ABI.name()),
        out: standard.out,
    };
    let manifest = project_root().join("Cargo.toml");
    // The designs are compared on one layout, the one they were designed
    // for (Linux's first namespace arrangement).
    let entries = build_vdso::entries(build_vdso::ARCH, build_vdso::ABI);
    let layout = build_vdso::layout(build_vdso::ARCH, build_vdso::ABI);
    let cfgs = [build_vdso::abi_cfg(build_vdso::ABI)];
    let mut built = Vec::new();
    for spec in COMPILED {
        eprintln!(
            "building {} ({} design)",
            spec.folder(build_vdso::ARCH, build_vdso::ABI)
                .join(spec.file())
                .display(),
            spec.variant.name()
        );
        let krate = ImageCrate {
            manifest: &manifest,
            package: spec.package,
        };
        let build_vdso::Staged { path, facts } = build_vdso::build_image(
            sh,
            krate,
            spec.variant,
            &layout,
            &entries,
            &dirs,
            spec.file(),
            &cfgs,
        )?;
        built.push(Built { spec, path, facts });
    }
    let compiled = &built[2];
    let bytes = std::fs::read(&compiled.path)?;
    let sites = patch::require_sites(&bytes)?;
    eprintln!(
        "patching {}: {}",
        STATIC_TIMENS.file(),
        patch::describe(&sites)
    );
    let patched = patch::patched(&bytes, SiteKind::TimensBranch, Variant::StaticTimens)?;
    let broken = patch::check_pair(&bytes, &patched)?;
    if !broken.is_empty() {
        bail!(
            "the static-branch pair differs where it may not:\n  {}",
            broken.join("\n  ")
        );
    }
    let facts = verified_bytes(&patched, Variant::StaticTimens, "the patched image")?;
    let differ = verify::compare(&compiled.facts, &facts);
    if !differ.is_empty() {
        bail!(
            "the static-branch pair disagrees:\n  {}",
            differ
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    // As a loader on a CPU with RDPID maps them.
    for (image, spec) in [(&bytes, compiled.spec), (&patched, STATIC_TIMENS)] {
        verified_bytes(
            &patch::with_rdpid(image)?,
            spec.variant,
            &format!("{} with RDPID", spec.file()),
        )?;
    }
    // Every variant has passed: only now is any of them written.
    for b in &mut built {
        let folder = dirs
            .out
            .join(b.spec.folder(build_vdso::ARCH, build_vdso::ABI));
        b.path = build_vdso::publish(&folder, b.spec.file(), &std::fs::read(&b.path)?)?;
    }
    let folder = dirs
        .out
        .join(STATIC_TIMENS.folder(build_vdso::ARCH, build_vdso::ABI));
    let path = build_vdso::publish(&folder, STATIC_TIMENS.file(), &patched)?;
    built.push(Built {
        spec: STATIC_TIMENS,
        path,
        facts,
    });
    // Beside the images it describes: the design variants share a folder.
    layout::write(
        &folder,
        &built,
        build_vdso::ARCH,
        build_vdso::ABI,
        build_vdso::Counter::default(),
    )?;
    for b in &built {
        println!(
            "{}: {} bytes, .text {} bytes, {} variant, build id {}",
            b.path.display(),
            b.facts.file_size,
            b.facts.text_size,
            b.spec.variant.name(),
            layout::hex(b.facts.build_id.as_deref().unwrap_or_default()),
        );
    }
    Ok(built)
}

fn verified_bytes(data: &[u8], variant: Variant, what: &str) -> Result<verify::Facts> {
    let report = verify::verify(
        data,
        Expect {
            entries: &build_vdso::entries(build_vdso::ARCH, build_vdso::ABI),
            variant,
            arch: build_vdso::ARCH,
            abi: build_vdso::ABI,
        },
    );
    if !report.is_clean() {
        bail!(
            "{what} fails verification:\n  {}",
            report.messages().join("\n  ")
        );
    }
    Ok(report.facts)
}
