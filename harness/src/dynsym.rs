//! Finding a symbol the way a libc finds it in a vDSO: program headers, then
//! the dynamic table, then `DT_HASH` (musl's way) or `DT_GNU_HASH` (glibc's
//! preferred way), then the version check. Never section headers: nothing
//! obliges a vDSO to keep them mapped.
//!
//! Every read is bounds-checked and nothing panics, so this runs on
//! untrusted bytes; [`DynamicTable`] also never allocates, so it runs in a
//! preload library's signal-handler paths ([`notes`] collects into a `Vec`).

use core::fmt;

use object::LittleEndian as LE;
use object::elf::{
    self, Dyn64, FileHeader64, GnuHashHeader, HashHeader, ProgramHeader64, Sym64, Verdaux, Verdef,
};
use object::pod::{Pod, from_bytes, slice_from_bytes};

/// Which hash table a lookup goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashTable {
    /// `DT_HASH`, the SysV table (musl, Go's first choice is the GNU one).
    Sysv,
    /// `DT_GNU_HASH` (glibc).
    Gnu,
}

/// Why an ELF image cannot be read as a vDSO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64BitLittleEndian,
    WrongMachine(u16),
    NotSharedObject(u16),
    Truncated(&'static str),
    NoLoadSegment,
    NoDynamicSegment,
    Missing(&'static str),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file (bad magic)"),
            ElfError::Not64BitLittleEndian => write!(f, "not a 64-bit little-endian ELF file"),
            ElfError::WrongMachine(m) => write!(f, "ELF machine {m:#x} is not x86-64"),
            ElfError::NotSharedObject(t) => write!(f, "ELF type {t} is not a shared object"),
            ElfError::Truncated(what) => write!(f, "truncated: {what} lies outside the file"),
            ElfError::NoLoadSegment => write!(f, "no PT_LOAD segment"),
            ElfError::NoDynamicSegment => write!(f, "no PT_DYNAMIC segment"),
            ElfError::Missing(what) => write!(f, "the dynamic table has no {what}"),
        }
    }
}

/// Why a symbol was not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The image has no table of that kind.
    NoTable(HashTable),
    NotFound,
    /// Found, but not defined at the requested version.
    WrongVersion,
    /// Found and versioned, but undefined or not a function.
    NotAFunction,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NoTable(HashTable::Sysv) => write!(f, "the image has no DT_HASH table"),
            LookupError::NoTable(HashTable::Gnu) => write!(f, "the image has no DT_GNU_HASH table"),
            LookupError::NotFound => write!(f, "not in the dynamic symbol table"),
            LookupError::WrongVersion => write!(f, "not defined at the requested version"),
            LookupError::NotAFunction => write!(f, "not a defined function"),
        }
    }
}

/// A resolved symbol: its offset from the image's base, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub offset: u64,
    pub size: u64,
}

/// The parts of an image's dynamic table a lookup needs, as file offsets.
#[derive(Clone, Copy, Debug)]
pub struct DynamicTable<'a> {
    image: &'a [u8],
    load_bias: u64,
    symtab: usize,
    strtab: usize,
    strsz: usize,
    hash: Option<usize>,
    gnu_hash: Option<usize>,
    versym: Option<usize>,
    verdef: Option<usize>,
    verdefnum: usize,
    /// Dynamic tags of relocations with a non-zero size, if any.
    pub relocations: Option<&'static str>,
}

fn read<'a, T: Pod>(image: &'a [u8], offset: usize, what: &'static str) -> Result<&'a T, ElfError> {
    let bytes = image.get(offset..).ok_or(ElfError::Truncated(what))?;
    from_bytes::<T>(bytes)
        .map(|(t, _)| t)
        .map_err(|()| ElfError::Truncated(what))
}

fn read_slice<'a, T: Pod>(
    image: &'a [u8],
    offset: usize,
    count: usize,
    what: &'static str,
) -> Result<&'a [T], ElfError> {
    let bytes = image.get(offset..).ok_or(ElfError::Truncated(what))?;
    slice_from_bytes::<T>(bytes, count)
        .map(|(t, _)| t)
        .map_err(|()| ElfError::Truncated(what))
}

