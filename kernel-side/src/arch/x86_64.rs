//! x86_64: the TSC.

/// The counter, as the timekeeper names it in its messages.
pub const COUNTER: &str = "the TSC";

/// An ordered TSC read, as the images do it by default.
#[inline]
pub fn read_counter() -> u64 {
    // SAFETY: LFENCE and RDTSC have no memory effects and are available on
    // every x86_64 CPU.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// Why the counter cannot keep time, if it cannot: a TSC that is not
/// invariant (CPUID 0x80000007, EDX bit 8) changes rate with power states.
pub fn counter_unusable() -> Option<&'static str> {
    use core::arch::x86_64::__cpuid;
    // The extended leaf is only read if the CPU reports it.
    let invariant =
        __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0;
    (!invariant).then_some(
        "the TSC is not invariant (CPUID 0x80000007 EDX bit 8 is clear): its rate changes with power states, so no image can keep time with it",
    )
}

/// The counter's frequency in Hz where the CPU states it (CPUID leaf
/// 0x15); `None` to measure it.
pub fn stated_frequency() -> Option<f64> {
    use core::arch::x86_64::__cpuid;
    if __cpuid(0).eax < 0x15 {
        return None;
    }
    let leaf = __cpuid(0x15);
    // TSC = crystal * ebx / eax; many CPUs (and most VMs) leave it zero.
    (leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0)
        .then(|| f64::from(leaf.ecx) * f64::from(leaf.ebx) / f64::from(leaf.eax))
}

/// How an image's pages are protected once placed: read and execute.
pub fn image_protection() -> libc::c_int {
    libc::PROT_READ | libc::PROT_EXEC
}

/// True if this CPU has RDPID (CPUID.(EAX=7,ECX=0):ECX bit 22), for the
/// design variants' `getcpu` alternative.
pub fn has_rdpid() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 22) != 0
}

/// `clock_gettime` by system call, with an instruction of our own (the C
/// library's `syscall` may be a preload library's): 0 or -errno, and the
/// time.
pub fn clock_gettime_syscall(clock: i32) -> (i32, common::clock::Timespec) {
    let mut ts = common::clock::Timespec::default();
    let ret: i64;
    // SAFETY: clock_gettime writes one timespec, ours; `syscall` clobbers
    // only rcx and r11 besides rax.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_clock_gettime => ret,
            in("rdi") clock as i64,
            in("rsi") &raw mut ts,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (ret as i32, ts)
}
