//! The image verifier: every property an image must have, checked on the
//! linked file, each failure named. xtask refuses to emit an image with any
//! violation, and the kernel side's loader (`Image::parse`, what vdso-run
//! and the tests load images with) refuses to load one: one rule set, in
//! one place, for the build and every reader. The tests feed it files that
//! break each rule.
//!
//! Independent of `vdso-elf` on purpose: the loaders read images through
//! that crate, and a bug in it must not be able to make the build accept an
//! image the loaders then misread. So the verifier reads the file its own
//! way, through `object`'s section-based view (fair game for a build tool
//! reading its own output) and a decoder of the machine code, and
//! ([`loaders`]) through the program headers and the dynamic table the way
//! glibc, musl and Go each read them, where the loaders, like a libc, use
//! only those.
//!
//! The rules are the same for every architecture; what the machine code
//! must and must not contain is checked by each architecture's decoder
//! ([`x86_64`], [`aarch64`]), which also hold the rules only one
//! architecture has (arm64's landing pads, counter ordering and signal
//! trampoline).

mod loaders;

use std::collections::BTreeMap;
use std::fmt;

use common::abi::{Abi, Arch};
use common::entries::{EntryKind, Placed, SONAME};
use common::note::{DESC_SIZE, NOTE_OWNER, NT_VDSO_ABI, NT_VDSO_VARIANT, Variant};
use gimli::UnwindSection;
use object::Endianness;
use object::elf;
use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader, SectionHeader, Sym};

mod chacha;

/// The largest file an image may be (Linux's x86_64 image is two pages).
pub const MAX_IMAGE_SIZE: u64 = common::entries::MAX_IMAGE_SIZE as u64;
/// The length of a SHA-1 GNU build id.
pub const BUILD_ID_SIZE: usize = 20;

/// The most stack any function in an image may use, return address
/// included: Go calls the vDSO on small stacks, and Linux's entries use
/// well under this.
pub const MAX_STACK: i64 = 256;

pub mod aarch64;
pub mod x86_64;

/// What an image is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    pub entries: &'a [Placed],
    pub variant: Variant,
    /// The architecture whose machine code it must be.
    pub arch: Arch,
    /// The data-page layout the image must say it reads.
    pub abi: Abi,
}

/// One exported symbol, as the image defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    pub weak: bool,
    pub version: String,
    /// `STT_FUNC`; otherwise, if the symbol is valid, a code label
    /// (`STT_NOTYPE`, a trampoline).
    pub function: bool,
}

