//! The time-stamp counter from the kernel side: is it usable, how fast is
//! it, and paired reads of it against the kernel's clocks.

use std::sync::OnceLock;
use std::time::Duration;

use common::clock::{CLOCK_MONOTONIC_RAW, NSEC_PER_SEC, Timespec};

use crate::vdso::Vdso;

/// An ordered TSC read, as the images do it by default.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: LFENCE and RDTSC have no memory effects and are available on
    // every x86_64 CPU.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// True if the CPU says its TSC runs at a constant rate in every power state
/// (CPUID 0x80000007, EDX bit 8), which the images' time depends on.
pub fn is_invariant() -> bool {
    use core::arch::x86_64::__cpuid;
    // The extended leaf is only read if the CPU reports it.
    __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

/// The kernel's reading of `clock` in nanoseconds (`kernel_clock`).
pub fn kernel_ns(clock: i32) -> i128 {
    let (ret, ts) = kernel_clock(clock);
    assert_eq!(ret, 0, "clock_gettime({clock}) failed");
    ts.tv_sec as i128 * NSEC_PER_SEC as i128 + ts.tv_nsec as i128
}

/// The kernel's `clock_gettime(clock)`: 0 or -errno, and the time. Through
/// the kernel's own vDSO, found where libcs find it (`AT_SYSINFO_EHDR`)
/// and called directly, not through the C library's `clock_gettime`,
/// which a preload library may have replaced (an outer vdso-run's, when
/// vdso-run runs inside vdso-run); by system call when the vDSO there is
/// not the kernel's but a vdso-rs image (an outer `vdso-run --as-vdso`
/// put it there) or there is none.
pub fn kernel_clock(clock: i32) -> (i32, Timespec) {
    static VDSO: OnceLock<Option<Vdso<'static>>> = OnceLock::new();
    let vdso = VDSO.get_or_init(|| {
        let image = crate::kernel_vdso::image()?;
        // Ours carry a variant note; the kernel's does not.
        let ours = vdso_elf::Elf::parse(image)
            .ok()
            .is_some_and(|elf| elf.notes().variant().is_ok());
        if ours {
            None
        } else {
            crate::kernel_vdso::vdso()
        }
    });
    match vdso {
        Some(vdso) => vdso.clock_gettime(clock),
        None => clock_gettime_syscall(clock),
    }
}

/// `clock_gettime` by system call, with an instruction of our own (the C
/// library's `syscall` may be a preload library's too).
fn clock_gettime_syscall(clock: i32) -> (i32, Timespec) {
    let mut ts = Timespec::default();
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

/// A kernel clock reading and the TSC at the same instant.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    pub tsc: u64,
    pub ns: i128,
    /// Cycles between the TSC reads around the clock read: the uncertainty.
    pub window: u64,
}

/// The best of several bracketed reads: the one whose TSC reads are closest
/// together, timestamped at their midpoint.
pub fn paired_read(clock: i32) -> Pair {
    let mut best = Pair {
        tsc: 0,
        ns: 0,
        window: u64::MAX,
    };
    let mut valid = 0;
    for _ in 0..1000 {
        if valid == 16 {
            break;
        }
        let before = rdtsc();
        let ns = kernel_ns(clock);
        let after = rdtsc();
        // A counter read on another CPU that is a little behind gives a
        // negative window: useless as a bracket, skipped.
        let Some(window) = after.checked_sub(before) else {
            continue;
        };
        valid += 1;
        if window < best.window {
            best = Pair {
                tsc: before + window / 2,
                ns,
                window,
            };
        }
    }
    assert!(
        valid > 0,
        "the TSC ran backwards in 1000 bracketed reads: it cannot serve as a clock"
    );
    best
}

/// The TSC's frequency in Hz: from CPUID leaf 0x15 where the CPU states it,
/// else measured against CLOCK_MONOTONIC_RAW. Measured once per process.
pub fn frequency() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| cpuid_frequency().unwrap_or_else(calibrate))
}

fn cpuid_frequency() -> Option<f64> {
    use core::arch::x86_64::__cpuid;
    if __cpuid(0).eax < 0x15 {
        return None;
    }
    let leaf = __cpuid(0x15);
    // TSC = crystal * ebx / eax; many CPUs (and most VMs) leave it zero.
    (leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0)
        .then(|| f64::from(leaf.ecx) * f64::from(leaf.ebx) / f64::from(leaf.eax))
}

/// Counts cycles over 50 ms of CLOCK_MONOTONIC_RAW: with reads bracketed to
/// about 100 ns the rate is good to a few parts per million, and the
/// timekeeper's steering removes the rest.
fn calibrate() -> f64 {
    let start = paired_read(CLOCK_MONOTONIC_RAW);
    std::thread::sleep(Duration::from_millis(50));
    let end = paired_read(CLOCK_MONOTONIC_RAW);
    end.tsc.wrapping_sub(start.tsc) as f64 * 1e9 / (end.ns - start.ns) as f64
}
