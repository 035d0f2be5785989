//! What an image is built for: an architecture and a data-page layout
//! (Linux's data-page ABI of a range of kernel versions). Images for one
//! architecture and layout have their entries at the same offsets, so a
//! kernel swaps images only within one.

use core::fmt;

/// An architecture the images are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
}

impl Arch {
    pub const ALL: [Arch; 1] = [Arch::X86_64];

    /// The architecture this crate is compiled for.
    #[cfg(target_arch = "x86_64")]
    pub const HOST: Arch = Arch::X86_64;

    /// As `target_arch` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// How Linux names this architecture's vDSO entries: `__vdso_` on x86.
    pub const fn symbol_prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "__vdso_",
        }
    }

    /// The symbol version every entry is defined at.
    pub const fn symbol_version(self) -> &'static str {
        match self {
            Arch::X86_64 => "LINUX_2.6",
        }
    }

    /// Whether each entry also has an unprefixed weak alias (`clock_gettime`
    /// beside `__vdso_clock_gettime`), as Linux's x86 vDSO does.
    pub const fn weak_aliases(self) -> bool {
        match self {
            Arch::X86_64 => true,
        }
    }

    /// The ELF `e_machine` of its images.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A data-page layout: Linux's vDSO data ABI over a range of versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Abi {
    /// Linux v5.7 to v6.9 (LTS 6.1 and 6.6): `struct vdso_data` at byte 128
    /// of the vvar page, four data pages below the image.
    Linux6_6,
}

impl Abi {
    pub const ALL: [Abi; 1] = [Abi::Linux6_6];

    pub const fn name(self) -> &'static str {
        match self {
            Abi::Linux6_6 => "linux-6.6",
        }
    }

    pub fn from_name(name: &str) -> Option<Abi> {
        Abi::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Symbols the linker script defines for the data pages (see `arch`).
pub const VVAR_SYMBOL: &str = "__vdso_vvar_page";
pub const TIMENS_SYMBOL: &str = "__vdso_timens_page";
