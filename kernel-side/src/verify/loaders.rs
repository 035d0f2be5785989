//! The image as the programs that use it read it. Every libc and runtime
//! finds a vDSO's functions on its own, from the program headers and the
//! dynamic table in memory, with arithmetic of its own; an image that one
//! of them reads differently from the others (or from this verifier's
//! section-based view) makes that one call the wrong code or fall back to
//! system calls without a word. So the rules here are the strictest each
//! reader needs, and each export is looked up the way each of them looks
//! it up, over the file's bytes:
//!
//! - glibc's dynamic loader (`elf/setup-vdso.h`, `elf_get_dynamic_info`,
//!   `_dl_setup_hash`, `do_lookup_x`, `check_match`, `_dl_check_map_versions`):
//!   PT_DYNAMIC at its *address* and for its `p_memsz`, relocating the
//!   table in place unless PT_DYNAMIC is read-only, asserting on a
//!   `DT_RELA` without `DT_RELAENT`; the GNU hash with its bloom filter
//!   (`hash >> bloom_shift` as x86 shifts, word index masked with the word
//!   count minus one), the version by index, hash and name;
//! - musl's `__vdsosym`: PT_DYNAMIC at its *offset*, every symbol below
//!   `DT_HASH`'s `nchain` scanned in order, the first whose type, binding,
//!   section, name and version (by index and name) fit;
//! - the Go runtime (`vdso_linux.go`): PT_DYNAMIC at its offset, the GNU
//!   hash chains without the bloom filter, the version by hash and name;
//! - a `DT_HASH` bucket walk, as loaders without GNU hash support do.
//!
//! Reads stay inside the PT_LOAD's file bytes, which is what a process has
//! mapped: a loader reading outside it would fault or read other memory.

use std::collections::BTreeMap;

use object::elf;

use super::{Export, Violation};
use common::entries::{EntryKind, Placed};

/// Where each part the loaders read lies, found and checked once.
struct View<'a> {
    /// The bytes a process maps: the PT_LOAD's file bytes.
    image: &'a [u8],
    strtab: usize,
    strsz: usize,
    symtab: usize,
    /// Symbols, from `DT_HASH`'s `nchain` (musl's count).
    nsym: u32,
    versym: usize,
    gnu: Gnu,
    sysv: Sysv,
    /// `(vd_ndx, vd_flags, vd_hash, name)` of each version definition.
    verdefs: Vec<(u16, u16, u32, &'a [u8])>,
}

#[derive(Clone, Copy)]
struct Gnu {
    nbuckets: u32,
    symoffset: u32,
    bloom_words: u32,
    bloom_shift: u32,
    bloom: usize,
    buckets: usize,
    chain: usize,
}

#[derive(Clone, Copy)]
struct Sysv {
    nbucket: u32,
    buckets: usize,
    chains: usize,
}

/// The dynamic tags an image may have: what the link of every image
/// produces, and nothing a loader would act on beyond finding symbols.
pub(super) const ALLOWED_TAGS: [elf::DynamicTag; 13] = [
    elf::DT_NULL,
    elf::DT_SONAME,
    elf::DT_SYMBOLIC,
    elf::DT_HASH,
    elf::DT_GNU_HASH,
    elf::DT_STRTAB,
    elf::DT_SYMTAB,
    elf::DT_STRSZ,
    elf::DT_SYMENT,
    elf::DT_VERDEF,
    elf::DT_VERDEFNUM,
    elf::DT_FLAGS,
    elf::DT_VERSYM,
];

/// `DT_FLAGS` values an image may have: `DF_SYMBOLIC`, which ld sets.
pub(super) const ALLOWED_FLAGS: u64 = elf::DF_SYMBOLIC.0;

/// The segment types an image may have.
pub(super) const ALLOWED_SEGMENTS: [elf::ProgramType; 4] = [
    elf::PT_LOAD,
    elf::PT_DYNAMIC,
    elf::PT_NOTE,
    elf::PT_GNU_EH_FRAME,
];

/// The most version definitions an image may have (it has two: the base
/// and `LINUX_2.6`).
const MAX_VERDEFS: usize = 16;
const SYM_SIZE: usize = 24;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// A NUL-terminated string of the string table, the NUL inside it.
fn string(image: &[u8], strtab: usize, strsz: usize, name: u64) -> Option<&[u8]> {
    let start = strtab.checked_add(usize::try_from(name).ok()?)?;
    let table = image.get(start..strtab.checked_add(strsz)?)?;
    let len = table.iter().position(|&b| b == 0)?;
    Some(&table[..len])
}

