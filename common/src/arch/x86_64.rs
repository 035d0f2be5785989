//! The x86_64 hooks: where the data pages are, the counter, the cpu number,
//! the system call and `getrandom`'s ChaCha20 blocks. Everything else in
//! `common` is architecture-neutral.

use core::arch::asm;

mod chacha20;
pub use chacha20::{chacha20_blocks, chacha20_blocks_nostack};

/// The time slot's address: the symbol the generated linker script sets
/// to the image's base minus the slot's offset for the image's layout.
#[inline(always)]
pub fn time_slot() -> *const u8 {
    let slot: *const u8;
    // SAFETY: a `lea` computes an address and touches nothing. It is
    // PC-relative, so the image needs no relocation wherever it is mapped.
    unsafe {
        asm!("lea {}, [rip + __vdso_time_slot]", out(reg) slot,
             options(pure, nomem, nostack, preserves_flags));
    }
    slot
}

/// The namespace slot's address (as [`time_slot`]).
#[inline(always)]
pub fn namespace_slot() -> *const u8 {
    let slot: *const u8;
    // SAFETY: as in `time_slot`.
    unsafe {
        asm!("lea {}, [rip + __vdso_namespace_slot]", out(reg) slot,
             options(pure, nomem, nostack, preserves_flags));
    }
    slot
}

/// The random generator's page's address (as [`time_slot`]), in layouts
/// where it has a slot of its own.
#[inline(always)]
pub fn rng_slot() -> *const u8 {
    let slot: *const u8;
    // SAFETY: as in `time_slot`.
    unsafe {
        asm!("lea {}, [rip + __vdso_rng_slot]", out(reg) slot,
             options(pure, nomem, nostack, preserves_flags));
    }
    slot
}

/// The TSC, read after every earlier load has completed: a read hoisted
/// above the seqlock's `read_begin` could predate `cycle_last`. RDTSCP
/// waits for them by itself, and is what Linux patches its own vDSO to use
/// on every CPU that has it; on the AMD EPYC this was measured on it is one
/// cycle cheaper than `lfence; rdtsc` (BENCHMARKS.md). For a CPU without
/// RDTSCP, build with `--cfg vdso_counter="lfence-rdtsc"`.
#[inline(always)]
pub fn read_counter() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the time-stamp counter (and, with RDTSCP, TSC_AUX into
    // ecx, discarded); no memory is touched. No `nomem`: the asm must stay
    // after the seqlock's Acquire load in program order for the compiler too.
    unsafe {
        #[cfg(not(vdso_counter = "lfence-rdtsc"))]
        asm!("rdtscp", out("eax") lo, out("edx") hi, out("ecx") _,
             options(nostack, preserves_flags));
        #[cfg(vdso_counter = "lfence-rdtsc")]
        asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi,
             options(nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// True if the clocks of an entry in clock mode `mode` are computed from
/// the TSC: only in mode 1 (`VDSO_CLOCKMODE_TSC`). The pvclock and hvclock
/// modes make the system call (docs/abi.md).
#[inline(always)]
pub fn reads_counter(mode: i32) -> bool {
    mode == crate::vvar::clock_mode::TSC
}

const _: () = assert!(matches!(
    crate::abi::Arch::X86_64.counter_modes(),
    [crate::vvar::clock_mode::TSC]
));

/// `(node << 12) | cpu`, as the kernel stores it in TSC_AUX.
#[inline(always)]
pub fn cpu_node() -> u32 {
    let aux: u32;
    // SAFETY: RDTSCP only reads the counter and TSC_AUX; no memory is touched.
    unsafe {
        asm!("rdtscp", out("eax") _, out("edx") _, out("ecx") aux,
             options(nomem, nostack, preserves_flags));
    }
    aux
}

pub mod nr {
    pub const GETTIMEOFDAY: usize = 96;
    pub const TIME: usize = 201;
    pub const CLOCK_GETTIME: usize = 228;
    pub const CLOCK_GETRES: usize = 229;
    pub const GETRANDOM: usize = 318;
}

/// A system call with up to three arguments; returns the kernel's value
/// (`-errno` on failure) unchanged.
///
/// # Safety
/// The arguments must be valid for system call `nr`: pointers the kernel
/// writes through must be writable or deliberately invalid (the kernel then
/// returns `-EFAULT`, as the caller of the vDSO would get from the system call).
#[inline(always)]
pub unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers rcx and
    // r11 and restores the flags from r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret,
             in("rdi") a0, in("rsi") a1, in("rdx") a2,
             lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

/// The symbol of entry `$name`: Linux's x86 vDSO prefixes `__vdso_`.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry_symbol {
    ($name:ident) => {
        concat!("__vdso_", stringify!($name))
    };
}

/// The unprefixed weak alias libcs also look up, as in Linux's x86 vDSO.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry_alias {
    ($name:ident) => {
        core::arch::global_asm!(
            concat!(".weak ", stringify!($name)),
            concat!(".set ", stringify!($name), ", __vdso_", stringify!($name)),
        );
    };
}

/// An entry's exported function: `entry`, in the entry's section, which
/// the linker script places at its slot. Nothing comes before its code:
/// Linux enforces no indirect-branch tracking in user space (the `endbr64`
/// its own vDSO carries is inert there), so the images carry none.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry {
    ($name:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $body:block) => {
        /// # Safety
        /// As for the system call of the same name.
        #[unsafe(export_name = $crate::__arch_entry_symbol!($name))]
        #[unsafe(link_section = concat!(".text.vdso.", stringify!($name)))]
        pub unsafe extern "C" fn entry($($arg: $ty),*) -> $ret $body
    };
}

/// x86_64's vDSO has no trampoline (the libc's `SA_RESTORER` returns from
/// signals), so no row of that kind lists it.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_trampoline {
    ($name:ident, $($rest:tt)*) => {
        compile_error!(concat!("x86_64 has no trampoline ", stringify!($name)));
    };
}

/// Stops the thread: what the images' panic handler does (nothing in an
/// image can panic; the verifier proves it).
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_trap {
    () => {
        // SAFETY: `ud2` raises #UD; nothing after it runs.
        unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
    };
}
