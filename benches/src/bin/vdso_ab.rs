//! Interleaved ratios for the report's targets: criterion measures each
//! target in its own stretch of time, so a slow drift of the machine (a
//! virtual CPU shares its core) lands on one target and not the other.
//! Here two targets take turns, A B B A, in blocks of `CALLS` calls, and
//! the ratio B/A is taken per round; the median of the rounds' ratios and
//! their interquartile range are printed, one line per pair:
//! `<a> <b> <call> <median> <q1> <q3>`. `cargo xtask bench` runs it after
//! the criterion benches.
//!
//! Then `getrandom`: each host image that has it against the kernel's
//! vDSO, reads of each benched size, each with a state of its own:
//! `kernel host-linux-6.18 getrandom-16 ...`.
//!
//! Last, the host image on a page left one, two and three seconds without
//! a tick (a CPU that slept past its tick) against the same image on a
//! page kept current: `host host-stale-<N>s monotonic ...`.

use kernel_side::targets::{HOST, Target};
use vdso_benches::calls::{self, Call, Entries};
use vdso_benches::floor::lfence_rdtsc;
use vdso_benches::getrandom::{self, Source, Vgetrandom};
use vdso_benches::lab::{self, Lab, Pace};

const CALLS: u64 = 2000;
const ROUNDS: usize = 1001;

#[inline(never)]
fn block<E: Entries>(e: &E, call: Call) -> u64 {
    let start = lfence_rdtsc();
    for _ in 0..CALLS {
        calls::make(e, call);
    }
    lfence_rdtsc() - start
}

fn ratios<A: Entries, B: Entries>(a: &A, b: &B, call: Call) -> (f64, f64, f64) {
    interleave(|| block(a, call), || block(b, call))
}

/// The median ratio B/A of `ROUNDS` rounds of A B B A, and its quartiles.
fn interleave(mut a: impl FnMut() -> u64, mut b: impl FnMut() -> u64) -> (f64, f64, f64) {
    // Warm both.
    a();
    b();
    let mut r: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let (a1, b1, b2, a2) = (a(), b(), b(), a());
            (b1 + b2) as f64 / (a1 + a2) as f64
        })
        .collect();
    r.sort_by(f64::total_cmp);
    (r[ROUNDS / 2], r[ROUNDS / 4], r[3 * ROUNDS / 4])
}

/// A block of reads of `buf.len()` bytes: as many as make 32 KiB, at
/// least 32, so that each block takes about as long whatever the size.
#[inline(never)]
fn reads<S: Source>(source: &mut S, buf: &mut [u8]) -> u64 {
    let n = (32 * 1024 / buf.len()).max(32);
    let start = lfence_rdtsc();
    for _ in 0..n {
        std::hint::black_box(source.fill(std::hint::black_box(&mut *buf)));
    }
    lfence_rdtsc() - start
}

fn main() -> Result<(), String> {
    let every: Vec<Target> = lab::measured().filter(|t| !t.rdpid).collect();
    let lab = Lab::new(Pace::Ticking, &every)?;
    let kernel = lab::kernel()?;
    lab::pin_to_last_cpu();
    let vdso = |t: Target| {
        lab.process(t)
            .map(|p| p.vdso())
            .ok_or_else(|| format!("no {} image mapped", t.name()))
    };
    let monotonic = Call::ClockGettime(common::clock::CLOCK_MONOTONIC);
    let host = vdso(HOST)?;
    for call in [
        monotonic,
        Call::ClockGettime(common::clock::CLOCK_MONOTONIC_COARSE),
        Call::ClockGettime(common::clock::CLOCK_REALTIME_COARSE),
        Call::Time,
    ] {
        let (m, q1, q3) = ratios(&kernel, &host, call);
        println!(
            "kernel {} {} {m:.4} {q1:.4} {q3:.4}",
            HOST.name(),
            call.name()
        );
    }
    // Each design's host path against the host image, and its namespaced
    // path against its host path.
    for (host_path, namespaced) in lab::design_pairs() {
        let against_host = (host_path != HOST).then_some((HOST, host_path));
        for (a, b) in against_host.into_iter().chain([(host_path, namespaced)]) {
            let (m, q1, q3) = ratios(&vdso(a)?, &vdso(b)?, monotonic);
            println!(
                "{} {} {} {m:.4} {q1:.4} {q3:.4}",
                a.name(),
                b.name(),
                monotonic.name()
            );
        }
    }
    let mut kernel_reads = Vgetrandom::new(&kernel)?;
    for (t, p) in lab
        .processes
        .iter()
        .filter(|(t, _)| !t.namespaced && t.exports("getrandom"))
    {
        let mut image_reads = Vgetrandom::new(&p.vdso())?;
        for size in getrandom::SIZES {
            let (mut a, mut b) = (vec![0u8; size], vec![0u8; size]);
            let (m, q1, q3) = interleave(
                || reads(&mut kernel_reads, &mut a),
                || reads(&mut image_reads, &mut b),
            );
            let name = getrandom::name(size);
            println!("kernel {} {name} {m:.4} {q1:.4} {q3:.4}", t.name());
        }
    }
    let mut stale = Lab::new(Pace::Frozen, &[HOST])?;
    for secs in 1..=3 {
        Lab::reanchor(&mut stale.clockworks, common::clock::CLOCK_MONOTONIC)?;
        std::thread::sleep(std::time::Duration::from_secs(secs));
        let old = stale
            .process(HOST)
            .map(|p| p.vdso())
            .ok_or("no stale host")?;
        let (m, q1, q3) = ratios(&host, &old, monotonic);
        let name = HOST.name();
        println!(
            "{name} {name}-stale-{secs}s {} {m:.4} {q1:.4} {q3:.4}",
            monotonic.name()
        );
    }
    Ok(())
}
