//! The ELF header and the program headers: all a loader trusts before it
//! maps a file.

use object::elf::{self, FileHeader64, ProgramHeader64, SectionHeader64};
use object::read::elf::{FileHeader, ProgramHeader};

use crate::LE;
use crate::dynamic::DynamicTable;
use crate::error::ElfError;
use crate::notes::Notes;
use crate::pod;

/// `sizeof(Elf64_Ehdr)`: read this much to know where everything else is.
pub const FILE_HEADER_SIZE: usize = size_of::<FileHeader64<LE>>();
/// `sizeof(Elf64_Phdr)`, the only program header size this reader accepts.
pub const SEGMENT_HEADER_SIZE: usize = size_of::<ProgramHeader64<LE>>();
/// `sizeof(Elf64_Shdr)`.
pub const SECTION_HEADER_SIZE: usize = size_of::<SectionHeader64<LE>>();

const _: () =
    assert!(FILE_HEADER_SIZE == 64 && SEGMENT_HEADER_SIZE == 56 && SECTION_HEADER_SIZE == 64);

/// A 64-bit little-endian ELF file held in memory (a file's bytes, or a
/// mapped vDSO, which are the same bytes at the same offsets), with its
/// program headers found and checked to lie inside it.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    header: &'a FileHeader64<LE>,
    segments: &'a [ProgramHeader64<LE>],
}

impl<'a> Elf<'a> {
    /// Reads the headers of `bytes`. The structures are read in place, so
    /// `bytes` must be 8-byte aligned (a `Vec`'s buffer and a mapping are;
    /// see [`Aligned`] for a buffer on the stack).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        let header = file_header(bytes)?;
        let segments = ProgramHeaders::of(header)?.in_file(bytes)?;
        Ok(Elf {
            bytes,
            header,
            segments,
        })
    }

    /// [`parse`](Self::parse), then the checks a kernel makes of a vDSO:
    /// a shared object for `machine`.
    pub fn parse_vdso(bytes: &'a [u8], machine: elf::Machine) -> Result<Self, ElfError> {
        let elf = Elf::parse(bytes)?;
        let found = elf.header.e_machine.get(LE);
        if found != machine {
            return Err(ElfError::WrongMachine {
                found: found.0,
                expected: machine.0,
            });
        }
        let kind = elf.header.e_type.get(LE);
        if kind != elf::ET_DYN {
            return Err(ElfError::NotSharedObject(kind.0));
        }
        Ok(elf)
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn header(&self) -> &'a FileHeader64<LE> {
        self.header
    }

    pub fn segments(&self) -> &'a [ProgramHeader64<LE>] {
        self.segments
    }

    /// The segments of one type.
    pub fn segments_of(
        &self,
        kind: elf::ProgramType,
    ) -> impl Iterator<Item = &'a ProgramHeader64<LE>> + use<'a> {
        self.segments.iter().filter(move |p| p.p_type(LE) == kind)
    }

    /// The file bytes a segment covers, checked to lie inside the file.
    pub fn segment_bytes(&self, segment: &ProgramHeader64<LE>) -> Result<&'a [u8], ElfError> {
        segment
            .data(LE, self.bytes)
            .map_err(|()| ElfError::Truncated("a segment"))
    }

    /// Every note of every `PT_NOTE` segment.
    pub fn notes(&self) -> Notes<'a> {
        Notes::of(*self)
    }

    /// The dynamic table, for symbol lookup.
    pub fn dynamic(&self) -> Result<DynamicTable<'a>, ElfError> {
        DynamicTable::of(*self)
    }

    /// The offset of `inner`, a slice of [`bytes`](Self::bytes), in the file.
    pub(crate) fn offset_of(&self, inner: &[u8]) -> usize {
        (inner.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize)
    }
}

/// The ELF header at the start of `bytes`: the ELF magic, 64-bit,
/// little-endian, version 1.
pub fn file_header(bytes: &[u8]) -> Result<&FileHeader64<LE>, ElfError> {
    if bytes.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(if bytes.len() < 4 {
            ElfError::Truncated("the ELF header")
        } else {
            ElfError::NotElf
        });
    }
    let ident = bytes
        .get(..16)
        .ok_or(ElfError::Truncated("the ELF header"))?;
    // e_ident[EI_CLASS] and e_ident[EI_DATA].
    if ident[4] != elf::ELFCLASS64.0 || ident[5] != elf::ELFDATA2LSB.0 {
        return Err(ElfError::Not64BitLittleEndian);
    }
    let header: &FileHeader64<LE> = pod::read(bytes, 0, "the ELF header")?;
    if !header.is_supported() {
        return Err(ElfError::Malformed("the ELF header's version is not 1"));
    }
    Ok(header)
}

