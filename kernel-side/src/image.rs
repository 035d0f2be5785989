//! An image file, checked the way a kernel should check what it is about to
//! map into every process: nothing the build's verifier would refuse (the
//! same rules, run here: [`crate::verify`], which also looks every entry
//! up the way glibc, musl and Go do), then read again through `vdso-elf` as
//! the loaders in this workspace read it: an ELF shared object for its
//! architecture, mappable from offset 0, needing no relocation, exporting
//! every entry point at its slot at the architecture's version
//! (`LINUX_2.6` on x86_64, `LINUX_2.6.39` on aarch64) through both hash
//! tables, of the variant the caller expects.

use std::fmt;
use std::io::Read;
use std::path::Path;

use common::abi::{Abi, Arch};
use common::entries::{ENTRIES, Entry, EntryKind, Placed};
use common::note::Variant;
use object::elf;
use object::read::elf::ProgramHeader;
use vdso_elf::{Elf, ElfError, HashTable, LE, LookupError, NoteError, Symbol};

use crate::vdso::Offsets;

/// The most an image may take (two pages, like Linux's).
pub use common::entries::MAX_IMAGE_SIZE;

#[derive(Debug)]
pub enum ImageError {
    Io {
        path: String,
        error: std::io::Error,
    },
    TooLarge(usize),
    /// Not a regular file (a FIFO, a device): nothing an image comes from.
    NotAFile {
        path: String,
        kind: &'static str,
    },
    /// What the build's verifier says of it, every rule it breaks.
    Refused(Vec<String>),
    Elf(ElfError),
    NotMappable(&'static str),
    Relocations(&'static str),
    MissingSymbol {
        name: &'static str,
        version: &'static str,
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
    NotAtSlot {
        name: &'static str,
        offset: u64,
        slot: u64,
    },
    /// An entry the image's layout does not have (Linux had no such entry
    /// in those kernels).
    UnexpectedSymbol {
        name: &'static str,
        abi: Abi,
    },
    /// A note of ours missing or unreadable, said as the reader says it.
    Note(String),
    WrongVariant {
        expected: Variant,
        found: Variant,
    },
    WrongAbi {
        expected: Abi,
        found: Abi,
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
            ImageError::NotAFile { path, kind } => {
                write!(f, "{path} is {kind}, not a regular file")
            }
            ImageError::Refused(why) => {
                write!(f, "the build's verifier refuses it: {}", why.join("; "))
            }
            ImageError::Elf(e) => write!(f, "{e}"),
            ImageError::NotMappable(why) => write!(f, "cannot be mapped as a vDSO: {why}"),
            ImageError::Relocations(tag) => {
                write!(f, "needs relocations ({tag}); a vDSO image must need none")
            }
            ImageError::MissingSymbol {
                name,
                version,
                table,
                why,
            } => write!(f, "symbol {name}@{version} through {}: {why}", table.tag()),
            ImageError::TablesDisagree { name, sysv, gnu } => write!(
                f,
                "DT_HASH finds {name} at {:#x}, DT_GNU_HASH at {:#x}",
                sysv.offset, gnu.offset
            ),
            ImageError::SymbolOutsideImage { name, offset } => {
                write!(f, "symbol {name} at {offset:#x} lies outside the image")
            }
            ImageError::NotAtSlot { name, offset, slot } => write!(
                f,
                "symbol {name} is at {offset:#x}; its slot puts it at {slot:#x}"
            ),
            ImageError::UnexpectedSymbol { name, abi } => {
                write!(f, "exports {name}, which {abi}'s images do not have")
            }
            ImageError::Note(why) => write!(f, "{why}"),
            ImageError::WrongVariant { expected, found } => write!(
                f,
                "this is the {} image, not the {} image",
                found.name(),
                expected.name()
            ),
            ImageError::WrongAbi { expected, found } => {
                write!(f, "this image reads {found}'s data pages, not {expected}'s")
            }
        }
    }
}

impl std::error::Error for ImageError {}

impl From<ElfError> for ImageError {
    fn from(e: ElfError) -> Self {
        ImageError::Elf(e)
    }
}

impl From<NoteError<'_>> for ImageError {
    fn from(e: NoteError<'_>) -> Self {
        match e {
            NoteError::Elf(e) => ImageError::Elf(e),
            other => ImageError::Note(other.to_string()),
        }
    }
}

/// A checked image, with its entry points resolved.
#[derive(Clone, Debug)]
pub struct Image {
    bytes: Vec<u8>,
    /// The architecture whose machine code it is.
    arch: Arch,
    variant: Variant,
    /// The data-page layout it reads (its layout note).
    abi: Abi,
    /// Where each entry of the table is.
    offsets: Offsets,
}

impl Image {
    /// Loads an image for this machine's architecture.
    pub fn load(path: &Path) -> Result<Image, ImageError> {
        Image::load_for(path, Arch::HOST)
    }

