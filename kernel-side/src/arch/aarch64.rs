//! aarch64: the architected timer's virtual counter, and guarded pages.

/// The counter, as the timekeeper names it in its messages.
pub const COUNTER: &str = "CNTVCT_EL0";

/// The virtual counter, read after every earlier instruction (`isb`), as
/// the images read it.
#[inline]
pub fn read_counter() -> u64 {
    let cycles: u64;
    // SAFETY: an instruction barrier and a read of the virtual counter,
    // which Linux lets user space read; no memory is touched.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) cycles,
                         options(nomem, nostack, preserves_flags));
    }
    cycles
}

/// Why the counter cannot keep time, if it cannot. The architecture makes
/// the system counter run at a fixed frequency in every power state, so
/// only a counter whose frequency nobody stated is refused.
pub fn counter_unusable() -> Option<&'static str> {
    (stated_frequency().is_none())
        .then_some("CNTFRQ_EL0 is 0: the firmware did not say how fast the counter runs")
}

/// CNTFRQ_EL0, the frequency the firmware states for the counter.
pub fn stated_frequency() -> Option<f64> {
    let hz: u64;
    // SAFETY: reads a register Linux lets user space read; no memory.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz,
                         options(nomem, nostack, preserves_flags));
    }
    (hz != 0).then_some(hz as f64)
}

/// `PROT_BTI` (`uapi/asm/mman.h`): the pages are guarded, and a branch
/// through a register into them must land on a `bti` landing pad.
const PROT_BTI: libc::c_int = 0x10;
/// `HWCAP2_BTI` in `AT_HWCAP2`.
const HWCAP2_BTI: libc::c_ulong = 1 << 17;

/// How an image's pages are protected once placed: read and execute, and
/// guarded where the CPU has BTI, as a kernel built with BTI maps its vDSO
/// (`VM_ARM64_BTI`). A call to an entry without its `bti c` then faults
/// (SIGILL) here as it would there.
pub fn image_protection() -> libc::c_int {
    // SAFETY: getauxval only reads the auxiliary vector.
    let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
    let guarded = if hwcap2 & HWCAP2_BTI != 0 {
        PROT_BTI
    } else {
        0
    };
    libc::PROT_READ | libc::PROT_EXEC | guarded
}

/// RDPID is an x86 instruction: the design variants carrying its
/// alternative are x86_64 images and never run here.
pub fn has_rdpid() -> bool {
    false
}

/// `clock_gettime` by system call, with an instruction of our own (the C
/// library's `syscall` may be a preload library's): 0 or -errno, and the
/// time.
pub fn clock_gettime_syscall(clock: i32) -> (i32, common::clock::Timespec) {
    let mut ts = common::clock::Timespec::default();
    let ret: i64;
    // SAFETY: clock_gettime writes one timespec, ours; `svc` clobbers only
    // x0, which returns the result.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") clock as i64 => ret,
            in("x1") &raw mut ts,
            in("x8") libc::SYS_clock_gettime,
            options(nostack),
        );
    }
    (ret as i32, ts)
}
