//! The running kernel's own vDSO, found as libcs find it: `AT_SYSINFO_EHDR`.
//! The reference the conformance suite and the benches hold the images to.

use common::entries::{ENTRIES, VERSION};
use object::LittleEndian as LE;
use object::elf;

use crate::dynsym::{self, DynamicTable, HashTable};
use crate::vdso::Vdso;

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
    let (_, phdrs) = dynsym::program_headers(head).ok()?;
    let end = phdrs
        .iter()
        .filter(|p| p.p_type.get(LE) == elf::PT_LOAD)
        .map(|p| p.p_offset.get(LE) + p.p_filesz.get(LE))
        .max()?;
    // SAFETY: the PT_LOAD segments, from offset 0, are mapped there.
    Some(unsafe { std::slice::from_raw_parts(base, usize::try_from(end).ok()?) })
}

/// The kernel vDSO's entry points (resolved through `DT_GNU_HASH` at
/// `LINUX_2.6`, as glibc does), or `None` if it lacks any of them.
pub fn vdso() -> Option<Vdso<'static>> {
    let image = image()?;
    let table = DynamicTable::parse(image).ok()?;
    let mut offsets = [0u64; ENTRIES.len()];
    for (o, e) in offsets.iter_mut().zip(&ENTRIES) {
        *o = table.lookup(HashTable::Gnu, e.symbol, VERSION).ok()?.offset;
    }
    // SAFETY: resolved from the kernel's own vDSO, mapped for the life of
    // the process with its data pages.
    Some(unsafe { Vdso::from_offsets(image.as_ptr(), offsets) })
}