/// Where a file's program header table is, for readers that fetch it
/// themselves (`vdso-run` reads programs through `pread`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeaders {
    pub offset: u64,
    pub count: usize,
}

impl ProgramHeaders {
    /// The table `header` describes. Refuses an entry size other than
    /// `Elf64_Phdr`'s (every loader reads entries at that stride) and a
    /// table whose end overflows.
    pub fn of(header: &FileHeader64<LE>) -> Result<Self, ElfError> {
        let count = usize::from(header.e_phnum.get(LE));
        if count != 0 && usize::from(header.e_phentsize.get(LE)) != SEGMENT_HEADER_SIZE {
            return Err(ElfError::Malformed("e_phentsize is not 56"));
        }
        let offset = header.e_phoff.get(LE);
        let table = ProgramHeaders { offset, count };
        offset
            .checked_add(table.size() as u64)
            .ok_or(ElfError::Truncated("program headers"))?;
        Ok(table)
    }

    /// The table's size in bytes (at most 65535 entries, so no overflow).
    pub fn size(&self) -> usize {
        self.count * SEGMENT_HEADER_SIZE
    }

    /// The file offset of program header `index` (checked at construction
    /// for every index below `count`).
    pub fn at(&self, index: usize) -> Option<u64> {
        (index < self.count).then(|| self.offset + (index * SEGMENT_HEADER_SIZE) as u64)
    }

    /// The table inside a whole file held in memory.
    pub fn in_file<'a>(&self, file: &'a [u8]) -> Result<&'a [ProgramHeader64<LE>], ElfError> {
        let start =
            usize::try_from(self.offset).map_err(|_| ElfError::Truncated("program headers"))?;
        pod::read_slice(file, start, self.count, "program headers")
    }

    /// `count` program headers at the start of `bytes` (which must be
    /// 8-byte aligned).
    pub fn parse(bytes: &[u8], count: usize) -> Result<&[ProgramHeader64<LE>], ElfError> {
        pod::read_slice(bytes, 0, count, "program headers")
    }
}

/// Where a file's section header table is (only `vdso-run`'s program
/// checks read one: a loader, and so this crate's image readers, never do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeaders {
    pub offset: u64,
    pub count: usize,
    /// The index of the section holding the section names.
    pub names: usize,
}

impl SectionHeaders {
    /// The table `header` describes; `None` if it has none.
    pub fn of(header: &FileHeader64<LE>) -> Result<Option<Self>, ElfError> {
        let (offset, count) = (header.e_shoff.get(LE), usize::from(header.e_shnum.get(LE)));
        if offset == 0 || count == 0 {
            return Ok(None);
        }
        if usize::from(header.e_shentsize.get(LE)) != SECTION_HEADER_SIZE {
            return Err(ElfError::Malformed("e_shentsize is not 64"));
        }
        let names = usize::from(header.e_shstrndx.get(LE).0);
        if names >= count {
            return Err(ElfError::Malformed("e_shstrndx is not a section"));
        }
        Ok(Some(SectionHeaders {
            offset,
            count,
            names,
        }))
    }

    /// The file offset of section header `index`.
    pub fn at(&self, index: usize) -> Option<u64> {
        let rel = u64::try_from(index.checked_mul(SECTION_HEADER_SIZE)?).ok()?;
        self.offset.checked_add(rel)
    }

    /// One section header at the start of `bytes` (8-byte aligned).
    pub fn parse(bytes: &[u8]) -> Result<&SectionHeader64<LE>, ElfError> {
        pod::read(bytes, 0, "a section header")
    }
}

/// A buffer for ELF structures read from a file: the structures are read in
/// place, which needs their 8-byte alignment.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct Aligned<const N: usize>(pub [u8; N]);

impl<const N: usize> Aligned<N> {
    pub const fn zeroed() -> Self {
        Aligned([0; N])
    }
}