/// A check's finding: why the structure is unsound.
type Unsound = String;

/// Reads and checks every structure the loaders read, then looks each
/// export of `entries` up as each loader does. `exports` is the section
/// view's: every loader must find what it names, at the address it gives.
pub(super) fn check(
    data: &[u8],
    entries: &[Placed],
    exports: &BTreeMap<String, Export>,
) -> Vec<Violation> {
    let view = match View::read(data) {
        Ok(view) => view,
        Err(why) => return vec![Violation::LoaderView(why)],
    };
    let mut out = Vec::new();
    for e in entries {
        for name in [Some(e.symbol), e.alias].into_iter().flatten() {
            let Some(export) = exports.get(name) else {
                // Reported as missing by the section view.
                continue;
            };
            let loaders: [(&'static str, Lookup<'_>); 4] = [
                ("glibc", View::glibc),
                ("musl", View::musl),
                ("Go", View::go),
                ("a DT_HASH", View::sysv),
            ];
            for (loader, lookup) in loaders {
                let why = match lookup(&view, name.as_bytes(), e.version.as_bytes()) {
                    Err(why) => why,
                    Ok(index) => match view.judge(index, export.offset, e.kind) {
                        Ok(()) => continue,
                        Err(why) => why,
                    },
                };
                out.push(Violation::Lookup {
                    loader,
                    name: format!("{name}@{}", e.version),
                    why,
                });
            }
        }
    }
    out
}

/// One loader's lookup of a name at a version: the symbol's index.
type Lookup<'a> = fn(&View<'a>, &[u8], &[u8]) -> Result<u32, String>;

