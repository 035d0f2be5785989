//! Can the preload library reach a program? It can when the program is a
//! 64-bit x86-64 ELF file loaded by glibc's dynamic loader (which honours
//! `LD_PRELOAD`) and does not read the clocks on its own (Go's runtime calls
//! the vDSO directly, even in a cgo binary that has a loader).
//!
//! Allocation-free and panic-free: the preload library runs it in `exec*`,
//! possibly in a `vfork` child. Included by path into both crates.

use core::fmt;

use vdso_elf::object::elf::{ELFCLASS64, EM_X86_64, FileHeader64, PT_INTERP, PT_NOTE};
use vdso_elf::object::read::elf::{ProgramHeader, SectionHeader};
use vdso_elf::{
    Aligned, ElfError, LE, ProgramHeaders, SECTION_HEADER_SIZE, SEGMENT_HEADER_SIZE,
    SectionHeaders, segment_notes,
};

/// The longest interpreter path kept.
pub const MAX_PATH: usize = 256;

/// Reads bytes of the file at an offset; returns how many it read (0 at the
/// end or on error).
pub trait Source {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> usize;
}

/// A short path held without allocating.
#[derive(Clone, Copy)]
pub struct ShortPath {
    buf: [u8; MAX_PATH],
    len: usize,
}

impl ShortPath {
    pub fn new(bytes: &[u8]) -> ShortPath {
        let mut p = ShortPath {
            buf: [0; MAX_PATH],
            len: 0,
        };
        let len = bytes.len().min(MAX_PATH - 1);
        p.buf[..len].copy_from_slice(&bytes[..len]);
        p.len = len;
        p
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// NUL-terminated, for system calls.
    pub fn c_bytes(&self) -> &[u8] {
        &self.buf[..self.len + 1]
    }
}

impl fmt::Display for ShortPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// Why the preload library cannot reach a program.
// Held by value: the preload library must not allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
pub enum Unreachable {
    /// No `PT_INTERP`: nothing loads a preload library into it.
    Static,
    /// Loaded by another dynamic loader (musl's, for instance).
    Loader(ShortPath),
    /// A Go program: its runtime calls the vDSO itself.
    Go,
    /// Not a 64-bit ELF file.
    Class(u8),
    /// Not for x86-64.
    Machine(u16),
    /// Its ELF headers cannot be read (the kernel would refuse it too).
    Malformed(ElfError),
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::Static => write!(f, "it is statically linked (no PT_INTERP)"),
            Unreachable::Loader(p) => write!(
                f,
                "its dynamic loader is {p}, not glibc's ld-linux-x86-64.so.2 (a musl program?)"
            ),
            Unreachable::Go => write!(
                f,
                "it is a Go program, whose runtime calls the vDSO without libc"
            ),
            Unreachable::Class(c) => write!(f, "it is not a 64-bit ELF program (class {c})"),
            Unreachable::Machine(m) => write!(f, "it is not an x86-64 program (machine {m:#x})"),
            Unreachable::Malformed(e) => write!(f, "its ELF headers are unreadable ({e})"),
        }
    }
}

pub enum Kind {
    /// The preload library reaches it.
    Reachable,
    Unreachable(Unreachable),
    /// A `#!` script: its interpreter (the first word) decides.
    Script(ShortPath),
    /// Neither ELF nor `#!`: the kernel refuses it (ENOEXEC) and execvp hands
    /// it to /bin/sh.
    Shell,
}

const GLIBC_LOADER: &[u8] = b"ld-linux-x86-64.so.2";
const GO_BUILDINFO: &[u8] = b".go.buildinfo";

/// Reads one ELF structure at `offset` into an aligned buffer; `None` if
/// the file is too short for it.
fn read_struct<const N: usize>(src: &mut impl Source, offset: u64) -> Option<Aligned<N>> {
    let mut buf = Aligned::<N>::zeroed();
    (src.read_at(offset, &mut buf.0) == N).then_some(buf)
}

