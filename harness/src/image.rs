//! An image file, checked the way a kernel should check what it is about to
//! map into every process: an ELF shared object for x86-64, mappable from
//! offset 0, needing no relocation, exporting every entry point at
//! `LINUX_2.6` through both hash tables, of the variant the caller expects.

use std::fmt;
use std::path::Path;

use common::entries::{ENTRIES, VERSION};
use common::note::{NOTE_OWNER, NT_VDSO_VARIANT, Variant};
use object::LittleEndian as LE;
use object::elf;

use crate::dynsym::{self, DynamicTable, ElfError, HashTable, LookupError, Symbol};

/// The most an image may take (two pages, like Linux's).
pub use common::entries::MAX_IMAGE_SIZE;

#[derive(Debug)]
pub enum ImageError {
    Io {
        path: String,
        error: std::io::Error,
    },
    TooLarge(usize),
    Elf(ElfError),
    NotMappable(&'static str),
    Relocations(&'static str),
    MissingSymbol {
        name: &'static str,
        table: HashTable,
        why: LookupError,
    },
    TablesDisagree {
        name: &'static str,
        sysv: Symbol,
        gnu: Symbol,
    },
    SymbolOutsideImage {
        name: &'static str,
        offset: u64,
    },
    NoVariantNote,
    UnknownVariant(String),
    WrongVariant {
        expected: Variant,
        found: Variant,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io { path, error } => write!(f, "cannot read {path}: {error}"),
            ImageError::TooLarge(len) => {
                write!(
                    f,
                    "{len} bytes is larger than any image ({MAX_IMAGE_SIZE} at most)"
                )
            }
            ImageError::Elf(e) => write!(f, "{e}"),
            ImageError::NotMappable(why) => write!(f, "cannot be mapped as a vDSO: {why}"),
            ImageError::Relocations(tag) => {
                write!(f, "needs relocations ({tag}); a vDSO image must need none")
            }
            ImageError::MissingSymbol { name, table, why } => {
                let table = match table {
                    HashTable::Sysv => "DT_HASH",
                    HashTable::Gnu => "DT_GNU_HASH",
                };
                write!(f, "symbol {name}@{VERSION} through {table}: {why}")
            }
            ImageError::TablesDisagree { name, sysv, gnu } => write!(
                f,
                "DT_HASH finds {name} at {:#x}, DT_GNU_HASH at {:#x}",
                sysv.offset, gnu.offset
            ),
            ImageError::SymbolOutsideImage { name, offset } => {
                write!(f, "symbol {name} at {offset:#x} lies outside the image")
            }
            ImageError::NoVariantNote => write!(
                f,
                "no vdso-rs variant note: not one of this project's images"
            ),
            ImageError::UnknownVariant(name) => {
                write!(f, "unknown variant {name:?} in the variant note")
            }
            ImageError::WrongVariant { expected, found } => write!(
                f,
                "this is the {} image, not the {} image",
                found.name(),
                expected.name()
            ),
        }
    }
}

impl std::error::Error for ImageError {}

impl From<ElfError> for ImageError {
    fn from(e: ElfError) -> Self {
        ImageError::Elf(e)
    }
}

/// A checked image, with its entry points resolved.
#[derive(Clone, Debug)]
pub struct Image {
    bytes: Vec<u8>,
    variant: Variant,
    /// Offsets of `ENTRIES`, in that order.
    entries: [Symbol; ENTRIES.len()],
}

impl Image {
    pub fn load(path: &Path) -> Result<Image, ImageError> {
        let bytes = std::fs::read(path).map_err(|error| ImageError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Image::parse(bytes)
    }

    /// Loads `path` and refuses it unless it is the `expected` variant.
    pub fn load_variant(path: &Path, expected: Variant) -> Result<Image, ImageError> {
        Image::load(path)?.expect_variant(expected)
    }

    pub fn expect_variant(self, expected: Variant) -> Result<Image, ImageError> {
        if self.variant != expected {
            return Err(ImageError::WrongVariant {
                expected,
                found: self.variant,
            });
        }
        Ok(self)
    }

    pub fn parse(bytes: Vec<u8>) -> Result<Image, ImageError> {
        if bytes.len() > MAX_IMAGE_SIZE {
            return Err(ImageError::TooLarge(bytes.len()));
        }
        let (_, phdrs) = dynsym::program_headers(&bytes)?;
        let mut loads = phdrs.iter().filter(|p| p.p_type.get(LE) == elf::PT_LOAD);
        let load = loads.next().ok_or(ElfError::NoLoadSegment)?;
        if loads.next().is_some() {
            return Err(ImageError::NotMappable("more than one PT_LOAD segment"));
        }
        if load.p_offset.get(LE) != 0 || load.p_vaddr.get(LE) != 0 {
            return Err(ImageError::NotMappable(
                "its PT_LOAD does not start at offset 0, address 0",
            ));
        }
        if load.p_filesz.get(LE) > bytes.len() as u64 {
            return Err(ElfError::Truncated("the PT_LOAD segment").into());
        }
        if load.p_memsz.get(LE) != load.p_filesz.get(LE) {
            return Err(ImageError::NotMappable(
                "its PT_LOAD needs zero-filled memory",
            ));
        }
        if load.p_flags.get(LE).0 & elf::PF_W.0 != 0 {
            return Err(ImageError::NotMappable("its PT_LOAD is writable"));
        }
        let table = DynamicTable::parse(&bytes)?;
        if let Some(tag) = table.relocations {
            return Err(ImageError::Relocations(tag));
        }
        let mut entries = [Symbol { offset: 0, size: 0 }; ENTRIES.len()];
        for (slot, e) in entries.iter_mut().zip(&ENTRIES) {
            *slot = resolve(&table, e.symbol)?;
            if slot.offset.saturating_add(slot.size) > load.p_filesz.get(LE) {
                return Err(ImageError::SymbolOutsideImage {
                    name: e.symbol,
                    offset: slot.offset,
                });
            }
        }
        let variant = variant_note(&bytes)?;
        Ok(Image {
            bytes,
            variant,
            entries,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The offset of each entry of `common::entries::ENTRIES`, in order.
    pub fn entry_offsets(&self) -> [u64; ENTRIES.len()] {
        self.entries.map(|s| s.offset)
    }
}

/// Resolves `name` through both tables, as different libcs would, and
/// insists they agree.
fn resolve(table: &DynamicTable<'_>, name: &'static str) -> Result<Symbol, ImageError> {
    let find = |t| {
        table
            .lookup(t, name, VERSION)
            .map_err(|why| ImageError::MissingSymbol {
                name,
                table: t,
                why,
            })
    };
    let gnu = find(HashTable::Gnu)?;
    let sysv = find(HashTable::Sysv)?;
    if sysv != gnu {
        return Err(ImageError::TablesDisagree { name, sysv, gnu });
    }
    Ok(gnu)
}

fn variant_note(bytes: &[u8]) -> Result<Variant, ImageError> {
    let note = dynsym::notes(bytes)?
        .into_iter()
        .find(|n| n.name == &NOTE_OWNER[..] && n.kind == NT_VDSO_VARIANT)
        .ok_or(ImageError::NoVariantNote)?;
    Variant::from_desc(note.desc).ok_or_else(|| {
        let end = note
            .desc
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(note.desc.len());
        ImageError::UnknownVariant(String::from_utf8_lossy(&note.desc[..end]).into_owned())
    })
}
