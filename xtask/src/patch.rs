//! Design (d)'s build step: read an image's patch sites (`common::patch`)
//! from its notes, write the namespace image by turning every static-branch
//! NOP into a `jmp` to its label, and check that two images differ only
//! where they may.
//!
//! The patched image's GNU build id is recomputed: SHA-1 over the whole
//! patched file with the build-id descriptor zeroed ([`build_id`]). (ld's own
//! id covers the unstripped link, so this rule is ours, and documented in
//! BENCHMARKS.md.)

use std::ops::Range;

use anyhow::{Context, Result, bail, ensure};
use common::note::{NT_VDSO_VARIANT, Variant};
use object::elf;
use vdso_elf::patch::{self, Site, SiteKind};
use vdso_elf::{Elf, LE};

/// Where an image's notes are, as file offsets (which are also image
/// addresses: one `PT_LOAD` from offset 0 at address 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notes {
    pub build_id: Range<usize>,
    pub variant: Range<usize>,
    pub sites: Vec<Site>,
}

/// Reads the notes of `image` through its program headers, as a loader
/// would (`vdso-elf`).
pub fn notes(image: &[u8]) -> Result<Notes> {
    use object::read::elf::ProgramHeader;
    let elf = Elf::parse(image).context("not an ELF image")?;
    for load in elf.segments_of(elf::PT_LOAD) {
        ensure!(
            load.p_offset(LE) == 0 && load.p_vaddr(LE) == 0,
            "the PT_LOAD segment does not map offset 0 at address 0"
        );
    }
    let range = |n: vdso_elf::Note<'_>| n.desc_offset..n.desc_offset + n.desc.len();
    let build_id = elf.notes().build_id()?.context("no GNU build-id note")?;
    let variant = elf
        .notes()
        .find_ours(NT_VDSO_VARIANT)?
        .context("no vdso-rs variant note")?;
    let mut sites = elf
        .notes()
        .patch_sites()
        .collect::<Result<Vec<_>, _>>()
        .context("reading the patch-site notes")?;
    sites.sort_by_key(|s| s.at);
    Ok(Notes {
        build_id: range(build_id),
        variant: range(variant),
        sites,
    })
}

/// The GNU build id this project gives a patched image: SHA-1 over the file
/// with the build-id descriptor zeroed.
pub fn build_id(image: &[u8], notes: &Notes) -> Vec<u8> {
    let mut copy = image.to_vec();
    copy[notes.build_id.clone()].fill(0);
    sha1_smol::Sha1::from(&copy).digest().bytes().to_vec()
}

/// Patches every site of `kind` and rewrites the variant note to `variant`
/// and the build id to [`build_id`]'s.
pub fn patched(image: &[u8], kind: SiteKind, variant: Variant) -> Result<Vec<u8>> {
    let notes = notes(image)?;
    let mut out = image.to_vec();
    let mut count = 0;
    for site in notes.sites.iter().filter(|s| s.kind == kind) {
        patch::apply(&mut out, site)?;
        count += 1;
    }
    ensure!(count > 0, "the image has no {kind:?} patch site");
    ensure!(
        notes.variant.len() == common::note::DESC_SIZE,
        "the variant note's descriptor is {} bytes",
        notes.variant.len()
    );
    out[notes.variant.clone()].copy_from_slice(&variant.desc());
    let id = build_id(&out, &notes);
    ensure!(
        id.len() == notes.build_id.len(),
        "the build-id note holds {} bytes, not a SHA-1",
        notes.build_id.len()
    );
    out[notes.build_id.clone()].copy_from_slice(&id);
    Ok(out)
}

/// Applies the alternatives a loader would on a CPU with RDPID (`getcpu`'s
/// `rdtscp; nop` becomes `rdpid rcx`). The file keeps its build id: the
/// image on disk is unchanged, as Linux's is when it applies alternatives
/// to the copy it maps.
pub fn with_rdpid(image: &[u8]) -> Result<Vec<u8>> {
    let notes = notes(image)?;
    let mut out = image.to_vec();
    for site in notes.sites.iter().filter(|s| s.kind == SiteKind::Rdpid) {
        patch::apply(&mut out, site)?;
    }
    Ok(out)
}

/// Checks that `patched_image` is `compiled` with exactly its static
/// branches taken: the same length and sites; every differing byte inside a
/// static-branch site, the build-id descriptor or the variant descriptor;
/// each site a NOP in one and a `jmp` to its label in the other; the build
/// id recomputed by [`build_id`]. Returns every rule broken.
pub fn check_pair(compiled: &[u8], patched_image: &[u8]) -> Result<Vec<String>> {
    let (a, b) = (notes(compiled)?, notes(patched_image)?);
    let mut broken = Vec::new();
    if compiled.len() != patched_image.len() {
        broken.push(format!(
            "the images are {} and {} bytes long",
            compiled.len(),
            patched_image.len()
        ));
        return Ok(broken);
    }
    if a != b {
        broken.push(
            "the images' notes (sites, build id or variant) are not at the same places".into(),
        );
        return Ok(broken);
    }
    let branches: Vec<&Site> = a
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::TimensBranch)
        .collect();
    if branches.is_empty() {
        broken.push("no static-branch site".into());
    }
    let allowed = |i: usize| {
        a.build_id.contains(&i)
            || a.variant.contains(&i)
            || branches
                .iter()
                .any(|s| (s.at as usize..s.at as usize + s.size()).contains(&i))
    };
    for (i, (x, y)) in compiled.iter().zip(patched_image).enumerate() {
        if x != y && !allowed(i) {
            broken.push(format!(
                "byte {i:#x} differs ({x:#04x} vs {y:#04x}) outside every site and note"
            ));
        }
    }
    for s in &branches {
        let at = s.at as usize;
        if compiled[at..at + 5] != patch::NOP5 {
            broken.push(format!(
                "site {at:#x} is not a 5-byte NOP in the compiled image"
            ));
        }
        match s.replacement() {
            Ok(jmp) if patched_image[at..at + 5] == jmp => {}
            _ => broken.push(format!(
                "site {at:#x} is not a jmp to its label {:#x} in the patched image",
                s.target
            )),
        }
    }
    if Variant::from_desc(&compiled[a.variant.clone()]) != Some(Variant::Static)
        || Variant::from_desc(&patched_image[a.variant.clone()]) != Some(Variant::StaticTimens)
    {
        broken.push("the variant notes are not `static` and `static-timens`".into());
    }
    if patched_image[a.build_id.clone()] != build_id(patched_image, &b)[..] {
        broken.push("the patched image's build id is not SHA-1 over it with the id zeroed".into());
    }
    Ok(broken)
}

/// The patch sites, for reports: kind, address and target.
pub fn describe(sites: &[Site]) -> String {
    sites
        .iter()
        .map(|s| match s.kind {
            SiteKind::TimensBranch => format!("static branch at {:#x} -> {:#x}", s.at, s.target),
            SiteKind::Rdpid => format!("RDPID alternative at {:#x}", s.at),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails unless `image` holds a site of each kind.
pub fn require_sites(image: &[u8]) -> Result<Vec<Site>> {
    let sites = notes(image)?.sites;
    for kind in [SiteKind::TimensBranch, SiteKind::Rdpid] {
        if !sites.iter().any(|s| s.kind == kind) {
            bail!("the static image has no {kind:?} site");
        }
    }
    Ok(sites)
}