impl<'a> View<'a> {
    fn read(data: &'a [u8]) -> Result<View<'a>, Unsound> {
        let phoff = u64_at(data, 32).ok_or("no ELF header")?;
        let phentsize = u16_at(data, 54).ok_or("no ELF header")?;
        let phnum = u16_at(data, 56).ok_or("no ELF header")?;
        if usize::from(phentsize) != 56 {
            return Err(format!(
                "e_phentsize is {phentsize}, not 56 (musl steps through the table by it)"
            ));
        }
        let phdr = |i: usize| -> Option<(u32, u64, u64, u64, u64)> {
            let at = usize::try_from(phoff)
                .ok()?
                .checked_add(i.checked_mul(56)?)?;
            Some((
                u32_at(data, at)?,
                u64_at(data, at + 8)?,
                u64_at(data, at + 16)?,
                u64_at(data, at + 32)?,
                u64_at(data, at + 40)?,
            ))
        };
        let mut load = None;
        let mut dynamic = None;
        for i in 0..usize::from(phnum) {
            let (kind, offset, _vaddr, filesz, memsz) =
                phdr(i).ok_or("the program headers lie outside the file")?;
            match elf::ProgramType(kind) {
                elf::PT_LOAD => load = Some(filesz),
                elf::PT_DYNAMIC => dynamic = Some((offset, filesz, memsz)),
                _ => {}
            }
        }
        // The segment rules (one PT_LOAD at 0, every other segment inside
        // it at equal offset and address) are the section view's to report.
        let end = load
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| l <= data.len())
            .ok_or("no PT_LOAD holding the file")?;
        let image = &data[..end];
        let table_end = usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(usize::from(phnum) * 56));
        if table_end.is_none_or(|e| e > end) {
            return Err(
                "the program headers lie outside the PT_LOAD: a loader reads them in memory".into(),
            );
        }
        let (offset, filesz, _) = dynamic.ok_or("no PT_DYNAMIC")?;
        let dyn_at = usize::try_from(offset).map_err(|_| "PT_DYNAMIC is outside the image")?;
        let dyn_len = usize::try_from(filesz).map_err(|_| "PT_DYNAMIC is outside the image")?;
        if dyn_at % 8 != 0 || dyn_len % 16 != 0 {
            return Err(format!(
                "PT_DYNAMIC at {dyn_at:#x} of {dyn_len:#x} bytes is not a table of 16-byte entries \
                 on an 8-byte boundary"
            ));
        }
        let mut tags: BTreeMap<u64, u64> = BTreeMap::new();
        let mut terminated = false;
        for i in 0..dyn_len / 16 {
            let at = dyn_at + i * 16;
            let (tag, val) = (
                u64_at(image, at).ok_or("PT_DYNAMIC is outside the PT_LOAD")?,
                u64_at(image, at + 8).ok_or("PT_DYNAMIC is outside the PT_LOAD")?,
            );
            if tag == elf::DT_NULL.0 as u64 {
                terminated = true;
                break;
            }
            if tags.insert(tag, val).is_some() {
                return Err(format!(
                    "dynamic tag {:?} appears twice (loaders differ on which one counts)",
                    elf::DynamicTag(tag as i64)
                ));
            }
        }
        if !terminated {
            return Err(
                "no DT_NULL ends the dynamic table inside PT_DYNAMIC: every loader reads on until \
                 one"
                .into(),
            );
        }
        let tag = |t: elf::DynamicTag| tags.get(&(t.0 as u64)).copied();
        // Addresses are offsets: the image is linked at 0 and mapped from 0.
        let address = |t: elf::DynamicTag, align: usize| -> Result<usize, Unsound> {
            let v = tag(t).ok_or_else(|| format!("no {t:?} in the dynamic table"))?;
            usize::try_from(v)
                .ok()
                .filter(|&a| a < end && a % align == 0)
                .ok_or_else(|| {
                    format!("{t:?} is {v:#x}: not inside the PT_LOAD on a {align}-byte boundary")
                })
        };
        let strtab = address(elf::DT_STRTAB, 1)?;
        let symtab = address(elf::DT_SYMTAB, 8)?;
        let hash = address(elf::DT_HASH, 4)?;
        let gnu_hash = address(elf::DT_GNU_HASH, 8)?;
        let versym = address(elf::DT_VERSYM, 2)?;
        let verdef = address(elf::DT_VERDEF, 4)?;
        let strsz = tag(elf::DT_STRSZ)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| strtab.checked_add(s).is_some_and(|e| e <= end))
            .ok_or("DT_STRSZ is missing or runs past the PT_LOAD")?;
        if let Some(syment) = tag(elf::DT_SYMENT)
            && syment != SYM_SIZE as u64
        {
            return Err(format!("DT_SYMENT is {syment}, not {SYM_SIZE}"));
        }

        let word = |at: usize, what: &str| -> Result<u32, Unsound> {
            u32_at(image, at).ok_or_else(|| format!("{what} runs past the PT_LOAD"))
        };
        // DT_HASH: musl takes nchain as the number of symbols.
        let (nbucket, nsym) = (word(hash, "DT_HASH")?, word(hash + 4, "DT_HASH")?);
        if nbucket == 0 || nsym == 0 {
            return Err(format!(
                "DT_HASH has {nbucket} buckets and {nsym} chains; it needs at least one of each"
            ));
        }
        let sysv = Sysv {
            nbucket,
            buckets: hash + 8,
            chains: hash + 8 + nbucket as usize * 4,
        };
        for i in 0..(nbucket as usize + nsym as usize) {
            let v = word(hash + 8 + i * 4, "DT_HASH")?;
            if v >= nsym {
                return Err(format!("DT_HASH names symbol {v}, past its {nsym} symbols"));
            }
        }
        let fits = |at: usize, len: usize| at.checked_add(len).is_some_and(|e| e <= end);
        if !fits(symtab, nsym as usize * SYM_SIZE) || !fits(versym, nsym as usize * 2) {
            return Err(format!(
                "the {nsym} symbols DT_HASH counts (or their DT_VERSYM entries) run past the \
                 PT_LOAD"
            ));
        }

        // DT_GNU_HASH.
        let (nbuckets, symoffset, bloom_words, bloom_shift) = (
            word(gnu_hash, "DT_GNU_HASH")?,
            word(gnu_hash + 4, "DT_GNU_HASH")?,
            word(gnu_hash + 8, "DT_GNU_HASH")?,
            word(gnu_hash + 12, "DT_GNU_HASH")?,
        );
        if nbuckets == 0 {
            return Err("DT_GNU_HASH has no buckets".into());
        }
        if !bloom_words.is_power_of_two() {
            return Err(format!(
                "DT_GNU_HASH's bloom filter has {bloom_words} words; glibc asserts a power of two \
                 and masks the index with it"
            ));
        }
        if bloom_shift >= 32 {
            return Err(format!(
                "DT_GNU_HASH's bloom shift is {bloom_shift}: a 32-bit hash shifted that far is a \
                 different bit to each loader (glibc's shift wraps, others give 0)"
            ));
        }
        if symoffset == 0 || symoffset > nsym {
            return Err(format!(
                "DT_GNU_HASH's first hashed symbol is {symoffset}, not within 1..={nsym}"
            ));
        }
        let bloom = gnu_hash + 16;
        let buckets = bloom + bloom_words as usize * 8;
        let chain = buckets + nbuckets as usize * 4;
        let hashed = (nsym - symoffset) as usize;
        if !fits(chain, hashed * 4) {
            return Err("DT_GNU_HASH runs past the PT_LOAD".into());
        }
        for b in 0..nbuckets as usize {
            let v = word(buckets + b * 4, "DT_GNU_HASH")?;
            if v != 0 && !(symoffset..nsym).contains(&v) {
                return Err(format!(
                    "DT_GNU_HASH bucket {b} starts at symbol {v}, outside the hashed symbols \
                     {symoffset}..{nsym}"
                ));
            }
        }
        if hashed > 0 && word(chain + (hashed - 1) * 4, "DT_GNU_HASH")? & 1 == 0 {
            return Err(
                "DT_GNU_HASH's last chain does not end at the last symbol: a walk would run past \
                 the symbols"
                    .into(),
            );
        }
        let gnu = Gnu {
            nbuckets,
            symoffset,
            bloom_words,
            bloom_shift,
            bloom,
            buckets,
            chain,
        };

        // Version definitions, as glibc, musl and Go walk them.
        let count = tag(elf::DT_VERDEFNUM)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_VERDEFS).contains(n))
            .ok_or_else(|| format!("DT_VERDEFNUM is missing or not within 1..={MAX_VERDEFS}"))?;
        let mut verdefs = Vec::new();
        let mut at = verdef;
        for i in 0..count {
            let field = |off: usize| u16_at(image, at + off);
            let (Some(version), Some(flags), Some(ndx), Some(cnt)) =
                (field(0), field(2), field(4), field(6))
            else {
                return Err("a version definition runs past the PT_LOAD".into());
            };
            let (Some(vd_hash), Some(aux), Some(next)) = (
                u32_at(image, at + 8),
                u32_at(image, at + 12),
                u32_at(image, at + 16),
            ) else {
                return Err("a version definition runs past the PT_LOAD".into());
            };
            if version != 1 || cnt == 0 {
                return Err(format!(
                    "version definition {i} has revision {version} and {cnt} names; glibc wants \
                     revision 1 and a name"
                ));
            }
            let aux_at = at
                .checked_add(aux as usize)
                .filter(|a| a % 4 == 0)
                .ok_or("a version definition's name record is misplaced")?;
            let name = u32_at(image, aux_at)
                .and_then(|n| string(image, strtab, strsz, u64::from(n)))
                .ok_or("a version definition's name lies outside the string table")?;
            if vd_hash != elf::hash(name) {
                return Err(format!(
                    "version {} has hash {vd_hash:#x}, not its name's {:#x}: glibc and Go match \
                     versions by hash",
                    String::from_utf8_lossy(name),
                    elf::hash(name)
                ));
            }
            verdefs.push((ndx, flags, vd_hash, name));
            let last = i + 1 == count;
            match (next, last) {
                (0, true) => {}
                (0, false) | (_, true) => {
                    return Err(format!(
                        "the version definitions' chain does not end after DT_VERDEFNUM ({count}) \
                         entries"
                    ));
                }
                (n, false) => {
                    at = at
                        .checked_add(n as usize)
                        .filter(|a| a % 4 == 0)
                        .ok_or("a version definition's successor is misplaced")?;
                }
            }
        }
        Ok(View {
            image,
            strtab,
            strsz,
            symtab,
            nsym,
            versym,
            gnu,
            sysv,
            verdefs,
        })
    }

    /// Symbol `index`: (st_name, st_info, st_other, st_shndx, st_value).
    fn sym(&self, index: u32) -> Result<(u32, u8, u8, u16, u64), String> {
        let at = (index as usize)
            .checked_mul(SYM_SIZE)
            .and_then(|o| o.checked_add(self.symtab))
            .filter(|_| index < self.nsym)
            .ok_or_else(|| format!("it reads symbol {index}, past the {} symbols", self.nsym))?;
        let b = self.image;
        let outside = || format!("symbol {index} runs past the PT_LOAD");
        Ok((
            u32_at(b, at).ok_or_else(outside)?,
            *b.get(at + 4).ok_or_else(outside)?,
            *b.get(at + 5).ok_or_else(outside)?,
            u16_at(b, at + 6).ok_or_else(outside)?,
            u64_at(b, at + 8).ok_or_else(outside)?,
        ))
    }

    fn name_is(&self, index: u32, name: &[u8]) -> Result<bool, String> {
        let (st_name, ..) = self.sym(index)?;
        let found = string(self.image, self.strtab, self.strsz, u64::from(st_name))
            .ok_or_else(|| format!("symbol {index}'s name lies outside the string table"))?;
        Ok(found == name)
    }

    fn versym(&self, index: u32) -> Result<u16, String> {
        u16_at(self.image, self.versym + index as usize * 2)
            .ok_or_else(|| format!("symbol {index}'s DT_VERSYM entry runs past the PT_LOAD"))
    }

    fn word(&self, at: usize) -> Result<u32, String> {
        u32_at(self.image, at).ok_or_else(|| "a hash table read runs past the PT_LOAD".into())
    }

    /// glibc's `check_match` with the vDSO's version (`LINUX_2.6`, hidden):
    /// a value of 0 is no definition; the version must be the definition
    /// at the symbol's index with the version's hash and name
    /// (`l_versions`, built from the non-base definitions).
    fn glibc_matches(&self, index: u32, name: &[u8], version: &[u8]) -> Result<bool, String> {
        let (_, info, _, _, value) = self.sym(index)?;
        let kind = info & 0xf;
        if value == 0 && kind != elf::STT_TLS.0 {
            return Ok(false);
        }
        if !self.name_is(index, name)? {
            return Ok(false);
        }
        let ndx = self.versym(index)? & 0x7fff;
        let high = self.verdefs.iter().map(|v| v.0).max().unwrap_or(0);
        if ndx > high {
            return Err(format!(
                "symbol {index}'s version index {ndx} is past glibc's table of {} versions",
                high + 1
            ));
        }
        let def = self
            .verdefs
            .iter()
            .rev()
            .find(|v| v.1 & elf::VER_FLG_BASE.0 == 0 && v.0 & 0x7fff == ndx);
        Ok(def.is_some_and(|v| v.2 == elf::hash(version) && v.3 == version))
    }

    fn glibc(&self, name: &[u8], version: &[u8]) -> Result<u32, String> {
        let g = self.gnu;
        let hash = elf::gnu_hash(name);
        let word = u64_at(
            self.image,
            g.bloom + ((hash / 64) & (g.bloom_words - 1)) as usize * 8,
        )
        .ok_or("its bloom filter read runs past the PT_LOAD")?;
        // `new_hash >> l_gnu_shift` on a 32-bit value, as x86 shifts it.
        let (bit1, bit2) = (hash & 63, hash.wrapping_shr(g.bloom_shift) & 63);
        if (word >> bit1) & (word >> bit2) & 1 == 0 {
            return Err("its bloom filter says the name is not there".into());
        }
        let bucket = self.word(g.buckets + (hash % g.nbuckets) as usize * 4)?;
        if bucket == 0 {
            return Err("its hash bucket is empty".into());
        }
        let mut index = bucket;
        while index < self.nsym {
            let h = self.word(g.chain + (index - g.symoffset) as usize * 4)?;
            if (h ^ hash) >> 1 == 0 && self.glibc_matches(index, name, version)? {
                return Ok(index);
            }
            if h & 1 != 0 {
                break;
            }
            index += 1;
        }
        Err("not found through DT_GNU_HASH".into())
    }

    fn musl(&self, name: &[u8], version: &[u8]) -> Result<u32, String> {
        const OK_TYPES: u32 = 1 << elf::STT_NOTYPE.0
            | 1 << elf::STT_OBJECT.0
            | 1 << elf::STT_FUNC.0
            | 1 << elf::STT_COMMON.0;
        const OK_BINDS: u32 =
            1 << elf::STB_GLOBAL.0 | 1 << elf::STB_WEAK.0 | 1 << elf::STB_GNU_UNIQUE.0;
        for i in 0..self.nsym {
            let (_, info, _, shndx, _) = self.sym(i)?;
            if (1u32 << (info & 0xf)) & OK_TYPES == 0
                || (1u32 << (info >> 4)) & OK_BINDS == 0
                || shndx == 0
                || !self.name_is(i, name)?
            {
                continue;
            }
            // checkver: the first non-base definition whose index matches,
            // then its name.
            let vsym = self.versym(i)? & 0x7fff;
            let def = self
                .verdefs
                .iter()
                .find(|v| v.1 & elf::VER_FLG_BASE.0 == 0 && v.0 & 0x7fff == vsym);
            if def.is_some_and(|v| v.3 == version) {
                return Ok(i);
            }
        }
        Err("not among the symbols DT_HASH counts".into())
    }

    fn go(&self, name: &[u8], version: &[u8]) -> Result<u32, String> {
        let g = self.gnu;
        // findVersion: by hash and name, skipping the base; -1 if none,
        // and then any version does.
        let want = self
            .verdefs
            .iter()
            .find(|v| v.1 & elf::VER_FLG_BASE.0 == 0 && v.2 == elf::hash(version) && v.3 == version)
            .map(|v| v.0 & 0x7fff);
        let hash = elf::gnu_hash(name);
        let mut index = self.word(g.buckets + (hash % g.nbuckets) as usize * 4)?;
        if index < g.symoffset {
            return Err("its hash bucket is empty".into());
        }
        while index < self.nsym {
            let h = self.word(g.chain + (index - g.symoffset) as usize * 4)?;
            if h | 1 == hash | 1 {
                let (_, info, _, shndx, _) = self.sym(index)?;
                let (kind, bind) = (info & 0xf, info >> 4);
                let fits = (kind == elf::STT_FUNC.0 || kind == elf::STT_NOTYPE.0)
                    && (bind == elf::STB_GLOBAL.0 || bind == elf::STB_WEAK.0)
                    && shndx != 0
                    && self.name_is(index, name)?
                    && want.is_none_or(|w| self.versym(index).is_ok_and(|v| v & 0x7fff == w));
                if fits {
                    return Ok(index);
                }
            }
            if h & 1 != 0 {
                break;
            }
            index += 1;
        }
        Err("not found through DT_GNU_HASH's chains".into())
    }

    fn sysv(&self, name: &[u8], version: &[u8]) -> Result<u32, String> {
        let s = self.sysv;
        let mut index = self.word(s.buckets + (elf::hash(name) % s.nbucket) as usize * 4)?;
        // Chains lead to lower or higher indices; a loop is bounded by the
        // number of symbols.
        for _ in 0..self.nsym {
            if index == 0 {
                break;
            }
            if self.glibc_matches(index, name, version)? {
                return Ok(index);
            }
            index = self.word(s.chains + index as usize * 4)?;
        }
        Err("not found through DT_HASH".into())
    }

    /// What a loader found: a defined function every loader calls the same
    /// way, at the address the section view gives.
    /// What a loader found at `index` is the export: of the entry's
    /// symbol type (a function's `STT_FUNC`: glibc would call an
    /// `STT_GNU_IFUNC`, Go refuses anything else; a trampoline's
    /// `STT_NOTYPE`, a code label, as Linux's), global or weak, default
    /// visibility, in a real section, at `expected`.
    fn judge(&self, index: u32, expected: u64, what: EntryKind) -> Result<(), String> {
        let (_, info, other, shndx, value) = self.sym(index)?;
        let (kind, bind) = (info & 0xf, info >> 4);
        let (want, named) = match what {
            EntryKind::Function => (elf::STT_FUNC.0, "a function (STT_FUNC)"),
            EntryKind::Trampoline => (elf::STT_NOTYPE.0, "a code label (STT_NOTYPE)"),
        };
        if kind != want {
            return Err(format!(
                "it finds symbol {index} of type {kind}, not {named}"
            ));
        }
        if bind != elf::STB_GLOBAL.0 && bind != elf::STB_WEAK.0 {
            return Err(format!("it finds symbol {index} of binding {bind}"));
        }
        if other & 3 != elf::STV_DEFAULT.0 {
            return Err(format!(
                "it finds symbol {index} of visibility {}",
                other & 3
            ));
        }
        if shndx == elf::SHN_UNDEF.0 || shndx >= elf::SHN_LORESERVE {
            return Err(format!(
                "it finds symbol {index} in section {shndx:#x} (undefined, or absolute: glibc \
                 would not add the image's base)"
            ));
        }
        if value != expected {
            return Err(format!(
                "it finds it at {value:#x}, where the section view has it at {expected:#x}"
            ));
        }
        Ok(())
    }
}