/// What the verifier learned about an image (for `layout.json`).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub file_size: u64,
    pub text_size: u64,
    pub build_id: Option<Vec<u8>>,
    pub variant: Option<Variant>,
    pub abi: Option<Abi>,
    pub exports: BTreeMap<String, Export>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    NotElf(String),
    Machine {
        found: u16,
        expected: Arch,
    },
    NotSharedObject(u16),
    LoadSegments(usize),
    LoadPlacement {
        offset: u64,
        vaddr: u64,
    },
    LoadFlags(u32),
    LoadBss {
        filesz: u64,
        memsz: u64,
    },
    MissingSegment(&'static str),
    ForbiddenSegment(String),
    DuplicateSegment(String),
    /// A segment the loaders read at its offset (musl, Go) or its address
    /// (glibc) that is not the same bytes inside the PT_LOAD either way.
    SegmentPlacement {
        kind: String,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
    },
    WritableSegment {
        index: usize,
        kind: String,
    },
    FileTooLarge {
        size: u64,
    },
    SectionHeadersOutside {
        end: u64,
        len: u64,
    },
    Relocations {
        section: String,
        count: u64,
    },
    ForbiddenDynamicTag(String),
    MissingDynamicTag(&'static str),
    Soname(String),
    UndefinedSymbol(String),
    WritableSection(String),
    ForbiddenSection(String),
    MissingSymbol(String),
    SymbolOffset {
        name: String,
        found: u64,
        expected: u64,
    },
    SymbolOutgrowsSlot {
        name: String,
        size: u64,
        slot: u64,
    },
    SymbolKind {
        name: String,
        found: String,
        expected: &'static str,
    },
    SymbolVersion {
        name: String,
        found: String,
        expected: &'static str,
    },
    UnexpectedExport(String),
    BranchOutside {
        at: u64,
        target: u64,
    },
    CallThroughMemory {
        at: u64,
    },
    /// arm64: a branch through a register (`br`, `blr`): a jump table or a
    /// call out through a loaded address.
    IndirectBranch {
        at: u64,
    },
    /// arm64: an exported function whose first instruction is not `bti c`.
    NoLandingPad {
        name: String,
        at: u64,
    },
    /// arm64: a landing pad followed by padding, not by its entry's code.
    LandingPadGap {
        name: String,
        at: u64,
    },
    /// arm64: a counter read without Linux's ordering around it.
    CounterOrdering {
        at: u64,
        missing: aarch64::CounterPart,
    },
    /// A trampoline whose bytes are not the architecture's.
    TrampolineBytes {
        name: String,
        at: u64,
        found: String,
    },
    /// An unwind entry over a trampoline, which unwinders must recognise by
    /// its bytes.
    UnwindCoversTrampoline {
        name: String,
        start: u64,
        end: u64,
    },
    Undecodable {
        at: u64,
        word: u32,
    },
    MissingUnwind(String),
    NoCodeAtSlot(String),
    NoteSize {
        note: &'static str,
        size: usize,
        expected: usize,
    },
    StackTooDeep {
        at: u64,
        bytes: i64,
    },
    BadEhFrame(String),
    PanicSite(String),
    MissingNote(&'static str),
    WrongVariant {
        expected: Variant,
        found: String,
    },
    WrongAbi {
        expected: Abi,
        found: String,
    },
    OffsetsDiffer {
        name: String,
        host: u64,
        timens: u64,
    },
    /// The structures the loaders read (the dynamic table, the hash
    /// tables, the version definitions) are not sound for all of them.
    LoaderView(String),
    /// One loader's lookup of an export does not find what the others and
    /// the symbol table find.
    Lookup {
        loader: &'static str,
        name: String,
        why: String,
    },
    /// `getrandom`'s ChaCha20 block function (`chacha`'s rules).
    NoBlockFunction,
    BlockFunctionUnreadable {
        why: String,
    },
    BlockFunctionTouchesStack {
        at: u64,
    },
    BlockFunctionStores {
        at: u64,
        through: String,
    },
    BlockFunctionLeavesRegister {
        register: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        match self {
            NotElf(why) => write!(f, "not a 64-bit little-endian ELF file: {why}"),
            Machine { found, expected } => write!(
                f,
                "machine {found:#x} is not {} ({:#x})",
                machine_name(*expected),
                expected.elf_machine()
            ),
            NotSharedObject(t) => write!(f, "ELF type {t} is not ET_DYN (a shared object)"),
            LoadSegments(n) => write!(f, "{n} PT_LOAD segments; an image has exactly one"),
            LoadPlacement { offset, vaddr } => write!(
                f,
                "PT_LOAD at file offset {offset:#x}, address {vaddr:#x}; it must map the file from offset 0 at address 0"
            ),
            LoadFlags(flags) => write!(f, "PT_LOAD flags {flags:#x}; they must be R+X (0x5)"),
            LoadBss { filesz, memsz } => write!(
                f,
                "PT_LOAD has memsz {memsz:#x} > filesz {filesz:#x}: zero-filled memory is data the image may not have"
            ),
            MissingSegment(kind) => write!(f, "no {kind} segment"),
            ForbiddenSegment(kind) => write!(f, "a {kind} segment, which an image must not have"),
            DuplicateSegment(kind) => write!(
                f,
                "more than one {kind} segment (loaders differ on which one counts)"
            ),
            SegmentPlacement {
                kind,
                offset,
                vaddr,
                filesz,
                memsz,
            } => write!(
                f,
                "{kind} at file offset {offset:#x}, address {vaddr:#x}, {filesz:#x} bytes ({memsz:#x} in memory): it must lie inside the PT_LOAD at equal offset and address, as large in memory as in the file (glibc reads it at its address, musl and Go at its offset)"
            ),
            WritableSegment { index, kind } => {
                write!(
                    f,
                    "writable segment: program header {index} ({kind}) has PF_W"
                )
            }
            FileTooLarge { size } => {
                write!(
                    f,
                    "the file is {size} bytes; an image may take at most {MAX_IMAGE_SIZE}"
                )
            }
            SectionHeadersOutside { end, len } => write!(
                f,
                "section headers end at {end:#x}, past the end of the file ({len:#x})"
            ),
            Relocations { section, count } => write!(
                f,
                "{count} dynamic relocation(s) in {section}; an image must need none"
            ),
            ForbiddenDynamicTag(tag) => {
                write!(f, "dynamic tag {tag}, which an image must not have")
            }
            MissingDynamicTag(tag) => write!(f, "no {tag} in the dynamic table"),
            Soname(found) => write!(f, "soname is {found:?}, not {SONAME:?}"),
            UndefinedSymbol(name) => write!(
                f,
                "undefined symbol {name}: an image may not call anything outside itself"
            ),
            WritableSection(name) => write!(f, "writable section {name}: an image holds no data"),
            ForbiddenSection(name) => {
                write!(f, "section {name}: an image has no GOT, PLT, data or bss")
            }
            MissingSymbol(name) => write!(f, "missing exported symbol {name}"),
            SymbolOffset {
                name,
                found,
                expected,
            } => write!(
                f,
                "symbol {name} is at {found:#x}; its slot is at {expected:#x}"
            ),
            SymbolOutgrowsSlot { name, size, slot } => write!(
                f,
                "symbol {name} is {size:#x} bytes; its slot holds {slot:#x}"
            ),
            SymbolKind {
                name,
                found,
                expected,
            } => {
                write!(f, "symbol {name} is {found}; it must be {expected}")
            }
            SymbolVersion {
                name,
                found,
                expected,
            } => {
                write!(f, "symbol {name} has version {found:?}, not {expected}")
            }
            UnexpectedExport(name) => {
                write!(
                    f,
                    "exported symbol {name} is not an entry point of the list"
                )
            }
            BranchOutside { at, target } => write!(
                f,
                "branch at {at:#x} to {target:#x}, outside the image's code"
            ),
            CallThroughMemory { at } => write!(
                f,
                "indirect branch through memory at {at:#x} (a GOT or PLT call)"
            ),
            IndirectBranch { at } => write!(
                f,
                "branch through a register at {at:#x} (a jump table, or a call through a loaded address): its target would need a landing pad on guarded pages"
            ),
            NoLandingPad { name, at } => write!(
                f,
                "{name} at {at:#x} does not start with `bti c`: on pages the kernel maps guarded (BTI), a call through a pointer to it faults"
            ),
            LandingPadGap { name, at } => write!(
                f,
                "{name}'s landing pad falls through into padding at {at:#x}, not into its code"
            ),
            CounterOrdering { at, missing } => write!(
                f,
                "the counter read at {at:#x} lacks {}: {}",
                missing.instruction(),
                missing.why()
            ),
            TrampolineBytes { name, at, found } => write!(
                f,
                "{name} at {at:#x} is not Linux's signal trampoline (`nop` before it, then `mov x8, #139; svc #0`, nothing else): found {found}"
            ),
            UnwindCoversTrampoline { name, start, end } => write!(
                f,
                "an unwind entry ({start:#x}..{end:#x}) covers {name}: unwinders must recognise it by its bytes, as Linux's arm64 vDSO (which has no unwind entry for it) makes them"
            ),
            Undecodable { at, word } => {
                write!(f, "undecodable instruction {word:#010x} at {at:#x}")
            }
            MissingUnwind(name) => write!(f, "no unwind info (.eh_frame FDE) covers {name}"),
            NoCodeAtSlot(name) => write!(f, "no executable code at the slot of {name}"),
            NoteSize {
                note,
                size,
                expected,
            } => {
                write!(
                    f,
                    "the {note} note's descriptor is {size} bytes, not {expected}"
                )
            }
            StackTooDeep { at, bytes } => write!(
                f,
                "the function at {at:#x} uses {bytes} bytes of stack; at most {MAX_STACK} are allowed"
            ),
            BadEhFrame(why) => write!(f, "unreadable .eh_frame: {why}"),
            PanicSite(symbol) => write!(
                f,
                "panic site: the image links {symbol}, so some code path can panic"
            ),
            MissingNote(what) => write!(f, "no {what} note"),
            WrongVariant { expected, found } => write!(
                f,
                "the variant note says {found:?}, expected {:?}",
                expected.name()
            ),
            WrongAbi { expected, found } => write!(
                f,
                "the layout note says {found:?}, expected {:?}",
                expected.name()
            ),
            OffsetsDiffer { name, host, timens } => write!(
                f,
                "symbol {name} is at {host:#x} in the host image but at {timens:#x} in the timens image"
            ),
            LoaderView(why) => write!(f, "as the loaders read it: {why}"),
            Lookup { loader, name, why } => {
                write!(f, "{loader} lookup of {name}: {why}")
            }
            NoBlockFunction => write!(
                f,
                "the image exports getrandom but its link has no ChaCha20 block function {}",
                common::abi::CHACHA20_BLOCKS_SYMBOL
            ),
            BlockFunctionUnreadable { why } => {
                write!(f, "the ChaCha20 block function cannot be checked: {why}")
            }
            BlockFunctionTouchesStack { at } => write!(
                f,
                "the ChaCha20 block function touches the stack at {at:#x}, where a key would outlive the call"
            ),
            BlockFunctionStores { at, through } => write!(
                f,
                "the ChaCha20 block function stores through {through} at {at:#x}; it may store only through rdi (the output) and rdx (the counter)"
            ),
            BlockFunctionLeavesRegister { register } => write!(
                f,
                "the ChaCha20 block function returns with {register} not cleared"
            ),
        }
    }
}

/// The verdict on one image.
#[derive(Debug, Default)]
pub struct Report {
    pub facts: Facts,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations as display strings (what tests compare against).
    pub fn messages(&self) -> Vec<String> {
        self.violations.iter().map(ToString::to_string).collect()
    }
}

/// Checks one image. Never panics on malformed input: anything it cannot
/// read becomes a violation.
pub fn verify(data: &[u8], expect: Expect<'_>) -> Report {
    let mut report = Report::default();
    report.facts.file_size = data.len() as u64;
    let file = match ElfFile64::<Endianness>::parse(data) {
        Ok(file) if file.endian() == Endianness::Little => file,
        Ok(_) => {
            report
                .violations
                .push(Violation::NotElf("big-endian".into()));
            return report;
        }
        Err(e) => {
            report.violations.push(Violation::NotElf(e.to_string()));
            return report;
        }
    };
    let mut v = Checker {
        data,
        file: &file,
        out: &mut report,
    };
    v.header(expect.arch);
    v.segments();
    v.sections();
    v.dynamic();
    v.symbols(expect.entries);
    v.code(expect.arch, expect.entries);
    // getrandom's key rules are written for x86_64's block function, the
    // only one there is (aarch64's images have no getrandom yet).
    if expect.arch == Arch::X86_64 {
        v.block_function(expect.entries);
    }
    v.unwind(expect.arch, expect.entries);
    v.notes(expect.variant, expect.abi);
    let lookups = loaders::check(data, expect.entries, &report.facts.exports);
    report.violations.extend(lookups);
    report
}

/// Checks that two images of one build export every symbol at the same offset.
pub fn compare(host: &Facts, timens: &Facts) -> Vec<Violation> {
    let mut out = Vec::new();
    for (name, h) in &host.exports {
        match timens.exports.get(name) {
            Some(t) if t.offset == h.offset => {}
            Some(t) => out.push(Violation::OffsetsDiffer {
                name: name.clone(),
                host: h.offset,
                timens: t.offset,
            }),
            None => out.push(Violation::MissingSymbol(format!(
                "{name} (in the timens image)"
            ))),
        }
    }
    for name in timens
        .exports
        .keys()
        .filter(|n| !host.exports.contains_key(*n))
    {
        out.push(Violation::MissingSymbol(format!(
            "{name} (in the host image)"
        )));
    }
    out
}

struct Checker<'a, 'f> {
    data: &'a [u8],
    file: &'f ElfFile64<'a, Endianness>,
    out: &'f mut Report,
}

const E: Endianness = Endianness::Little;

impl<'a> Checker<'a, '_> {
    fn fail(&mut self, v: Violation) {
        self.out.violations.push(v);
    }

    fn header(&mut self, arch: Arch) {
        let h = self.file.elf_header();
        if h.e_machine(E).0 != arch.elf_machine() {
            self.fail(Violation::Machine {
                found: h.e_machine(E).0,
                expected: arch,
            });
        }
        if h.e_type(E) != elf::ET_DYN {
            self.fail(Violation::NotSharedObject(h.e_type(E).0));
        }
        let len = self.data.len() as u64;
        if len > MAX_IMAGE_SIZE {
            self.fail(Violation::FileTooLarge { size: len });
        }
        let headers = u64::from(h.e_shnum(E)) * u64::from(h.e_shentsize(E));
        let end = h.e_shoff(E).saturating_add(headers);
        if end > len {
            self.fail(Violation::SectionHeadersOutside { end, len });
        }
    }

    fn segments(&mut self) {
        let phdrs = self.file.elf_program_headers();
        let loads: Vec<_> = phdrs
            .iter()
            .filter(|p| p.p_type(E) == elf::PT_LOAD)
            .collect();
        if loads.len() != 1 {
            self.fail(Violation::LoadSegments(loads.len()));
        }
        if let Some(load) = loads.first() {
            let (offset, vaddr) = (load.p_offset(E), load.p_vaddr(E));
            if offset != 0 || vaddr != 0 {
                self.fail(Violation::LoadPlacement { offset, vaddr });
            }
            if load.p_flags(E).0 != elf::PF_R.0 | elf::PF_X.0 {
                self.fail(Violation::LoadFlags(load.p_flags(E).0));
            }
            if load.p_memsz(E) != load.p_filesz(E) {
                self.fail(Violation::LoadBss {
                    filesz: load.p_filesz(E),
                    memsz: load.p_memsz(E),
                });
            }
        }
        for (kind, name) in [
            (elf::PT_DYNAMIC, "PT_DYNAMIC"),
            (elf::PT_NOTE, "PT_NOTE"),
            (elf::PT_GNU_EH_FRAME, "PT_GNU_EH_FRAME"),
        ] {
            if !phdrs.iter().any(|p| p.p_type(E) == kind) {
                self.fail(Violation::MissingSegment(name));
            }
        }
        // Only the segment types the link produces: anything else (a
        // PT_INTERP, PT_TLS, PT_GNU_STACK, PT_GNU_RELRO...) is something a
        // loader may act on.
        for p in phdrs {
            if !loaders::ALLOWED_SEGMENTS.contains(&p.p_type(E)) {
                self.fail(Violation::ForbiddenSegment(format!("{:?}", p.p_type(E))));
            }
        }
        let dynamics = phdrs
            .iter()
            .filter(|p| p.p_type(E) == elf::PT_DYNAMIC)
            .count();
        if dynamics > 1 {
            self.fail(Violation::DuplicateSegment("PT_DYNAMIC".into()));
        }
        // The image is mapped from offset 0 at address 0, so every other
        // segment must be the same bytes read at its offset or its address.
        let load_end = loads.first().map_or(0, |l| l.p_filesz(E));
        for p in phdrs.iter().filter(|p| p.p_type(E) != elf::PT_LOAD) {
            let (offset, vaddr, filesz, memsz) =
                (p.p_offset(E), p.p_vaddr(E), p.p_filesz(E), p.p_memsz(E));
            let inside = offset.checked_add(filesz).is_some_and(|e| e <= load_end);
            if offset != vaddr || filesz != memsz || !inside {
                self.fail(Violation::SegmentPlacement {
                    kind: format!("{:?}", p.p_type(E)),
                    offset,
                    vaddr,
                    filesz,
                    memsz,
                });
            }
        }
        for (index, p) in phdrs.iter().enumerate() {
            if p.p_flags(E).0 & elf::PF_W.0 != 0 {
                let kind = format!("{:?}", p.p_type(E));
                self.fail(Violation::WritableSegment { index, kind });
            }
        }
    }

    fn sections(&mut self) {
        let sections = self.file.elf_section_table();
        for s in sections.iter() {
            let name =
                String::from_utf8_lossy(sections.section_name(E, s).unwrap_or(b"?")).into_owned();
            let (ty, flags) = (s.sh_type(E), s.sh_flags(E).0);
            if ty == elf::SHT_REL || ty == elf::SHT_RELA || ty == elf::SHT_RELR {
                let count = s.sh_size(E).checked_div(s.sh_entsize(E)).unwrap_or(0);
                self.fail(Violation::Relocations {
                    section: name.clone(),
                    count,
                });
            }
            let alloc = flags & elf::SHF_ALLOC.0 != 0;
            if alloc && flags & elf::SHF_WRITE.0 != 0 && name != ".dynamic" {
                self.fail(Violation::WritableSection(name.clone()));
            } else if is_forbidden_section(&name) {
                self.fail(Violation::ForbiddenSection(name.clone()));
            }
            if name == ".text" {
                self.out.facts.text_size = s.sh_size(E);
            }
        }
    }

    fn dynamic(&mut self) {
        let Some(dynamic) = self.dynamic_entries() else {
            return;
        };
        let mut seen = Vec::new();
        for d in dynamic {
            let tag = d.d_tag(E);
            if tag == elf::DT_NULL {
                break;
            }
            seen.push(tag);
            if !loaders::ALLOWED_TAGS.contains(&tag) {
                self.fail(Violation::ForbiddenDynamicTag(format!("{tag:?}")));
            }
            let flags = d.d_val(E);
            if tag == elf::DT_FLAGS && flags & elf::DF_TEXTREL.0 != 0 {
                self.fail(Violation::ForbiddenDynamicTag("DF_TEXTREL".into()));
            } else if tag == elf::DT_FLAGS && flags & !loaders::ALLOWED_FLAGS != 0 {
                self.fail(Violation::ForbiddenDynamicTag(format!(
                    "DT_FLAGS {flags:#x}"
                )));
            }
            if tag == elf::DT_SONAME {
                let soname = self.dynstr(d.d_val(E)).unwrap_or_default();
                if soname != SONAME {
                    self.fail(Violation::Soname(soname));
                }
            }
        }
        for (tag, name) in REQUIRED_TAGS {
            if !seen.contains(&tag) {
                self.fail(Violation::MissingDynamicTag(name));
            }
        }
    }

    fn dynamic_entries(&self) -> Option<&'a [elf::Dyn64<Endianness>]> {
        let phdrs = self.file.elf_program_headers();
        let p = phdrs.iter().find(|p| p.p_type(E) == elf::PT_DYNAMIC)?;
        p.dynamic(E, self.data).ok().flatten()
    }

    fn dynstr(&self, offset: u64) -> Option<String> {
        let table = self.file.elf_dynamic_symbol_table().strings();
        let bytes = table.get(u32::try_from(offset).ok()?).ok()?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    fn symbols(&mut self, entries: &[Placed]) {
        let dynsym = self.file.elf_dynamic_symbol_table();
        let sections = self.file.elf_section_table();
        let versions = match sections.versions(E, self.data) {
            Ok(v) => v,
            Err(e) => {
                self.fail(Violation::NotElf(format!("bad symbol versions: {e}")));
                None
            }
        };
        let mut exports = BTreeMap::new();
        for (index, sym) in dynsym.enumerate() {
            if index.0 == 0 {
                continue;
            }
            let name =
                String::from_utf8_lossy(dynsym.symbol_name(E, sym).unwrap_or(b"?")).into_owned();
            if sym.is_undefined(E) {
                self.fail(Violation::UndefinedSymbol(name));
                continue;
            }
            // ld defines each version name as an absolute symbol.
            if sym.st_shndx(E) == elf::SHN_ABS && entries.iter().any(|e| e.version == name) {
                continue;
            }
            let version = versions
                .as_ref()
                .and_then(|v| v.version(v.version_index(E, index).index()).ok().flatten())
                .map(|v| String::from_utf8_lossy(v.name()).into_owned())
                .unwrap_or_default();
            let export = Export {
                name: name.clone(),
                offset: sym.st_value(E),
                size: sym.st_size(E),
                weak: sym.st_bind() == elf::STB_WEAK,
                version,
                function: sym.st_type() == elf::STT_FUNC,
            };
            // An entry's own type is checked below; anything else exported
            // is unexpected anyway, but said to be a function or not.
            let kind = entries
                .iter()
                .find(|e| e.symbol == name || e.alias == Some(name.as_str()))
                .map_or(EntryKind::Function, |e| e.kind);
            let expected = match kind {
                EntryKind::Function => elf::STT_FUNC,
                EntryKind::Trampoline => elf::STT_NOTYPE,
            };
            if sym.st_type() != expected {
                let found = symbol_type(sym.st_type());
                self.fail(Violation::SymbolKind {
                    name: name.clone(),
                    found,
                    expected: match kind {
                        EntryKind::Function => "a function",
                        EntryKind::Trampoline => "a code label (STT_NOTYPE), as Linux's",
                    },
                });
            }
            exports.insert(name, export);
        }
        for e in entries {
            let alias = e.alias.map(|a| (a, true));
            for (name, weak) in [(e.symbol, false)].into_iter().chain(alias) {
                let Some(x) = exports.get(name) else {
                    self.fail(Violation::MissingSymbol(name.to_string()));
                    continue;
                };
                if x.offset != e.offset() {
                    let (found, expected) = (x.offset, e.offset());
                    self.fail(Violation::SymbolOffset {
                        name: name.into(),
                        found,
                        expected,
                    });
                }
                if x.size > e.symbol_room() {
                    let (size, slot) = (x.size, e.symbol_room());
                    self.fail(Violation::SymbolOutgrowsSlot {
                        name: name.into(),
                        size,
                        slot,
                    });
                }
                if x.weak != weak {
                    let found = if x.weak { "weak" } else { "global" }.to_string();
                    let expected = if weak { "weak" } else { "global" };
                    self.fail(Violation::SymbolKind {
                        name: name.into(),
                        found,
                        expected,
                    });
                }
                if x.version != e.version {
                    let found = x.version.clone();
                    self.fail(Violation::SymbolVersion {
                        name: name.into(),
                        found,
                        expected: e.version,
                    });
                }
            }
        }
        for name in exports.keys() {
            if !entries
                .iter()
                .any(|e| e.symbol == name || e.alias == Some(name.as_str()))
            {
                self.fail(Violation::UnexpectedExport(name.clone()));
            }
        }
        // The full symbol table exists only in the unstripped link; it is
        // where a panic site shows by name.
        let symtab = self.file.elf_symbol_table();
        for sym in symtab.iter() {
            let raw = symtab.symbol_name(E, sym).unwrap_or(b"");
            let name = String::from_utf8_lossy(raw);
            if name.contains("panicking") || name.contains("rust_begin_unwind") {
                let symbol = format!("{:#}", rustc_demangle::demangle(&name));
                self.fail(Violation::PanicSite(symbol));
            }
        }
        self.out.facts.exports = exports;
    }

    /// Decodes all executable code with the architecture's decoder: direct
    /// branches stay inside it, nothing branches through memory (how GOT
    /// and PLT calls look), and the architecture's own rules hold.
    fn code(&mut self, arch: Arch, entries: &[Placed]) {
        let sections = self.file.elf_section_table();
        let mut ranges = Vec::new();
        for s in sections.iter() {
            let exec = s.sh_flags(E).0 & elf::SHF_EXECINSTR.0 != 0;
            if exec
                && s.sh_type(E) == elf::SHT_PROGBITS
                && let Ok(bytes) = s.data(E, self.data)
            {
                ranges.push((s.sh_addr(E), bytes));
            }
        }
        let code = Code { ranges };
        let mut found = match arch {
            Arch::X86_64 => x86_64::check(&code),
            Arch::Aarch64 => aarch64::check(&code, entries),
        };
        for e in entries {
            if !code.ranges.is_empty() && !code.inside(e.offset()) {
                found.push(Violation::NoCodeAtSlot(e.symbol.to_string()));
            }
        }
        self.out.violations.extend(found);
    }

    /// Every function entry is covered by an FDE and no trampoline is, and
    /// no function's CFA rises more than `MAX_STACK` above its stack
    /// pointer (which also rules out stack probes: they only appear for
    /// frames of a page or more).
    fn unwind(&mut self, arch: Arch, entries: &[Placed]) {
        let sp = match arch {
            Arch::X86_64 => gimli::X86_64::RSP,
            Arch::Aarch64 => gimli::AArch64::SP,
        };
        let sections = self.file.elf_section_table();
        let Some((_, eh)) = sections.section_by_name(E, b".eh_frame") else {
            self.fail(Violation::BadEhFrame("no .eh_frame section".into()));
            return;
        };
        let Ok(bytes) = eh.data(E, self.data) else {
            self.fail(Violation::BadEhFrame(
                ".eh_frame lies outside the file".into(),
            ));
            return;
        };
        let eh_frame = gimli::EhFrame::new(bytes, gimli::LittleEndian);
        let bases = gimli::BaseAddresses::default().set_eh_frame(eh.sh_addr(E));
        let mut covered = Vec::new();
        let mut ctx = gimli::UnwindContext::new();
        let mut cfi = eh_frame.entries(&bases);
        loop {
            let entry = match cfi.next() {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    self.fail(Violation::BadEhFrame(e.to_string()));
                    return;
                }
            };
            let gimli::CieOrFde::Fde(partial) = entry else {
                continue;
            };
            let fde = match partial.parse(gimli::EhFrame::cie_from_offset) {
                Ok(fde) => fde,
                Err(e) => {
                    self.fail(Violation::BadEhFrame(e.to_string()));
                    return;
                }
            };
            covered.push(fde.initial_address()..fde.end_address());
            let Ok(mut rows) = fde.rows(&eh_frame, &bases, &mut ctx) else {
                self.fail(Violation::BadEhFrame("undecodable CFI program".into()));
                return;
            };
            let mut deepest = 0;
            while let Ok(Some(row)) = rows.next_row() {
                if let gimli::CfaRule::RegisterAndOffset { register, offset } = row.cfa()
                    && *register == sp
                {
                    deepest = deepest.max(*offset);
                }
            }
            if deepest > MAX_STACK {
                self.fail(Violation::StackTooDeep {
                    at: fde.initial_address(),
                    bytes: deepest,
                });
            }
        }
        for e in entries {
            match e.kind {
                EntryKind::Function => {
                    if !covered.iter().any(|r| r.contains(&e.offset())) {
                        self.fail(Violation::MissingUnwind(e.symbol.to_string()));
                    }
                }
                // The whole trampoline, its lead included: an unwinder that
                // looks up the return address minus one lands in the lead.
                EntryKind::Trampoline => {
                    let size = self
                        .out
                        .facts
                        .exports
                        .get(e.symbol)
                        .map_or(e.symbol_room(), |x| x.size);
                    let code = e.slot.offset..e.offset() + size;
                    for r in &covered {
                        if r.start < code.end && code.start < r.end {
                            self.fail(Violation::UnwindCoversTrampoline {
                                name: e.symbol.to_string(),
                                start: r.start,
                                end: r.end,
                            });
                        }
                    }
                }
            }
        }
    }

    fn notes(&mut self, expected: Variant, expected_abi: Abi) {
        let mut build_id = None;
        let mut variant = None;
        let mut abi = None;
        for p in self.file.elf_program_headers() {
            let Ok(Some(mut notes)) = p.notes(E, self.data) else {
                continue;
            };
            while let Ok(Some(note)) = notes.next() {
                if note.name() == b"GNU" && note.n_type(E) == elf::NT_GNU_BUILD_ID {
                    build_id = Some(note.desc().to_vec());
                }
                if note.name() == &NOTE_OWNER[..NOTE_OWNER.len() - 1] {
                    match note.n_type(E).0 {
                        NT_VDSO_VARIANT => variant = Some(note.desc().to_vec()),
                        NT_VDSO_ABI => abi = Some(note.desc().to_vec()),
                        _ => {}
                    }
                }
            }
        }
        // A SHA-1 build id (ld's `--build-id=sha1`, and xtask's own for a
        // patched image), and a descriptor of exactly DESC_SIZE bytes: a
        // shorter one could not be told from a truncated note.
        if let Some(id) = &build_id
            && id.len() != BUILD_ID_SIZE
        {
            self.fail(Violation::NoteSize {
                note: "GNU build-id",
                size: id.len(),
                expected: BUILD_ID_SIZE,
            });
        }
        for (note, desc) in [("vdso-rs variant", &variant), ("vdso-rs layout", &abi)] {
            if let Some(desc) = desc
                && desc.len() != DESC_SIZE
            {
                self.fail(Violation::NoteSize {
                    note,
                    size: desc.len(),
                    expected: DESC_SIZE,
                });
            }
        }
        if build_id.is_none() {
            self.fail(Violation::MissingNote("GNU build-id"));
        }
        match &variant {
            None => self.fail(Violation::MissingNote("vdso-rs variant")),
            Some(desc) => match Variant::from_desc(desc) {
                Some(v) if v == expected => self.out.facts.variant = Some(v),
                _ => {
                    let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
                    let found = String::from_utf8_lossy(&desc[..end]).into_owned();
                    self.fail(Violation::WrongVariant { expected, found });
                }
            },
        }
        let name = |desc: &[u8]| {
            let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
            String::from_utf8_lossy(&desc[..end]).into_owned()
        };
        match &abi {
            None => self.fail(Violation::MissingNote("vdso-rs layout")),
            Some(desc) if name(desc) == expected_abi.name() => {
                self.out.facts.abi = Some(expected_abi)
            }
            Some(desc) => self.fail(Violation::WrongAbi {
                expected: expected_abi,
                found: name(desc),
            }),
        }
        self.out.facts.build_id = build_id;
    }
}

