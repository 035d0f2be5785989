//! Reading vDSO images the way a loader reads them: the ELF header, the
//! program headers, the notes of `PT_NOTE` segments, and the dynamic symbols
//! through `DT_HASH` (musl's way) or `DT_GNU_HASH` (glibc's and Go's) with
//! their versions. Never section headers: nothing obliges a vDSO to keep
//! them mapped.
//!
//! One reader for every consumer: the kernel side's loader, both `vdso-run`
//! modes (the preload library runs it in signal handlers and `vfork`
//! children), design (d)'s patcher in xtask and the benches. So it is
//! `no_std`, never allocates, never panics, and treats every byte as
//! hostile: every offset and size is checked arithmetic, every loop is
//! bounded by the file's size. It lives apart from `common` so that a
//! kernel embedding `common` never pulls in `object`.
//!
//! Two readers stay independent on purpose: the build's verifier
//! (`kernel_side::verify`, which reads section headers, decodes the machine
//! code and emulates glibc's, musl's and Go's lookups, to prove what this
//! crate takes on trust; the kernel side's loader runs it before this
//! crate's reading) and the readelf oracle in xtask's tests.

#![no_std]

mod dynamic;
mod error;
mod headers;
mod notes;
pub mod patch;
mod pod;

pub use dynamic::{DynamicTable, HashTable, Symbol};
pub use error::{ElfError, LookupError};
pub use headers::{
    Aligned, Elf, FILE_HEADER_SIZE, ProgramHeaders, SECTION_HEADER_SIZE, SEGMENT_HEADER_SIZE,
    SectionHeaders, file_header,
};
pub use notes::{Note, NoteError, Notes, segment_notes};

/// The `object` this crate is built on, for its ELF types and accessor
/// traits (`object::read::elf::ProgramHeader` and the like).
pub use object;

/// The byte order of every image this project builds or reads.
pub use object::LittleEndian as LE;
pub use object::elf::{EM_AARCH64, EM_X86_64};
