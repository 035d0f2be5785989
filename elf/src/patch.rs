//! Patch sites: code an image marks, for a loader (or a build step) to
//! rewrite before the image runs, as Linux applies alternatives to its own
//! vDSO. Today these are design (d)'s static branch and `getcpu`'s RDPID
//! alternative; CPU-feature alternatives for the shipped images reuse the
//! same note format and this reader.
//!
//! Each site is an ELF note in the image's `PT_NOTE` (owner `vdso-rs`, type
//! `NT_VDSO_PATCH_SITE`; the format is `common::note`'s), emitted by the
//! `asm!` block that holds the site, so a loader finds the sites the way it
//! finds the variant note, without section headers
//! ([`Notes::patch_sites`](crate::Notes::patch_sites)). The descriptor is
//! three little-endian 32-bit words:
//!
//! | Word | Meaning |
//! |---|---|
//! | 0 | the site's address minus the address of this word (`.long 2b - .`) |
//! | 1 | the branch target's address minus the address of this word, or 0 |
//! | 2 | the [`SiteKind`] |
//!
//! The differences are PC-relative, so the table needs no relocation, and
//! they stay valid wherever the image is mapped. An image is linked at
//! address 0 with one `PT_LOAD` from file offset 0, so an address is also
//! the file offset [`apply`] patches.

use core::fmt;

use common::note::{SITE_DESC_SIZE, SITE_RDPID, SITE_TIMENS_BRANCH};

/// The 5-byte NOP (`nopl 0x0(%rax,%rax,1)`) a static branch compiles to.
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
/// `jmp rel32`'s opcode, what a taken static branch becomes.
pub const JMP_REL32: u8 = 0xe9;
/// `rdtscp; nop`: TSC_AUX into ecx, eax and edx clobbered.
pub const RDTSCP_NOP: [u8; 4] = [0x0f, 0x01, 0xf9, 0x90];
/// `rdpid rcx`: TSC_AUX into rcx, the same length, nothing else written.
pub const RDPID_RCX: [u8; 4] = [0xf3, 0x0f, 0xc7, 0xf9];

/// What a site is and what patching it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// [`NOP5`]; in the namespace image a `jmp` to the namespace code.
    TimensBranch,
    /// [`RDTSCP_NOP`]; [`RDPID_RCX`] on a CPU that has RDPID.
    Rdpid,
}

impl SiteKind {
    pub const fn code(self) -> u32 {
        match self {
            SiteKind::TimensBranch => SITE_TIMENS_BRANCH,
            SiteKind::Rdpid => SITE_RDPID,
        }
    }

    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            SITE_TIMENS_BRANCH => Some(SiteKind::TimensBranch),
            SITE_RDPID => Some(SiteKind::Rdpid),
            _ => None,
        }
    }

    /// The bytes the compiled image holds at the site.
    pub const fn original(self) -> &'static [u8] {
        match self {
            SiteKind::TimensBranch => &NOP5,
            SiteKind::Rdpid => &RDTSCP_NOP,
        }
    }
}

/// One site, in image addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Site {
    pub kind: SiteKind,
    pub at: u64,
    /// Where a taken branch goes (0 for an alternative).
    pub target: u64,
}