/// The image's executable sections, as (address, bytes).
pub struct Code<'a> {
    pub ranges: Vec<(u64, &'a [u8])>,
}

impl Code<'_> {
    /// True if `at` lies in an executable section.
    pub fn inside(&self, at: u64) -> bool {
        self.ranges
            .iter()
            .any(|(a, b)| at.checked_sub(*a).is_some_and(|d| d < b.len() as u64))
    }

    /// The 4 bytes at `at`, as a little-endian word, if they are code.
    pub fn word(&self, at: u64) -> Option<u32> {
        self.ranges.iter().find_map(|(a, b)| {
            let d = usize::try_from(at.checked_sub(*a)?).ok()?;
            let bytes = b.get(d..d.checked_add(4)?)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?))
        })
    }
}

/// How the violations name an architecture's ELF machine.
fn machine_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86-64",
        Arch::Aarch64 => "AArch64",
    }
}

fn symbol_type(t: elf::SymbolType) -> String {
    match t {
        elf::STT_NOTYPE => "STT_NOTYPE".into(),
        elf::STT_OBJECT => "STT_OBJECT".into(),
        elf::STT_FUNC => "STT_FUNC".into(),
        other => format!("type {}", other.0),
    }
}

fn is_forbidden_section(name: &str) -> bool {
    const PREFIXES: [&str; 6] = [".data", ".bss", ".got", ".plt", ".tdata", ".tbss"];
    PREFIXES
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}.")))
}

const REQUIRED_TAGS: [(elf::DynamicTag, &str); 8] = [
    (elf::DT_HASH, "DT_HASH"),
    (elf::DT_GNU_HASH, "DT_GNU_HASH"),
    (elf::DT_SYMTAB, "DT_SYMTAB"),
    (elf::DT_STRTAB, "DT_STRTAB"),
    (elf::DT_STRSZ, "DT_STRSZ"),
    (elf::DT_SONAME, "DT_SONAME"),
    (elf::DT_VERDEF, "DT_VERDEF"),
    (elf::DT_VERSYM, "DT_VERSYM"),
];
