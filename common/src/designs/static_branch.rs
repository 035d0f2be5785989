//! Design (d)'s patch sites: the static branch and `getcpu`'s RDPID
//! alternative, each an `asm!` block that records itself in a patch-site
//! note (`common::note`), which `vdso-elf` reads and applies.

use crate::note::{NT_VDSO_PATCH_SITE, SITE_DESC_SIZE, SITE_RDPID, SITE_TIMENS_BRANCH};

// The asm below names the note section literally (an asm string cannot take
// a `const &str`); this keeps it the variant note's section, which the
// linker script keeps (`KEEP`) in `PT_NOTE`.
const _: () = {
    let (a, b) = (crate::note::NOTE_SECTION.as_bytes(), b".note.vdso.variant");
    assert!(a.len() == b.len());
    let mut i = 0;
    while i < a.len() {
        assert!(a[i] == b[i]);
        i += 1;
    }
    // And the numbers the asm spells out.
    assert!(NT_VDSO_PATCH_SITE == 2 && SITE_DESC_SIZE == 12);
    assert!(SITE_TIMENS_BRANCH == 1 && SITE_RDPID == 2);
    assert!(crate::note::NOTE_OWNER.len() == 8);
};

/// The static branch: `false` in the compiled image, where it is a 5-byte
/// NOP; `true` in the image xtask patches, where the NOP is a `jmp` to the
/// label. The `label` operand tells the compiler the asm may jump there, so
/// the patched image runs code the compiler laid out for exactly that edge:
/// no assumption about the code around the site is made.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn timens_static_branch() -> bool {
    // SAFETY: the asm is a NOP in the compiled image; patched, it jumps to
    // `yes`, a jump the compiler was told of. It touches no memory, no stack
    // and no flags. The note it adds is data in another section.
    // (Label 2, not 0 or 1: `1b` reads as a binary number in Intel syntax.)
    unsafe {
        core::arch::asm!(
            "2:",
            ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
            ".pushsection .note.vdso.variant, \"a\", @note",
            ".balign 4",
            ".long 8, 12, 2",
            ".asciz \"vdso-rs\"",
            ".long 2b - .",
            ".long {yes} - .",
            ".long 1",
            ".popsection",
            yes = label { return true; },
            options(nomem, nostack, preserves_flags)
        );
    }
    false
}

/// TSC_AUX through `rdtscp; nop`, an alternative site a loader may turn into
/// `rdpid rcx` (same length, same output register) on a CPU with RDPID.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn cpu_node_alternative() -> u32 {
    let aux: u32;
    // SAFETY: RDTSCP (or, patched, RDPID) reads TSC_AUX into ecx; both
    // forms are declared to write eax, ecx and edx and touch no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            ".byte 0x0f, 0x01, 0xf9, 0x90",
            ".pushsection .note.vdso.variant, \"a\", @note",
            ".balign 4",
            ".long 8, 12, 2",
            ".asciz \"vdso-rs\"",
            ".long 2b - .",
            ".long 0",
            ".long 2",
            ".popsection",
            out("eax") _, out("edx") _, out("ecx") aux,
            options(nomem, nostack, preserves_flags)
        );
    }
    aux
}
