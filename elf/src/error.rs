//! Why an image cannot be read, and why a symbol was not found.

use core::fmt;

use crate::dynamic::HashTable;

/// Why an ELF file cannot be read as a vDSO (or, for `vdso-run`'s program
/// checks, as a program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64BitLittleEndian,
    WrongMachine {
        found: u16,
        expected: u16,
    },
    NotSharedObject(u16),
    /// A structure the file points at is not (wholly) inside it.
    Truncated(&'static str),
    /// A structure is not aligned for its type (a loader would read it
    /// with misaligned accesses, or not at all).
    Misaligned(&'static str),
    /// A structure is malformed in a way a loader would trip over.
    Malformed(&'static str),
    NoLoadSegment,
    NoDynamicSegment,
    Missing(&'static str),
}

/// The name of an ELF machine this project knows.
pub(crate) fn machine_name(machine: u16) -> Option<&'static str> {
    match object::elf::Machine(machine) {
        object::elf::EM_X86_64 => Some("x86-64"),
        object::elf::EM_AARCH64 => Some("AArch64"),
        _ => None,
    }
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file (bad magic)"),
            ElfError::Not64BitLittleEndian => write!(f, "not a 64-bit little-endian ELF file"),
            ElfError::WrongMachine { found, expected } => {
                write!(f, "ELF machine {found:#x} is not ")?;
                match machine_name(*expected) {
                    Some(name) => write!(f, "{name}"),
                    None => write!(f, "{expected:#x}"),
                }
            }
            ElfError::NotSharedObject(t) => write!(f, "ELF type {t} is not a shared object"),
            ElfError::Truncated(what) => write!(f, "truncated: {what} lies outside the file"),
            ElfError::Misaligned(what) => write!(f, "misaligned: {what} is not 8-byte aligned"),
            ElfError::Malformed(what) => write!(f, "malformed: {what}"),
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
    /// Found and versioned, but undefined or not of the type asked for (a
    /// function, or a trampoline's code label).
    NotAFunction,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NoTable(HashTable::Sysv) => write!(f, "the image has no DT_HASH table"),
            LookupError::NoTable(HashTable::Gnu) => write!(f, "the image has no DT_GNU_HASH table"),
            LookupError::NotFound => write!(f, "not in the dynamic symbol table"),
            LookupError::WrongVersion => write!(f, "not defined at the requested version"),
            LookupError::NotAFunction => {
                write!(
                    f,
                    "not a defined function (or code label) of the type asked for"
                )
            }
        }
    }
}

impl core::error::Error for ElfError {}
impl core::error::Error for LookupError {}