impl Site {
    /// Reads a site note's descriptor found at image address `desc_addr`.
    pub fn parse(desc: &[u8], desc_addr: u64) -> Option<Site> {
        if desc.len() != SITE_DESC_SIZE {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes([desc[i], desc[i + 1], desc[i + 2], desc[i + 3]]);
        let rel = |i: usize| {
            desc_addr
                .checked_add(i as u64)?
                .checked_add_signed(i64::from(word(i) as i32))
        };
        let kind = SiteKind::from_code(word(8))?;
        let target = match kind {
            SiteKind::TimensBranch => rel(4)?,
            SiteKind::Rdpid => 0,
        };
        Some(Site {
            kind,
            at: rel(0)?,
            target,
        })
    }

    /// How many bytes from `at` the site covers.
    pub fn size(&self) -> usize {
        self.kind.original().len()
    }

    /// The bytes that replace the original.
    pub fn replacement(&self) -> Result<[u8; 5], PatchError> {
        match self.kind {
            SiteKind::TimensBranch => {
                let next = self.at.wrapping_add(5) as i64;
                let rel = (self.target as i64)
                    .checked_sub(next)
                    .and_then(|d| i32::try_from(d).ok())
                    .ok_or(PatchError::OutOfReach(*self))?;
                let r = rel.to_le_bytes();
                Ok([JMP_REL32, r[0], r[1], r[2], r[3]])
            }
            SiteKind::Rdpid => {
                let [a, b, c, d] = RDPID_RCX;
                Ok([a, b, c, d, 0])
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchError {
    /// The site lies outside the image.
    OutOfImage(Site),
    /// The site does not hold its kind's original bytes (patched already, or
    /// not a site at all).
    NotOriginal(Site),
    /// The branch target is beyond a 32-bit displacement.
    OutOfReach(Site),
}

impl core::error::Error for PatchError {}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::OutOfImage(s) => {
                write!(f, "patch site at {:#x} lies outside the image", s.at)
            }
            PatchError::NotOriginal(s) => write!(
                f,
                "patch site at {:#x} does not hold the {:?} site's original bytes",
                s.at, s.kind
            ),
            PatchError::OutOfReach(s) => write!(
                f,
                "patch site at {:#x} cannot reach its target {:#x}",
                s.at, s.target
            ),
        }
    }
}

/// Patches one site of `image` (the file, or its mapped copy, which are the
/// same bytes at the same offsets), after checking the site holds the
/// original bytes.
pub fn apply(image: &mut [u8], site: &Site) -> Result<(), PatchError> {
    let start = usize::try_from(site.at).map_err(|_| PatchError::OutOfImage(*site))?;
    let end = start
        .checked_add(site.size())
        .ok_or(PatchError::OutOfImage(*site))?;
    let bytes = image
        .get_mut(start..end)
        .ok_or(PatchError::OutOfImage(*site))?;
    if bytes != site.kind.original() {
        return Err(PatchError::NotOriginal(*site));
    }
    let new = site.replacement()?;
    bytes.copy_from_slice(&new[..site.size()]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site note's descriptor at `desc_addr`, pointing at `at` and `target`.
    fn desc(desc_addr: u64, at: u64, target: u64, kind: SiteKind) -> [u8; SITE_DESC_SIZE] {
        let rel = |field: u64, to: u64| ((to as i64 - field as i64) as i32).to_le_bytes();
        let mut d = [0u8; SITE_DESC_SIZE];
        d[0..4].copy_from_slice(&rel(desc_addr, at));
        let t = if target == 0 {
            [0; 4]
        } else {
            rel(desc_addr + 4, target)
        };
        d[4..8].copy_from_slice(&t);
        d[8..12].copy_from_slice(&kind.code().to_le_bytes());
        d
    }

    #[test]
    fn a_site_note_reads_back_as_the_addresses_it_was_written_for() {
        let d = desc(0x300, 0x979, 0xa08, SiteKind::TimensBranch);
        let site = Site::parse(&d, 0x300).unwrap();
        assert_eq!(
            site,
            Site {
                kind: SiteKind::TimensBranch,
                at: 0x979,
                target: 0xa08
            }
        );
        assert_eq!(Site::parse(&d[..8], 0x300), None);
        let mut unknown = d;
        unknown[8] = 9;
        assert_eq!(Site::parse(&unknown, 0x300), None);
    }

    #[test]
    fn a_static_branch_becomes_a_jump_to_its_label() {
        let mut image = [0xccu8; 0x40];
        image[0x10..0x15].copy_from_slice(&NOP5);
        let site = Site {
            kind: SiteKind::TimensBranch,
            at: 0x10,
            target: 0x30,
        };
        apply(&mut image, &site).unwrap();
        // rel32 counts from the end of the 5-byte jmp: 0x30 - 0x15.
        assert_eq!(image[0x10..0x15], [JMP_REL32, 0x1b, 0, 0, 0]);
        // A backward target, and nothing else touched.
        let mut image2 = [0xccu8; 0x40];
        image2[0x20..0x25].copy_from_slice(&NOP5);
        apply(
            &mut image2,
            &Site {
                kind: SiteKind::TimensBranch,
                at: 0x20,
                target: 0x08,
            },
        )
        .unwrap();
        assert_eq!(image2[0x20..0x25], [JMP_REL32, 0xe3, 0xff, 0xff, 0xff]);
        assert!(
            image2[..0x20]
                .iter()
                .chain(&image2[0x25..])
                .all(|&b| b == 0xcc)
        );
    }

    #[test]
    fn a_site_is_patched_only_over_its_original_bytes() {
        let mut image = [0x90u8; 0x20];
        let site = Site {
            kind: SiteKind::TimensBranch,
            at: 0x4,
            target: 0x10,
        };
        assert_eq!(apply(&mut image, &site), Err(PatchError::NotOriginal(site)));
        image[0x4..0x9].copy_from_slice(&NOP5);
        apply(&mut image, &site).unwrap();
        // Twice is refused: the site is a jmp now.
        assert_eq!(apply(&mut image, &site), Err(PatchError::NotOriginal(site)));
        let outside = Site {
            kind: SiteKind::TimensBranch,
            at: 0x1e,
            target: 0,
        };
        assert_eq!(
            apply(&mut image, &outside),
            Err(PatchError::OutOfImage(outside))
        );
    }

    #[test]
    fn the_rdpid_alternative_replaces_rdtscp_in_place() {
        let mut image = [0xccu8; 8];
        image[2..6].copy_from_slice(&RDTSCP_NOP);
        apply(
            &mut image,
            &Site {
                kind: SiteKind::Rdpid,
                at: 2,
                target: 0,
            },
        )
        .unwrap();
        assert_eq!(image, [0xcc, 0xcc, 0xf3, 0x0f, 0xc7, 0xf9, 0xcc, 0xcc]);
    }
}
