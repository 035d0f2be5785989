//! Counts the instructions of each benched call on each target, under
//! `valgrind --tool=callgrind` (`cargo xtask bench` runs it). For each
//! (target, call) it zeroes callgrind's counters, makes the call `CALLS`
//! times, and dumps the counters under the name `<target>/<call>`; a no-op
//! in a page of our own, called the same way, is the per-call overhead the
//! report subtracts. Outside valgrind the requests do nothing.
//!
//! Valgrind unmaps the kernel's vDSO, so `cargo xtask bench` first runs
//! `vdso-count --kernel-vdso FILE` outside valgrind, which writes the
//! kernel's vDSO image to FILE (also for its disassembly), then
//! `vdso-count --kernel-copy FILE` under callgrind, which maps that copy
//! back above the kernel's data pages (`kernel_side::in_place`). There it
//! then puts the host image of the kernel's layout, over the same live
//! pages, and counts it as `live-host`: the live comparison's counts.
//!
//! `getrandom` is counted the same way, per benched size
//! (`<target>/getrandom-<size>`), for the kernel's vDSO and every image
//! that has it, each from an empty batch so that all take the same path.

use std::ffi::CString;

use common::note::Variant;
use kernel_side::in_place::VdsoSlot;
use kernel_side::targets::Target;
use kernel_side::{Image, images, kernel_vdso, running};
use vdso_benches::calls::{self, Call, Entries};
use vdso_benches::floor::Noop;
use vdso_benches::getrandom::{self, Source, Vgetrandom};
use vdso_benches::lab::{self, Clockwork, Lab, Pace};
use vdso_benches::valgrind;

/// Calls per batch: enough that the batch's fixed cost is below one
/// instruction per call after rounding.
const CALLS: u64 = 1000;

/// Batches per call over the kernel's live pages, which nothing here
/// re-anchors: a batch during which the clock passes a second boundary of
/// the page's base time takes the carry path every call (about ten
/// instructions more), one that meets a kernel update retries. The report
/// keeps each target's fewest (`xtask/src/bench/callgrind.rs`): the path
/// nearly every call takes.
const LIVE_BATCHES: usize = 3;

#[inline(never)]
fn batch<E: Entries>(e: &E, call: Call) {
    for _ in 0..CALLS {
        calls::make(e, call);
    }
}

fn count<E: Entries>(
    clockworks: &mut [Clockwork],
    target: &str,
    e: &E,
    call: Call,
) -> Result<(), String> {
    // Once outside the count, so page faults and lazy binding are not in it.
    batch(e, call);
    let clock = match call {
        Call::ClockGettime(clock) => clock,
        _ => common::clock::CLOCK_REALTIME,
    };
    Lab::reanchor(clockworks, clock)?;
    let name = CString::new(format!("{target}/{}", call.name())).expect("no NUL");
    valgrind::zero_stats();
    batch(e, call);
    valgrind::dump_stats_at(&name);
    Ok(())
}

#[inline(never)]
fn read_batch<S: Source>(source: &mut S, buf: &mut [u8]) {
    for _ in 0..CALLS {
        std::hint::black_box(source.fill(std::hint::black_box(&mut *buf)));
    }
}

/// Counts `CALLS` reads of `size` bytes from `source`, after a batch that
/// fetches its key and warms it, from an empty batch.
fn count_reads(target: &str, source: &mut Vgetrandom, size: usize) {
    let mut buf = vec![0u8; size];
    read_batch(source, &mut buf);
    source.empty_batch();
    let name = CString::new(format!("{target}/{}", getrandom::name(size))).expect("no NUL");
    valgrind::zero_stats();
    read_batch(source, &mut buf);
    valgrind::dump_stats_at(&name);
}

/// The host image of the running kernel's layout, what the live
/// comparison counts; `None` on a kernel whose layout no pair serves.
fn live_image() -> Result<Option<Image>, String> {
    let recognised = running::recognise().map_err(|e| e.to_string())?;
    let Some(abi) = recognised.layout.served() else {
        return Ok(None);
    };
    images::load(abi, Variant::Host)
        .map(Some)
        .map_err(|e| format!("the {abi} host image: {e}"))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, file] = &args[..]
        && flag == "--kernel-vdso"
    {
        let image = kernel_side::kernel_vdso::image().ok_or("no kernel vDSO")?;
        return std::fs::write(file, image).map_err(|e| e.to_string());
    }
    // Valgrind 3.19 cannot execute RDPID, so the RDPID targets are left out;
    // so is getcpu on the kernel's vDSO if the kernel uses RDPID for it
    // (`--skip-kernel-getcpu`).
    let skip_kernel_getcpu = args.iter().any(|a| a == "--skip-kernel-getcpu");
    let kernel_copy = args
        .iter()
        .position(|a| a == "--kernel-copy")
        .and_then(|i| args.get(i + 1));
    let counted: Vec<Target> = lab::measured().filter(|t| !t.rdpid).collect();
    let mut lab = Lab::new(Pace::Frozen, &counted)?;
    let noop = Noop::new().map_err(|e| e.to_string())?;
    let (kernel, live) = match kernel_copy {
        Some(file) => {
            let copy = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
            let offsets =
                kernel_vdso::offsets(&copy).ok_or("the kernel's vDSO copy is unreadable")?;
            let mut slot = VdsoSlot::find().map_err(|e| e.to_string())?;
            slot.install(&copy).map_err(|e| e.to_string())?;
            // SAFETY: the kernel's own code, at its offsets, where the
            // kernel had it, above the data pages it reads.
            let kernel = unsafe { slot.vdso(&offsets) };
            (kernel, live_image()?.map(|image| (slot, image)))
        }
        None => (lab::kernel()?, None),
    };
    let clockworks = &mut lab.clockworks;
    for call in Call::ALL {
        count(clockworks, "noop", &noop.vdso(), call)?;
        if !(skip_kernel_getcpu && call == Call::Getcpu) {
            for _ in 0..LIVE_BATCHES {
                count(clockworks, "kernel", &kernel, call)?;
            }
        }
        for (t, p) in &lab.processes {
            count(clockworks, &t.name(), &p.vdso(), call)?;
        }
    }
    let mut sources = vec![
        ("noop".to_string(), Vgetrandom::unqueried(&noop.vdso())?),
        ("kernel".to_string(), Vgetrandom::new(&kernel)?),
    ];
    for (t, p) in lab.processes.iter().filter(|(t, _)| t.exports("getrandom")) {
        sources.push((t.name(), Vgetrandom::new(&p.vdso())?));
    }
    for size in getrandom::SIZES {
        for (target, source) in &mut sources {
            count_reads(target, source, size);
        }
    }
    // The kernel's copy is about to be replaced.
    drop(sources);
    if let Some((slot, image)) = live {
        slot.write(image.bytes()).map_err(|e| e.to_string())?;
        // SAFETY: the image of the kernel's layout, over the kernel's data
        // pages below the slot; the kernel's copy is not called again.
        let host = unsafe { slot.vdso(image.offsets()) };
        for call in Call::ALL {
            for _ in 0..LIVE_BATCHES {
                count(clockworks, "live-host", &host, call)?;
            }
        }
    }
    println!("{CALLS}");
    Ok(())
}
