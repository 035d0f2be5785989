//! The latency benches `cargo xtask bench` runs (it sets the warm-up and
//! measurement times on the command line and reads the medians back from
//! `target/criterion/`). Every group compares targets on one call, in one
//! run:
//!
//! - `hot-<call>`: the kernel's vDSO, the system call, the host and timens
//!   images, and for some calls every other design, host and namespaced;
//! - `floor`: an ordered TSC read alone, RDPID alone, a call of a no-op;
//! - `cold-<call>`: one call after flushing the target's code and data
//!   lines (`vdso_benches::cold`), and `cold-noop`, the method's own cost;
//! - `getrandom-<size>`: reads of 16, 64, 256 and 4096 bytes from the
//!   kernel's vDSO, the system call, a user-space ChaCha20 and every image
//!   that has `getrandom`, each with a state of its own.

use std::hint::black_box;

use common::note::Variant;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use kernel_side::targets::{self, Target};
use kernel_side::variants::{self, Process};
use vdso_benches::calls::{self, Call, Entries, Syscalls};
use vdso_benches::cold::{self, FlushSet};
use vdso_benches::floor::{self, Noop};
use vdso_benches::getrandom::{
    self, Source, Syscall as GetrandomSyscall, UserChaCha20, Vgetrandom,
};
use vdso_benches::lab::{self, Lab, Pace};

/// The calls every design is measured on, beyond the shipped images' ten.
const DESIGN_CALLS: [&str; 5] = [
    "monotonic",
    "realtime",
    "monotonic_coarse",
    "time",
    "getcpu",
];

/// An image's flush set: its code and the data slots it may read.
fn image_set(p: &Process) -> Vec<&[u8]> {
    let mut ranges = vec![p.image()];
    ranges.extend(p.data_slots());
    ranges
}

fn hot<E: Entries>(b: &mut Bencher<'_>, e: &E, call: Call) {
    match call {
        Call::ClockGettime(clock) => b.iter(|| e.clock_gettime(black_box(clock))),
        Call::Gettimeofday => b.iter(|| e.gettimeofday()),
        Call::Time => b.iter(|| e.time()),
        Call::ClockGetres => b.iter(|| e.clock_getres(black_box(common::clock::CLOCK_MONOTONIC))),
        Call::Getcpu => b.iter(|| e.getcpu()),
    }
}

fn read<S: Source>(b: &mut Bencher<'_>, source: &mut S, buf: &mut [u8]) {
    b.iter(|| source.fill(black_box(&mut *buf)));
}

fn cold_call<E: Entries>(b: &mut Bencher<'_>, e: &E, call: Call, set: &FlushSet<'_>, hz: f64) {
    b.iter_custom(|iters| cold::measure(iters, set, hz, || calls::make(e, call)));
}

/// Which targets a group measures for `call`.
fn targets_for(call: Call) -> Vec<Target> {
    let mut out: Vec<Target> = lab::shipped().collect();
    if DESIGN_CALLS.contains(&call.name()) {
        // The RDPID alternative changes getcpu alone.
        out.extend(lab::designs().filter(|t| !t.rdpid || call == Call::Getcpu));
    }
    out
}

fn benches(c: &mut Criterion) {
    // The targets where the designs are. The other layouts' pairs are
    // counted (vdso-count), checked (the smoke test), and the running
    // kernel's is timed against the kernel's own code in place
    // (vdso-live): timing each here too would add minutes for code that
    // differs from these in field offsets.
    let every: Vec<Target> = targets::all()
        .filter(|t| (t.arch, t.abi) == (targets::DESIGN_ARCH, targets::DESIGN_ABI))
        .collect();
    let lab = Lab::new(Pace::Ticking, &every).unwrap_or_else(|e| panic!("{e}"));
    let kernel = lab::kernel().unwrap_or_else(|e| panic!("{e}"));
    lab::pin_to_last_cpu();
    let noop = Noop::new().expect("a no-op page");
    let hz = kernel_side::counter::frequency();

    {
        let mut g = c.benchmark_group("floor");
        g.bench_function("lfence-rdtsc", |b| b.iter(floor::lfence_rdtsc));
        g.bench_function("rdtscp", |b| b.iter(floor::rdtscp));
        if variants::cpu_has_rdpid() {
            g.bench_function("rdpid", |b| b.iter(floor::rdpid));
        }
        let nothing = noop.vdso();
        g.bench_function("call-noop", |b| b.iter(|| Entries::time(&nothing)));
        g.finish();
    }

    for call in Call::ALL {
        let mut g = c.benchmark_group(format!("hot-{}", call.name()));
        g.bench_function("kernel", |b| hot(b, &kernel, call));
        g.bench_function("syscall", |b| hot(b, &Syscalls, call));
        for t in targets_for(call) {
            if let Some(p) = lab.process(t) {
                let vdso = p.vdso();
                g.bench_function(t.name(), |b| hot(b, &vdso, call));
            }
        }
        g.finish();
    }

    // The images with getrandom are of other layouts than the designs':
    // a lab of their own, for these groups only.
    let with_getrandom: Vec<Target> = lab::shipped()
        .filter(|t| !t.namespaced && t.exports("getrandom"))
        .collect();
    let rng_lab = Lab::new(Pace::Ticking, &with_getrandom).unwrap_or_else(|e| panic!("{e}"));
    for size in getrandom::SIZES {
        let mut g = c.benchmark_group(getrandom::name(size));
        let mut buf = vec![0u8; size];
        if let Ok(mut k) = Vgetrandom::new(&kernel) {
            g.bench_function("kernel", |b| read(b, &mut k, &mut buf));
        }
        g.bench_function("syscall", |b| read(b, &mut GetrandomSyscall, &mut buf));
        let mut user = UserChaCha20::new();
        g.bench_function("user-chacha20", |b| read(b, &mut user, &mut buf));
        for (t, p) in &rng_lab.processes {
            let mut v = Vgetrandom::new(&p.vdso()).unwrap_or_else(|e| panic!("{}: {e}", t.name()));
            g.bench_function(t.name(), |b| read(b, &mut v, &mut buf));
        }
        g.finish();
    }
    drop(rng_lab);

    let kernel_set = FlushSet::new(lab::kernel_flush_ranges().unwrap_or_else(|e| panic!("{e}")));
    let host = lab.process(targets::HOST).expect("the host image");
    {
        let mut g = c.benchmark_group("cold-noop");
        let nothing = noop.vdso();
        g.bench_function("kernel", |b| {
            cold_call(b, &nothing, Call::Time, &kernel_set, hz)
        });
        let set = FlushSet::new(image_set(host));
        g.bench_function("image", |b| cold_call(b, &nothing, Call::Time, &set, hz));
        g.finish();
    }
    for call in Call::ALL {
        let mut g = c.benchmark_group(format!("cold-{}", call.name()));
        g.bench_function("kernel", |b| cold_call(b, &kernel, call, &kernel_set, hz));
        let designs = call == Call::ClockGettime(common::clock::CLOCK_MONOTONIC);
        for (t, p) in &lab.processes {
            if t.rdpid || (t.is_design() && !designs) {
                continue;
            }
            let set = FlushSet::new(image_set(p));
            let vdso = p.vdso();
            g.bench_function(t.name(), |b| cold_call(b, &vdso, call, &set, hz));
        }
        g.finish();
    }
    // Keep the variant list honest: every design variant was mapped.
    assert!(
        Variant::DESIGNS
            .iter()
            .all(|v| lab.processes.iter().any(|(t, _)| t.variant == *v)),
        "a design variant is missing from the run"
    );
}

criterion_group!(latency, benches);
criterion_main!(latency);
