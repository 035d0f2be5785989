//! Can the preload library reach a program? It can when the program is a
//! 64-bit x86-64 ELF file loaded by glibc's dynamic loader (which honours
//! `LD_PRELOAD`) and does not read the clocks on its own (Go's runtime calls
//! the vDSO directly, even in a cgo binary that has a loader).
//!
//! Allocation-free and panic-free: the preload library runs it in `exec*`,
//! possibly in a `vfork` child. Included by path into both crates.

use core::fmt;

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

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const GLIBC_LOADER: &[u8] = b"ld-linux-x86-64.so.2";
const GO_BUILDINFO: &[u8] = b".go.buildinfo";

fn u16_at(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(s) => {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        }
        None => 0,
    }
}

/// Inspects the file behind `src`.
pub fn inspect(src: &mut impl Source) -> Kind {
    let mut head = [0u8; 1024];
    let n = src.read_at(0, &mut head);
    let head = &head[..n];
    if head.starts_with(b"#!") {
        return Kind::Script(shebang(&head[2..]));
    }
    if !head.starts_with(b"\x7fELF") {
        return Kind::Shell;
    }
    let class = head.get(4).copied().unwrap_or(0);
    if class != 2 {
        return Kind::Unreachable(Unreachable::Class(class));
    }
    let machine = u16_at(head, 18);
    if machine != 62 {
        return Kind::Unreachable(Unreachable::Machine(machine));
    }
    let phoff = u64_at(head, 32);
    let phentsize = u16_at(head, 54) as u64;
    let phnum = u16_at(head, 56) as u64;
    let mut interp = None;
    let mut go = false;
    for i in 0..phnum.min(256) {
        let mut ph = [0u8; 56];
        if phentsize < 56 || src.read_at(phoff + i * phentsize, &mut ph) < 56 {
            break;
        }
        let (kind, offset, size) = (u32_at(&ph, 0), u64_at(&ph, 8), u64_at(&ph, 32));
        if kind == PT_INTERP {
            let mut buf = [0u8; MAX_PATH];
            let want = (size as usize).min(MAX_PATH);
            let got = src.read_at(offset, &mut buf[..want]);
            let end = buf[..got].iter().position(|&b| b == 0).unwrap_or(got);
            interp = Some(ShortPath::new(&buf[..end]));
        } else if kind == PT_NOTE {
            go |= has_go_note(src, offset, size);
        }
    }
    if go || has_go_section(src, head) {
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
fn has_go_note(src: &mut impl Source, offset: u64, size: u64) -> bool {
    let mut buf = [0u8; 512];
    let want = (size as usize).min(buf.len());
    let got = src.read_at(offset, &mut buf[..want]);
    let mut notes = &buf[..got];
    while notes.len() >= 12 {
        let (namesz, descsz) = (u32_at(notes, 0) as usize, u32_at(notes, 4) as usize);
        if notes.get(12..12 + namesz) == Some(b"Go\0\0".as_slice()) {
            return true;
        }
        let next = 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        notes = notes.get(next..).unwrap_or_default();
    }
    false
}

/// A section named `.go.buildinfo` (kept even in stripped Go binaries).
fn has_go_section(src: &mut impl Source, head: &[u8]) -> bool {
    let shoff = u64_at(head, 40);
    let shentsize = u16_at(head, 58) as u64;
    let shnum = u16_at(head, 60) as u64;
    let shstrndx = u16_at(head, 62) as u64;
    if shoff == 0 || shentsize < 64 || shstrndx >= shnum {
        return false;
    }
    let mut sh = [0u8; 64];
    if src.read_at(shoff + shstrndx * shentsize, &mut sh) < 64 {
        return false;
    }
    let (strtab, strsz) = (u64_at(&sh, 24), u64_at(&sh, 32));
    let mut names = [0u8; 4096];
    let got = src.read_at(strtab, &mut names[..(strsz as usize).min(4096)]);
    let names = &names[..got];
    for i in 0..shnum.min(4096) {
        if src.read_at(shoff + i * shentsize, &mut sh) < 64 {
            return false;
        }
        let name = u32_at(&sh, 0) as usize;
        if let Some(n) = names.get(name..name + GO_BUILDINFO.len() + 1)
            && &n[..GO_BUILDINFO.len()] == GO_BUILDINFO
            && n[GO_BUILDINFO.len()] == 0
        {
            return true;
        }
    }
    false
}