/// The ELF header and program headers of `image`.
pub fn program_headers(
    image: &[u8],
) -> Result<(&FileHeader64<LE>, &[ProgramHeader64<LE>]), ElfError> {
    if image.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(if image.len() < 4 {
            ElfError::Truncated("the ELF header")
        } else {
            ElfError::NotElf
        });
    }
    let header: &FileHeader64<LE> = read(image, 0, "the ELF header")?;
    if header.e_ident.class != elf::ELFCLASS64 || header.e_ident.data != elf::ELFDATA2LSB {
        return Err(ElfError::Not64BitLittleEndian);
    }
    let machine = header.e_machine.get(LE);
    if machine != elf::EM_X86_64 {
        return Err(ElfError::WrongMachine(machine.0));
    }
    let kind = header.e_type.get(LE);
    if kind != elf::ET_DYN {
        return Err(ElfError::NotSharedObject(kind.0));
    }
    let phoff = usize::try_from(header.e_phoff.get(LE))
        .map_err(|_| ElfError::Truncated("program headers"))?;
    let phdrs = read_slice(
        image,
        phoff,
        usize::from(header.e_phnum.get(LE)),
        "program headers",
    )?;
    Ok((header, phdrs))
}

impl<'a> DynamicTable<'a> {
    /// Reads the dynamic table of `image`: the file's bytes, or the memory a
    /// vDSO is mapped at (the two agree: the image is mapped from offset 0).
    pub fn parse(image: &'a [u8]) -> Result<Self, ElfError> {
        let (_, phdrs) = program_headers(image)?;
        let load = phdrs
            .iter()
            .find(|p| p.p_type.get(LE) == elf::PT_LOAD)
            .ok_or(ElfError::NoLoadSegment)?;
        // Addresses in the table are link-time addresses; the bias turns
        // them into offsets from the start of the mapping.
        let load_bias = load.p_vaddr.get(LE).wrapping_sub(load.p_offset.get(LE));
        let dynamic = phdrs
            .iter()
            .find(|p| p.p_type.get(LE) == elf::PT_DYNAMIC)
            .ok_or(ElfError::NoDynamicSegment)?;
        let offset = usize::try_from(dynamic.p_offset.get(LE))
            .map_err(|_| ElfError::Truncated("PT_DYNAMIC"))?;
        let count = usize::try_from(dynamic.p_filesz.get(LE) / 16)
            .map_err(|_| ElfError::Truncated("PT_DYNAMIC"))?;
        let entries: &[Dyn64<LE>] = read_slice(image, offset, count, "the dynamic table")?;
        let mut t = DynamicTable {
            image,
            load_bias,
            symtab: 0,
            strtab: 0,
            strsz: 0,
            hash: None,
            gnu_hash: None,
            versym: None,
            verdef: None,
            verdefnum: 0,
            relocations: None,
        };
        let (mut symtab, mut strtab) = (None, None);
        for d in entries {
            let (tag, val) = (d.d_tag.get(LE), d.d_val.get(LE));
            let at = || t.address(val);
            match tag {
                elf::DT_NULL => break,
                elf::DT_SYMTAB => symtab = Some(at()?),
                elf::DT_STRTAB => strtab = Some(at()?),
                elf::DT_STRSZ => t.strsz = usize::try_from(val).unwrap_or(usize::MAX),
                elf::DT_HASH => t.hash = Some(at()?),
                elf::DT_GNU_HASH => t.gnu_hash = Some(at()?),
                elf::DT_VERSYM => t.versym = Some(at()?),
                elf::DT_VERDEF => t.verdef = Some(at()?),
                elf::DT_VERDEFNUM => t.verdefnum = usize::try_from(val).unwrap_or(0),
                elf::DT_RELASZ | elf::DT_RELSZ | elf::DT_PLTRELSZ | elf::DT_RELRSZ if val != 0 => {
                    t.relocations = Some(match tag {
                        elf::DT_RELASZ => "DT_RELA",
                        elf::DT_RELSZ => "DT_REL",
                        elf::DT_PLTRELSZ => "DT_JMPREL",
                        _ => "DT_RELR",
                    });
                }
                _ => {}
            }
        }
        t.symtab = symtab.ok_or(ElfError::Missing("DT_SYMTAB"))?;
        t.strtab = strtab.ok_or(ElfError::Missing("DT_STRTAB"))?;
        Ok(t)
    }

    fn address(&self, vaddr: u64) -> Result<usize, ElfError> {
        let offset = vaddr.wrapping_sub(self.load_bias);
        usize::try_from(offset)
            .ok()
            .filter(|&o| o < self.image.len())
            .ok_or(ElfError::Truncated("an address in the dynamic table"))
    }

    pub fn has(&self, table: HashTable) -> bool {
        match table {
            HashTable::Sysv => self.hash.is_some(),
            HashTable::Gnu => self.gnu_hash.is_some(),
        }
    }

