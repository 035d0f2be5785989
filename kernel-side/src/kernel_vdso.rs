//! The running kernel's own vDSO, found as libcs find it: `AT_SYSINFO_EHDR`.
//! The reference the conformance suite and the benches hold the images to.

use common::abi::Arch;
use common::entries::{ENTRIES, EntryKind};
use object::elf;
use object::read::elf::ProgramHeader;
use vdso_elf::{Elf, HashTable, LE};

use crate::vdso::{Offsets, Vdso};

/// The kernel's vDSO as bytes (it stays mapped for the life of the process).
pub fn image() -> Option<&'static [u8]> {
    // SAFETY: getauxval only reads the auxiliary vector.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as *const u8;
    if base.is_null() {
        return None;
    }
    // SAFETY: the kernel maps at least the ELF header and program headers
    // (its first page) at AT_SYSINFO_EHDR, for the life of the process.
    let head = unsafe { std::slice::from_raw_parts(base, 4096) };
    let end = Elf::parse(head)
        .ok()?
        .segments_of(elf::PT_LOAD)
        .map(|p| p.p_offset(LE) + p.p_filesz(LE))
        .max()?;
    // SAFETY: the PT_LOAD segments, from offset 0, are mapped there.
    Some(unsafe { std::slice::from_raw_parts(base, usize::try_from(end).ok()?) })
}

/// Where the kernel vDSO's entries are, resolved through `DT_GNU_HASH` at
/// the architecture's version, as glibc does; `None` for an entry it lacks.
pub fn offsets(image: &[u8]) -> Option<Offsets> {
    let arch = Arch::HOST;
    let table = Elf::parse(image).ok()?.dynamic().ok()?;
    let mut offsets = Offsets::default();
    for (name, slot) in offsets.each_mut() {
        let entry = ENTRIES.iter().find(|e| e.name == name)?;
        let (symbol, version) = (entry.symbol(arch), arch.symbol_version());
        let found = match entry.kind {
            EntryKind::Function => table.lookup(HashTable::Gnu, symbol, version),
            EntryKind::Trampoline => table.lookup_label(HashTable::Gnu, symbol, version),
        };
        *slot = found.ok().map(|s| s.offset);
    }
    Some(offsets)
}

/// The kernel vDSO's entry points, or `None` if it has no vDSO or lacks an
/// entry every layout has.
pub fn vdso() -> Option<Vdso<'static>> {
    let image = image()?;
    let offsets = offsets(image)?;
    let complete = ENTRIES
        .iter()
        .filter(|e| e.arches.contains(&Arch::HOST.name()) && e.abis.is_none())
        .all(|e| offsets.get(e.name).is_some_and(Option::is_some));
    // SAFETY: resolved from the kernel's own vDSO, mapped for the life of
    // the process with its data pages.
    complete.then(|| unsafe { Vdso::from_offsets(image.as_ptr(), &offsets) })
}