/// Inspects the file behind `src`.
pub fn inspect(src: &mut impl Source) -> Kind {
    let mut head = Aligned::<1024>::zeroed();
    let n = src.read_at(0, &mut head.0);
    let head = &head.0[..n];
    if head.starts_with(b"#!") {
        return Kind::Script(shebang(&head[2..]));
    }
    if !head.starts_with(b"\x7fELF") {
        return Kind::Shell;
    }
    let class = head.get(4).copied().unwrap_or(0);
    if class != ELFCLASS64.0 {
        return Kind::Unreachable(Unreachable::Class(class));
    }
    let header = match vdso_elf::file_header(head) {
        Ok(header) => header,
        Err(e) => return Kind::Unreachable(Unreachable::Malformed(e)),
    };
    let machine = header.e_machine.get(LE);
    if machine != EM_X86_64 {
        return Kind::Unreachable(Unreachable::Machine(machine.0));
    }
    let table = match ProgramHeaders::of(header) {
        Ok(table) => table,
        Err(e) => return Kind::Unreachable(Unreachable::Malformed(e)),
    };
    let mut interp = None;
    let mut go = false;
    for i in 0..table.count {
        let Some(ph) = table
            .at(i)
            .and_then(|at| read_struct::<SEGMENT_HEADER_SIZE>(src, at))
        else {
            break;
        };
        let Ok([ph]) = ProgramHeaders::parse(&ph.0, 1) else {
            break;
        };
        let (offset, size) = (ph.p_offset(LE), ph.p_filesz(LE));
        match ph.p_type(LE) {
            PT_INTERP => {
                let mut buf = [0u8; MAX_PATH];
                let want = usize::try_from(size).map_or(MAX_PATH, |s| s.min(MAX_PATH));
                let got = src.read_at(offset, &mut buf[..want]);
                let end = buf[..got].iter().position(|&b| b == 0).unwrap_or(got);
                interp = Some(ShortPath::new(&buf[..end]));
            }
            PT_NOTE => go |= has_go_note(src, offset, size, ph.p_align(LE)),
            _ => {}
        }
    }
    if go || has_go_section(src, header) {
        return Kind::Unreachable(Unreachable::Go);
    }
    match interp {
        None => Kind::Unreachable(Unreachable::Static),
        Some(p) if basename(p.bytes()) == GLIBC_LOADER => Kind::Reachable,
        Some(p) => Kind::Unreachable(Unreachable::Loader(p)),
    }
}

fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The interpreter of a `#!` line: its first word.
fn shebang(line: &[u8]) -> ShortPath {
    let line = match line.iter().position(|&b| b == b'\n') {
        Some(end) => &line[..end],
        None => line,
    };
    let start = line
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(line.len());
    let rest = &line[start..];
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(rest.len());
    ShortPath::new(&rest[..end])
}

/// A note owned by "Go" (the Go build id, type 4), in a `PT_NOTE` segment.
fn has_go_note(src: &mut impl Source, offset: u64, size: u64, align: u64) -> bool {
    let mut buf = Aligned::<512>::zeroed();
    let want = usize::try_from(size).map_or(buf.0.len(), |s| s.min(buf.0.len()));
    let got = src.read_at(offset, &mut buf.0[..want]);
    segment_notes(&buf.0[..got], align)
        .map_while(Result::ok)
        .any(|note| note.owner == b"Go")
}

/// A section named `.go.buildinfo` (kept even in stripped Go binaries).
fn has_go_section(src: &mut impl Source, header: &FileHeader64<LE>) -> bool {
    let Ok(Some(table)) = SectionHeaders::of(header) else {
        return false;
    };
    let section = |src: &mut _, index| {
        read_struct::<SECTION_HEADER_SIZE>(src, table.at(index)?)
            .filter(|buf| SectionHeaders::parse(&buf.0).is_ok())
    };
    let Some(names) = section(src, table.names) else {
        return false;
    };
    let Ok(names) = SectionHeaders::parse(&names.0) else {
        return false;
    };
    let mut strings = [0u8; 4096];
    let len = usize::try_from(names.sh_size(LE)).map_or(strings.len(), |s| s.min(strings.len()));
    let got = src.read_at(names.sh_offset(LE), &mut strings[..len]);
    let strings = &strings[..got];
    for i in 0..table.count.min(4096) {
        let Some(buf) = section(src, i) else {
            return false;
        };
        let Ok(sh) = SectionHeaders::parse(&buf.0) else {
            return false;
        };
        let name = sh.sh_name(LE) as usize;
        let Some(end) = name.checked_add(GO_BUILDINFO.len() + 1) else {
            continue;
        };
        if let Some(n) = strings.get(name..end)
            && &n[..GO_BUILDINFO.len()] == GO_BUILDINFO
            && n[GO_BUILDINFO.len()] == 0
        {
            return true;
        }
    }
    false
}