    /// Looks `name` up through `table` and checks it is a function defined
    /// at `version` (as glibc's and musl's vDSO lookups do).
    pub fn lookup(
        &self,
        table: HashTable,
        name: &str,
        version: &str,
    ) -> Result<Symbol, LookupError> {
        let index = match table {
            HashTable::Sysv => self.find_sysv(name)?,
            HashTable::Gnu => self.find_gnu(name)?,
        };
        if !self.has_version(index, version) {
            return Err(LookupError::WrongVersion);
        }
        let sym = self.sym(index).ok_or(LookupError::NotFound)?;
        let defined = sym.st_shndx.get(LE) != elf::SHN_UNDEF;
        let kind = sym.st_info.0 & 0xf;
        if !defined || kind != elf::STT_FUNC.0 {
            return Err(LookupError::NotAFunction);
        }
        let offset = sym.st_value.get(LE).wrapping_sub(self.load_bias);
        Ok(Symbol {
            offset,
            size: sym.st_size.get(LE),
        })
    }

    fn sym(&self, index: u32) -> Option<&'a Sym64<LE>> {
        let offset = (index as usize).checked_mul(24)?.checked_add(self.symtab)?;
        read(self.image, offset, "a symbol").ok()
    }

    fn name_is(&self, index: u32, name: &str) -> bool {
        let Some(sym) = self.sym(index) else {
            return false;
        };
        let start = self.strtab.saturating_add(sym.st_name.get(LE) as usize);
        self.string_at(start).is_some_and(|s| s == name.as_bytes())
    }

    fn string_at(&self, start: usize) -> Option<&'a [u8]> {
        let end = if self.strsz != 0 {
            self.strtab.saturating_add(self.strsz)
        } else {
            self.image.len()
        };
        let bytes = self.image.get(start..end.min(self.image.len()))?;
        let len = bytes.iter().position(|&b| b == 0)?;
        Some(&bytes[..len])
    }

    fn find_sysv(&self, name: &str) -> Result<u32, LookupError> {
        let at = self.hash.ok_or(LookupError::NoTable(HashTable::Sysv))?;
        let header: &HashHeader<LE> =
            read(self.image, at, "DT_HASH").map_err(|_| LookupError::NotFound)?;
        let (nbucket, nchain) = (header.bucket_count.get(LE), header.chain_count.get(LE));
        if nbucket == 0 {
            return Err(LookupError::NotFound);
        }
        let words = at + 8;
        let word = |i: usize| -> Option<u32> {
            read::<object::U32<LE>>(self.image, words.checked_add(i.checked_mul(4)?)?, "DT_HASH")
                .ok()
                .map(|w| w.get(LE))
        };
        let mut index =
            word((elf::hash(name.as_bytes()) % nbucket) as usize).ok_or(LookupError::NotFound)?;
        // A chain longer than the table is a loop in a hostile file.
        for _ in 0..nchain {
            if index == 0 || index >= nchain {
                break;
            }
            if self.name_is(index, name) {
                return Ok(index);
            }
            index = word(nbucket as usize + index as usize).ok_or(LookupError::NotFound)?;
        }
        Err(LookupError::NotFound)
    }

    fn find_gnu(&self, name: &str) -> Result<u32, LookupError> {
        let at = self.gnu_hash.ok_or(LookupError::NoTable(HashTable::Gnu))?;
        let header: &GnuHashHeader<LE> =
            read(self.image, at, "DT_GNU_HASH").map_err(|_| LookupError::NotFound)?;
        let nbucket = header.bucket_count.get(LE);
        let symoffset = header.symbol_base.get(LE);
        let bloom_size = header.bloom_count.get(LE) as usize;
        let bloom_shift = header.bloom_shift.get(LE);
        if nbucket == 0 || bloom_size == 0 {
            return Err(LookupError::NotFound);
        }
        let hash = elf::gnu_hash(name.as_bytes());
        let bloom_at = at + 16;
        let word = (hash as usize / 64) % bloom_size;
        let bloom: &object::U64<LE> =
            read(self.image, bloom_at + word * 8, "the GNU hash bloom filter")
                .map_err(|_| LookupError::NotFound)?;
        // A hostile `bloom_shift` of 32 or more shifts every bit out.
        let second = hash.checked_shr(bloom_shift).unwrap_or(0);
        let mask = (1u64 << (hash % 64)) | (1u64 << (second % 64));
        if bloom.get(LE) & mask != mask {
            return Err(LookupError::NotFound);
        }
        let buckets_at = bloom_at + bloom_size * 8;
        let chain_at = buckets_at + nbucket as usize * 4;
        let word_at = |offset: usize| -> Option<u32> {
            read::<object::U32<LE>>(self.image, offset, "DT_GNU_HASH")
                .ok()
                .map(|w| w.get(LE))
        };
        let mut index =
            word_at(buckets_at + (hash % nbucket) as usize * 4).ok_or(LookupError::NotFound)?;
        if index < symoffset {
            return Err(LookupError::NotFound);
        }
        // Each chain ends with an entry whose low bit is set; the image's
        // size bounds the walk if a hostile one never does.
        for _ in 0..self.image.len() / 4 {
            let value = word_at(chain_at + (index - symoffset) as usize * 4)
                .ok_or(LookupError::NotFound)?;
            if value | 1 == hash | 1 && self.name_is(index, name) {
                return Ok(index);
            }
            if value & 1 != 0 {
                break;
            }
            index = index.checked_add(1).ok_or(LookupError::NotFound)?;
        }
        Err(LookupError::NotFound)
    }

    /// True if symbol `index`'s version (from `DT_VERSYM`) is the `DT_VERDEF`
    /// entry named `version`. An image without version tables matches any
    /// version, as in glibc.
    fn has_version(&self, index: u32, version: &str) -> bool {
        let (Some(versym), Some(verdef)) = (self.versym, self.verdef) else {
            return self.versym.is_none();
        };
        let Some(ndx) = (index as usize)
            .checked_mul(2)
            .and_then(|o| o.checked_add(versym))
            .and_then(|o| read::<object::U16<LE>>(self.image, o, "DT_VERSYM").ok())
            .map(|v| v.get(LE) & 0x7fff)
        else {
            return false;
        };
        let mut at = verdef;
        for _ in 0..self.verdefnum.clamp(1, 64) {
            let Ok(def) = read::<Verdef<LE>>(self.image, at, "DT_VERDEF") else {
                return false;
            };
            if def.vd_ndx.get(LE).0 == ndx {
                let aux_at = at.saturating_add(def.vd_aux.get(LE) as usize);
                let Ok(aux) = read::<Verdaux<LE>>(self.image, aux_at, "DT_VERDEF") else {
                    return false;
                };
                let name = self.strtab.saturating_add(aux.vda_name.get(LE) as usize);
                return self
                    .string_at(name)
                    .is_some_and(|s| s == version.as_bytes());
            }
            match def.vd_next.get(LE) {
                0 => return false,
                next => at = at.saturating_add(next as usize),
            }
        }
        false
    }
}