    /// Loads an image for `arch` (which need not be this machine's: one
    /// can be checked, not run): a regular file only (a FIFO would block,
    /// a device read forever), and no more than an image may take.
    pub fn load_for(path: &Path, arch: Arch) -> Result<Image, ImageError> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let shown = || path.display().to_string();
        let io = |error| ImageError::Io {
            path: shown(),
            error,
        };
        let kind = |t: std::fs::FileType| -> Option<&'static str> {
            if t.is_file() {
                None
            } else if t.is_dir() {
                Some("a directory")
            } else if t.is_fifo() {
                Some("a FIFO")
            } else if t.is_char_device() {
                Some("a character device")
            } else if t.is_block_device() {
                Some("a block device")
            } else if t.is_socket() {
                Some("a socket")
            } else {
                Some("not a file")
            }
        };
        // Judged before it is opened (opening a FIFO waits for a writer),
        // then again on what was opened, in case it changed in between.
        if let Some(kind) = kind(std::fs::metadata(path).map_err(io)?.file_type()) {
            return Err(ImageError::NotAFile {
                path: shown(),
                kind,
            });
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(io)?;
        if let Some(kind) = kind(file.metadata().map_err(io)?.file_type()) {
            return Err(ImageError::NotAFile {
                path: shown(),
                kind,
            });
        }
        let mut bytes = Vec::with_capacity(MAX_IMAGE_SIZE + 1);
        file.take(MAX_IMAGE_SIZE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Image::parse_for(bytes, arch)
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

    /// Refuses the image unless it reads `expected`'s data pages: one built
    /// for another layout would read the wrong bytes as time.
    pub fn expect_abi(self, expected: Abi) -> Result<Image, ImageError> {
        if self.abi != expected {
            return Err(ImageError::WrongAbi {
                expected,
                found: self.abi,
            });
        }
        Ok(self)
    }

    /// Checks an image for this machine's architecture.
    pub fn parse(bytes: Vec<u8>) -> Result<Image, ImageError> {
        Image::parse_for(bytes, Arch::HOST)
    }

    /// Checks an image for `arch` against the build's rules for the
    /// project's entries in the layout its note names.
    pub fn parse_for(bytes: Vec<u8>, arch: Arch) -> Result<Image, ImageError> {
        Image::parse_exporting_for(bytes, arch, |abi| {
            Entry::placed(ENTRIES, arch, abi).collect()
        })
    }

    /// As [`parse`](Self::parse), for an image built from another list of
    /// entries (`exports` of the layout its note names): the rules are the
    /// same, the exports those of the list.
    pub fn parse_exporting(
        bytes: Vec<u8>,
        exports: impl FnOnce(Abi) -> Vec<Placed>,
    ) -> Result<Image, ImageError> {
        Image::parse_exporting_for(bytes, Arch::HOST, exports)
    }

    /// As [`parse_exporting`](Self::parse_exporting), for `arch`.
    pub fn parse_exporting_for(
        bytes: Vec<u8>,
        arch: Arch,
        exports: impl FnOnce(Abi) -> Vec<Placed>,
    ) -> Result<Image, ImageError> {
        if bytes.len() > MAX_IMAGE_SIZE {
            return Err(ImageError::TooLarge(bytes.len()));
        }
        let elf = Elf::parse_vdso(&bytes, elf::Machine(arch.elf_machine()))?;
        // The build's rules, against what the image's notes say it is (the
        // verifier reads the notes again, its own way).
        let variant = elf.notes().variant()?;
        let abi = elf.notes().abi()?;
        let placed = exports(abi);
        let report = crate::verify::verify(
            &bytes,
            crate::verify::Expect {
                entries: &placed,
                variant,
                arch,
                abi,
            },
        );
        if !report.is_clean() {
            return Err(ImageError::Refused(report.messages()));
        }
        let mut loads = elf.segments_of(elf::PT_LOAD);
        let load = loads.next().ok_or(ElfError::NoLoadSegment)?;
        if loads.next().is_some() {
            return Err(ImageError::NotMappable("more than one PT_LOAD segment"));
        }
        // An opaque iterator may hold its borrow until dropped.
        drop(loads);
        if load.p_offset(LE) != 0 || load.p_vaddr(LE) != 0 {
            return Err(ImageError::NotMappable(
                "its PT_LOAD does not start at offset 0, address 0",
            ));
        }
        let filesz = load.p_filesz(LE);
        if filesz > bytes.len() as u64 {
            return Err(ElfError::Truncated("the PT_LOAD segment").into());
        }
        if load.p_memsz(LE) != filesz {
            return Err(ImageError::NotMappable(
                "its PT_LOAD needs zero-filled memory",
            ));
        }
        if load.p_flags(LE).0 & elf::PF_W.0 != 0 {
            return Err(ImageError::NotMappable("its PT_LOAD is writable"));
        }
        let table = elf.dynamic()?;
        if let Some(tag) = table.relocations {
            return Err(ImageError::Relocations(tag));
        }
        let mut offsets = Offsets::default();
        for entry in ENTRIES.iter().filter(|e| e.arches.contains(&arch.name())) {
            let Some(sym) = resolve(&table, entry, arch, abi)? else {
                continue;
            };
            if sym.offset.saturating_add(sym.size) > filesz {
                return Err(ImageError::SymbolOutsideImage {
                    name: entry.symbol(arch),
                    offset: sym.offset,
                });
            }
            // What this reader finds is what the verifier's emulated
            // loaders found: the entry's slot.
            if let Some(p) = placed.iter().find(|p| p.entry.name == entry.name)
                && p.offset() != sym.offset
            {
                return Err(ImageError::NotAtSlot {
                    name: entry.symbol(arch),
                    offset: sym.offset,
                    slot: p.offset(),
                });
            }

            let slot = offsets.each_mut().find(|(n, _)| *n == entry.name);
            if let Some((_, slot)) = slot {
                *slot = Some(sym.offset);
            }
        }
        Ok(Image {
            arch,
            variant,
            abi,
            offsets,
            bytes,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The architecture whose machine code it is.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The data-page layout the image reads.
    pub fn abi(&self) -> Abi {
        self.abi
    }

    /// Where each entry is, from the image's base.
    pub fn offsets(&self) -> &Offsets {
        &self.offsets
    }
}

/// Resolves `entry` through both tables, as different libcs would, and
/// insists they agree. An image of layout `abi` exports exactly the
/// entries its layout has: one it lacks is `None`, and must be absent.
fn resolve(
    table: &vdso_elf::DynamicTable<'_>,
    entry: &Entry,
    arch: Arch,
    abi: Abi,
) -> Result<Option<Symbol>, ImageError> {
    let (name, version) = (entry.symbol(arch), arch.symbol_version());
    let find = |t| match entry.kind {
        EntryKind::Function => table.lookup(t, name, version),
        EntryKind::Trampoline => table.lookup_label(t, name, version),
    };
    let expected = entry.exists_in(arch, abi);
    match (find(HashTable::Gnu), find(HashTable::Sysv)) {
        (Ok(_), _) | (_, Ok(_)) if !expected => Err(ImageError::UnexpectedSymbol { name, abi }),
        (Ok(gnu), Ok(sysv)) if gnu == sysv => Ok(Some(gnu)),
        (Ok(gnu), Ok(sysv)) => Err(ImageError::TablesDisagree { name, sysv, gnu }),
        (Err(LookupError::NotFound), Err(LookupError::NotFound)) if !expected => Ok(None),
        (Err(why), _) => Err(ImageError::MissingSymbol {
            name,
            version,
            table: HashTable::Gnu,
            why,
        }),
        (_, Err(why)) => Err(ImageError::MissingSymbol {
            name,
            version,
            table: HashTable::Sysv,
            why,
        }),
    }
}
