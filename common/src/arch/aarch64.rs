//! The aarch64 hooks: where the data pages are, the counter, the system
//! call, the landing pads and the signal trampoline, as Linux's arm64 vDSO
//! has them (`arch/arm64/include/asm/vdso/gettimeofday.h`,
//! `arch/arm64/kernel/vdso/sigreturn.S`). Everything else in `common` is
//! architecture-neutral.

use core::arch::asm;

/// The time slot's address: the symbol the generated linker script sets
/// to the image's base minus the slot's offset for the image's layout.
#[inline(always)]
pub fn time_slot() -> *const u8 {
    let slot: *const u8;
    // SAFETY: `adr` computes an address and touches nothing. It is
    // PC-relative (within ±1 MiB: the data pages lie at most four 64 KiB
    // pages below the image), so the image needs no relocation wherever it
    // is mapped.
    unsafe {
        asm!("adr {}, __vdso_time_slot", out(reg) slot,
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
        asm!("adr {}, __vdso_namespace_slot", out(reg) slot,
             options(pure, nomem, nostack, preserves_flags));
    }
    slot
}

/// The random generator's page's address (as [`time_slot`]). No image
/// entry reads it yet: the aarch64 images have no `getrandom` (it needs a
/// block function of this architecture's own, with the same no-stack
/// rules).
#[inline(always)]
pub fn rng_slot() -> *const u8 {
    let slot: *const u8;
    // SAFETY: as in `time_slot`.
    unsafe {
        asm!("adr {}, __vdso_rng_slot", out(reg) slot,
             options(pure, nomem, nostack, preserves_flags));
    }
    slot
}

/// The virtual counter, ordered as Linux's `__arch_get_hw_counter` orders
/// it (`arch_timer_read_cntvct_el0` and `arch_counter_enforce_ordering`):
///
/// - `isb` first: CNTVCT_EL0 is not a memory access, so neither the
///   seqlock's Acquire load nor any barrier on memory keeps the CPU from
///   reading it early; only a context synchronisation does. Without it the
///   counter could predate `cycle_last`.
/// - then a load whose address depends on the value (`eor` gives 0, `add`
///   makes it the stack pointer, `ldr xzr` loads and discards): the
///   seqlock's closing `dmb ishld` orders loads, so this turns the counter
///   read into one it orders, and the re-read of `seq` cannot be satisfied
///   before the counter was read.
///
/// The verifier checks the five instructions in every image (xtask's
/// `verify`): emulation runs in order and cannot show either missing.
#[inline(always)]
pub fn read_counter() -> u64 {
    let cycles: u64;
    // SAFETY: reads the counter, then loads (and discards) the word at the
    // stack pointer, which is mapped; no memory is written. No `nomem`: the
    // asm must stay after the seqlock's Acquire load for the compiler too.
    unsafe {
        asm!(
            "isb",
            "mrs {cycles}, cntvct_el0",
            "eor {dep}, {cycles}, {cycles}",
            "add {dep}, sp, {dep}",
            "ldr xzr, [{dep}]",
            cycles = out(reg) cycles,
            dep = out(reg) _,
            options(nostack, preserves_flags)
        );
    }
    cycles
}

/// True if the clocks of an entry in clock mode `mode` are computed from
/// the counter: ARCHTIMER (1) and ARCHTIMER_NOCOMPAT (2). The kernel sets
/// NOCOMPAT when only 32-bit processes must not read the counter (a timer
/// erratum), and NONE (0) when no process may, so 64-bit code serves both
/// counter modes, as Linux's `vdso_clocksource_ok` does.
#[inline(always)]
pub fn reads_counter(mode: i32) -> bool {
    use crate::vvar::clock_mode::{ARCHTIMER, ARCHTIMER_NOCOMPAT};
    mode == ARCHTIMER || mode == ARCHTIMER_NOCOMPAT
}

const _: () = {
    use crate::vvar::clock_mode::{ARCHTIMER, ARCHTIMER_NOCOMPAT};
    assert!(matches!(
        crate::abi::Arch::Aarch64.counter_modes(),
        [ARCHTIMER, ARCHTIMER_NOCOMPAT]
    ));
};

/// The asm-generic system call numbers (`include/uapi/asm-generic/unistd.h`).
pub mod nr {
    pub const CLOCK_GETTIME: usize = 113;
    pub const CLOCK_GETRES: usize = 114;
    pub const RT_SIGRETURN: usize = 139;
    pub const GETTIMEOFDAY: usize = 169;
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
    // SAFETY: the caller vouches for the arguments; `svc #0` takes the
    // number in x8 and the arguments in x0 to x2, returns in x0 and
    // preserves every other register and the flags.
    unsafe {
        asm!("svc #0", inlateout("x0") a0 as isize => ret,
             in("x1") a1, in("x2") a2, in("x8") nr,
             options(nostack, preserves_flags));
    }
    ret
}

/// The symbol of entry `$name`: Linux's arm64 vDSO prefixes `__kernel_`.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry_symbol {
    ($name:ident) => {
        concat!("__kernel_", stringify!($name))
    };
}

