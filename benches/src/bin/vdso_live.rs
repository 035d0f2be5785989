//! The fairest comparison there is: this project's host image and the
//! running kernel's own vDSO code, taking turns at the same address (where
//! the kernel put its vDSO), over the same live data pages the kernel
//! writes. Every call the benches make, in blocks of `CALLS`, K I I K, the
//! ratio I/K per round; prints
//!
//! ```text
//! layout <layout> clock-mode <mode> clocksource <name> rdpid <applied>
//! <call> <median I/K> <q1> <q3> <kernel ns/call> <image ns/call>
//! ```
//!
//! or one line saying why there is nothing to compare (a kernel whose
//! layout no pair serves). Nothing here may read a clock through libc once
//! the kernel's vDSO is replaced: the blocks are timed with the TSC.

use std::process::ExitCode;

use common::note::Variant;
use kernel_side::in_place::VdsoSlot;
use kernel_side::{Vdso, images, kernel_vdso, running, variants};
use vdso_benches::calls::{self, Call, Entries};
use vdso_benches::floor::lfence_rdtsc;
use vdso_benches::lab;
use vdso_elf::patch::SiteKind;

const CALLS: u64 = 2000;
const ROUNDS: usize = 401;
/// Calls after each rewrite of the slot, untimed: the first ones pay for
/// the cold code and its translation.
const WARM: u64 = 200;

#[inline(never)]
fn block<E: Entries>(e: &E, call: Call, n: u64) -> u64 {
    let start = lfence_rdtsc();
    for _ in 0..n {
        calls::make(e, call);
    }
    lfence_rdtsc() - start
}

/// Cycles for a block of `which` (true: the image), after putting its bytes
/// in the slot.
fn timed(
    slot: &VdsoSlot,
    bytes: [&[u8]; 2],
    vdsos: [&Vdso<'_>; 2],
    which: usize,
    call: Call,
) -> Result<u64, String> {
    slot.write(bytes[which]).map_err(|e| e.to_string())?;
    block(vdsos[which], call, WARM);
    Ok(block(vdsos[which], call, CALLS))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vdso-live: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let recognised = running::recognise().map_err(|e| e.to_string())?;
    let Some(abi) = recognised.layout.served() else {
        println!("unserved {}", recognised.layout.kernels().replace(' ', "_"));
        return Ok(());
    };
    if recognised.namespaced {
        return Err("run it in the host's time namespace".into());
    }
    // Everything that may read a clock through libc, first.
    let image =
        images::load(abi, Variant::Host).map_err(|e| format!("the {abi} host image: {e}"))?;
    // As Linux applies its alternatives to its own vDSO at boot, a kernel
    // applies the image's (if it carries any) before mapping it.
    let has_site = variants::patch_sites(&image)
        .map_err(|e| e.to_string())?
        .iter()
        .any(|s| s.kind == SiteKind::Rdpid);
    let rdpid = has_site && variants::cpu_has_rdpid();
    let image = if rdpid {
        variants::with_rdpid(&image)?
    } else {
        image
    };
    let kernel = kernel_vdso::image()
        .ok_or("this process has no kernel vDSO")?
        .to_vec();
    let kernel_offsets = kernel_vdso::offsets(&kernel).ok_or("the kernel's vDSO is unreadable")?;
    let hz = kernel_side::counter::frequency();
    let clocksource =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
    lab::pin_to_last_cpu();

    let mut slot = VdsoSlot::find().map_err(|e| e.to_string())?;
    slot.install(&kernel).map_err(|e| e.to_string())?;
    // SAFETY: the slot holds, in turns, the kernel's own code (at its
    // offsets) and the image of the kernel's layout (at its own), both
    // over the kernel's data pages below; each is called only while its
    // bytes are there (`timed` writes them first).
    let (kernel_vdso, image_vdso) =
        unsafe { (slot.vdso(&kernel_offsets), slot.vdso(image.offsets())) };
    let bytes = [kernel.as_slice(), image.bytes()];
    let vdsos = [&kernel_vdso, &image_vdso];

    println!(
        "layout {abi} clock-mode {} clocksource {clocksource} rdpid {rdpid}",
        recognised.clock_mode
    );
    for call in Call::ALL {
        let mut ratios = Vec::with_capacity(ROUNDS);
        let (mut k_cycles, mut i_cycles) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let k1 = timed(&slot, bytes, vdsos, 0, call)?;
            let i1 = timed(&slot, bytes, vdsos, 1, call)?;
            let i2 = timed(&slot, bytes, vdsos, 1, call)?;
            let k2 = timed(&slot, bytes, vdsos, 0, call)?;
            ratios.push((i1 + i2) as f64 / (k1 + k2) as f64);
            k_cycles.push((k1 + k2) as f64 / 2.0);
            i_cycles.push((i1 + i2) as f64 / 2.0);
        }
        let ns = |v: &mut Vec<f64>| median(v) / CALLS as f64 / hz * 1e9;
        let (k_ns, i_ns) = (ns(&mut k_cycles), ns(&mut i_cycles));
        ratios.sort_by(f64::total_cmp);
        println!(
            "{} {:.4} {:.4} {:.4} {k_ns:.2} {i_ns:.2}",
            call.name(),
            ratios[ROUNDS / 2],
            ratios[ROUNDS / 4],
            ratios[3 * ROUNDS / 4]
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
