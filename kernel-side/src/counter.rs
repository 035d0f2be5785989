//! The counter the images read (x86's TSC, arm64's CNTVCT_EL0), from the
//! kernel side: is it usable, how fast is it, and paired reads of it
//! against the kernel's clocks. What differs per architecture is in
//! `crate::arch`.

use std::sync::OnceLock;
use std::time::Duration;

use common::clock::{CLOCK_MONOTONIC_RAW, NSEC_PER_SEC, Timespec};

use crate::arch;
use crate::vdso::Vdso;

/// An ordered counter read, as the images do it.
#[inline]
pub fn read() -> u64 {
    arch::read_counter()
}

/// Why the images cannot keep time with this machine's counter, if they
/// cannot (an x86 TSC whose rate changes with power states).
pub fn unusable() -> Option<&'static str> {
    arch::counter_unusable()
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
        None => arch::clock_gettime_syscall(clock),
    }
}

/// A kernel clock reading and the counter at the same instant.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    pub cycles: u64,
    pub ns: i128,
    /// Cycles between the counter reads around the clock read: the
    /// uncertainty.
    pub window: u64,
}

/// The best of several bracketed reads: the one whose counter reads are closest
/// together, timestamped at their midpoint.
pub fn paired_read(clock: i32) -> Pair {
    let mut best = Pair {
        cycles: 0,
        ns: 0,
        window: u64::MAX,
    };
    let mut valid = 0;
    for _ in 0..1000 {
        if valid == 16 {
            break;
        }
        let before = read();
        let ns = kernel_ns(clock);
        let after = read();
        // A counter read on another CPU that is a little behind gives a
        // negative window: useless as a bracket, skipped.
        let Some(window) = after.checked_sub(before) else {
            continue;
        };
        valid += 1;
        if window < best.window {
            best = Pair {
                cycles: before + window / 2,
                ns,
                window,
            };
        }
    }
    assert!(
        valid > 0,
        "{} ran backwards in 1000 bracketed reads: it cannot serve as a clock",
        arch::COUNTER
    );
    best
}

/// The counter's frequency in Hz: as the CPU states it (x86's CPUID leaf
/// 0x15, arm64's CNTFRQ_EL0), else measured against CLOCK_MONOTONIC_RAW.
/// Measured once per process.
pub fn frequency() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| arch::stated_frequency().unwrap_or_else(calibrate))
}

/// Counts cycles over 50 ms of CLOCK_MONOTONIC_RAW: with reads bracketed to
/// about 100 ns the rate is good to a few parts per million, and the
/// timekeeper's steering removes the rest.
fn calibrate() -> f64 {
    let start = paired_read(CLOCK_MONOTONIC_RAW);
    std::thread::sleep(Duration::from_millis(50));
    let end = paired_read(CLOCK_MONOTONIC_RAW);
    end.cycles.wrapping_sub(start.cycles) as f64 * 1e9 / (end.ns - start.ns) as f64
}