/// Linux's arm64 vDSO has no unprefixed aliases.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry_alias {
    ($name:ident) => {};
}

/// An entry's exported function, starting with `bti c`: the landing pad a
/// call through a register (`blr`) must land on when the kernel maps the
/// image with guarded pages (`VM_ARM64_BTI`: a BTI kernel on a CPU with
/// BTI), a hint and so a no-op everywhere else. Stable rustc cannot emit
/// landing pads (`-Z branch-protection` is unstable), and an `asm!` at the
/// top of a function does not stay first (LLVM schedules register-only
/// instructions above it). So the exported symbol is a naked function of
/// the one instruction, in the entry's section, and the code is `body`, in
/// the section the linker script places right after it: the landing pad
/// falls through into the code, without a branch. The verifier refuses an
/// image where an exported function does not start with `bti c`, or where
/// anything but code follows it. Nothing in an image branches through a
/// register, so no other landing pad is needed (the verifier checks that
/// too).
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_entry {
    ($name:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $body:block) => {
        /// The landing pad, falling through into [`body`].
        ///
        /// # Safety
        /// As for the system call of the same name.
        #[unsafe(export_name = $crate::__arch_entry_symbol!($name))]
        #[unsafe(link_section = concat!(".text.vdso.", stringify!($name)))]
        #[unsafe(naked)]
        pub unsafe extern "C" fn entry($($arg: $ty),*) -> $ret {
            // Its own unwind entry: a pc on the landing pad unwinds as at
            // any function's first instruction.
            core::arch::naked_asm!(".cfi_startproc", "bti c", ".cfi_endproc")
        }

        /// The entry's code, right after the landing pad. Its symbol is
        /// only there to keep it: the version script makes it local.
        ///
        /// # Safety
        /// As for the system call of the same name.
        #[unsafe(export_name = concat!($crate::__arch_entry_symbol!($name), ".body"))]
        #[unsafe(link_section = concat!(".text.vdso.", stringify!($name), ".body"))]
        pub unsafe extern "C" fn body($($arg: $ty),*) -> $ret $body
    };
}

/// `__kernel_rt_sigreturn`, byte for byte Linux's (`sigreturn.S`): the
/// kernel points a signal handler's return address here unless the program
/// set `SA_RESTORER`, and libgcc, gdb and libunwind recognise a signal
/// frame by the two words at that address (`mov x8, #139; svc #0`).
///
/// - No `bti c`: it is only reached by a return, and a landing pad before
///   the two words would hide the frame from the unwinders.
/// - The `nop` before the symbol (the slot's lead) is Linux's "mysterious
///   NOP": an unwinder that looks up the return address minus one lands
///   on it, not on the end of the previous function.
/// - No CFI. Linux commented its directives out in 2020 (they made libgcc
///   crash unwinding a cancelled thread out of a signal handler) and its
///   vDSO has no `.eh_frame` at all, so unwinders fall back on recognising
///   the bytes. The verifier refuses an image where any unwind entry covers
///   the `nop` or the two words (docs/abi.md).
/// - A code label (`STT_NOTYPE`) of 8 bytes, as `SYM_CODE_START` makes it.
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_trampoline {
    (rt_sigreturn, $symbol:expr, $section:expr) => {
        core::arch::global_asm!(
            concat!(".pushsection ", $section, ", \"ax\", %progbits"),
            ".p2align 4",
            "nop",
            concat!(".globl ", $symbol),
            concat!($symbol, ":"),
            "mov x8, #{nr}",
            "svc #0",
            concat!(".size ", $symbol, ", . - ", $symbol),
            ".popsection",
            nr = const $crate::__arch_rt_sigreturn_nr!(),
        );
    };
}

/// `rt_sigreturn`'s number, for the trampoline the image crate assembles
/// (the `nr` module is private to `common`).
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_rt_sigreturn_nr {
    () => {
        139
    };
}

const _: () = assert!(nr::RT_SIGRETURN == __arch_rt_sigreturn_nr!());

/// Stops the thread: what the images' panic handler does (nothing in an
/// image can panic; the verifier proves it).
#[doc(hidden)]
#[macro_export]
macro_rules! __arch_trap {
    () => {
        // SAFETY: `udf` is permanently undefined: it raises SIGILL and
        // nothing after it runs.
        unsafe { core::arch::asm!("udf #0", options(noreturn, nomem, nostack)) }
    };
}
