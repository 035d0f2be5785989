//! The notes of an image's `PT_NOTE` segments, read through the program
//! headers as a loader reads them: the GNU build id, the vdso-rs variant
//! note and the patch-site notes (`common::note`).

use common::abi::Abi;
use common::note::{
    NOTE_OWNER, NT_VDSO_ABI, NT_VDSO_PATCH_SITE, NT_VDSO_VARIANT, Variant, abi_from_desc,
};
use object::elf::{self, ProgramHeader64};
use object::read::elf::{NoteIterator, ProgramHeader};

use crate::LE;
use crate::error::ElfError;
use crate::headers::Elf;
use crate::patch::Site;

/// One note.
#[derive(Clone, Copy, Debug)]
pub struct Note<'a> {
    /// The owner's name, without its terminating NULs (`GNU`, `vdso-rs`).
    pub owner: &'a [u8],
    pub kind: u32,
    pub desc: &'a [u8],
    /// Where the descriptor starts in the file (and, an image being mapped
    /// from offset 0, in the image): what a patcher rewrites, and the base
    /// of a patch site's PC-relative words.
    pub desc_offset: usize,
}

impl Note<'_> {
    /// A note of this project's (`vdso-rs`) of type `kind`.
    pub fn is_ours(&self, kind: u32) -> bool {
        self.owner == &NOTE_OWNER[..NOTE_OWNER.len() - 1] && self.kind == kind
    }
}

/// Every note of every `PT_NOTE` segment, in file order. A segment that
/// cannot be read yields one error and ends the iteration.
#[derive(Debug)]
pub struct Notes<'a> {
    elf: Elf<'a>,
    segments: core::slice::Iter<'a, ProgramHeader64<LE>>,
    current: Option<NoteIterator<'a, elf::FileHeader64<LE>>>,
    failed: bool,
}

impl<'a> Notes<'a> {
    pub(crate) fn of(elf: Elf<'a>) -> Self {
        Notes {
            elf,
            segments: elf.segments().iter(),
            current: None,
            failed: false,
        }
    }

    /// The first note of ours of type `kind`.
    pub fn find_ours(self, kind: u32) -> Result<Option<Note<'a>>, ElfError> {
        for note in self {
            let note = note?;
            if note.is_ours(kind) {
                return Ok(Some(note));
            }
        }
        Ok(None)
    }

    /// The GNU build id's descriptor.
    pub fn build_id(self) -> Result<Option<Note<'a>>, ElfError> {
        for note in self {
            let note = note?;
            if note.owner == elf::ELF_NOTE_GNU && note.kind == elf::NT_GNU_BUILD_ID.0 {
                return Ok(Some(note));
            }
        }
        Ok(None)
    }

    /// The variant the image's variant note names.
    pub fn variant(self) -> Result<Variant, NoteError<'a>> {
        let note = self
            .find_ours(NT_VDSO_VARIANT)
            .map_err(NoteError::Elf)?
            .ok_or(NoteError::Missing("variant"))?;
        Variant::from_desc(note.desc).ok_or(NoteError::Unknown("variant", note.desc))
    }

    /// The data-page layout the image's layout note names.
    pub fn abi(self) -> Result<Abi, NoteError<'a>> {
        let note = self
            .find_ours(NT_VDSO_ABI)
            .map_err(NoteError::Elf)?
            .ok_or(NoteError::Missing("layout"))?;
        abi_from_desc(note.desc).ok_or(NoteError::Unknown("layout", note.desc))
    }

    /// The image's patch sites, in file order. A site note that cannot be
    /// read is an error, not a site skipped: a patcher must not leave one
    /// site of a set unpatched.
    pub fn patch_sites(self) -> impl Iterator<Item = Result<Site, ElfError>> + use<'a> {
        self.filter_map(|note| match note {
            Err(e) => Some(Err(e)),
            Ok(n) if n.is_ours(NT_VDSO_PATCH_SITE) => Some(
                Site::parse(n.desc, n.desc_offset as u64)
                    .ok_or(ElfError::Malformed("an unreadable patch-site note")),
            ),
            Ok(_) => None,
        })
    }

    fn next_segment(&mut self) -> Result<bool, ElfError> {
        for segment in self.segments.by_ref() {
            if let Some(notes) = segment
                .notes(LE, self.elf.bytes())
                .map_err(|_| ElfError::Truncated("a PT_NOTE segment"))?
            {
                self.current = Some(notes);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl<'a> Iterator for Notes<'a> {
    type Item = Result<Note<'a>, ElfError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let Some(current) = self.current.as_mut() else {
                match self.next_segment() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            };
            match current.next() {
                Ok(Some(note)) => {
                    return Some(Ok(Note {
                        owner: note.name(),
                        kind: note.n_type(LE).0,
                        desc: note.desc(),
                        desc_offset: self.elf.offset_of(note.desc()),
                    }));
                }
                Ok(None) => self.current = None,
                Err(_) => {
                    self.failed = true;
                    return Some(Err(ElfError::Truncated("a note")));
                }
            }
        }
    }
}

/// The notes of one `PT_NOTE` segment whose bytes a reader fetched itself
/// (`vdso-run` reads programs through `pread`); `desc_offset` counts from
/// the start of `segment`. `p_align` is the segment's: notes are padded to
/// 4 or 8 bytes by it.
pub fn segment_notes(
    segment: &[u8],
    p_align: u64,
) -> impl Iterator<Item = Result<Note<'_>, ElfError>> {
    let mut notes = NoteIterator::<elf::FileHeader64<LE>>::new(LE, p_align, segment).ok();
    let mut failed = notes.is_none();
    let mut first = true;
    core::iter::from_fn(move || {
        if core::mem::take(&mut first) && failed {
            return Some(Err(ElfError::Malformed("a PT_NOTE segment's alignment")));
        }
        if failed {
            return None;
        }
        match notes.as_mut()?.next() {
            Ok(Some(note)) => Some(Ok(Note {
                owner: note.name(),
                kind: note.n_type(LE).0,
                desc: note.desc(),
                desc_offset: (note.desc().as_ptr() as usize)
                    .wrapping_sub(segment.as_ptr() as usize),
            })),
            Ok(None) => None,
            Err(_) => {
                failed = true;
                Some(Err(ElfError::Truncated("a note")))
            }
        }
    })
}

/// Why an image's variant or layout cannot be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteError<'a> {
    Elf(ElfError),
    /// No vdso-rs note of this kind ("variant", "layout"): not one of this
    /// project's images.
    Missing(&'static str),
    /// A note naming no known variant or layout (its descriptor).
    Unknown(&'static str, &'a [u8]),
}

impl core::fmt::Display for NoteError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoteError::Elf(e) => write!(f, "{e}"),
            NoteError::Missing(kind) => {
                write!(
                    f,
                    "no vdso-rs {kind} note: not one of this project's images"
                )
            }
            NoteError::Unknown(kind, desc) => {
                let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
                write!(f, "unknown {kind} \"")?;
                for chunk in desc[..end].utf8_chunks() {
                    f.write_str(chunk.valid())?;
                    if !chunk.invalid().is_empty() {
                        f.write_str("\u{fffd}")?;
                    }
                }
                write!(f, "\" in the {kind} note")
            }
        }
    }
}

impl core::error::Error for NoteError<'_> {}
