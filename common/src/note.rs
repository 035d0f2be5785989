//! The ELF notes an image carries in its `PT_NOTE` segment, all owned by
//! `vdso-rs`:
//!
//! - the variant note (type [`NT_VDSO_VARIANT`]), naming the image's
//!   variant so a loader can refuse the wrong one: an ASCII name NUL-padded
//!   to [`DESC_SIZE`] bytes;
//! - the layout note (type [`NT_VDSO_ABI`]), naming the data-page layout
//!   the image reads ([`Abi::name`], NUL-padded to [`DESC_SIZE`] bytes), so
//!   that a loader can refuse an image built for another kernel's pages;
//! - patch-site notes (type [`NT_VDSO_PATCH_SITE`]), one per site a loader
//!   may rewrite: three little-endian 32-bit words (the site and its target
//!   as offsets from the word that holds them, and the site's kind). The
//!   `vdso-elf` crate reads and applies them.
//!
//! This module is the format only; the readers live in `vdso-elf`.

use crate::abi::Abi;

pub const NOTE_OWNER: &[u8; 8] = b"vdso-rs\0";
pub const NT_VDSO_VARIANT: u32 = 1;
pub const DESC_SIZE: usize = 16;
/// The section the notes live in; the linker script keeps it in `PT_NOTE`.
pub const NOTE_SECTION: &str = ".note.vdso.variant";

/// The note type of a patch site.
pub const NT_VDSO_PATCH_SITE: u32 = 2;
/// The note type of the layout note.
pub const NT_VDSO_ABI: u32 = 3;
/// A patch-site note's descriptor size.
pub const SITE_DESC_SIZE: usize = 12;
/// Site kinds (the descriptor's third word): a static branch, a 5-byte NOP
/// that becomes a `jmp` to the namespace code (design (d)).
pub const SITE_TIMENS_BRANCH: u32 = 1;
/// `rdtscp; nop` that becomes `rdpid rcx` on a CPU with RDPID.
pub const SITE_RDPID: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// For processes in the host's time namespace: never reads offsets.
    Host,
    /// For processes in a time namespace: adds the namespace page's offsets.
    Timens,
    // The designs the 2019 discussion weighed, built by
    // `cargo xtask build-vdso --variants` for comparison (`common::design`).
    /// (b) One image, a run-time `if in_namespace` branch.
    Branch,
    /// (c) One image, Linux's merged design: a namespace page in the vvar
    /// slot is noticed in the seqlock's slow path.
    Merged,
    /// (d) The static-branch design's compiled image, for host processes.
    Static,
    /// (d) The same image with every static branch patched taken, for
    /// namespaced processes.
    StaticTimens,
}

impl Variant {
    /// The two shipped images.
    pub const ALL: [Variant; 2] = [Variant::Host, Variant::Timens];
    /// The design variants (`target/vdso/variants/`), not shipped.
    pub const DESIGNS: [Variant; 4] = [
        Variant::Branch,
        Variant::Merged,
        Variant::Static,
        Variant::StaticTimens,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Variant::Host => "host",
            Variant::Timens => "timens",
            Variant::Branch => "branch",
            Variant::Merged => "merged",
            Variant::Static => "static",
            Variant::StaticTimens => "static-timens",
        }
    }

    /// True for the image a namespaced process gets in a two-image design,
    /// the one that always adds the namespace page's offsets.
    pub const fn is_timens(self) -> bool {
        matches!(self, Variant::Timens | Variant::StaticTimens)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::DESIGNS)
            .find(|v| v.name() == name)
    }

    /// The note's descriptor.
    pub const fn desc(self) -> [u8; DESC_SIZE] {
        padded(self.name())
    }

    /// Reads a descriptor back (the inverse of [`desc`](Self::desc)).
    pub fn from_desc(desc: &[u8]) -> Option<Self> {
        let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
        core::str::from_utf8(&desc[..end])
            .ok()
            .and_then(Self::from_name)
    }
}

pub const NOTE_SIZE: usize = 12 + NOTE_OWNER.len() + DESC_SIZE;

/// The variant note, as the image embeds it.
pub const fn note(variant: Variant) -> [u8; NOTE_SIZE] {
    note_of(NT_VDSO_VARIANT, variant.desc())
}

/// The layout note, as the image embeds it.
pub const fn abi_note(abi: Abi) -> [u8; NOTE_SIZE] {
    note_of(NT_VDSO_ABI, padded(abi.name()))
}

/// Reads a layout note's descriptor back.
pub fn abi_from_desc(desc: &[u8]) -> Option<Abi> {
    let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
    core::str::from_utf8(&desc[..end])
        .ok()
        .and_then(Abi::from_name)
}

/// `name` NUL-padded to a descriptor.
const fn padded(name: &str) -> [u8; DESC_SIZE] {
    let mut desc = [0u8; DESC_SIZE];
    let name = name.as_bytes();
    let mut i = 0;
    while i < name.len() {
        desc[i] = name[i];
        i += 1;
    }
    desc
}

/// One note of ours: `namesz`, `descsz`, `type`, owner, descriptor.
const fn note_of(kind: u32, desc: [u8; DESC_SIZE]) -> [u8; NOTE_SIZE] {
    let mut out = [0u8; NOTE_SIZE];
    let head = [NOTE_OWNER.len() as u32, DESC_SIZE as u32, kind];
    let mut i = 0;
    while i < 3 {
        let b = head[i].to_le_bytes();
        let mut j = 0;
        while j < 4 {
            out[i * 4 + j] = b[j];
            j += 1;
        }
        i += 1;
    }
    let mut k = 0;
    while k < NOTE_OWNER.len() {
        out[12 + k] = NOTE_OWNER[k];
        k += 1;
    }
    k = 0;
    while k < DESC_SIZE {
        out[12 + NOTE_OWNER.len() + k] = desc[k];
        k += 1;
    }
    out
}
