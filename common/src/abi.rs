//! What an image is built for: an architecture and a data-page layout
//! (Linux's data-page ABI of a range of kernel versions). Images for one
//! architecture and layout have their entries at the same offsets, so a
//! kernel swaps images only within one.

use core::fmt;

/// An architecture the images are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this crate is compiled for.
    #[cfg(target_arch = "x86_64")]
    pub const HOST: Arch = Arch::X86_64;
    /// The architecture this crate is compiled for.
    #[cfg(target_arch = "aarch64")]
    pub const HOST: Arch = Arch::Aarch64;

    /// As `target_arch` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// How Linux names this architecture's vDSO entries: `__vdso_` on x86,
    /// `__kernel_` on arm64.
    pub const fn symbol_prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "__vdso_",
            Arch::Aarch64 => "__kernel_",
        }
    }

    /// The symbol version every entry is defined at.
    pub const fn symbol_version(self) -> &'static str {
        match self {
            Arch::X86_64 => "LINUX_2.6",
            Arch::Aarch64 => "LINUX_2.6.39",
        }
    }

    /// Whether each entry also has an unprefixed weak alias (`clock_gettime`
    /// beside `__vdso_clock_gettime`), as Linux's x86 vDSO does; arm64's
    /// has none.
    pub const fn weak_aliases(self) -> bool {
        match self {
            Arch::X86_64 => true,
            Arch::Aarch64 => false,
        }
    }

    /// The ELF `e_machine` of its images.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Aarch64 => 183,
        }
    }

    /// The architecture of ELF machine `machine`, if it is one of ours.
    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }

    /// The data layouts its images are built for: those whose facts were
    /// read from Linux's sources and checked against its machine code.
    pub const fn abis(self) -> &'static [Abi] {
        match self {
            Arch::X86_64 => &Abi::ALL,
            Arch::Aarch64 => &[Abi::Linux6_18],
        }
    }

    /// The `clock_mode` values whose clocks the images compute from the
    /// counter: x86's TSC (1); arm64's ARCHTIMER (1) and
    /// ARCHTIMER_NOCOMPAT (2), which differ only for 32-bit processes.
    /// Every other mode sends the high-resolution clocks to the system
    /// call. (`common::arch`'s `reads_counter` is the images' side of
    /// this; each architecture's file checks the two agree.)
    pub const fn counter_modes(self) -> &'static [i32] {
        match self {
            Arch::X86_64 => &[1],
            Arch::Aarch64 => &[1, 2],
        }
    }

    /// Bytes of a trampoline's slot before its symbol: on arm64 the `nop`
    /// that Linux puts before `__kernel_rt_sigreturn`, for unwinders that
    /// look up the return address minus one (`entries::EntryKind`).
    pub const fn trampoline_lead(self) -> u64 {
        match self {
            Arch::X86_64 => 0,
            Arch::Aarch64 => 4,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A data-page layout: Linux's vDSO data ABI over a range of kernel
/// versions ([`crate::layout`] has each one's facts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Abi {
    /// Linux v5.7 to v6.9 (LTS 6.1 and 6.6): `struct vdso_data` at byte 128
    /// of the vvar page, four data pages below the image.
    Linux6_6,
    /// Linux v6.10 to v6.12 (LTS 6.12): the same pages, `vdso_data` with
    /// `max_cycles`, the random generator's data at byte 640.
    Linux6_12,
    /// Linux v6.17 and later (LTS 6.18): the generic data store, six pages on
    /// x86 (time, namespace, random, arch, pvclock, hvclock).
    Linux6_18,
}

impl Abi {
    pub const ALL: [Abi; 3] = [Abi::Linux6_6, Abi::Linux6_12, Abi::Linux6_18];

    pub const fn name(self) -> &'static str {
        match self {
            Abi::Linux6_6 => "linux-6.6",
            Abi::Linux6_12 => "linux-6.12",
            Abi::Linux6_18 => "linux-6.18",
        }
    }

    pub fn from_name(name: &str) -> Option<Abi> {
        Abi::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The kernel versions whose data pages this layout is, as
    /// `(first, last)` of `(major, minor)`; `last` is `None` for a layout
    /// current kernels still use.
    pub const fn kernels(self) -> ((u32, u32), Option<(u32, u32)>) {
        match self {
            Abi::Linux6_6 => ((5, 7), Some((6, 9))),
            Abi::Linux6_12 => ((6, 10), Some((6, 12))),
            Abi::Linux6_18 => ((6, 17), None),
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Symbols the linker script defines for the data pages (see `arch`): the
/// time slot, the namespace slot and the random generator's page.
pub const TIME_SLOT_SYMBOL: &str = "__vdso_time_slot";
pub const NAMESPACE_SLOT_SYMBOL: &str = "__vdso_namespace_slot";
pub const RNG_SLOT_SYMBOL: &str = "__vdso_rng_slot";

/// The symbol of the ChaCha20 block function `getrandom` calls (see
/// `arch`): local to the image, found by the verifier in the unstripped
/// link to check its code.
pub const CHACHA20_BLOCKS_SYMBOL: &str = "vdso_chacha20_blocks_nostack";
