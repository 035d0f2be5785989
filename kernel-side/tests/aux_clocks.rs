//! Auxiliary clocks (ids 16 to 23, `linux-6.18`): the running kernel has
//! them off, so the read path is proven against the kernel side's own
//! model. The timekeeper starts and stops them; while one runs, the image
//! reads exactly the line the timekeeper published, in the host image and
//! in the timens image of a namespaced process alike (aux clocks are never
//! shifted); while it is off, the image asks the kernel.

use std::sync::Arc;

use common::abi::{Abi, Arch};
use common::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, Timespec};
use common::layout::LayoutInfo;
use common::note::Variant;
use common::timens::{Now, Offsets};
use common::vvar::TimensOffset;
use kernel_side::aux_clocks::AuxClock;
use kernel_side::counter::read as rdtsc;
use kernel_side::timekeeper::Config;
use kernel_side::{DataPages, Mapping, Timekeeper, images};

const CLOCK_AUX: i32 = 16;

fn ns(ts: Timespec) -> i128 {
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The kernel's answer for `clock`, by the raw system call (0 or -errno).
fn syscall_ret(clock: i32) -> i32 {
    let mut ts = Timespec::default();
    // SAFETY: the raw system call with a writable timespec.
    let r = unsafe { libc::syscall(libc::SYS_clock_gettime, clock, &mut ts as *mut Timespec) };
    if r == 0 {
        0
    } else {
        -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

fn kernel_now(clock: i32) -> Timespec {
    let mut ts = Timespec::default();
    // SAFETY: the raw system call with a writable timespec.
    unsafe { libc::syscall(libc::SYS_clock_gettime, clock, &mut ts as *mut Timespec) };
    ts
}

/// Clocks 0 and 5 run, one an hour ahead of MONOTONIC at its rate, one a
/// day behind and 250 ppm fast; the others stay off.
const RUNNING: [(usize, AuxClock); 2] = [
    (
        0,
        AuxClock {
            offset_ns: 3_600_000_000_000,
            ppm: 0.0,
        },
    ),
    (
        5,
        AuxClock {
            offset_ns: -86_400_000_000_000,
            ppm: 250.0,
        },
    ),
];

fn check(variant: Variant) {
    let pages = Arc::new(DataPages::anonymous(Abi::Linux6_18).unwrap());
    if variant.is_timens() {
        let day = TimensOffset::from_nanos(86_400_000_000_000);
        let offsets = Offsets {
            monotonic: day,
            boottime: day,
        };
        let now = Now {
            monotonic: kernel_now(CLOCK_MONOTONIC),
            boottime: kernel_now(CLOCK_BOOTTIME),
        };
        pages.write_namespace(&offsets, &now).unwrap();
    }
    let mut tk = Timekeeper::new(pages.clone(), Config::default()).unwrap();
    let image = images::load(Abi::Linux6_18, variant).expect("run `cargo xtask build-vdso` first");
    let mapping = Mapping::new(&pages, &image).unwrap();
    let vdso = mapping.vdso();
    let name = variant.name();
    for n in 0..8 {
        let (ret, _) = vdso.clock_gettime(CLOCK_AUX + n);
        assert_eq!(ret, syscall_ret(CLOCK_AUX + n), "{name}: aux {n}, off");
    }
    for (n, clock) in RUNNING {
        tk.set_aux(n, Some(clock)).unwrap();
    }
    for round in 0..2_000 {
        if round % 100 == 0 {
            tk.tick().unwrap();
        }
        for (n, _) in RUNNING {
            let before = rdtsc();
            let (ret, ts) = vdso.clock_gettime(CLOCK_AUX + n as i32);
            let after = rdtsc();
            assert_eq!(ret, 0, "{name}: aux {n} running");
            let (lo, hi) = (tk.aux_ns_at(n, before), tk.aux_ns_at(n, after));
            let (lo, hi) = (lo.unwrap(), hi.unwrap());
            let got = ns(ts);
            assert!(
                lo <= got && got <= hi,
                "{name}: aux {n} read {got}, the timekeeper's line says {lo} to {hi}"
            );
        }
        let (ret, _) = vdso.clock_gettime(CLOCK_AUX + 1);
        assert_eq!(ret, syscall_ret(CLOCK_AUX + 1), "{name}: aux 1 stays off");
    }
    // A running one is an hour ahead of MONOTONIC, not a day ahead as the
    // namespace's MONOTONIC would be.
    let (_, aux0) = vdso.clock_gettime(CLOCK_AUX);
    let gap = ns(aux0) - ns(kernel_now(CLOCK_MONOTONIC));
    assert!(
        (gap - 3_600_000_000_000).abs() < 1_000_000,
        "{name}: aux 0 is {gap} ns from the kernel's MONOTONIC"
    );
    tk.set_aux(5, None).unwrap();
    let (ret, _) = vdso.clock_gettime(CLOCK_AUX + 5);
    assert_eq!(ret, syscall_ret(CLOCK_AUX + 5), "{name}: aux 5 stopped");
}

#[test]
fn the_host_image_reads_the_aux_clocks_the_timekeeper_runs() {
    check(Variant::Host);
}

#[test]
fn the_timens_image_reads_them_unshifted_in_a_namespace() {
    check(Variant::Timens);
}

#[test]
fn layouts_without_aux_clocks_refuse_them() {
    // x86_64's linux-6.6 and linux-6.12; every aarch64 layout has them.
    let without = Arch::HOST
        .abis()
        .iter()
        .copied()
        .filter(|&abi| LayoutInfo::of(Arch::HOST, abi).aux_clocks == 0);
    for abi in without {
        let pages = Arc::new(DataPages::anonymous(abi).unwrap());
        let mut tk = Timekeeper::new(pages, Config::default()).unwrap();
        assert!(tk.set_aux(0, Some(RUNNING[0].1)).is_err(), "{abi}");
    }
}