/// One ELF note from a `PT_NOTE` segment.
#[derive(Clone, Copy, Debug)]
pub struct Note<'a> {
    /// The owner's name, with its terminating NUL.
    pub name: &'a [u8],
    pub kind: u32,
    pub desc: &'a [u8],
    /// The descriptor's offset in the file (for patching it).
    pub desc_offset: usize,
}

/// Every note of every `PT_NOTE` segment, read as a loader reads them (no
/// section headers), bounds-checked.
pub fn notes(image: &[u8]) -> Result<Vec<Note<'_>>, ElfError> {
    let (_, phdrs) = program_headers(image)?;
    let mut out = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type.get(LE) == elf::PT_NOTE) {
        let start =
            usize::try_from(p.p_offset.get(LE)).map_err(|_| ElfError::Truncated("PT_NOTE"))?;
        let len =
            usize::try_from(p.p_filesz.get(LE)).map_err(|_| ElfError::Truncated("PT_NOTE"))?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= image.len())
            .ok_or(ElfError::Truncated("PT_NOTE"))?;
        let mut at = start;
        // Each note: namesz, descsz, type, then name and desc, each padded to 4.
        while at + 12 <= end {
            let word =
                |i: usize| u32::from_le_bytes([image[i], image[i + 1], image[i + 2], image[i + 3]]);
            let (namesz, descsz, kind) = (word(at) as usize, word(at + 4) as usize, word(at + 8));
            let name_at = at + 12;
            let desc_offset = name_at.saturating_add(namesz.div_ceil(4) * 4);
            let next = desc_offset.saturating_add(descsz.div_ceil(4) * 4);
            let (Some(name), Some(desc)) = (
                image
                    .get(name_at..name_at.saturating_add(namesz))
                    .filter(|_| next <= end),
                image.get(desc_offset..desc_offset.saturating_add(descsz)),
            ) else {
                return Err(ElfError::Truncated("a note"));
            };
            out.push(Note {
                name,
                kind,
                desc,
                desc_offset,
            });
            at = next;
        }
    }
    Ok(out)
}
