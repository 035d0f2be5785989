//! Finding a symbol the way a libc finds it in a vDSO: the dynamic table,
//! then `DT_HASH` (musl's way) or `DT_GNU_HASH` (glibc's and Go's), then
//! the version check through `DT_VERSYM` and `DT_VERDEF`.

use object::elf::{self, Dyn64, GnuHashHeader, HashHeader, Sym64, Verdaux, Verdef};
use object::read::elf::ProgramHeader;

use crate::LE;
use crate::error::{ElfError, LookupError};
use crate::headers::Elf;
use crate::pod::{read, read_slice};

/// Which hash table a lookup goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashTable {
    /// `DT_HASH`, the SysV table (musl).
    Sysv,
    /// `DT_GNU_HASH` (glibc, Go).
    Gnu,
}

impl HashTable {
    pub const ALL: [HashTable; 2] = [HashTable::Sysv, HashTable::Gnu];

    pub fn tag(self) -> &'static str {
        match self {
            HashTable::Sysv => "DT_HASH",
            HashTable::Gnu => "DT_GNU_HASH",
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
    /// The tag of a relocation table with a non-zero size, if any: a vDSO
    /// must need none.
    pub relocations: Option<&'static str>,
}

impl<'a> DynamicTable<'a> {
    /// Reads the dynamic table of `elf`: a file's bytes, or the memory a
    /// vDSO is mapped at (the two agree: the image is mapped from offset 0).
    pub(crate) fn of(elf: Elf<'a>) -> Result<Self, ElfError> {
        let image = elf.bytes();
        let load = elf
            .segments_of(elf::PT_LOAD)
            .next()
            .ok_or(ElfError::NoLoadSegment)?;
        // Addresses in the table are link-time addresses; the bias turns
        // them into offsets from the start of the mapping.
        let load_bias = load.p_vaddr(LE).wrapping_sub(load.p_offset(LE));
        let dynamic = elf
            .segments_of(elf::PT_DYNAMIC)
            .next()
            .ok_or(ElfError::NoDynamicSegment)?;
        let offset =
            usize::try_from(dynamic.p_offset(LE)).map_err(|_| ElfError::Truncated("PT_DYNAMIC"))?;
        let count = usize::try_from(dynamic.p_filesz(LE) / size_of::<Dyn64<LE>>() as u64)
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
    /// at `version`, as a vDSO's C entries are.
    pub fn lookup(
        &self,
        table: HashTable,
        name: &str,
        version: &str,
    ) -> Result<Symbol, LookupError> {
        self.lookup_typed(table, name, version, elf::STT_FUNC.0)
    }

    /// Looks `name` up through `table` and checks it is a code label
    /// (`STT_NOTYPE`) defined at `version`: how Linux's arm64 vDSO exports
    /// its signal trampoline, `__kernel_rt_sigreturn`. (glibc's and musl's
    /// lookups accept either type.)
    pub fn lookup_label(
        &self,
        table: HashTable,
        name: &str,
        version: &str,
    ) -> Result<Symbol, LookupError> {
        self.lookup_typed(table, name, version, elf::STT_NOTYPE.0)
    }

    fn lookup_typed(
        &self,
        table: HashTable,
        name: &str,
        version: &str,
        kind: u8,
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
        if !defined || sym.st_info.0 & 0xf != kind {
            return Err(LookupError::NotAFunction);
        }
        let offset = sym.st_value.get(LE).wrapping_sub(self.load_bias);
        Ok(Symbol {
            offset,
            size: sym.st_size.get(LE),
        })
    }

    fn sym(&self, index: u32) -> Option<&'a Sym64<LE>> {
        let offset = (index as usize)
            .checked_mul(size_of::<Sym64<LE>>())?
            .checked_add(self.symtab)?;
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

    /// The 32-bit word `index` words after `base`.
    fn word(&self, base: usize, index: usize, what: &'static str) -> Option<u32> {
        let at = index.checked_mul(4)?.checked_add(base)?;
        read::<object::U32<LE>>(self.image, at, what)
            .ok()
            .map(|w| w.get(LE))
    }

    fn find_sysv(&self, name: &str) -> Result<u32, LookupError> {
        let at = self.hash.ok_or(LookupError::NoTable(HashTable::Sysv))?;
        let header: &HashHeader<LE> =
            read(self.image, at, "DT_HASH").map_err(|_| LookupError::NotFound)?;
        let (nbucket, nchain) = (header.bucket_count.get(LE), header.chain_count.get(LE));
        if nbucket == 0 {
            return Err(LookupError::NotFound);
        }
        let words = at.checked_add(8).ok_or(LookupError::NotFound)?;
        let word = |i: usize| self.word(words, i, "DT_HASH");
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
            let next = (nbucket as usize).checked_add(index as usize);
            index = next.and_then(word).ok_or(LookupError::NotFound)?;
        }
        Err(LookupError::NotFound)
    }

    fn find_gnu(&self, name: &str) -> Result<u32, LookupError> {
        let at = self.gnu_hash.ok_or(LookupError::NoTable(HashTable::Gnu))?;
        let header: &GnuHashHeader<LE> =
            read(self.image, at, "DT_GNU_HASH").map_err(|_| LookupError::NotFound)?;
        let nbucket = header.bucket_count.get(LE) as usize;
        let symoffset = header.symbol_base.get(LE);
        let bloom_size = header.bloom_count.get(LE) as usize;
        let bloom_shift = header.bloom_shift.get(LE);
        // glibc masks the word index with the count minus one and shifts
        // the 32-bit hash as x86 does: any other count or shift is read
        // differently by different loaders, and found by none here.
        if nbucket == 0 || !bloom_size.is_power_of_two() || bloom_shift >= 32 {
            return Err(LookupError::NotFound);
        }
        let hash = elf::gnu_hash(name.as_bytes());
        let bloom_at = at.checked_add(16).ok_or(LookupError::NotFound)?;
        let word = (hash as usize / 64) & (bloom_size - 1);
        let bloom: &object::U64<LE> = word
            .checked_mul(8)
            .and_then(|o| o.checked_add(bloom_at))
            .and_then(|o| read(self.image, o, "the GNU hash bloom filter").ok())
            .ok_or(LookupError::NotFound)?;
        let second = hash >> bloom_shift;
        let mask = (1u64 << (hash % 64)) | (1u64 << (second % 64));
        if bloom.get(LE) & mask != mask {
            return Err(LookupError::NotFound);
        }
        let buckets_at = bloom_size
            .checked_mul(8)
            .and_then(|b| b.checked_add(bloom_at))
            .ok_or(LookupError::NotFound)?;
        let chain_at = nbucket
            .checked_mul(4)
            .and_then(|b| b.checked_add(buckets_at))
            .ok_or(LookupError::NotFound)?;
        let mut index = self
            .word(buckets_at, hash as usize % nbucket, "DT_GNU_HASH")
            .ok_or(LookupError::NotFound)?;
        if index < symoffset {
            return Err(LookupError::NotFound);
        }
        // Each chain ends with an entry whose low bit is set; the image's
        // size bounds the walk if a hostile one never does.
        for _ in 0..self.image.len() / 4 {
            let value = self
                .word(chain_at, (index - symoffset) as usize, "DT_GNU_HASH")
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
            // As glibc and Go match it: a definition that is not the base
            // (the soname), by index, then by hash and name.
            let base = def.vd_flags.get(LE).0 & elf::VER_FLG_BASE.0 != 0;
            if !base && def.vd_ndx.get(LE).0 & 0x7fff == ndx {
                if def.vd_hash.get(LE) != elf::hash(version.as_bytes()) {
                    return false;
                }
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
