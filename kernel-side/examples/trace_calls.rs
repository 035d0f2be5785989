//! Calls each entry of this architecture's shipped pair once per kind of
//! call, over still data pages anchored once at the kernel's clocks, and
//! says on stdout what it called where: one line per call, `call <image>
//! <call> <entry address> <image start> <image end>`, in the order of the
//! calls. (No timekeeper: under qemu-x86_64 the TSC is not invariant, and
//! still pages let every read succeed at its first try.)
//!
//! `cargo xtask bench` runs it under qemu-user with the translation and
//! execution logs on, and counts from them the instructions each call
//! executed in the image: the same count for x86_64's images and for
//! aarch64's, which run here only under emulation, where a time means
//! nothing (`xtask/src/bench/executed.rs`).

use std::error::Error;

use common::abi::{Abi, Arch};
use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, CLOCK_TAI, NSEC_PER_SEC, Timespec,
};
use common::note::Variant;
use common::seqlock::WriteError;
use common::timens::{Now, Offsets};
use common::vvar::{ShiftedNanos, clock_mode};
use common::writer::{Anchor, CoarseBase, HresBase, Scale};
use kernel_side::counter::{self, kernel_ns};
use kernel_side::timekeeper::scale_for;
use kernel_side::{DataPages, Mapping, images};

/// The layout whose pair is traced: the one every architecture has.
const ABI: Abi = Abi::Linux6_18;

/// The calls, named as the bench report's rows are.
const CLOCKS: [(&str, i32); 6] = [
    ("monotonic", CLOCK_MONOTONIC),
    ("realtime", CLOCK_REALTIME),
    ("boottime", CLOCK_BOOTTIME),
    ("monotonic_raw", CLOCK_MONOTONIC_RAW),
    ("monotonic_coarse", CLOCK_MONOTONIC_COARSE),
    ("realtime_coarse", CLOCK_REALTIME_COARSE),
];

fn main() -> Result<(), Box<dyn Error>> {
    let pages = DataPages::anonymous(ABI)?;
    anchor(&pages).map_err(|e| format!("anchoring the pages: {e}"))?;
    let now = |clock| {
        let ns = kernel_ns(clock);
        Timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        }
    };
    let now = Now {
        monotonic: now(CLOCK_MONOTONIC),
        boottime: now(CLOCK_BOOTTIME),
    };
    pages
        .write_namespace(&Offsets::default(), &now)
        .map_err(|e| format!("the namespace page: {e}"))?;
    for variant in Variant::ALL {
        let image = images::load(ABI, variant)?;
        let mapping = Mapping::new(&pages, &image)?;
        let (start, end) = (
            mapping.base() as usize,
            mapping.base() as usize + image.bytes().len(),
        );
        let vdso = mapping.vdso();
        let say = |call: &str, entry: Option<usize>| {
            if let Some(entry) = entry {
                println!(
                    "call {} {call} {entry:#x} {start:#x} {end:#x}",
                    variant.name()
                );
            }
        };
        // Each call twice: the counts of the two must agree. Every call
        // right after an anchoring, so that no read carries a second.
        let fresh = || anchor(&pages).map_err(|e| format!("anchoring the pages: {e}"));
        for _ in 0..2 {
            for (name, clock) in CLOCKS {
                fresh()?;
                say(name, vdso.entries.clock_gettime.map(|f| f as usize));
                vdso.clock_gettime(clock);
            }
            fresh()?;
            say(
                "gettimeofday",
                vdso.entries.gettimeofday.map(|f| f as usize),
            );
            vdso.gettimeofday(true, false);
            fresh()?;
            say(
                "clock_getres",
                vdso.entries.clock_getres.map(|f| f as usize),
            );
            vdso.clock_getres(CLOCK_MONOTONIC);
            if let Some(f) = vdso.entries.time {
                fresh()?;
                say("time", Some(f as usize));
                vdso.time(false);
            }
            if let Some(f) = vdso.entries.getcpu {
                fresh()?;
                say("getcpu", Some(f as usize));
                vdso.getcpu();
            }
        }
    }
    eprintln!("traced the {} {ABI} pair", Arch::HOST);
    Ok(())
}

/// Anchors every clock at the kernel's whole second, now, at a rate of
/// 1 GHz: the path does not depend on the rate (measuring the counter's
/// would make the log millions of lines long), and a read right after
/// carries no second (the slow normalisation a stale page takes).
fn anchor(pages: &DataPages) -> Result<(), WriteError> {
    let (mult, shift) = scale_for(1e9);
    let scale = Scale { mult, shift };
    let cycle_last = counter::read();
    let split = |clock| (kernel_ns(clock) as u64 / NSEC_PER_SEC, 0);
    let hres = |clock| {
        let (sec, ns): (u64, u64) = split(clock);
        HresBase {
            sec,
            nsec: ShiftedNanos(ns << shift),
        }
    };
    let coarse = |clock| {
        let (sec, nsec) = split(clock);
        CoarseBase { sec, nsec }
    };
    let writer = pages.writer();
    writer.anchor(&Anchor {
        cycle_last,
        mask: u64::MAX,
        hres: scale,
        raw: scale,
        realtime: hres(CLOCK_REALTIME),
        monotonic: hres(CLOCK_MONOTONIC),
        boottime: hres(CLOCK_BOOTTIME),
        tai: hres(CLOCK_TAI),
        monotonic_raw: hres(CLOCK_MONOTONIC_RAW),
        realtime_coarse: coarse(CLOCK_REALTIME_COARSE),
        monotonic_coarse: coarse(CLOCK_MONOTONIC_COARSE),
    })?;
    writer.set_hrtimer_res(1)?;
    writer.set_clock_mode(clock_mode::COUNTER)?;
    Ok(())
}
